"""The candidate stickers of a sample: the ground truth and negatives from the same set.

The paper (section 3.1) ranks the ground-truth sticker against "9 stickers other than the
ground truth sticker ... randomly sampled from the sticker set". :func:`draw_candidates`
is that rule, and the one place in ``srs_lib`` where it is written down, so that the
SSIM analysis, the reference scorers and the models all see the same candidate lists.

Rules, stated once:

* The positive is always ``candidates[0]``; the negatives follow in the order they were
  drawn. Callers that feed a model shuffle the list themselves (a model must never learn
  that the first slot is the answer).
* Negatives are *distinct* stickers of the positive's set, drawn uniformly without
  replacement, never the positive itself.
* A set with fewer than ``n`` stickers gives every other sticker of the set as a negative:
  the list is then shorter than ``n`` (no padding with blank images, unlike the released
  code, which scores all-zero images in the empty slots).
* Randomness comes only from the ``numpy.random.Generator`` passed in. Use
  :func:`context_rng` to get the generator of one sample, so that a sample's candidates do
  not depend on which other samples were drawn before it.

:func:`first_in_set_candidates` is the released code's deterministic rule (the first
other stickers of the set in ``emoji_mapping.txt`` order), kept for the leak analysis.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The paper's number of candidates per sample: 1 ground truth + 9 negatives.
N_CANDIDATES = 10


def context_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of sample ``index`` (e.g. its line number) under ``seed``.

    Both numbers must be non-negative integers. The generator depends on nothing else,
    so any subset of the samples can be drawn in any order with the same result.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got {seed} and {index}")
    return np.random.default_rng([int(seed), int(index)])


def draw_candidates(
    set_sticker_ids: Sequence[int],
    positive: int,
    n: int = N_CANDIDATES,
    rng: np.random.Generator | None = None,
) -> list[int]:
    """The positive followed by up to ``n - 1`` distinct random negatives of its set.

    ``set_sticker_ids`` lists the stickers of the positive's set (its ``emoji_mapping.txt``
    order; duplicates are ignored). Returns ``[positive, negative_1, ...]`` with
    ``min(n, len(set))`` entries. Raises ``ValueError`` when the positive is not in the
    set or ``n < 1``. Without ``rng`` a fresh unseeded generator is used (not
    reproducible: pass one).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    others = _others(set_sticker_ids, positive)
    if rng is None:
        rng = np.random.default_rng()
    k = min(n - 1, len(others))
    if k == 0:
        return [positive]
    picked = rng.choice(len(others), size=k, replace=False)
    return [positive] + [others[int(i)] for i in picked]


def first_in_set_candidates(
    set_sticker_ids: Sequence[int], positive: int, n: int = N_CANDIDATES
) -> list[int]:
    """The released code's rule: the positive and the first ``n - 1`` other stickers.

    "First" is the order of the set's ``emoji_mapping.txt``. A positive that is not among
    the first ``n`` stickers of its set never appears as a negative under this rule, which
    a context-blind model can exploit (see the paper notes).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    others = _others(set_sticker_ids, positive)
    return [positive] + others[: n - 1]


def _others(set_sticker_ids: Sequence[int], positive: int) -> list[int]:
    """The set's stickers other than ``positive``, deduplicated, in the set's order."""
    seen: set[int] = set()
    others: list[int] = []
    found = False
    for sticker in set_sticker_ids:
        sticker = int(sticker)
        if sticker == positive:
            found = True
            continue
        if sticker not in seen:
            seen.add(sticker)
            others.append(sticker)
    if not found:
        raise ValueError(f"sticker {positive} is not in its set's list of stickers")
    return others
