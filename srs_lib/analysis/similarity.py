"""Figure 10 (section 7.5): R10@1 per group of test contexts, grouped by how alike their
candidates are.

The paper computes "the average similarity among all candidates in a test sample", sorts
the test samples "into five groups according to their average similarities" and reports
SRS's R10@1 in each group. Section 3.3 (Figure 2) measures a sample's similarity another
way: the ground truth against each of its negatives. This module computes both, on the
very candidates a comparison grid evaluated, and groups the contexts by either.

What we compute, precisely:

* **Candidates** are rebuilt with the grid's own evaluation batches
  (:func:`srs_lib.training.pipeline.evaluation_batches` with the entry's saved
  configuration: the same seed, protocol and number of candidates, the same cached
  stickers), and checked against what each entry saved in ``test_scores.npz``: the same
  lines, the positive in the same slot, as many real candidates. A grid whose candidates cannot
  be rebuilt (its corpus is gone or was regenerated) is refused with the reason.
* **SSIM** is :mod:`srs_lib.analysis.ssim`'s (scikit-image's defaults, on grayscale by
  default, as chapter 02), on the corpus's 128×128 stickers.
* **Among all candidates** (:data:`AMONG`, the figure's): the mean SSIM over every pair of
  a context's real candidates (45 pairs for 10; padding slots are no candidates).
  **Ground truth against its negatives** (:data:`TRUTH`, section 3.3's): the mean SSIM of
  the positive with each negative.
* **Groups** (the paper does not say how it drew them): five groups of equal count. The
  contexts are sorted by the similarity (ties in the grid's context order) and cut into
  five consecutive runs whose sizes differ by at most one (the larger ones first), so each
  group holds a fifth of the contexts and group 1 the least alike candidates. With fewer
  contexts than groups the last groups are empty. A context with a single real candidate
  has no pair: it is left out of both groupings and counted.
* **R10@1 per group** is the mean of the per-context hits at 1 over the group's contexts,
  with the binomial 95% half-width of :func:`srs_lib.analysis.metrics.binomial_half_width`,
  and chance as :func:`srs_lib.analysis.metrics.chance_at_1` of the group's candidates
  (short candidate lists make it a little above 1/10).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srs_lib.analysis import comparison
from srs_lib.analysis.metrics import binomial_half_width, chance_at_1
from srs_lib.analysis.ssim import SSIMImages, prepare
from srs_lib.provenance import ROOT, corpus_description

#: The paper's number of groups.
N_GROUPS = 5
#: The two similarities of a context, by key.
AMONG, TRUTH = "among", "truth"
GROUPINGS = {
    AMONG: "mean SSIM among all candidates (section 7.5, Figure 10)",
    TRUTH: "mean SSIM of the ground truth with its negatives (section 3.3, Figure 2)",
}
#: The rows shown per group: Table 3's models and the two sanity rows of chapter 08.
SHOWN_TABLES = comparison.TABLE_ROWS["table3"]


class GridUnavailable(ValueError):
    """A grid whose test candidates cannot be rebuilt; the message says why."""


@dataclass(frozen=True)
class CandidateSimilarity:
    """Both similarities of every test context, in the grid's context order (arrays of
    shape ``(contexts,)``; NaN where a context has a single real candidate)."""

    lines: np.ndarray
    n_candidates: np.ndarray
    among: np.ndarray
    truth: np.ndarray

    def values(self, grouping: str) -> np.ndarray:
        if grouping not in GROUPINGS:
            raise ValueError(f"unknown grouping {grouping!r}; choose from {', '.join(GROUPINGS)}")
        return self.among if grouping == AMONG else self.truth


def candidate_similarity(images, rows, labels, blocks=None, *, mode: str = "gray",
                         lines=None) -> CandidateSimilarity:
    """Both similarities of every context from its candidates.

    ``images``: the stickers ``(N, H, W, 3)`` uint8, indexed by row (a sticker cache's
    memory map will do: only the rows used are read); ``rows``: ``(contexts, slots)`` int,
    each context's candidates as rows of ``images``, -1 on padding slots; ``labels``:
    ``(contexts,)`` the positive's slot; ``blocks``: ``(contexts,)`` an id such that contexts
    of different ids share no sticker (their sticker set: candidates come from one set), so
    that only one block's stickers are in memory at a time (None: one block); ``mode``:
    ``"gray"`` or ``"rgb"`` as in :func:`srs_lib.analysis.ssim.prepare`.
    """
    rows = np.asarray(rows, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if rows.ndim != 2 or labels.shape != (len(rows),):
        raise ValueError(f"rows must be (contexts, slots) and labels (contexts,), got "
                         f"{rows.shape} and {labels.shape}")
    contexts = np.arange(len(rows))
    if (rows[contexts, labels] < 0).any():
        raise ValueError("a positive's slot is a padding slot")
    blocks = np.zeros(len(rows), dtype=np.int64) if blocks is None else np.asarray(blocks)
    among = np.full(len(rows), np.nan)
    truth = np.full(len(rows), np.nan)
    for block in np.unique(blocks):
        members = np.flatnonzero(blocks == block)
        needed = np.unique(rows[members][rows[members] >= 0])
        local = {int(r): i for i, r in enumerate(needed)}
        pairs = {}  # (row, row), lower row first -> index into the block's SSIM list
        plans = []
        for c in members:
            real = [int(r) for r in rows[c] if r >= 0]
            positive = int(rows[c, labels[c]])
            everyone = [(min(a, b), max(a, b)) for i, a in enumerate(real) for b in real[i + 1:]]
            against = [(min(positive, b), max(positive, b)) for b in real if b != positive]
            for pair in everyone:
                pairs.setdefault(pair, len(pairs))
            plans.append((c, everyone, against))
        if not pairs:
            continue
        group = SSIMImages(prepare(np.asarray(images[needed]), mode), channels=mode == "rgb")
        keys = list(pairs)
        ssim = group.pairs([local[a] for a, _ in keys], [local[b] for _, b in keys])
        for c, everyone, against in plans:
            if everyone:
                among[c] = float(np.mean([ssim[pairs[p]] for p in everyone]))
                truth[c] = float(np.mean([ssim[pairs[p]] for p in against]))
    lines = contexts if lines is None else np.asarray(lines)
    return CandidateSimilarity(lines=lines, n_candidates=(rows >= 0).sum(axis=1),
                               among=among, truth=truth)


def equal_count_groups(values, n_groups: int = N_GROUPS) -> np.ndarray:
    """The group of every context, ``(contexts,)`` int in ``0..n_groups-1`` (-1 for NaN).

    Sorted by value (ties in the given order) and cut into ``n_groups`` consecutive runs
    whose sizes differ by at most one, the larger first (:func:`numpy.array_split`); group 0
    holds the smallest values.
    """
    if n_groups < 1:
        raise ValueError(f"need at least one group, got {n_groups}")
    values = np.asarray(values, dtype=np.float64)
    groups = np.full(len(values), -1, dtype=np.int64)
    finite = np.flatnonzero(~np.isnan(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    for g, part in enumerate(np.array_split(order, n_groups)):
        groups[part] = g
    return groups


# -- a grid's candidates -------------------------------------------------------------------
def corpus_folder(results: dict) -> Path:
    """The corpus folder a grid's runs name (relative paths are relative to ``book/``)."""
    base = Path(comparison.base_path_of(results))
    return base if base.is_absolute() else (ROOT / "book" / base).resolve()


def _config(result):
    from srs_lib.training.config import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in result.metrics["config"].items() if k in known})


def grid_similarity(profile: str, results: dict, *, mode: str = "gray",
                    cache_dir=None) -> CandidateSimilarity:
    """Both similarities of every test context of a profile's grid, on the candidates its
    entries were evaluated on (rebuilt and checked against each entry's saved slots).

    Raises :class:`GridUnavailable` when the grid ran on an earlier corpus than its
    profile's today (:func:`srs_lib.analysis.comparison.stale_corpus_note`), when its
    corpus is not on disk or is not the one it ran on, or when an entry's saved candidates
    differ from the rebuilt ones.
    """
    from srs_lib.training.pipeline import evaluation_batches

    stale = comparison.stale_corpus_note(profile, results)
    if stale is not None:
        raise GridUnavailable(f"{stale}; the stickers its candidates were drawn from are "
                              f"gone, so its contexts cannot be grouped")
    folder = corpus_folder(results)
    ran_on = comparison.corpus_of(results)
    if not folder.exists():
        raise GridUnavailable(f"its corpus ({comparison.base_path_of(results)}) is not on disk")
    if corpus_description(folder) != ran_on:
        raise GridUnavailable(f"it ran on {ran_on}, and {comparison.base_path_of(results)} now "
                              f"holds {corpus_description(folder)}: its candidates cannot be "
                              f"rebuilt")
    first = next(iter(results.values()))
    _, batches = evaluation_batches(folder, _config(first), first.metrics.get("test_path", "test"),
                                    cache_dir=cache_dir)
    rows, labels = batches.candidates(np.arange(len(batches.split)))
    position = {int(line): i for i, line in enumerate(batches.split.lines)}
    for name, result in results.items():
        try:
            index = np.asarray([position[int(line)] for line in result.lines])
        except KeyError as missing:
            raise GridUnavailable(f"{name} was tested on line {missing}, which today's test "
                                  f"split does not hold") from None
        same = (result.labels is not None and np.array_equal(labels[index], result.labels) and
                (result.candidates is None or
                 np.array_equal((rows[index] >= 0).sum(axis=1), result.candidates)))
        if not same:
            raise GridUnavailable(f"the candidates rebuilt for {name} are not those it was "
                                  f"tested on")
    index = np.asarray([position[int(line)] for line in first.lines])
    return candidate_similarity(batches.cache.images, rows[index], labels[index],
                                batches.split.set_index[index], mode=mode,
                                lines=first.lines)


@dataclass
class GridGroups:
    """A grid's entries shown per group (:data:`SHOWN_TABLES`) and its contexts'
    similarities."""

    profile: str
    results: dict
    similarity: CandidateSimilarity


def profiles_grouped(grids: dict[str, dict], **options) -> tuple[dict[str, GridGroups], dict[str, str]]:
    """``({profile: GridGroups}, {profile: why not})`` for the grids of
    :func:`srs_lib.analysis.comparison.load_profiles`: each grid whose candidates could be
    rebuilt, and the reason for each that could not. Only the entries under the paper's
    ``random`` candidates are grouped (:func:`~srs_lib.analysis.comparison.under_protocol`)."""
    grouped, refused = {}, {}
    for profile, results in grids.items():
        # the entries tested on the paper's candidates: the similarities are those of
        # their candidates (first9 entries were tested on others)
        results = comparison.under_protocol(results, "random")
        shown = {n: r for n, r in results.items() if r.entry.table in SHOWN_TABLES}
        try:
            grouped[profile] = GridGroups(profile, shown, grid_similarity(profile, results, **options))
        except GridUnavailable as why:
            refused[profile] = str(why)
    return grouped, refused


# -- R10@1 per group -----------------------------------------------------------------------
def group_frame(hits: dict[str, np.ndarray], values, n_candidates, n_groups: int = N_GROUPS):
    """R10@1 per group and model as a long pandas DataFrame.

    ``hits``: ``{model label: (contexts,) 0/1 hits at 1}``; ``values``: ``(contexts,)`` the
    similarity the contexts are grouped by (:func:`equal_count_groups`); ``n_candidates``:
    ``(contexts,)`` real candidates per context. One row per (group, model): ``group``
    (1 = least alike), ``low``/``high``/``mean`` (the group's similarity), ``contexts``,
    ``chance``, ``model``, ``R10@1`` and ``half_width`` (95%); NaN for an empty group.
    """
    import pandas as pd

    values = np.asarray(values, dtype=np.float64)
    n_candidates = np.asarray(n_candidates)
    groups = equal_count_groups(values, n_groups)
    rows = []
    for g in range(n_groups):
        members = groups == g
        size = int(members.sum())
        spread = values[members]
        common = {"group": g + 1, "contexts": size,
                  "low": float(spread.min()) if size else np.nan,
                  "high": float(spread.max()) if size else np.nan,
                  "mean": float(spread.mean()) if size else np.nan,
                  "chance": chance_at_1(n_candidates[members]) if size else np.nan}
        for model, hit in hits.items():
            hit = np.asarray(hit, dtype=np.float64)
            rate = float(hit[members].mean()) if size else np.nan
            rows.append({**common, "model": model, "R10@1": rate,
                         "half_width": binomial_half_width(rate, size) if size else np.nan})
    return pd.DataFrame(rows)


def grid_frame(grid: GridGroups, grouping: str, n_groups: int = N_GROUPS):
    """:func:`group_frame` of a grid's shown entries under one grouping (:data:`GROUPINGS`)."""
    hits = {r.entry.label: r.per_context["hits@1"] for r in grid.results.values()}
    return group_frame(hits, grid.similarity.values(grouping), grid.similarity.n_candidates,
                       n_groups)


def group_table(frame):
    """A :func:`group_frame` as one row per group: its similarity range, contexts, chance
    and each model's "R10@1 ± half-width", for display."""
    import pandas as pd

    out = []
    for g, part in frame.groupby("group", sort=True):
        first = part.iloc[0]
        row = {"group": int(g), "similarity": (f"{first['low']:.3f}–{first['high']:.3f}"
                                               if first["contexts"] else "–"),
               "contexts": int(first["contexts"]), "chance": first["chance"]}
        for _, r in part.iterrows():
            row[r["model"]] = (f"{r['R10@1']:.3f} ± {r['half_width']:.3f}"
                               if first["contexts"] else "–")
        out.append(row)
    return pd.DataFrame(out).set_index("group")


def agreement(similarity: CandidateSimilarity, n_groups: int = N_GROUPS) -> dict:
    """How the two similarities differ on the same contexts: their means, their Pearson
    and Spearman correlations, the fraction of contexts both groupings put in the same
    group and the fraction they put two or more groups apart, and the contexts left out
    (a single real candidate)."""
    from scipy import stats

    kept = ~np.isnan(similarity.among)
    among, truth = similarity.among[kept], similarity.truth[kept]
    a = equal_count_groups(among, n_groups)
    t = equal_count_groups(truth, n_groups)
    return {
        "contexts": int(kept.sum()),
        "left_out": int((~kept).sum()),
        "mean_among": float(among.mean()),
        "mean_truth": float(truth.mean()),
        "pearson": float(stats.pearsonr(among, truth).statistic) if kept.sum() > 2 else np.nan,
        "spearman": float(stats.spearmanr(among, truth).statistic) if kept.sum() > 2 else np.nan,
        "same_group": float(np.mean(a == t)),
        "two_or_more_apart": float(np.mean(np.abs(a - t) >= 2)),
    }


def trend(frame, model: str) -> dict:
    """A model's R10@1 in the least and the most alike group and its extremes over the
    (non-empty) groups of a :func:`group_frame`, for comparison with the paper's reading
    (:data:`srs_lib.paper.FIGURE10`)."""
    part = frame[(frame["model"] == model) & (frame["contexts"] > 0)].sort_values("group")
    rates = part["R10@1"].to_numpy()
    return {"least_alike": float(rates[0]), "most_alike": float(rates[-1]),
            "lowest": float(rates.min()), "highest": float(rates.max()),
            "best_group": int(part["group"].to_numpy()[rates.argmax()]),
            "groups": len(rates)}
