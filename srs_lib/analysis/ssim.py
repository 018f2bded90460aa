"""How alike are the candidates? The SSIM analysis of the paper's section 3.3 (Figure 2).

The paper measures the difficulty of the task by the Structural Similarity Index (SSIM,
Wang et al. 2004) between the ground-truth sticker and each of its negatives, averaged per
test sample; Figure 2 is the histogram of that mean over five bins of (0, 1], and the mean
over the test set is 0.258.

What we compute, precisely:

* **SSIM** is scikit-image's ``structural_similarity`` with its defaults: a 7×7 *uniform*
  window, sample covariance, ``K1 = 0.01``, ``K2 = 0.03``, ``data_range = 255``, and the mean
  over the image less a 3-pixel border. :func:`structural_similarity_batch` reimplements it
  with numpy/scipy, vectorised over many pairs (the tests check it against scikit-image to
  1e-6).
* **Colour.** By default on grayscale: ``0.2125 R + 0.7154 G + 0.0721 B`` (the weights of
  ``skimage.color.rgb2gray``) on the 0-255 scale. ``mode="rgb"`` computes SSIM per colour
  channel and averages the channels (``channel_axis=-1`` in scikit-image). The paper does
  not say which it used.
* **Samples** are the usable samples of the split as :func:`srs_lib.data.load_split`
  defines them (the skipped ones are counted by reason).
* **Negatives** are drawn by :func:`srs_lib.data.candidates.draw_candidates`: 9 distinct random
  stickers of the ground truth's set, with the generator ``context_rng(seed, line)`` of the
  sample's line number. A set with fewer than 10 stickers gives all its other stickers; a
  set of one sticker gives no negative, and the sample is skipped and counted.

Each sample's result (line, set, sticker, number of candidates, mean SSIM) can be saved
as a tab-separated file for later analyses, e.g. the paper's Figure 10 (accuracy per
similarity group).

:func:`within_across_similarity` compares the library's sticker pairs within a set with
pairs across sets (a set's stickers share a character and a style, so the first should be
the larger).

Command line::

    python -m srs_lib ssim --base_path DIR --split test [--mode gray|rgb] [--json] [--out FILE]
        [--within_across]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter

from srs_lib.data import StickerError, StickerStore, load_split
from srs_lib.data.candidates import N_CANDIDATES, context_rng, draw_candidates

#: The paper's mean SSIM between a ground truth and its negatives over the test set.
PAPER_MEAN_SSIM = 0.258
#: Figure 2's bins: (0, 0.2], (0.2, 0.4], ..., (0.8, 1.0].
BIN_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
#: ``skimage.color.rgb2gray`` weights (ITU-R BT.709 luma).
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)
#: scikit-image defaults.
WIN_SIZE = 7
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0
MODES = ("gray", "rgb")


# --------------------------------------------------------------------------------------
# SSIM, vectorised over pairs
# --------------------------------------------------------------------------------------
def to_gray(images: np.ndarray) -> np.ndarray:
    """RGB images ``(..., H, W, 3)`` (any numeric dtype, 0-255) to float64 ``(..., H, W)``.

    Same weights as ``skimage.color.rgb2gray``, but on the 0-255 scale, so that
    ``data_range=255`` applies.
    """
    images = np.asarray(images)
    if images.shape[-1] != 3:
        raise ValueError(f"expected RGB images (..., H, W, 3), got shape {images.shape}")
    return images.astype(np.float64) @ np.asarray(GRAY_WEIGHTS, dtype=np.float64)


def prepare(images: np.ndarray, mode: str = "gray") -> np.ndarray:
    """Stickers ``(N, H, W, 3)`` uint8 as the float64 arrays SSIM is computed on.

    ``mode="gray"`` gives ``(N, H, W)`` (see :func:`to_gray`); ``mode="rgb"`` gives
    ``(N, H, W, 3)``.
    """
    if mode == "gray":
        return to_gray(images)
    if mode == "rgb":
        return np.asarray(images, dtype=np.float64)
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _window(ndim: int, channels: bool, win_size: int) -> tuple[int, ...]:
    """Filter size over a batch ``(P, H, W[, C])``: no mixing across pairs or channels."""
    spatial = ndim - 1 - int(channels)
    if spatial != 2:
        raise ValueError("expected a batch of 2-D images (P, H, W) or (P, H, W, C)")
    return (1, win_size, win_size) + ((1,) if channels else ())


class SSIMImages:
    """A group of images with their local means and second moments precomputed.

    ``images`` is ``(N, H, W)`` (grayscale) or ``(N, H, W, C)`` with ``channels=True``, in
    float64 on the ``data_range`` scale. :meth:`pairs` then costs one box filter per pair
    (of ``x * y``) instead of five, which is what makes 10,000 samples × 9 negatives fast.
    """

    def __init__(
        self,
        images: np.ndarray,
        *,
        channels: bool = False,
        win_size: int = WIN_SIZE,
        data_range: float = DATA_RANGE,
    ) -> None:
        if win_size % 2 != 1:
            raise ValueError("win_size must be odd")
        self.images = np.asarray(images, dtype=np.float64)
        self.channels = channels
        self.win_size = win_size
        self.data_range = float(data_range)
        self.size = _window(self.images.ndim, channels, win_size)
        if min(self.images.shape[1:3]) < win_size:
            raise ValueError(f"images smaller than the {win_size}x{win_size} window")
        self.mean = uniform_filter(self.images, size=self.size)
        self.mean_sq = uniform_filter(self.images * self.images, size=self.size)

    def __len__(self) -> int:
        return len(self.images)

    def pairs(self, first: Sequence[int], second: Sequence[int], chunk: int = 128) -> np.ndarray:
        """SSIM of ``images[first[k]]`` with ``images[second[k]]`` for every k: ``(P,)``."""
        first = np.asarray(first, dtype=np.intp)
        second = np.asarray(second, dtype=np.intp)
        if first.shape != second.shape or first.ndim != 1:
            raise ValueError("first and second must be 1-D index arrays of the same length")
        out = np.empty(len(first), dtype=np.float64)
        for start in range(0, len(first), chunk):
            i = first[start : start + chunk]
            j = second[start : start + chunk]
            out[start : start + chunk] = ssim_from_moments(
                self.images[i], self.images[j],
                self.mean[i], self.mean[j], self.mean_sq[i], self.mean_sq[j],
                self.size, self.win_size, self.data_range, self.channels,
            )
        return out


def ssim_from_moments(x, y, ux, uy, uxx, uyy, size, win_size, data_range, channels):
    """Mean SSIM per pair from the windows' moments (scikit-image's formula and operation
    order): ``x``, ``y`` the images, ``ux``, ``uy`` their local means, ``uxx``, ``uyy`` the
    local means of their squares, over ``size``-wide windows of ``win_size`` points a side."""
    uxy = uniform_filter(x * y, size=size)
    n_points = win_size**2
    cov_norm = n_points / (n_points - 1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    a1 = 2 * ux * uy + c1
    a2 = 2 * vxy + c2
    b1 = ux**2 + uy**2 + c1
    b2 = vx + vy + c2
    s = (a1 * a2) / (b1 * b2)
    pad = (win_size - 1) // 2
    cropped = s[:, pad:-pad, pad:-pad]
    if channels:
        # scikit-image: the mean of each channel's mean.
        return cropped.mean(axis=(1, 2), dtype=np.float64).mean(axis=-1)
    return cropped.mean(axis=(1, 2), dtype=np.float64)


def structural_similarity_batch(
    x: np.ndarray,
    y: np.ndarray,
    *,
    channel_axis: int | None = None,
    data_range: float = DATA_RANGE,
    win_size: int = WIN_SIZE,
) -> np.ndarray:
    """``skimage.metrics.structural_similarity`` for many pairs at once.

    ``x`` and ``y`` are ``(P, H, W)``, or ``(P, H, W, C)`` with ``channel_axis=-1`` (the
    per-channel SSIMs are averaged). Returns the ``P`` mean SSIMs. Defaults are
    scikit-image's (uniform 7×7 window, sample covariance, K1 0.01, K2 0.03); integer inputs
    are converted to float64, and ``data_range`` defaults to 255.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in shape: {x.shape} vs {y.shape}")
    if channel_axis not in (None, -1, x.ndim - 1):
        raise ValueError("channel_axis must be None or the last axis")
    channels = channel_axis is not None
    if x.ndim == 2 + int(channels):  # a single pair
        return structural_similarity_batch(
            x[None], y[None], channel_axis=-1 if channels else None,
            data_range=data_range, win_size=win_size,
        )
    size = _window(x.ndim, channels, win_size)
    ux, uy = uniform_filter(x, size=size), uniform_filter(y, size=size)
    uxx, uyy = uniform_filter(x * x, size=size), uniform_filter(y * y, size=size)
    return ssim_from_moments(x, y, ux, uy, uxx, uyy, size, win_size, float(data_range), channels)


# --------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContextSimilarity:
    """The mean SSIM of one sample's ground truth with its negatives."""

    line: int
    sticker_set_id: int
    sticker_id: int
    n_candidates: int
    mean_ssim: float


@dataclass
class SimilarityReport:
    """Figure 2 for one split: per-sample similarities, their histogram and mean."""

    split: str
    mode: str
    seed: int
    samples: list[ContextSimilarity]
    skipped: dict[str, int]

    @property
    def values(self) -> np.ndarray:
        return np.array([s.mean_ssim for s in self.samples], dtype=np.float64)

    def histogram(self) -> dict:
        """Counts and fractions over :data:`BIN_EDGES`; see :func:`histogram`."""
        return histogram(self.values)

    def summary(self) -> dict:
        """Everything but the per-sample list, as JSON-ready numbers."""
        values = self.values
        return {
            "split": self.split,
            "mode": self.mode,
            "seed": self.seed,
            "samples": len(values),
            "fewer_than_10_candidates": int(sum(s.n_candidates < N_CANDIDATES for s in self.samples)),
            "skipped": dict(self.skipped),
            "mean": float(values.mean()) if len(values) else float("nan"),
            "median": float(np.median(values)) if len(values) else float("nan"),
            "std": float(values.std()) if len(values) else float("nan"),
            "paper_mean": PAPER_MEAN_SSIM,
            "histogram": self.histogram(),
        }


def histogram(values: Sequence[float]) -> dict:
    """Counts and fractions of ``values`` over Figure 2's bins (0, 0.2], ..., (0.8, 1.0].

    SSIM can be zero or negative (anti-correlated images): those values are counted in
    ``nonpositive`` and *not* in the first bin, so the bins' fractions are of all values.
    """
    values = np.asarray(values, dtype=np.float64)
    edges = np.asarray(BIN_EDGES)
    # right-closed bins: index k such that edges[k] < v <= edges[k + 1]
    index = np.searchsorted(edges, values, side="left") - 1
    positive = (values > 0) & (values <= 1.0 + 1e-12)
    counts = np.bincount(np.clip(index[positive], 0, len(edges) - 2), minlength=len(edges) - 1)
    total = max(len(values), 1)
    labels = [f"({lo:.1f},{hi:.1f}]" for lo, hi in zip(edges[:-1], edges[1:])]
    return {
        "bins": labels,
        "counts": [int(c) for c in counts],
        "fractions": [float(c) / total for c in counts],
        "nonpositive": int((values <= 0).sum()),
    }


def candidate_similarities(
    base_path: str,
    split: str = "test",
    *,
    seed: int = 0,
    mode: str = "gray",
    n_candidates: int = N_CANDIDATES,
    limit: int | None = None,
    progress: bool = True,
) -> SimilarityReport:
    """Mean SSIM between each sample's ground truth and its random same-set negatives.

    The split is read with :func:`srs_lib.data.load_split`, so the samples are the usable
    ones under the corpus rules (the others are counted in ``skipped`` by reason), and a
    sample whose set has a single sticker is skipped too. Samples are grouped by sticker
    set, so each set's stickers are read and filtered once. ``limit`` keeps the first
    usable samples only (for quick looks).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    store = StickerStore(base_path)
    dialogs, split_report = load_split(base_path, split, store)
    by_set: dict[int, list[tuple[int, int]]] = {}
    for dialog in dialogs[:limit]:
        set_id, sticker_id = dialog.sticker_key
        by_set.setdefault(set_id, []).append((dialog.line, sticker_id))

    skipped = {reason: count for reason, count in split_report.skipped.items() if count}
    skipped["single_sticker_set"] = 0
    samples: list[ContextSimilarity] = []
    bar = _progress(sum(len(v) for v in by_set.values()), progress, f"SSIM {split}")
    for set_id in sorted(by_set):
        members = store.sets[set_id].sticker_ids
        plans = []  # (line, sticker, candidates)
        for line, sticker in by_set[set_id]:
            candidates = draw_candidates(members, sticker, n_candidates, context_rng(seed, line))
            if len(candidates) < 2:
                skipped["single_sticker_set"] += 1
                continue
            plans.append((line, sticker, candidates))
        needed = sorted({c for _, _, cands in plans for c in cands})
        arrays, position = [], {}
        for sticker in needed:
            try:
                arrays.append(store.load(set_id, sticker))
            except StickerError:  # a negative without a usable file
                continue
            position[sticker] = len(arrays) - 1
        first, second, owner = [], [], []
        kept = []
        for line, sticker, candidates in plans:
            if any(c not in position for c in candidates):
                skipped["unusable_negative"] = skipped.get("unusable_negative", 0) + 1
                continue
            for negative in candidates[1:]:
                first.append(position[sticker])
                second.append(position[negative])
                owner.append(len(kept))
            kept.append((line, sticker, len(candidates)))
        if kept:
            group = SSIMImages(prepare(np.stack(arrays), mode), channels=mode == "rgb")
            scores = group.pairs(first, second)
            sums = np.bincount(owner, weights=scores, minlength=len(kept))
            counts = np.bincount(owner, minlength=len(kept))
            for k, (line, sticker, n) in enumerate(kept):
                samples.append(ContextSimilarity(line, set_id, sticker, n, float(sums[k] / counts[k])))
        bar.update(len(by_set[set_id]))
    bar.close()
    samples.sort(key=lambda s: s.line)
    return SimilarityReport(split=split, mode=mode, seed=seed, samples=samples, skipped=skipped)


@dataclass(frozen=True)
class SetSimilarity:
    """How alike stickers of one set are, against stickers of different sets."""

    within: float  # mean SSIM of pairs of stickers of the same set
    across: float  # mean SSIM of pairs of stickers of two different sets
    within_pairs: int
    across_pairs: int
    sets: int
    mode: str

    def to_dict(self) -> dict:
        return {"within": self.within, "across": self.across, "within_pairs": self.within_pairs,
                "across_pairs": self.across_pairs, "sets": self.sets, "mode": self.mode}


def within_across_similarity(
    base_path: str,
    *,
    seed: int = 0,
    mode: str = "gray",
    per_set: int = 8,
    max_sets: int = 200,
) -> SetSimilarity:
    """Mean SSIM of sticker pairs within a set and across sets, over the library.

    Up to ``max_sets`` sets of at least two stickers are drawn at random (all of them when
    there are fewer), and up to ``per_set`` stickers of each. *Within*: every pair of the
    drawn stickers of a set (each set weighs by its number of pairs). *Across*: as many
    random pairs of drawn stickers of two different sets. Deterministic given ``seed``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    store = StickerStore(base_path)
    rng = np.random.default_rng([seed, 7])
    ids = sorted(i for i, s in store.sets.items() if len(s) >= 2)
    if len(ids) < 2:
        raise ValueError("need at least two sets of two stickers or more")
    if len(ids) > max_sets:
        ids = sorted(int(ids[k]) for k in rng.choice(len(ids), size=max_sets, replace=False))
    arrays, owner = [], []
    for k, set_id in enumerate(ids):
        members = store.sets[set_id].sticker_ids
        picked = rng.choice(len(members), size=min(per_set, len(members)), replace=False)
        for i in sorted(int(i) for i in picked):
            arrays.append(store.load(set_id, members[i]))
            owner.append(k)
    owner = np.asarray(owner)
    first, second = [], []
    for k in range(len(ids)):
        members = np.flatnonzero(owner == k)
        i, j = np.triu_indices(len(members), 1)
        first.extend(members[i])
        second.extend(members[j])
    n_within = len(first)
    a = rng.integers(len(owner), size=4 * n_within)
    b = rng.integers(len(owner), size=4 * n_within)
    keep = owner[a] != owner[b]
    a, b = a[keep][:n_within], b[keep][:n_within]
    group = SSIMImages(prepare(np.stack(arrays), mode), channels=mode == "rgb")
    within = group.pairs(first, second)
    across = group.pairs(a, b)
    return SetSimilarity(within=float(within.mean()), across=float(across.mean()),
                         within_pairs=len(within), across_pairs=len(across), sets=len(ids), mode=mode)


def write_similarities(report: SimilarityReport, path: str) -> None:
    """Save the per-sample similarities as a tab-separated file with a header line."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("line\tsticker_set_id\tsticker_id\tn_candidates\tmean_ssim\n")
        for s in report.samples:
            handle.write(f"{s.line}\t{s.sticker_set_id}\t{s.sticker_id}\t{s.n_candidates}\t{s.mean_ssim:.6f}\n")


def read_similarities(path: str) -> list[ContextSimilarity]:
    """Read a file written by :func:`write_similarities`."""
    out = []
    with open(path, encoding="utf-8") as handle:
        next(handle)
        for text in handle:
            line, set_id, sticker, n, value = text.rstrip("\n").split("\t")
            out.append(ContextSimilarity(int(line), int(set_id), int(sticker), int(n), float(value)))
    return out


def format_report(report: SimilarityReport) -> str:
    """A plain-text table of the histogram beside the paper's mean."""
    s = report.summary()
    h = s["histogram"]
    lines = [
        f"Mean SSIM of the ground truth with its negatives: split {s['split']}, {s['mode']}, "
        f"{N_CANDIDATES - 1} random same-set negatives (seed {s['seed']})",
        f"samples {s['samples']}  (fewer than {N_CANDIDATES} candidates: "
        f"{s['fewer_than_10_candidates']}; skipped: "
        + ", ".join(f"{k} {v}" for k, v in s["skipped"].items()) + ")",
        f"{'bin':<11}{'count':>8}{'fraction':>10}",
    ]
    for label, count, fraction in zip(h["bins"], h["counts"], h["fractions"]):
        lines.append(f"{label:<11}{count:>8}{fraction:>10.3f}")
    if h["nonpositive"]:
        lines.append(f"{'<= 0':<11}{h['nonpositive']:>8}")
    lines.append(f"mean {s['mean']:.3f} (paper {PAPER_MEAN_SSIM}), median {s['median']:.3f}")
    return "\n".join(lines)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, mininterval=1.0)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m srs_lib ssim``."""
    parser.add_argument("--base_path", required=True, help="corpus folder (release_*.json, npy_stickers/)")
    parser.add_argument("--split", default="test", help="train, val or test (default test)")
    parser.add_argument("--mode", choices=MODES, default="gray", help="SSIM on grayscale (default) or per RGB channel")
    parser.add_argument("--seed", type=int, default=0, help="seed of the negatives (default 0)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N samples")
    parser.add_argument("--out", default=None, help="write per-sample similarities (TSV) here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--within_across", action="store_true",
                        help="also the mean SSIM of sticker pairs within a set and across sets")


def run(args: argparse.Namespace) -> int:
    """Compute the similarities, print the histogram, optionally save the per-sample file."""
    path = os.path.join(args.base_path, f"release_{args.split}.json")
    if not os.path.exists(path):
        print(f"ssim: no such file: {path}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = candidate_similarities(
        args.base_path, args.split, seed=args.seed, mode=args.mode,
        limit=args.limit, progress=not args.quiet,
    )
    elapsed = time.perf_counter() - started
    if args.out:
        write_similarities(report, args.out)
    sets = within_across_similarity(args.base_path, seed=args.seed, mode=args.mode) if args.within_across else None
    if args.json:
        summary = report.summary()
        summary["seconds"] = round(elapsed, 2)
        if sets is not None:
            summary["within_across"] = sets.to_dict()
        print(json.dumps(summary, indent=2))
    else:
        print(format_report(report))
        print(f"({elapsed:.1f} s)")
        if sets is not None:
            print(f"sticker pairs within a set: mean SSIM {sets.within:.3f} ({sets.within_pairs} pairs, "
                  f"{sets.sets} sets); across sets: {sets.across:.3f} ({sets.across_pairs} pairs)")
    return 0 if report.samples else 1


__all__ = [
    "BIN_EDGES", "ContextSimilarity", "GRAY_WEIGHTS", "PAPER_MEAN_SSIM", "SSIMImages",
    "SetSimilarity", "SimilarityReport", "add_arguments", "candidate_similarities",
    "format_report", "histogram", "prepare", "read_similarities", "run",
    "structural_similarity_batch", "to_gray", "within_across_similarity", "write_similarities",
]
