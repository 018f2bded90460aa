"""Ranking metrics of the paper (MAP, R_n@k) and of the released evaluation (MRR, P@1, R2@1),
and the paired significance test behind the ▲/▼ markers of its tables.

Inputs: ``scores``, float ``(contexts, candidates)``, higher is better; ``labels``, int
``(contexts,)``, the column of the single positive candidate of each context.

**Ties are broken pessimistically**: the positive ranks below every negative whose score
equals its own, so ``rank = 1 + #{negatives with score >= the positive's}``. A scorer that
gives every candidate the same score therefore ranks every positive last: R_n@k = 0 for
k < n and MAP = 1/n, the least any scorer can earn. NaN scores raise ``ValueError``;
±inf are ordered like any number.

With exactly one positive, average precision is ``1 / rank``, so **MAP = MRR**, and
**P@1 = R_n@1**; both pairs are reported because the paper and the released code name them
differently.

**R2@1** (the released code's "positive versus one negative"): the positive against the
*first non-positive candidate* (column 0, or column 1 when the positive is in column 0); a
hit when the positive scores strictly higher. This is deterministic and, when candidates
are shuffled, the same as drawing one negative at random.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECALL_AT = (1, 2, 5)
"""The k of R_n@k reported by the paper."""

BETTER, WORSE = "▲", "▼"


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (contexts, candidates), got shape {scores.shape}")
    contexts, candidates = scores.shape
    if contexts == 0:
        raise ValueError("scores hold no context")
    if candidates < 2:
        raise ValueError(f"ranking needs at least 2 candidates per context, got {candidates}")
    if labels.shape != (contexts,):
        raise ValueError(f"labels must be ({contexts},), one positive index per context, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer candidate indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= candidates:
        raise ValueError(f"labels must lie in [0, {candidates}), got [{labels.min()}, {labels.max()}]")
    nan_rows = np.flatnonzero(np.isnan(scores).any(axis=1))
    if nan_rows.size:
        raise ValueError(f"scores contain NaN in {nan_rows.size} contexts (first: {nan_rows[:5].tolist()})")
    return scores, labels.astype(np.int64)


def per_context_metrics(scores, labels) -> dict[str, np.ndarray]:
    """Per-context values, each an array ``(contexts,)``.

    ``rank`` (int, 1-based, pessimistic), ``reciprocal_rank`` (float, = average precision),
    ``hits@k`` for k in :data:`RECALL_AT` with k < candidates (float 0/1: positive in the
    top k), ``pair_hit`` (float 0/1: positive above the first non-positive candidate).
    """
    scores, labels = _check(scores, labels)
    rows = np.arange(len(labels))
    positive = scores[rows, labels]
    beats_or_ties = scores >= positive[:, None]
    beats_or_ties[rows, labels] = False
    rank = 1 + beats_or_ties.sum(axis=1)
    first_negative = np.where(labels == 0, 1, 0)
    result = {
        "rank": rank,
        "reciprocal_rank": 1.0 / rank,
        "pair_hit": (positive > scores[rows, first_negative]).astype(np.float64),
    }
    for k in RECALL_AT:
        if k < scores.shape[1]:
            result[f"hits@{k}"] = (rank <= k).astype(np.float64)
    return result


def ranking_metrics(scores, labels) -> dict[str, float]:
    """Mean metrics over contexts.

    Keys: ``MAP``, ``MRR``, ``R{n}@{k}`` (n = candidates, k in :data:`RECALL_AT` with
    k < n, e.g. ``R10@1``), ``R2@1``, ``P@1``. See the module docstring for ties and R2@1.
    """
    per_context = per_context_metrics(scores, labels)
    n = np.shape(scores)[1]
    mrr = float(per_context["reciprocal_rank"].mean())
    result = {"MAP": mrr, "MRR": mrr}
    for k in RECALL_AT:
        if k < n:
            result[f"R{n}@{k}"] = float(per_context[f"hits@{k}"].mean())
    result["R2@1"] = float(per_context["pair_hit"].mean())
    result["P@1"] = float(per_context["hits@1"].mean())
    return result


@dataclass(frozen=True)
class Significance:
    """Outcome of :func:`paired_significance`.

    ``statistic``: paired t of ``a - b``; ``p_value``: two-tailed; ``mean_difference``:
    mean of ``a - b``; ``marker``: ``"▲"`` (a significantly better), ``"▼"`` (significantly
    worse) or ``""``; ``n``: number of pairs.
    """

    statistic: float
    p_value: float
    mean_difference: float
    marker: str
    n: int


def paired_significance(a, b, alpha: float = 0.01) -> Significance:
    """Two-tailed paired t-test of per-context values ``a`` against ``b`` (same contexts).

    ``a`` and ``b`` are 1-D, same length ≥ 2 (e.g. ``reciprocal_rank`` or ``hits@1`` of two
    models from :func:`per_context_metrics`). Zero variance of the differences (up to float
    rounding: a spread below 1e-12 of the values' magnitude): all equal to 0 gives t = 0,
    p = 1 (no difference); all equal to c ≠ 0 gives t = ±inf, p = 0 (a difference that
    every context agrees on).
    """
    from scipy import (
        stats,  # imported here: scipy.stats costs ~0.5 s, only this function needs it
    )

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D of the same length, got shapes {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError(f"a paired t-test needs at least 2 pairs, got {a.size}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("a and b must not contain NaN")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    difference = a - b
    mean = float(difference.mean())
    rounding = 1e-12 * max(1.0, float(np.abs(a).max()), float(np.abs(b).max()))
    if np.ptp(difference) <= rounding:  # zero variance, up to float rounding
        if abs(mean) <= rounding:
            statistic, p_value = 0.0, 1.0
        else:
            statistic, p_value = float(np.copysign(np.inf, mean)), 0.0
    else:
        test = stats.ttest_rel(a, b)
        statistic, p_value = float(test.statistic), float(test.pvalue)
    marker = ""
    if p_value < alpha:
        marker = BETTER if mean > 0 else WORSE
    return Significance(statistic, p_value, mean, marker, int(a.size))


def chance_at_1(candidates) -> float:
    """Chance R_n@1 of contexts with ``candidates`` real candidates each: the mean of 1/k
    (sets smaller than n give fewer candidates, so chance is a little above 1/n)."""
    k = np.asarray(candidates, dtype=np.float64)
    if k.size == 0 or (k < 1).any():
        raise ValueError("every context needs at least one candidate")
    return float(np.mean(1.0 / k))


def binomial_half_width(rate: float, n: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation interval of a rate over ``n`` contexts
    (z = 1.96: 95%): ``z·sqrt(rate(1 - rate)/n)``."""
    if n < 1 or not 0.0 <= rate <= 1.0:
        raise ValueError(f"need a rate in [0, 1] over n ≥ 1 contexts, got {rate} over {n}")
    return float(z * np.sqrt(rate * (1.0 - rate) / n))


@dataclass(frozen=True)
class Verdict:
    """Outcome of :func:`clearly_above`: the rate, its interval's half-width, the floors it
    was held against and whether its whole interval lies above every one of them."""

    rate: float
    half_width: float
    floors: dict
    above: bool

    @property
    def text(self) -> str:
        names = " and ".join(self.floors)
        return (f"clearly above {names}: the model reads the dialog" if self.above else
                f"not clearly above {names}: this run did not learn to read the dialog")


def clearly_above(rate: float, n: int, floors: dict[str, float], z: float = 1.96) -> Verdict:
    """Whether an R_n@1 over ``n`` contexts is above every floor (chance, a context-free
    scorer) by more than its interval's half-width."""
    half_width = binomial_half_width(rate, n, z)
    return Verdict(rate, half_width, dict(floors), rate - half_width > max(floors.values()))
