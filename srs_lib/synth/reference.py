"""Reference scorers: how hard is a corpus, and where is its signal?

Three scorers bracket what a model can do on a corpus, each evaluated on the paper's task
(1 ground truth + 9 distinct random negatives of its set, drawn by
:func:`srs_lib.candidates.draw_candidates` with ``context_rng(seed, line)``: the same
candidates as the SSIM analysis):

``context_blind_scores``  a sticker's popularity as a ground truth in the training split
                          (add-one smoothed). It never reads the dialog: if it beats
                          chance, the corpus leaks the answer through popularity.
``emoji_oracle_scores``   knows the ground truth's emoji label and scores 1 every
                          candidate with that label (0 otherwise). Not 1.0, because
                          stickers of a set share emojis.
``cue_word_scores``       bag of cue words: counts the context's words that are cue words
                          of each candidate's label emoji, weighting utterance i of T by
                          ``decay ** (T - 1 - i)`` (the last counts 1). It knows the
                          generator's cue lexicon (``synth_info.json``), so it shows the
                          signal is there; a model must learn it.

Ties are broken at random (seeded per sample), so a constant scorer scores chance.

Sets with fewer than 10 stickers: all their other stickers are the negatives (fewer
candidates, as :func:`draw_candidates` does); chance is then ``1 / n_candidates`` for
that sample, and :func:`evaluate` reports the chance level of the samples it scored.
A set with one sticker gives no negative: its samples are skipped and counted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from srs_lib.candidates import N_CANDIDATES, context_rng, draw_candidates

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
    from srs_lib.data import load_split

    dialogs, report = load_split(base_path, split, store)
    samples = [
        Sample(d.line, tuple(tuple(u.tokens) for u in d.utterances), d.current.sticker_set_id,
               d.current.sticker_id, d.current.sticker_alt)
        for d in dialogs
    ]
    return samples, {reason: count for reason, count in report.skipped.items() if count}


def read_cue_table(base_path: str) -> dict[str, frozenset[str]]:
    """``{emoji: cue words}`` from the corpus's ``synth_info.json`` (synthetic corpora only)."""
    with open(os.path.join(base_path, "synth_info.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    return {e: frozenset(words) for e, words in info["cue_words"].items()}


# --------------------------------------------------------------------------------------
# Scorers: each returns one score per candidate
# --------------------------------------------------------------------------------------
def fit_popularity(samples: Sequence[Sample]) -> Counter:
    """How often each ``(set_id, sticker_id)`` is the ground truth in ``samples``."""
    return Counter((s.set_id, s.sticker_id) for s in samples)


def context_blind_scores(popularity: Counter, set_id: int, candidates: Sequence[int]) -> np.ndarray:
    """``log(1 + count)`` of each candidate as a training ground truth; ignores the dialog."""
    return np.log1p(np.array([popularity.get((set_id, c), 0) for c in candidates], dtype=np.float64))


def emoji_oracle_scores(true_label: str, candidate_labels: Sequence[str]) -> np.ndarray:
    """1 for every candidate labelled with the ground truth's emoji, else 0."""
    return np.array([float(label == true_label) for label in candidate_labels])


def cue_word_scores(
    utterances: Sequence[Sequence[str]],
    candidate_labels: Sequence[str],
    cue_table: dict[str, frozenset[str]],
    decay: float = CUE_DECAY,
) -> np.ndarray:
    """Recency-weighted count of each candidate's cue words in the context.

    ``decay=1`` counts every utterance alike; ``decay=0`` reads the last utterance only.
    """
    n = len(utterances)
    weights: Counter = Counter()
    for i, words in enumerate(utterances):
        w = 1.0 if i == n - 1 else decay ** (n - 1 - i)
        for word in words:
            weights[word] += w
    scores = []
    for label in candidate_labels:
        cues = cue_table.get(label, frozenset())
        scores.append(sum(weights[w] for w in cues if w in weights))
    return np.array(scores, dtype=np.float64)


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
def rank_of_positive(scores: np.ndarray, rng: np.random.Generator) -> int:
    """1-based rank of candidate 0 when sorting by score, ties broken at random."""
    scores = np.asarray(scores, dtype=np.float64)
    tie_break = rng.random(len(scores))
    order = np.lexsort((tie_break, -scores))
    return int(np.flatnonzero(order == 0)[0]) + 1


def metrics_from_ranks(ranks: Sequence[int], n_candidates: Sequence[int]) -> dict[str, float]:
    """MAP (= MRR with one positive), R@1, R@2, R@5, and the chance MAP and R@1."""
    ranks = np.asarray(ranks, dtype=np.float64)
    n = np.asarray(n_candidates, dtype=np.float64)
    if len(ranks) == 0:
        return {}
    harmonic = np.array([np.sum(1.0 / np.arange(1, k + 1)) / k for k in n.astype(int)])
    return {
        "MAP": float(np.mean(1.0 / ranks)),
        "R@1": float(np.mean(ranks <= 1)),
        "R@2": float(np.mean(ranks <= 2)),
        "R@5": float(np.mean(ranks <= 5)),
        "chance_MAP": float(np.mean(harmonic)),
        "chance_R@1": float(np.mean(1.0 / n)),
    }


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
    stickers (chance exactly ``1 / n_candidates``). Returns
    ``{"samples", "skipped", "fewer_candidates", "scorers": {name: metrics}}``.
    """
    from srs_lib.data import StickerStore

    store = StickerStore(base_path)
    train, _ = read_samples(base_path, "train", store)
    popularity = fit_popularity(train)
    samples, skipped = read_samples(base_path, split, store)
    has_info = os.path.exists(os.path.join(base_path, "synth_info.json"))
    cue_table = read_cue_table(base_path) if has_info else None
    scorers: dict[str, Callable] = {
        "context_blind": lambda s, c, labels: context_blind_scores(popularity, s.set_id, c),
        "emoji_oracle": lambda s, c, labels: emoji_oracle_scores(s.label, labels),
    }
    if cue_table is not None:
        scorers["cue_words"] = lambda s, c, labels: cue_word_scores(s.utterances, labels, cue_table, decay)
        scorers["cue_words_last_utterance"] = lambda s, c, labels: cue_word_scores(s.utterances, labels, cue_table, 0.0)
        scorers["cue_words_no_recency"] = lambda s, c, labels: cue_word_scores(s.utterances, labels, cue_table, 1.0)
    ranks = {name: [] for name in scorers}
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
            ranks[name].append(rank_of_positive(scorer(sample, candidates, labels), tie_rng))
        sizes.append(len(candidates))
    return {
        "split": split,
        "seed": seed,
        "samples": len(sizes),
        "fewer_candidates": int(sum(k < n_candidates for k in sizes)),
        "skipped": skipped,
        "cue_decay": decay,
        "scorers": {name: metrics_from_ranks(r, sizes) for name, r in ranks.items()},
    }


def format_evaluation(result: dict) -> str:
    """A plain-text table of :func:`evaluate`'s result."""
    lines = [
        f"Reference scorers on {result['split']} ({result['samples']} samples, "
        f"{result['fewer_candidates']} with fewer than {N_CANDIDATES} candidates; skipped "
        + ", ".join(f"{k} {v}" for k, v in result["skipped"].items()) + ")",
        f"{'scorer':<26}{'MAP':>7}{'R@1':>7}{'R@2':>7}{'R@5':>7}",
    ]
    first = None
    for name, m in result["scorers"].items():
        first = first or m
        lines.append(f"{name:<26}{m['MAP']:>7.3f}{m['R@1']:>7.3f}{m['R@2']:>7.3f}{m['R@5']:>7.3f}")
    if first:
        lines.append(f"{'chance':<26}{first['chance_MAP']:>7.3f}{first['chance_R@1']:>7.3f}")
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


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="python -m srs_lib.synth.reference")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
