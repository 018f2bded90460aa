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
# # Where SRS looks (Figures 8 and 9)
#
# The paper's fourth research question asks whether the deep interaction network finds
# what matters in a sticker and in the dialog. Its Figure 8 shows the sticker-wise
# attention $\tau^s$ (equation 9) of a trained SRS as a heat map over the selected sticker
# and three other candidates, "the lighter the area, the higher the attention weight";
# the paper reads it as SRS attending to the part of the sticker that answers the dialog
# (a character's eyes, a hand, the text in a corner). Figure 9 shows the utterance-wise
# attention $\tau^u$ (equation 8) over the words of the dialog's utterances, where the
# words that carry the dialog's intent are the darkest.
#
# This chapter draws both for the model chapter 07 trained with the same profile (or
# trains one here if there is none), and then measures what the paper could only show on
# examples: on a generated corpus every sticker's parts are known (an expression, an
# accent, a prop, each with its box, in `synth_info.json`), so over the whole test split
# we can ask how much of the ground truth's $\tau^s$ falls on each kind of part, against
# the share of the sticker's area that part covers. A model that looks nowhere in
# particular puts as much attention on a part as the part has area (a *lift* of 1).
# With the `ci` profile the model has trained for a few dozen steps and its maps say
# little; the `cpu` profile's, recorded by `python -m srs_lib attention` and shown at the
# end, are the ones to read.

# %% tags=["parameters"]
base_path = "../data/small"  # a generated corpus: it records where its stickers' parts are
profile = "cpu"  # the training options of the model, when it is trained here
seed = 0
log_root = "../_build/logs"  # chapter 07's runs
checkpoint = None  # an SRS .keras file; None: chapter 07's run of this profile, else train one
limit = None  # test contexts measured; None: all
attention_record = "../results/attention/cpu.json"  # `python -m srs_lib attention --json ...`

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, display
from keras import ops
from matplotlib.patches import Rectangle
from myst_nb import glue

import srs_lib  # selects the torch backend before Keras is imported
from srs_lib.analysis import attention
from srs_lib.experiments import report
from srs_lib.figures import GROUND_TRUTH_COLOUR, overlay_grid, word_heatmap
from srs_lib.provenance import corpus_description
from srs_lib.training.config import profile_config
from srs_lib.training.trainer import _to_tensors, load_for_evaluation, train

# %% [markdown]
# ## The model
#
# Chapter 07 names its run after its options (`srs-PROFILE-random-seedSEED` for SRS with
# the profile's defaults); its best checkpoint by validation MAP is the model here.

# %%
if checkpoint is None:
    exp_name = f"srs-{profile}-random-seed{seed}"
    checkpoint = Path(log_root) / exp_name / "train" / "best.keras"
    if not checkpoint.is_file():
        print(f"no {checkpoint}: training SRS with the {profile} profile here")
        train(profile_config(profile, seed=seed), base_path, log_root, exp_name, verbose=False)
checkpoint = Path(checkpoint)
model, config, corpus, batches = load_for_evaluation(checkpoint, base_path, "release_test.json")
parts = attention.sticker_parts(base_path)
encoder = model.sticker_encoder
p = encoder.grid_size
print(f"{checkpoint.name}: O is {p}×{p} ({encoder.backbone} at {encoder.image_size}×"
      f"{encoder.image_size}, sticker code {encoder.code!r}); {len(batches.split)} test contexts; "
      f"{corpus_description(base_path)}")

# %% [markdown]
# ## Figure 8: the sticker-wise attention
#
# The first test context whose ground truth SRS ranks first, as the paper shows a case it
# gets right. $\tau^s$ is one map per utterance; the maps of the context's real
# utterances are averaged into one per candidate (each sums to 1). The ground truth is
# framed in green, with the boxes of its parts; three other candidates beside it.

# %%
def first_hit():
    for number in range(len(batches)):
        inputs, targets = batches[number]
        explained = model.explain(_to_tensors(inputs))
        scores = ops.convert_to_numpy(explained["scores"])
        for row, slot in enumerate(targets["label"]):
            if int(np.argmax(scores[row])) == int(slot):
                return inputs, targets, explained, row
    return inputs, targets, explained, 0  # none ranked first: the first context


inputs, targets, explained, row = first_hit()
positive = int(targets["label"][row])
real = np.any(inputs["contexts"][row] != 0, axis=-1)  # (utterances,)
tau_s = ops.convert_to_numpy(explained["sticker_attention"])[row][:, real].mean(axis=1)
tau_u = ops.convert_to_numpy(explained["utterance_attention"])[row][:, real]
scores = ops.convert_to_numpy(explained["scores"])[row]
keys = batches.cache.keys
candidate_rows = targets["rows"][row]
others = [s for s in np.argsort(-scores) if s != positive and candidate_rows[s] >= 0][:3]
shown = [positive, *others]
kind_colours = {"expression": "tab:orange", "accent": "tab:cyan", "prop": "tab:pink"}

fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.6))
for ax, slot in zip(axes, shown):
    image = overlay_grid(ax, inputs["stickers"][row, slot], tau_s[slot], cmap="gray", alpha=0.65,
                         lines=False, vmin=tau_s[shown].min(), vmax=tau_s[shown].max(),
                         title=("ground truth" if slot == positive else "candidate")
                         + f" (score {scores[slot]:.2f})",
                         frame=GROUND_TRUTH_COLOUR if slot == positive else None)
    if slot == positive:
        for part in parts.get(tuple(keys[int(candidate_rows[slot])]), []):
            x0, y0, x1, y1 = part["box"]
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5,
                                   edgecolor=kind_colours.get(part["kind"], "white")))
            ax.text(x0 + 1, y0 + 7, part["kind"], fontsize=7,
                    color=kind_colours.get(part["kind"], "white"))
fig.colorbar(image, ax=list(axes), shrink=0.8, label="τ^s (lighter: more attention)")
plt.show()
glue("figure8_tau_max", float(tau_s[positive].max()), display=False)
glue("figure8_tau_uniform", 1 / (p * p), display=False)

# %% [markdown]
# On the ground truth the largest weight of a cell is {glue:text}`figure8_tau_max:.3f`,
# against {glue:text}`figure8_tau_uniform:.3f` for attention spread evenly over the
# $p^2$ cells.
#
# ## Figure 9: the utterance-wise attention
#
# $\tau^u$ over the words of each utterance of the same context, for the ground truth
# (darker: more weight; each row sums to 1 over its real words), up to the last four, the
# last one ($t-0$) at the bottom, as in the dialog.

# %%
utterances = inputs["contexts"][row][real]
last = utterances[-4:]
fig, axes = plt.subplots(len(last), 1, figsize=(9, 0.9 * len(last) + 0.6), squeeze=False)
for back, (ax, ids, weights) in enumerate(zip(axes[:, 0], last, tau_u[positive][-len(last):])):
    words = corpus.vocab.decode(ids)
    word_heatmap(ax, weights[:len(words)], words, [f"t−{len(last) - 1 - back}"], cmap="Greys",
                 vmin=0, vmax=1, rotation=30, fontsize=8)
fig.tight_layout()
plt.show()
top_words = []
for ids, weights in zip(utterances, tau_u[positive]):
    words = corpus.vocab.decode(ids)
    if words:
        top_words.append(words[int(np.argmax(weights[:len(words)]))])
glue("figure9_top_words", ", ".join(f"“{w}”" for w in top_words[-4:]), display=False)

# %% [markdown]
# The word with the most weight in each of the last utterances:
# {glue:text}`figure9_top_words`.
#
# ## How much of $\tau^s$ falls on the sticker's parts
#
# Over the test split: for each kind of part, the ground truths that have one, the mean
# share of $\tau^s$ on it (`attention_on_parts`: a cell counts for a part in proportion to
# the share of the cell its box covers), the mean share of the sticker's area it covers,
# their ratio (the lift: 1 is attention that ignores the part) and how often $\tau^s$ puts
# more on the part than its area.

# %%
measured = attention.part_attention_record(model, batches, parts, limit=limit)
display(HTML(attention.parts_frame(measured).round(3).to_html()))
lifts = {row["kind"]: row["lift"] for row in measured["parts"]}
for kind, value in lifts.items():
    glue(f"lift_{kind}", value, display=False)
glue("measured_contexts", measured["contexts"], display=False)

# %% [markdown]
# ## The `cpu` model, recorded
#
# `python -m srs_lib attention --checkpoint RUN/train/best.keras --base_path data/small
# --json results/attention/cpu.json` on the model chapter 07 trains with the `cpu` profile
# (the record says which commit, corpus and machine):

# %%
record_file = Path(attention_record)
recorded = json.loads(record_file.read_text()) if record_file.exists() else None
if recorded:
    print(f"{recorded['contexts']} test contexts; O {recorded['grid']}×{recorded['grid']} "
          f"({recorded['backbone']} at {recorded['image_size']}, code {recorded['sticker_code']!r}); "
          f"{recorded['corpus']}; commit {recorded['commit']}, {recorded['date']}")
    display(HTML(attention.parts_frame(recorded).round(3).to_html()))
    pooled_lift = (sum(r["attention"] * r["contexts"] for r in recorded["parts"])
                   / sum(r["area"] * r["contexts"] for r in recorded["parts"]))
    glue("cpu_lift_all", pooled_lift, display=False)
    for row in recorded["parts"]:
        glue(f"cpu_lift_{row['kind']}", row["lift"], display=False)
        glue(f"cpu_attention_{row['kind']}", row["attention"], display=False)
        glue(f"cpu_area_{row['kind']}", row["area"], display=False)
else:
    print(f"no record yet at {record_file}")
    pooled_lift = float("nan")
    glue("cpu_lift_all", pooled_lift, display=False)
    for kind in attention.PART_KINDS:
        for name in ("lift", "attention", "area"):
            glue(f"cpu_{name}_{kind}", float("nan"), display=False)

# %% [markdown]
# The reading, from the record. The `cpu` model puts {glue:text}`cpu_attention_expression:.3f`
# of the ground truth's $\tau^s$ on its expression, which covers
# {glue:text}`cpu_area_expression:.3f` of the sticker (lift
# {glue:text}`cpu_lift_expression:.2f`); {glue:text}`cpu_attention_accent:.3f` on its
# accent, where it has one ({glue:text}`cpu_area_accent:.3f` of the area, lift
# {glue:text}`cpu_lift_accent:.2f`); and {glue:text}`cpu_attention_prop:.3f` on its prop
# ({glue:text}`cpu_area_prop:.3f`, lift {glue:text}`cpu_lift_prop:.2f`). Over every part
# of every ground truth together, the share of $\tau^s$ on the parts over their share of
# the area is {glue:text}`cpu_lift_all:.2f`. A lift above 1 is attention drawn to a part
# beyond its size; the generator cues all three kinds in the dialogs
# (`srs_lib.synth.dialogs`), so each is a part that answers the dialog. The paper's Figure 8 is a few hand-picked
# examples on StickerChat, whose stickers record no parts, so it offers no number to set
# beside these; what it claims, that $\tau^s$ falls on the part of the sticker that
# answers the dialog, is what the lifts measure here. The cells of $O$ see more of the
# sticker than the square they are drawn on (their receptive field is larger), so a lift
# is a lower bound on how well the attention can tell the parts apart.

# %%
cpu_rows = {row["kind"]: row for row in recorded["parts"]} if recorded else {}
report.record("14_attention", {
    "checkpoint": checkpoint.name, "grid": p, "contexts": measured["contexts"], "lift": lifts,
    "rows": [{"quantity": f"τ^s lift on the {kind} (the recorded cpu model)", "ours": row["lift"],
              "paper": None} for kind, row in cpu_rows.items()],
    "claims": [{
        "analysis": "RQ4, Figure 8: where τ^s falls",
        "claim": "the sticker-wise attention falls on the part of the sticker that answers the dialog",
        "ours": (f"lift {pooled_lift:.2f} over all parts ("
                 + ", ".join(f"{kind} {row['lift']:.2f}" for kind, row in cpu_rows.items())
                 + "; 1: attention blind to them)") if cpu_rows else "no cpu record",
        "holds": bool(pooled_lift > 1) if cpu_rows else None,
    }],
}, base_path=base_path, profile=profile, seed=seed)
