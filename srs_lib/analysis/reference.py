"""Reference scorers: how hard is a corpus, and where is its signal?

Scorers that bracket what a model can do on a corpus, each evaluated on the paper's task
(1 ground truth + 9 distinct random negatives of its set, drawn by
:func:`srs_lib.data.candidates.draw_candidates` with ``context_rng(seed, line)``: the same
candidates as the SSIM analysis and as training's evaluation), and measured with the
paper's metrics (:func:`srs_lib.analysis.metrics.ranking_metrics`):

``popularity_scores``     a sticker's popularity as a ground truth in the training split
                          (add-one smoothed). It never reads the dialog: if it beats
                          chance, the corpus leaks the answer through popularity. (The
                          trained sticker-only model is the *context-blind* baseline,
                          :class:`~srs_lib.models.context_blind.ContextBlind`.)
``emoji_oracle_scores``   knows the ground truth's emoji label and scores 1 every
                          candidate with that label (0 otherwise). Not 1.0, because
                          stickers of a set share emojis.
``parts_oracle_scores``   knows the ground truth's parts (expression, accent, prop: the
                          hidden truth of ``synth_info.json``) and scores each candidate
                          by the share of parts the two have in common (Jaccard), so a
                          candidate with exactly the answer's parts scores 1. Not 1.0
                          only where two stickers of a set have the same parts.
``cue_word_scores``       bag of cue words: counts the context's words that are cue words
                          of each candidate's parts (on a generated corpus; of its label
                          emoji otherwise), weighting utterance i of T by
                          ``decay ** (T - 1 - i)`` (the last counts 1). It knows the
                          generator's cue lexicon and the stickers' parts
                          (``synth_info.json``), so it shows the signal is there; a model
                          must learn both, the words and where each part is drawn.

Ties are broken at random (seeded per sample; :func:`tie_broken`), so a constant scorer
scores chance; the metrics then see no tie.

Sets with fewer than 10 stickers: all their other stickers are the negatives (fewer
candidates, as :func:`draw_candidates` does); chance is then ``1 / n_candidates`` for
that sample, and :func:`evaluate` reports the chance level of the samples it scored.
A set with one sticker gives no negative: its samples are skipped and counted.
"""
from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from srs_lib.analysis.metrics import ranking_metrics
from srs_lib.data import StickerStore, load_split
from srs_lib.data.candidates import N_CANDIDATES, context_rng, draw_candidates
from srs_lib.layers.masking import MASK_VALUE
from srs_lib.paper import METRICS

#: Default recency decay of the bag-of-cue-words scorer.
CUE_DECAY = 0.6


@dataclass(frozen=True)
class Sample:
    """What the scorers need of one sample."""

    line: int
    utterances: tuple[tuple[str, ...], ...]
    set_id: int
    sticker_id: int
    label: str


def read_samples(base_path: str, split: str, store=None) -> tuple[list[Sample], dict[str, int]]:
    """The usable samples of a split (rules of :mod:`srs_lib.data.corpus`) and the skip counts."""
    dialogs, report = load_split(base_path, split, store)
    samples = [
        Sample(d.line, tuple(tuple(u.tokens) for u in d.utterances), d.current.sticker_set_id,
               d.current.sticker_id, d.current.sticker_alt)
        for d in dialogs
    ]
    return samples, {reason: count for reason, count in report.skipped.items() if count}


def _synth_info(base_path: str) -> dict:
    with open(os.path.join(base_path, "synth_info.json"), encoding="utf-8") as handle:
        return json.load(handle)


def read_cue_table(base_path: str) -> dict[str, frozenset[str]]:
    """``{emoji: cue words}`` from the corpus's ``synth_info.json`` (synthetic corpora only)."""
    return {e: frozenset(words) for e, words in _synth_info(base_path)["cue_words"].items()}


def read_parts_table(base_path: str) -> dict[tuple[int, int], tuple[tuple[str, str], ...]]:
    """``{(set_id, sticker_id): ((kind, emoji), ...)}``: what each sticker shows, from the
    corpus's ``synth_info.json`` (synthetic corpora only; empty when it lists no parts)."""
    table = {}
    for sticker_set in _synth_info(base_path).get("sets", []):
        for sticker in sticker_set.get("stickers", []):
            table[(sticker_set["set_id"], sticker["sticker_id"])] = tuple(
                (part["kind"], part["emoji"]) for part in sticker["parts"])
    return table


# --------------------------------------------------------------------------------------
# Scorers: each returns one score per candidate
# --------------------------------------------------------------------------------------
def fit_popularity(samples: Sequence[Sample]) -> Counter:
    """How often each ``(set_id, sticker_id)`` is the ground truth in ``samples``."""
    return Counter((s.set_id, s.sticker_id) for s in samples)


def popularity_scores(popularity: Counter, set_id: int, candidates: Sequence[int]) -> np.ndarray:
    """``log(1 + count)`` of each candidate as a training ground truth; ignores the dialog."""
    return np.log1p(np.array([popularity.get((set_id, c), 0) for c in candidates], dtype=np.float64))


def emoji_oracle_scores(true_label: str, candidate_labels: Sequence[str]) -> np.ndarray:
    """1 for every candidate labelled with the ground truth's emoji, else 0."""
    return np.array([float(label == true_label) for label in candidate_labels])


def parts_oracle_scores(
    true_parts: Iterable[tuple[str, str]], candidate_parts: Sequence[Iterable[tuple[str, str]]]
) -> np.ndarray:
    """Jaccard similarity of each candidate's parts with the ground truth's:
    ``|shared| / |either|`` over ``(kind, emoji)`` pairs (1 for the same parts)."""
    truth = set(true_parts)
    scores = []
    for parts in candidate_parts:
        parts = set(parts)
        union = truth | parts
        scores.append(len(truth & parts) / len(union) if union else 0.0)
    return np.array(scores, dtype=np.float64)


def cue_word_scores(
    utterances: Sequence[Sequence[str]],
    candidate_emojis: Sequence[str | Iterable[str]],
    cue_table: dict[str, frozenset[str]],
    decay: float = CUE_DECAY,
) -> np.ndarray:
    """Recency-weighted count of each candidate's cue words in the context.

    ``candidate_emojis``: per candidate one emoji (its label) or the emojis of its parts;
    a candidate's cue words are the union of its emojis' cue words. ``decay=1`` counts
    every utterance alike; ``decay=0`` reads the last utterance only.
    """
    n = len(utterances)
    weights: Counter = Counter()
    for i, words in enumerate(utterances):
        w = 1.0 if i == n - 1 else decay ** (n - 1 - i)
        for word in words:
            weights[word] += w
    scores = []
    for emojis in candidate_emojis:
        emojis = (emojis,) if isinstance(emojis, str) else tuple(emojis)
        cues = frozenset().union(*(cue_table.get(e, frozenset()) for e in emojis))
        # in sorted order: a set's iteration order changes with the hash seed, and float
        # sums in another order can break a tie differently
        scores.append(sum(weights[w] for w in sorted(cues) if w in weights))
    return np.array(scores, dtype=np.float64)


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
def tie_broken(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scores with ties broken at random: each candidate's score becomes ``n - position``
    in the order by score (ties in a random order), so no two are equal."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((rng.random(len(scores)), -scores))
    ranked = np.empty(len(scores))
    ranked[order] = len(scores) - np.arange(len(scores))
    return ranked


def chance_levels(sizes: Sequence[int], n_candidates: int = N_CANDIDATES) -> dict[str, float]:
    """What a scorer that ranks at random earns on average, given each context's number of
    real candidates k (``sizes``; at most ``n_candidates``): ``MAP`` the mean of
    (1/k)·Σ_r 1/r and ``R{n}@1`` the mean of 1/k."""
    k = np.asarray(sizes, dtype=int)
    harmonic = np.array([np.sum(1.0 / np.arange(1, size + 1)) / size for size in k])
    return {"MAP": float(harmonic.mean()), f"R{n_candidates}@1": float(np.mean(1.0 / k))}


def evaluate(
    base_path: str,
    split: str = "test",
    *,
    seed: int = 0,
    n_candidates: int = N_CANDIDATES,
    decay: float = CUE_DECAY,
    full_sets_only: bool = False,
) -> dict:
    """Every reference scorer on ``split``, with popularity fitted on the training split.

    ``full_sets_only`` scores only samples whose set has at least ``n_candidates``
    stickers (chance exactly ``1 / n_candidates``). Returns ``{"samples", "skipped",
    "fewer_candidates", "chance": chance_levels(...), "scorers": {name: metrics}}``, the
    metrics those of :func:`~srs_lib.analysis.metrics.ranking_metrics` (``MAP``,
    ``R10@1``, ...) over ``n_candidates`` columns, padded candidates scored
    :data:`~srs_lib.layers.masking.MASK_VALUE`.
    """
    store = StickerStore(base_path)
    train, _ = read_samples(base_path, "train", store)
    popularity = fit_popularity(train)
    samples, skipped = read_samples(base_path, split, store)
    has_info = os.path.exists(os.path.join(base_path, "synth_info.json"))
    cue_table = read_cue_table(base_path) if has_info else None
    parts = read_parts_table(base_path) if has_info else {}
    scorers: dict[str, Callable] = {
        "popularity": lambda s, c, labels: popularity_scores(popularity, s.set_id, c),
    }
    if cue_table is not None:
        # what each candidate shows: its parts' emojis, or its label without parts
        shown = (lambda s, c, labels: [[e for _, e in parts[(s.set_id, x)]] for x in c]) if parts else (
            lambda s, c, labels: labels)
        scorers["cue_words"] = lambda s, c, labels: cue_word_scores(s.utterances, shown(s, c, labels), cue_table, decay)
        scorers["cue_words_last_utterance"] = lambda s, c, labels: cue_word_scores(
            s.utterances, shown(s, c, labels), cue_table, 0.0)
        scorers["cue_words_no_recency"] = lambda s, c, labels: cue_word_scores(
            s.utterances, shown(s, c, labels), cue_table, 1.0)
        if parts:
            scorers["cue_words_label"] = lambda s, c, labels: cue_word_scores(s.utterances, labels, cue_table, decay)
    scorers["emoji_oracle"] = lambda s, c, labels: emoji_oracle_scores(s.label, labels)
    if parts:
        scorers["parts_oracle"] = lambda s, c, labels: parts_oracle_scores(
            parts[(s.set_id, s.sticker_id)], [parts[(s.set_id, x)] for x in c])
    scores = {name: [] for name in scorers}
    sizes: list[int] = []
    skipped.update({"single_sticker_set": 0, "small_set_excluded": 0})
    for sample in samples:
        sticker_set = store.sets[sample.set_id]
        if full_sets_only and len(sticker_set) < n_candidates:
            skipped["small_set_excluded"] += 1
            continue
        candidates = draw_candidates(sticker_set.sticker_ids, sample.sticker_id, n_candidates,
                                     context_rng(seed, sample.line))
        if len(candidates) < 2:
            skipped["single_sticker_set"] += 1
            continue
        labels = [sticker_set.emoji(c) for c in candidates]
        tie_rng = np.random.default_rng([seed, sample.line, 1])
        for name, scorer in scorers.items():
            row = np.full(n_candidates, MASK_VALUE)
            row[:len(candidates)] = tie_broken(scorer(sample, candidates, labels), tie_rng)
            scores[name].append(row)
        sizes.append(len(candidates))
    positives = np.zeros(len(sizes), dtype=np.int64)  # draw_candidates puts the positive first
    return {
        "split": split,
        "seed": seed,
        "samples": len(sizes),
        "fewer_candidates": int(sum(k < n_candidates for k in sizes)),
        "skipped": skipped,
        "cue_decay": decay,
        "chance": chance_levels(sizes, n_candidates) if sizes else {},
        "scorers": {name: ranking_metrics(np.stack(rows), positives) if rows else {}
                    for name, rows in scores.items()},
    }


#: Display names of the reference scorers of :func:`evaluate`.
SCORER_NAMES = {
    "chance": "chance",
    "popularity": "popularity (training split; reads no dialog)",
    "cue_words": "cue words of each candidate's parts, recency-weighted",
    "cue_words_last_utterance": "cue words, last utterance only",
    "cue_words_no_recency": "cue words, no recency weighting",
    "cue_words_label": "cue words of each candidate's label only",
    "emoji_oracle": "emoji oracle (knows the answer's label)",
    "parts_oracle": "parts oracle (knows the answer's parts)",
}


def reference_rows(result: dict) -> list[dict]:
    """One row per scorer of :func:`evaluate`, chance first.

    Keys: ``scorer`` (the evaluate name), ``name`` (for display) and the metrics of
    :data:`srs_lib.paper.METRICS` (``None`` for chance where it has no value).
    """
    if not result["scorers"]:
        return []
    rows = [{"scorer": "chance", "name": SCORER_NAMES["chance"],
             **{m: result["chance"].get(m) for m in METRICS}}]
    for scorer, metrics in result["scorers"].items():
        rows.append({"scorer": scorer, "name": SCORER_NAMES.get(scorer, scorer),
                     **{m: metrics[m] for m in METRICS}})
    return rows


def format_evaluation(result: dict) -> str:
    """A plain-text table of :func:`evaluate`'s result."""
    lines = [
        f"Reference scorers on {result['split']} ({result['samples']} samples, "
        f"{result['fewer_candidates']} with fewer than {N_CANDIDATES} candidates; skipped "
        + ", ".join(f"{k} {v}" for k, v in result["skipped"].items()) + ")",
        f"{'scorer':<26}" + "".join(f"{m:>8}" for m in METRICS),
    ]
    for row in reference_rows(result):
        lines.append(f"{row['scorer']:<26}" + "".join(
            f"{row[m]:>8.3f}" if row[m] is not None else f"{'':>8}" for m in METRICS))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the reference-scorer command."""
    parser.add_argument("--base_path", required=True, help="corpus folder")
    parser.add_argument("--split", default="test", help="split to score (default test)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the negatives (default 0)")
    parser.add_argument("--decay", type=float, default=CUE_DECAY, help="recency decay of the cue-word scorer")
    parser.add_argument("--full_sets_only", action="store_true", help="skip sets with fewer than 10 stickers")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Print the reference scorers' metrics."""
    result = evaluate(args.base_path, args.split, seed=args.seed, decay=args.decay,
                      full_sets_only=args.full_sets_only)
    print(json.dumps(result, indent=2) if args.json else format_evaluation(result))
    return 0 if result["samples"] else 1

