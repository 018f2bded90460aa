"""The released candidate protocol, audited: how much of a ``first9`` score needs no dialog?

The paper ranks the ground truth against 9 *random* stickers of its set (``random``); the
released code takes the *first* 9 other stickers of the set in ``emoji_mapping.txt`` order
(``first9``, :func:`srs_lib.data.candidates.first_in_set_candidates`). Under ``first9`` a
ground truth outside its set's first ``n`` stickers (``n`` = 10 candidates) is never
anyone's negative, and its candidate list is the set's first ``n - 1`` stickers plus
itself: the one candidate beyond the set's first ``n`` *is* the answer, whatever the dialog.

This module measures that on any corpus, on exactly the candidates the training pipeline
evaluates on (:func:`srs_lib.training.pipeline.evaluation_batches`: the set's *cached*
stickers in mapping order, sets smaller than ``n`` giving shorter lists):

``share_outside``    the share of contexts whose ground truth lies outside its set's first
                     ``n`` cached stickers (a set with fewer than ``n`` has no outside);
``position_scores``  a dialog-free scorer that knows the protocol, not the dialog: it
                     scores 1 every candidate beyond its set's first ``n`` stickers and 0
                     the others (ties broken at random, as the reference scorers do). Under
                     ``first9`` it picks the answer in every context whose answer lies
                     outside, and ranks at random elsewhere, where the candidates are the
                     set's first ``n`` (or all of a small set) and carry no position signal;
                     under ``random`` its candidates beyond the first ``n`` are as often
                     negatives, and it is at chance.

The no-dialog ceiling under ``first9`` follows: with chance ``1/k`` in a context of ``k``
real candidates,

    R10@1 = share_outside + share_inside × chance_inside,

``chance_inside`` the mean of ``1/k`` over the inside contexts (``1/n`` when every set has
``n`` stickers or more); the position scorer's *expected* R10@1 (ties in expectation,
:func:`expected_hits_at_1`) equals it exactly, its tie-broken R10@1 within sampling noise.
A ``first9`` score is only evidence of reading the dialog by how far it exceeds this
ceiling, not chance. It is the ceiling of what the *protocol* gives away: a dialog-free
scorer that also knows which stickers are popular answers can add what popularity gives
on the inside contexts (the popularity scorer of :mod:`srs_lib.analysis.reference`).

``python -m srs_lib protocol --base_path DIR`` prints the audit.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from srs_lib.analysis.metrics import binomial_half_width, ranking_metrics
from srs_lib.analysis.reference import chance_levels, tie_broken
from srs_lib.layers.masking import MASK_VALUE
from srs_lib.training.config import PROTOCOLS, profile_config

#: Display names of the protocols.
PROTOCOL_NAMES = {"random": "random (the paper: 9 random stickers of the set)",
                  "first9": "first9 (the released code: the set's first 9 other stickers)"}


def set_positions(batches, rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Where each candidate lies in its set: its position among the set's cached stickers
    in mapping order (0 = first), int64 like ``rows`` (contexts, candidates); -1 on padding.

    ``rows``: cache rows of :meth:`RankingBatches.candidates` for the samples ``index`` of
    ``batches``."""
    split, cache = batches.split, batches.cache
    order: dict[int, dict[int, int]] = {}
    positions = np.full(rows.shape, -1, dtype=np.int64)
    for i, sample in enumerate(index):
        set_index = int(split.set_index[sample])
        if set_index not in order:
            order[set_index] = {int(r): p for p, r in enumerate(cache.set_rows(split.sets[set_index]))}
        for j, row in enumerate(rows[i]):
            if row >= 0:
                positions[i, j] = order[set_index][int(row)]
    return positions


def position_scores(positions: np.ndarray, n: int) -> np.ndarray:
    """The dialog-free position scorer: 1 for a candidate beyond its set's first ``n``
    stickers (``position >= n``), 0 otherwise, :data:`MASK_VALUE` on padding (-1)."""
    positions = np.asarray(positions)
    return np.where(positions < 0, MASK_VALUE, (positions >= n).astype(np.float64))


def expected_hits_at_1(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per context, the probability that the positive ranks first when ties are broken
    uniformly at random: ``1 / #top`` if the positive has the top score, else 0.
    ``scores`` (contexts, candidates), padding :data:`MASK_VALUE`; ``labels`` the
    positive's column."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(scores))
    top = scores.max(axis=1)
    tied = (scores == top[:, None]).sum(axis=1)
    return np.where(scores[rows, labels] == top, 1.0 / tied, 0.0)


def _tie_broken_rows(scores: np.ndarray, lines: np.ndarray, seed: int) -> np.ndarray:
    """``scores`` with ties among each context's real candidates broken at random, seeded
    per context by ``(seed, line, 1)`` like :func:`srs_lib.analysis.reference.evaluate`."""
    broken = np.full(scores.shape, MASK_VALUE)
    for i, line in enumerate(lines):
        real = scores[i] > MASK_VALUE
        broken[i, real] = tie_broken(scores[i, real], np.random.default_rng([seed, int(line), 1]))
    return broken


def audit_batches(batches_by_protocol: dict, seed: int = 0) -> dict:
    """The audit on evaluation batches of one split, one :class:`RankingBatches` per
    protocol (``{"random": ..., "first9": ...}``, same split and ``n_candidates``).

    Returns ``{"contexts", "n_candidates", "outside", "share_outside", "short_lists",
    "chance", "ceiling", "position": {protocol: metrics}}``: ``chance`` and ``ceiling``
    hold ``MAP`` and ``R{n}@1`` (the ceiling is the ``first9`` no-dialog ceiling of the
    module docstring), the position metrics are those of
    :func:`~srs_lib.analysis.metrics.ranking_metrics` on tie-broken scores plus
    ``expected R{n}@1`` (ties in expectation).
    """
    any_batches = next(iter(batches_by_protocol.values()))
    n = any_batches.n_candidates
    split = any_batches.split
    index = np.arange(len(split))
    lines = np.asarray(split.lines)
    result: dict = {"contexts": int(len(split)), "n_candidates": n, "seed": seed, "position": {}}
    for protocol, batches in batches_by_protocol.items():
        if not np.array_equal(np.asarray(batches.split.lines), lines) or batches.n_candidates != n:
            raise ValueError("the batches of every protocol must hold the same split and n_candidates")
        rows, labels = batches.candidates(index)
        positions = set_positions(batches, rows, index)
        sizes = (rows >= 0).sum(axis=1)
        truth = positions[index, labels]
        outside = truth >= n
        if protocol == "first9":
            # the candidate rule and the outside count agree: an outside answer comes with
            # its set's first n - 1 stickers, an inside one with the set's first k
            within = ((positions >= 0) & (positions < n)).sum(axis=1)
            if not np.array_equal(within, np.where(outside, n - 1, sizes)):
                raise RuntimeError("first9 candidates do not follow the released rule")
        scores = position_scores(positions, n)
        metrics = ranking_metrics(_tie_broken_rows(scores, lines, seed), labels)
        metrics[f"expected R{n}@1"] = float(expected_hits_at_1(scores, labels).mean())
        result["position"][protocol] = metrics
        if "outside" not in result:
            chance = chance_levels(sizes, n)
            inside = chance_levels(sizes[~outside], n) if (~outside).any() else {"MAP": 0.0, f"R{n}@1": 0.0}
            share = float(outside.mean())
            result.update({
                "outside": int(outside.sum()), "share_outside": share,
                "short_lists": int((sizes < n).sum()),
                "chance": chance,
                "chance_inside": inside,
                "ceiling": {m: share + (1 - share) * inside[m] for m in ("MAP", f"R{n}@1")},
            })
    return result


def audit(base_path, profile: str = "ci", split: str = "release_test.json", *,
          seed: int = 0, cache_dir=None, **changes) -> dict:
    """:func:`audit_batches` on ``split`` of the corpus at ``base_path``, with the
    evaluation candidates a ``profile`` run sees under each protocol (its data options,
    evaluation seed and ``n_candidates``; ``changes`` override them, e.g. ``eval_seed``).
    ``seed`` seeds the tie-breaking."""
    from srs_lib.training.pipeline import evaluation_batches

    batches = {}
    for protocol in PROTOCOLS:
        config = profile_config(profile, protocol=protocol, **changes)
        _, batches[protocol] = evaluation_batches(base_path, config, split, cache_dir=cache_dir)
    result = audit_batches(batches, seed)
    result.update({"split": str(split), "profile": profile,
                   "eval_seed": batches["random"].seed})
    return result


def first9_verdict(rate: float, contexts: int, chance: float, ceiling: float, z: float = 1.96) -> str:
    """What an R_n@1 measured under ``first9`` shows, against chance and the no-dialog
    ``ceiling``, with the normal-approximation interval of
    :func:`~srs_lib.analysis.metrics.binomial_half_width`."""
    low = rate - binomial_half_width(rate, contexts, z)
    if low > ceiling:
        return "clearly above the no-dialog ceiling: more than the protocol gives away"
    if low > chance:
        return ("clearly above chance but not above the no-dialog ceiling: no more than the "
                "protocol gives away without the dialog")
    return "not clearly above chance: this run did not learn even the protocol's leak"


def chance_verdict(rate: float, contexts: int, chance: float, z: float = 1.96) -> str:
    """Whether an R_n@1 over ``contexts`` lies within the 95% interval around ``chance``
    (:func:`~srs_lib.analysis.metrics.binomial_half_width` at chance)."""
    if abs(rate - chance) <= binomial_half_width(chance, contexts, z):
        return "at chance (within the 95% interval around it)"
    return "away from chance (outside the 95% interval around it)"


def audit_rows(result: dict) -> list[dict]:
    """The audit as rows ``{"quantity", "value", "chance"}`` (chance None where it has none)."""
    n = result["n_candidates"]
    r1 = f"R{n}@1"
    rows = [{"quantity": f"share of contexts whose answer lies outside its set's first {n}",
             "value": result["share_outside"], "chance": None},
            {"quantity": f"no-dialog ceiling under first9, {r1}", "value": result["ceiling"][r1],
             "chance": result["chance"][r1]},
            {"quantity": "no-dialog ceiling under first9, MAP", "value": result["ceiling"]["MAP"],
             "chance": result["chance"]["MAP"]}]
    for protocol, metrics in result["position"].items():
        for metric in (r1, f"expected {r1}", "MAP"):
            rows.append({"quantity": f"position scorer under {protocol}, {metric}",
                         "value": metrics[metric],
                         "chance": result["chance"]["MAP" if metric == "MAP" else r1]})
    return rows


def audit_frame(result: dict):
    """:func:`audit_rows` as a pandas DataFrame indexed by quantity."""
    import pandas as pd

    return pd.DataFrame(audit_rows(result)).set_index("quantity")


def format_audit(result: dict) -> str:
    """A plain-text table of :func:`audit`'s result."""
    lines = [f"Candidate protocols on {result['split']} ({result['contexts']} contexts, "
             f"{result['short_lists']} with fewer than {result['n_candidates']} candidates; "
             f"profile {result['profile']}, evaluation seed {result['eval_seed']})",
             f"{'quantity':<66}{'value':>8}{'chance':>8}"]
    for row in audit_rows(result):
        chance = f"{row['chance']:>8.3f}" if row["chance"] is not None else f"{'':>8}"
        lines.append(f"{row['quantity']:<66}{row['value']:>8.3f}{chance}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the protocol-audit command."""
    parser.add_argument("--base_path", required=True, help="corpus folder")
    parser.add_argument("--split", default="release_test.json",
                        help="split file or train/val/test (default release_test.json)")
    parser.add_argument("--profile", default="ci",
                        help="whose data options and evaluation seed (default ci; the "
                             "candidates depend only on the seed and n_candidates)")
    parser.add_argument("--eval_seed", type=int, default=None, help="seed of the random candidates")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tie-breaking (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Print the audit."""
    changes = {"eval_seed": args.eval_seed} if args.eval_seed is not None else {}
    result = audit(args.base_path, args.profile, args.split, seed=args.seed, **changes)
    print(json.dumps(result, indent=2) if args.json else format_audit(result))
    return 0
