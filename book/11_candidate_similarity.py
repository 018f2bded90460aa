# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Similar candidates
#
# Section 7.5 and Figure 10 of the paper (RQ5): does a model still find the ground truth
# when the candidates look alike? This chapter trains nothing: it groups the test contexts
# of the comparison grids of chapter 08 (`results/comparison/PROFILE/`) by how alike their
# candidates are and reads every model's R10@1 per group from the per-context scores the
# grids saved. The SSIM of every candidate pair (45 per context) is computed here, on the
# very candidates each grid evaluated: about 15 seconds for the `ci` grid (100 test
# contexts) on two CPU cores, growing with the test contexts; the time is printed below.

# %% tags=["parameters"]
base_path = "../data/small"  # not read here: every grid names the corpus its runs used
profile = "cpu"  # not read here either: every profile in `profiles` with results is shown
results_dir = "../results/comparison"  # where `experiments run comparison` writes its grids
profiles = ["paper", "cpu", "ci"]  # shown in this order, the most important first
mode = "gray"  # SSIM on grayscale ("gray", chapter 02's default) or per colour channel ("rgb")
n_groups = 5  # the paper's five groups

# %% [markdown]
# ## The paper's question and its two measures
#
# The paper, section 7.5: *"The candidate stickers are sampled from the same set, and
# stickers in a set usually have a similar style. Thus, it is natural to ask: Can our model
# identify the correct sticker from a set of similar candidates? [...] we use the
# Structural Similarity Index (SSIM) metric to calculate the average similarity among all
# candidates in a test sample and then aggregate all test samples into five groups
# according to their average similarities. We calculate the R10@1 of each group of
# samples, as shown in Figure 10."* Its reading: *"SRS gains the best performance when the
# average similarity of the candidate group is low and its performance drops as
# similarity increases. [...] R10@1 scores of all five groups are above 0.42, and the
# highest score reaches 0.59."* Figure 10 shows SRS only.
#
# For a context with $k$ real candidates $c_1, \dots, c_k$, the ground truth $c_+$ among
# them, Figure 10 groups by the mean over all pairs,
#
# $$\bar s_{\text{all}} = \frac{2}{k(k-1)} \sum_{i<j} \mathrm{SSIM}(c_i, c_j),$$
#
# while section 3.3 (Figure 2, chapter 02) measured the difficulty of the task by the
# ground truth against its negatives,
#
# $$\bar s_{+} = \frac{1}{k-1} \sum_{j \ne +} \mathrm{SSIM}(c_+, c_j).$$
#
# The first holds the $\binom{k-1}{2}$ pairs of negatives among themselves (36 of its 45
# pairs when $k = 10$); the second only the $k-1$ pairs that involve the answer.
#
# > **Ours.** The candidates are those the grid evaluated: rebuilt with the grid's own
# > evaluation batches (same seed, same cached stickers, the positive in the same slot) and
# > checked against what every entry saved; padding slots of sets smaller than 10 are no
# > candidates. SSIM is chapter 02's (scikit-image's defaults, grayscale). The paper does
# > not say how it drew its five groups; we cut the contexts sorted by similarity into five
# > groups of equal count (sizes differ by one at most), group 1 the least alike. We show
# > both groupings side by side, and every model of Table 3 (with chapter 08's two sanity
# > rows), each with its group sizes, chance per group (the mean of $1/k$) and a 95%
# > binomial interval.
#
# ```{literalinclude} /srs_lib/analysis/similarity.py
# :pyobject: candidate_similarity
# ```
#
# ```{literalinclude} /srs_lib/analysis/similarity.py
# :pyobject: equal_count_groups
# ```

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown, display

from myst_nb import glue

from srs_lib import figures, paper
from srs_lib.analysis import comparison, similarity
from srs_lib.analysis.metrics import binomial_half_width
from srs_lib.experiments import report

grids = comparison.load_profiles(profiles, Path(results_dir))
for name in profiles:
    print("\n".join(comparison.grid_overview(name, grids.get(name))))
start = time.monotonic()
grouped, refused = similarity.profiles_grouped(grids, mode=mode)
for name, why in refused.items():
    print(f"{name}: not grouped here: {why}.")
print(f"candidates rebuilt and their SSIM computed for {len(grouped)} grid(s) in "
      f"{time.monotonic() - start:.0f} s")

# %% [markdown]
# ## R10@1 per group
#
# One table per grid and grouping: each group's similarity range, its number of
# contexts, chance, and every model's R10@1 ± the half-width of its 95% interval.

# %%
frames = {}
for name, grid in grouped.items():
    for grouping, description in similarity.GROUPINGS.items():
        frames[name, grouping] = similarity.grid_frame(grid, grouping, n_groups)
        display(Markdown(f"**Profile `{name}`, grouped by the {description}**"))
        display(HTML(comparison.to_html(similarity.group_table(frames[name, grouping]))))

# %% [markdown]
# ## Figure 10, and section 3.3's grouping beside it
#
# Left, the paper's grouping; right, section 3.3's. Each line is one model over the five
# groups (least alike candidates on the left), SRS in black, with 95% intervals; the
# dotted grey line is chance. The dashed red lines are the paper's reading of its
# Figure 10 for SRS (every group above 0.42, the best at 0.59); the paper has no values
# per group, and its corpus is another.

# %%
for name, grid in grouped.items():
    fig = figures.similarity_groups(
        {similarity.GROUPINGS[g]: frames[name, g] for g in similarity.GROUPINGS},
        paper_reading=paper.FIGURE10,
        title=f"profile {name}: {comparison.corpus_of(grid.results)}")
    plt.show()

# %% [markdown]
# ## How the two groupings differ
#
# Both measures of the same contexts: their means, how closely they follow each other, and
# how often the two groupings put a context in the same group.

# %%
agreements = {name: similarity.agreement(grid.similarity, n_groups) for name, grid in grouped.items()}
for name, found in agreements.items():
    print(f"profile {name}: {found['contexts']} contexts ({found['left_out']} with a single "
          f"candidate left out); mean SSIM among all candidates {found['mean_among']:.3f}, "
          f"ground truth against its negatives {found['mean_truth']:.3f}; Pearson "
          f"{found['pearson']:.3f}, Spearman {found['spearman']:.3f}; same group "
          f"{found['same_group']:.0%}, two or more groups apart {found['two_or_more_apart']:.0%}")

# %%
if grouped:
    shown = next(iter(grouped))  # the most important profile that could be grouped
    found = agreements[shown]
    trends = {g: similarity.trend(frames[shown, g], "SRS") for g in similarity.GROUPINGS}
    glue("shown_profile", shown, display=False)
    glue("shown_contexts", found["contexts"], display=False)
    group_size = found["contexts"] // n_groups
    chance = comparison.chance_at_1(grouped[shown].results)
    glue("shown_group_size", group_size, display=False)
    glue("shown_chance", chance, display=False)
    glue("shown_chance_half_width", binomial_half_width(chance, group_size), display=False)
    for key in ("mean_among", "mean_truth", "pearson", "spearman"):
        glue(f"shown_{key}", round(float(found[key]), 4), display=False)  # not the last bits
    glue("shown_same_group", f"{found['same_group']:.0%}", display=False)
    glue("shown_apart", f"{found['two_or_more_apart']:.0%}", display=False)
    for g, t in trends.items():
        for key, value in t.items():
            glue(f"shown_srs_{g}_{key}", value, display=False)

# %% [markdown]
# In the {glue:text}`shown_profile` grid, over its {glue:text}`shown_contexts` test
# contexts, the mean SSIM among all candidates is {glue:text}`shown_mean_among:.3f` and
# that of the ground truth against its negatives {glue:text}`shown_mean_truth:.3f`; the
# two correlate with Pearson {glue:text}`shown_pearson:.3f` and Spearman
# {glue:text}`shown_spearman:.3f`, and the two groupings put {glue:text}`shown_same_group`
# of the contexts in the same group and {glue:text}`shown_apart` two or more groups apart.
#
# > **Why they differ, and why they agree.** When all candidates come from one set, how alike
# > they are is mostly a property of the set (its character and style), and the ground
# > truth is one sticker of the set like the others: both measures then mostly rank the
# > sets, and they part only where a set's stickers differ among themselves, so that
# > the answer is unlike its negatives while they resemble each other, or the reverse. The
# > paper's measure averages 45 pairs instead of 9 and is the steadier of the two; section
# > 3.3's is the one that says how hard the answer itself is to tell apart.
#
# SRS's R10@1 in the {glue:text}`shown_profile` grid, grouped among all candidates (the
# paper's): {glue:text}`shown_srs_among_least_alike:.3f` in the least alike group,
# {glue:text}`shown_srs_among_most_alike:.3f` in the most alike, from
# {glue:text}`shown_srs_among_lowest:.3f` to {glue:text}`shown_srs_among_highest:.3f`
# over the groups (best: group {glue:text}`shown_srs_among_best_group`); grouped by the
# ground truth against its negatives: {glue:text}`shown_srs_truth_least_alike:.3f` and
# {glue:text}`shown_srs_truth_most_alike:.3f`, from {glue:text}`shown_srs_truth_lowest:.3f`
# to {glue:text}`shown_srs_truth_highest:.3f`. The paper's SRS stays between 0.42 and
# 0.59 over its groups, best where the candidates are least alike.
#
# > **What the `ci` grid can say.** Each group holds a fifth of the test contexts,
# > {glue:text}`shown_group_size` in the grid shown above, so at chance
# > ({glue:text}`shown_chance:.3f`) a group's 95% interval is
# > ±{glue:text}`shown_chance_half_width:.3f` wide: in the `ci` grid no difference between
# > groups or models in the tables can be told from noise, and its models, trained for a
# > few dozen steps, are near chance anyway. There the chapter checks the machinery: the
# > candidates are the grid's, both groupings and every model are computed from the saved
# > scores, and the figure is drawn from them. A grid that ran on an earlier corpus than
# > its profile's today (the committed `cpu` grid, see the note above) cannot be grouped,
# > since the stickers its candidates were drawn from are gone; once it is re-run on
# > today's corpus (`make experiments`), this chapter shows it first.

# %%
if grouped:
    shown = next(iter(grouped))
    rows = []
    for g, t in trends.items():
        by = "among all candidates" if g == similarity.AMONG else "ground truth vs negatives"
        paper_too = g == similarity.AMONG  # the paper's grouping
        rows.append({"quantity": f"SRS R10@1, lowest of {n_groups} groups by SSIM {by} "
                                 f"({shown} grid; paper: every group above)",
                     "ours": t["lowest"], "paper": paper.FIGURE10["all_groups_above"] if paper_too else None})
        rows.append({"quantity": f"SRS R10@1, best of {n_groups} groups by SSIM {by} ({shown} grid)",
                     "ours": t["highest"], "paper": paper.FIGURE10["best"] if paper_too else None})
    rows.append({"quantity": f"contexts in the same group under both groupings ({shown} grid)",
                 "ours": agreements[shown]["same_group"], "paper": None})
    report.record("11_candidate_similarity", {"rows": rows, "profile_shown": shown},
                  base_path=comparison.base_path_of(grouped[shown].results), profile=shown,
                  seed=comparison.GRID_SEED, corpus=comparison.corpus_of(grouped[shown].results))
