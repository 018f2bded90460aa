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
# # Reproduction report
#
# Every chapter records its key results when it runs; this page gathers them into one
# table, ours beside the paper's, with the corpus, profile, seed and date of each run.
# It runs in seconds and must come last.

# %% tags=["parameters"]
base_path = "../data/small"  # not read here: each chapter records the corpus it ran on
profile = "cpu"
results_dir = None  # None: where the runner put this book's executed chapters
comparison_dir = "../results/comparison"  # the grids of Tables 3 and 4 (chapter 08)
comparison_profiles = ["paper", "cpu", "ci"]  # grids shown, the most important first

# %%
import os
from pathlib import Path

from IPython.display import HTML, Markdown, display

from srs_lib.analysis import comparison
from srs_lib.experiments import report

# %%
folder = results_dir or os.environ.get("SRS_RESULTS_DIR") or "."
records = report.collect(folder)
print(f"{len(records)} chapters recorded results: {', '.join(records) or 'none'}")


# %% [markdown]
# Numbers marked "paper" are the paper's (StickerChat, Inception-v3); numbers marked
# "ours" come from the runs named in the last columns. On the embedded corpus the two are
# not expected to agree: the question is whether the paper's *shape* holds (which model
# is ahead, which analysis peaks where), not its decimals.

# %%
def cell(value):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


lines = ["| chapter | quantity | ours | paper | corpus | profile | seed | date |",
         "| --- | --- | ---: | ---: | --- | --- | --- | --- |"]
for chapter, entry in records.items():
    for row in entry["results"].get("rows", []):
        lines.append(f"| {chapter} | {row['quantity']} | {cell(row['ours'])} | {cell(row.get('paper'))} "
                     f"| {entry['corpus']} | {entry['profile']} | {cell(entry['seed'])} | {entry['date']} |")
display(Markdown("\n".join(lines)))


# %% [markdown]
# ## The analyses
#
# One line per analysis of the paper that a chapter checked on an experiment grid
# (chapters 10, 12 and 13): the paper's claim, what our grid shows, and whether the claim
# holds there ("cannot tell" where the grid's intervals are too wide to decide). The grid
# shown is the most important profile with results; a chapter that found none recorded
# nothing.

# %%
claims = [(chapter, claim) for chapter, entry in records.items()
          for claim in entry["results"].get("claims", [])]
if claims:
    lines = ["| analysis | the paper | ours | holds | profile |", "| --- | --- | --- | --- | --- |"]
    for chapter, claim in claims:
        holds = {True: "yes", False: "no", None: "cannot tell"}[claim["holds"]]
        lines.append(f"| {claim['analysis']} | {claim['claim']} | {claim['ours']} | {holds} "
                     f"| {records[chapter]['profile']} |")
    display(Markdown("\n".join(lines)))
else:
    print("no analysis chapter recorded a claim")


# %% [markdown]
# ## Tables 3 and 4
#
# The comparison grids of chapter 08, read from `results/comparison/` through the same
# code as that chapter: our metrics with the ▲/▼ of paired t-tests against MRFN and
# against SRS ($\alpha = 0.01$), beside the paper's values on StickerChat. A profile
# without a grid is named in one line.

# %%
grids = comparison.load_profiles(comparison_profiles, Path(comparison_dir))
for name in comparison_profiles:
    if name not in grids:
        print(f"{name}: no comparison grid (`python -m srs_lib experiments run comparison --profile {name}`)")
for name, found in grids.items():
    for table, title in (("table3", "Table 3"), ("table4", "Table 4")):
        display(Markdown(f"**{title}, profile `{name}`**"))
        display(HTML(comparison.to_html(comparison.comparison_frame(found, table))))
