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
# # The emoji task's speed-up, and the spread of seeds
#
# Section 7.2 of the paper says that the emoji classification task, which adds little to
# SRS's final metrics, makes it converge faster; and no table of the paper says how far two
# runs differ by chance alone. This chapter trains nothing: it reads the validation curves
# of the grid `python -m srs_lib experiments run emoji_speedup --profile PROFILE` (SRS and
# SRS w/o Classify, validated often) and the test metrics of the grid `experiments run
# seeds` (SRS with three training seeds), beside the comparison grid of chapter 08, and
# runs in seconds. The two grids take about a minute each (`ci`), one to two hours on a
# laptop CPU (`cpu`) or a GPU (`paper`).

# %% tags=["parameters"]
base_path = "../data/small"  # not read here: every grid names the corpus its runs used
profile = "cpu"  # not read here either: every profile in `profiles` with results is shown
results_dir = "../results"  # where `experiments run NAME` writes its grids
profiles = ["paper", "cpu", "ci"]  # shown in this order, the most important first
fraction = 0.9  # a run has converged when it is this far from its floor to the target

# %% [markdown]
# ## Section 7.2: does the emoji task speed training up?
#
# The paper: *"We also find that the sticker classification makes the least contribution
# to the overall performance. But this additional task can speed up the training process,
# and help our model to converge quickly. We use 19 hours to train the SRS until
# convergence, and we use 30 hours for training SRS w/o Classify."* (On a P100; Table 4:
# MAP 0.709 with the task, 0.707 without.) It does not say how it decided convergence.
#
# > **Ours.** We count training steps instead of hours, on validation curves:
# > `history.json` of each run holds the validation metrics of every evaluation. The
# > comparison grid's `srs` and `srs_wo_classify` runs validate every 800 steps in the
# > `paper` profile (about 60 points over five epochs), and there this grid reuses them;
# > in `ci` and `cpu` they validate 2 and 4 times, too few for a curve, so this grid
# > trains the pair again validating every 3 (`ci`) or 100 (`cpu`) steps, the rest as in
# > the comparison grid. A run has converged when its validation MAP has gone a share
# > `fraction` of the way from a floor to a target; we give the steps for its own best as
# > the target and for the better run's best (a common target, which one run may never
# > reach), each with the floor 0 (a share of the best MAP) and with chance (a share of
# > the gain over chance, the MAP of ranking the test candidates at random). SRS's steps
# > include the emoji stage (the first `emoji_steps`, in which only the sticker encoder
# > learns); SRS w/o Classify has no emoji stage.
#
# ```{literalinclude} /srs_lib/analysis/analyses.py
# :pyobject: steps_to_fraction
# ```

# %%
import json

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown, display
from myst_nb import glue

from srs_lib import figures, paper
from srs_lib.analysis import analyses, comparison
from srs_lib.analysis.reference import chance_levels
from srs_lib.experiments import report
from srs_lib.experiments.grids import GRID_BUDGET, GRIDS

speedup = analyses.load_grid("emoji_speedup", profiles, results_dir)
print("\n".join(analyses.overview("emoji_speedup", profiles, speedup)))
print(f"common budget of every grid, by profile: {json.dumps(GRID_BUDGET)}; this grid's own: "
      f"{json.dumps(GRIDS['emoji_speedup'].budget)}")

# %%
speedup_tables, speedup_verdicts = {}, {}
for name, found in speedup.items():
    chance = chance_levels(next(iter(found.values())).candidates)["MAP"]
    noise = max(comparison.interval(r, "MAP")[1] for r in found.values())  # a test MAP's 95% half-width
    tables = {}
    for floor_name, floor in (("floor 0", 0.0), ("floor chance", chance)):
        rows = analyses.speedup_rows(found, fraction, "MAP", floor=floor)
        tables[floor_name] = rows
        speedup_verdicts[name, floor_name] = analyses.speedup_verdict(rows, floor=chance, noise=noise)
    speedup_tables[name] = tables
    display(Markdown(f"{analyses.heading(name, found)}; chance MAP {chance:.3f}. Steps to "
                     f"{fraction:.0%} of the way to each run's own best (`own`) and to the "
                     f"better run's best (`common`; – never)"))
    frame = pd.concat({floor_name: pd.DataFrame(rows, dtype=object).set_index("label")[["own", "common"]]
                       for floor_name, rows in tables.items()}, axis=1)
    first = pd.DataFrame(tables["floor 0"], dtype=object).set_index("label")[["evaluations", "best", "best_step", "steps"]]
    display(HTML(comparison.to_html(first.join(frame.set_axis([" ".join(c) for c in frame.columns], axis=1)))))
    curves = {r.entry.label: r.history["eval"] for r in found.values() if r.history}
    common = max(row["best"] for row in tables["floor 0"])
    figures.speedup_curves(curves, {f"{fraction:.0%} of the better best MAP": fraction * common,
                                    f"{fraction:.0%} of the way from chance to it": chance + fraction * (common - chance),
                                    "chance MAP (test candidates)": chance},
                           metric="MAP", title=f"profile {name}: validation MAP during training")
    plt.show()

# %% [markdown]
# Each line is one run's validation MAP at every evaluation; the dashed lines are the
# common targets and chance. The steps in the table are the first evaluation at or above
# the target, so they are only as fine as the evaluations are frequent.

# %%
shown_speedup = next(iter(speedup), None)
if shown_speedup is not None:
    glue("e_profile", shown_speedup, display=False)
    for floor_name in ("floor 0", "floor chance"):
        key = floor_name.replace(" ", "_")
        glue(f"e_{key}_verdict", speedup_verdicts[shown_speedup, floor_name]["verdict"], display=False)
        for row in speedup_tables[shown_speedup][floor_name]:
            glue(f"e_{key}_{row['entry']}", row["common"] if row["common"] is not None else "never", display=False)
    glue("e_paper_ratio", paper.SECTION72_HOURS["SRS"] / paper.SECTION72_HOURS["SRS w/o Classify"], display=False)
    glue("e_fraction", fraction, display=False)

# %% [markdown]
# In the {glue:text}`e_profile` grid, SRS reaches {glue:text}`e_fraction:.0%` of the
# better run's best validation MAP at step {glue:text}`e_floor_0_srs` and SRS w/o
# Classify at step {glue:text}`e_floor_0_srs_wo_classify`: {glue:text}`e_floor_0_verdict`
# (the paper: 19 of 30 hours, {glue:text}`e_paper_ratio:.2f`). Measured as a share of the
# gain over chance, SRS needs {glue:text}`e_floor_chance_srs` steps and SRS w/o Classify
# {glue:text}`e_floor_chance_srs_wo_classify`: {glue:text}`e_floor_chance_verdict`.
#
# > **Reading it.** The claim can only be told where the better run's best validation MAP
# > lies more than twice a test MAP's 95% half-width above chance (validation and test
# > splits are of a size, and the best of several noisy evaluations is biased upwards);
# > otherwise the verdict says "cannot tell". A share of the best MAP is the paper's kind
# > of measure, but MAP starts at about 0.29 by chance with 10 candidates, so any run is at
# > 90% of a best of 0.32 from its first evaluation; the share of the gain over chance is
# > the stricter of the two. On
# > the `ci` grid (24 steps, near chance) neither says anything about the emoji task; it
# > checks that the curves, the targets and the steps are computed from the runs.

# %% [markdown]
# ## How far runs differ by the seed alone
#
# The paper reports one run per model and a paired t-test per difference. The t-test
# treats the test contexts as the sample, not the training: two trainings of the same
# model with different seeds differ too. The `seeds` grid trains SRS three times, seeds
# 0, 1 and 2 (seed 0 is the comparison grid's SRS, reused), everything else the same,
# including the evaluation candidates (drawn from `eval_seed`, not from the training
# seed). Beside its spread, the differences of the comparison grid of the same profile
# that the paper's Tables 3 and 4 order (SRS ahead of MRFN, MRFN of DAM, DAM of SMN, SRS
# of each ablation): a difference smaller than the seeds' range could be the seed alone.

# %%
seeds = analyses.load_grid("seeds", profiles, results_dir)
compared = comparison.load_profiles(profiles, f"{results_dir}/comparison")
print("\n".join(analyses.overview("seeds", profiles, seeds)))
spreads, differences = {}, {}
for name, found in seeds.items():
    spreads[name] = analyses.spread_frame(found)
    display(Markdown(f"**Profile `{name}`**: test metrics of SRS over seeds "
                     f"{', '.join(str(analyses.value_of(r.entry, 'seeds')) for r in found.values())}"))
    display(HTML(comparison.to_html(spreads[name])))
    if name in compared:
        differences[name] = analyses.table3_differences(compared[name], spreads[name])
        display(Markdown(f"Tables 3 and 4's orderings in the comparison grid of `{name}` "
                         f"(ahead − behind), beside the paper's"))
        display(HTML(comparison.to_html(differences[name].set_index(["pair", "metric"]))))

# %%
shown_seeds = next(iter(seeds), None)
if shown_seeds is not None:
    spread = spreads[shown_seeds]
    glue("s_profile", shown_seeds, display=False)
    glue("s_runs", int(spread.loc["MAP", "runs"]), display=False)
    for m in ("MAP", "R10@1"):
        key = m.replace("@", "_")
        glue(f"s_{key}_range", float(spread.loc[m, "range"]), display=False)
        glue(f"s_{key}_std", float(spread.loc[m, "std"]), display=False)
    if shown_seeds in differences and len(differences[shown_seeds]):
        found = differences[shown_seeds]
        glue("s_beyond", int(found["beyond the seeds' range"].sum()), display=False)
        glue("s_pairs", len(found), display=False)
    else:
        glue("s_beyond", "–", display=False)
        glue("s_pairs", "–", display=False)

# %% [markdown]
# In the {glue:text}`s_profile` grid, {glue:text}`s_runs` seeds of SRS span
# {glue:text}`s_MAP_range:.3f` in test MAP (standard deviation
# {glue:text}`s_MAP_std:.3f`) and {glue:text}`s_R10_1_range:.3f` in R10@1
# ({glue:text}`s_R10_1_std:.3f`); {glue:text}`s_beyond` of the {glue:text}`s_pairs`
# differences of Tables 3 and 4 in the comparison grid (pairs × metrics) are larger than
# the seeds' range. Three seeds give a rough range, not a distribution: a difference
# well inside it should not be read as an ordering, whatever its t-test says.

# %%
claims, rows = [], []
if shown_speedup is not None:
    verdict = speedup_verdicts[shown_speedup, "floor chance"]
    claims.append({"analysis": "§7.2, the emoji task (chapter 13)",
                   "claim": "the emoji task speeds up convergence (19 h against 30 h)",
                   "ours": f"{fraction:.0%} of the gain over chance to the better best: " + ", ".join(
                       f"{row['label']} {row['common'] if row['common'] is not None else 'never'}"
                       for row in speedup_tables[shown_speedup]["floor chance"]) + " steps",
                   "holds": verdict["holds"]})
    rows += [{"quantity": f"steps of {row['label']} to {fraction:.0%} of the gain over chance "
                          f"({shown_speedup} grid)", "ours": row["common"], "paper": None}
             for row in speedup_tables[shown_speedup]["floor chance"]]
    rows.append({"quantity": "time with the emoji task / time without",
                 "ours": verdict["ratio"], "paper": paper.SECTION72_HOURS["SRS"] / paper.SECTION72_HOURS["SRS w/o Classify"]})
if shown_seeds is not None:
    spread = spreads[shown_seeds]
    rows += [{"quantity": f"range of SRS test {m} over {int(spread.loc[m, 'runs'])} seeds ({shown_seeds} grid)",
              "ours": float(spread.loc[m, "range"]), "paper": None} for m in paper.METRICS]
    if shown_seeds in differences and len(differences[shown_seeds]):
        beyond = differences[shown_seeds]["beyond the seeds' range"]
        claims.append({"analysis": "seeds (chapter 13)",
                       "claim": "(none in the paper) Table 3 and 4's differences exceed the training seed's spread",
                       "ours": f"{int(beyond.sum())} of {len(beyond)} differences exceed the seeds' range",
                       "holds": bool(beyond.all())})
if claims:
    source = speedup.get(shown_speedup) or seeds[shown_seeds]
    report.record("13_emoji_task_and_seeds", {"rows": rows, "claims": claims},
                  base_path=comparison.base_path_of(source), profile=shown_speedup or shown_seeds,
                  seed=comparison.GRID_SEED, corpus=comparison.corpus_of(source))
