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
# # The hidden size
#
# Section 7.6 and Figure 11 of the paper (RQ6): SRS with hidden sizes from 50 to 250.
# This chapter trains nothing: it reads the grid that `python -m srs_lib experiments run
# hidden --profile PROFILE` wrote into `results/hidden/PROFILE/` (chapter 07 once per
# size) and runs in seconds. The grid takes about two minutes (`ci`), over an hour on a
# laptop CPU (`cpu`, two epochs of `small` per entry, the larger sizes slower) or a GPU
# (`paper`).

# %% tags=["parameters"]
base_path = "../data/small"  # not read here: every grid names the corpus its runs used
profile = "cpu"  # not read here either: every profile in `profiles` with results is shown
results_dir = "../results"  # where `experiments run NAME` writes its grids
profiles = ["paper", "cpu", "ci"]  # shown in this order, the most important first

# %% [markdown]
# ## The paper's question and its reading
#
# The paper, section 7.6: *"The hidden size of the RNN, CNN and the dense layer in our
# model is tuned from 50 to 250, and we use the MAP and Rn@k to evaluate each model. As
# the hidden size grows larger from 50 to 100, the performance rises too. The increment of
# hidden size improves the MAP and R10@1 scores by 0.4% and 1.0%. When the hidden size
# continuously goes larger from 100 to 250, the performance is declined slightly. The
# increment of hidden size leads to a 2.2% and 3.9% drop in terms of MAP and R10@1
# respectively. Nonetheless, we can find that each metric maintained at a stable
# interval."* Figure 11 has no labelled points; the changes quoted are the only numbers
# (`srs_lib.paper.FIGURE11`; the paper does not say whether they are relative or points).
#
# > **Ours.** Every entry is chapter 07 with `hidden` $= h$ (the model's `hidden`: the
# > width of its utterance encoder, deep interaction and fusion network), everything else
# > as the comparison grid trains SRS. The entry whose size is the profile's own (100 in `paper` and `cpu`) is the
# > comparison grid's SRS run, reused; the `ci` profile trains with 16, so there every size
# > is a run of its own. Beside the metrics, the trainable parameters (from each run's
# > `metrics.json`) and the median seconds per joint training step (from the throughput
# > its trainer logged in `history.json`; runs of one grid share a machine, but not
# > necessarily a quiet one).

# %%

import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown, display
from myst_nb import glue

from srs_lib import figures, paper
from srs_lib.analysis import analyses, comparison
from srs_lib.experiments import report

grids = analyses.load_grid("hidden", profiles, results_dir)
print("\n".join(analyses.overview("hidden", profiles, grids)))

# %% [markdown]
# ## The metrics, the parameters and the step time per size

# %%
frames = {name: analyses.curve_frame("hidden", found) for name, found in grids.items()}
for name, frame in frames.items():
    display(Markdown(analyses.heading(name, grids[name])))
    display(HTML(comparison.to_html(frame.set_index("hidden"))))

# %% [markdown]
# ## Figure 11
#
# Each grid's four metrics against the hidden size with their 95% intervals; the dashed
# black line marks the paper's best size (100).

# %%
for name, frame in frames.items():
    figures.metric_curves(frame, "hidden", xlabel="hidden size",
                          marks={f"paper: best at {paper.FIGURE11['best']}": paper.FIGURE11["best"]},
                          title=f"profile {name}: {comparison.corpus_of(grids[name])}")
    plt.show()

# %%
verdicts, shown = {}, None
if frames:
    shown = next(iter(frames))
    frame = frames[shown].set_index("hidden")
    verdicts = {m: analyses.hidden_verdict(frames[shown], m) for m in ("MAP", "R10@1")}
    glue("h_profile", shown, display=False)
    glue("h_contexts", int(frame["test_contexts"].iloc[0]), display=False)
    for m, v in verdicts.items():
        key = m.replace("@", "_")
        glue(f"h_{key}_best", v["best"], display=False)
        glue(f"h_{key}_best_value", v["best_value"], display=False)
        glue(f"h_{key}_verdict", v["verdict"], display=False)
    sizes = frame.index.tolist()
    glue("h_smallest", sizes[0], display=False)
    glue("h_largest", sizes[-1], display=False)
    glue("h_parameters_smallest", int(frame["parameters"].iloc[0]), display=False)
    glue("h_parameters_largest", int(frame["parameters"].iloc[-1]), display=False)
    step_times = frame["seconds_per_step"].dropna()
    glue("h_step_ratio", float(step_times.iloc[-1] / step_times.iloc[0]) if len(step_times) > 1 else float("nan"),
         display=False)

# %% [markdown]
# ## The reading
#
# In the {glue:text}`h_profile` grid ({glue:text}`h_contexts` test contexts), MAP is best
# at hidden {glue:text}`h_MAP_best` ({glue:text}`h_MAP_best_value:.3f`) and R10@1 at
# {glue:text}`h_R10_1_best` ({glue:text}`h_R10_1_best_value:.3f`). Against the paper's
# reading (best at 100, every size within a stable interval), MAP:
# {glue:text}`h_MAP_verdict`; R10@1: {glue:text}`h_R10_1_verdict`. The model grows from
# {glue:text}`h_parameters_smallest:,` trainable parameters at hidden
# {glue:text}`h_smallest` to {glue:text}`h_parameters_largest:,` at
# {glue:text}`h_largest`, and a joint training step takes {glue:text}`h_step_ratio:.1f`
# times as long.
#
# > **What this grid can say.** The paper's own differences are small (0.4% to 3.9%), far
# > below what a test split of a few hundred contexts can resolve: a difference between
# > two sizes means something only where it is larger than both intervals (and, chapter 13
# > shows, larger than the spread that the training seed alone gives). The `ci` grid, a
# > few dozen steps on the `tiny` corpus, checks the machinery; its models are near
# > chance at every size.

# %%
if shown is not None:
    rows = [{"quantity": f"SRS test {m} at hidden {h} ({shown} grid)",
             "ours": float(frame.loc[h, m]), "paper": None} for m in paper.METRICS for h in sizes]
    rows += [{"quantity": f"SRS trainable parameters at hidden {h}", "ours": int(frame.loc[h, "parameters"]),
              "paper": None} for h in sizes]
    claims = [{"analysis": "RQ6, Figure 11 (chapter 12)",
               "claim": f"{m} best at hidden {paper.FIGURE11['best']}, every size within a stable interval",
               "ours": f"{m} best at hidden {v['best']}; " + ("every size within the best's interval"
                                                            if v["flat"] else "some sizes clearly below"),
               "holds": v["holds"]} for m, v in verdicts.items()]
    report.record("12_hidden_size", {"rows": rows, "claims": claims, "profile_shown": shown},
                  base_path=comparison.base_path_of(grids[shown]), profile=shown,
                  seed=comparison.GRID_SEED, corpus=comparison.corpus_of(grids[shown]))
