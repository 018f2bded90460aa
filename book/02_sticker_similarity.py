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
# # How hard is the choice?
#
# Section 3.3 and Figure 2 of the paper: how alike the ground-truth sticker and its
# negatives are, measured by SSIM, over the test set. With the `cpu` profile (the
# embedded `small` corpus, 2,000 test samples, grayscale and RGB) this chapter runs in
# about 1.5 minutes on two CPU cores; with `ci` (the `tiny` corpus) in about 15 seconds;
# on StickerChat (10,000 test samples) in about seven minutes, or two without the RGB
# comparison (`compare_modes = False`).

# %% tags=["parameters"]
base_path = "../data/small"  # the corpus: the embedded default, or StickerChat
profile = "cpu"  # "cpu" (this book), "ci" (the tiny corpus of the tests), "paper"
seed = 0  # seed of the negatives: the same candidates as every other chapter
split = "test"  # the paper's Figure 2 is over the test set
mode = "gray"  # SSIM on grayscale ("gray") or per colour channel ("rgb")
compare_modes = True  # also compute the other mode, for comparison
n_extremes = 2  # samples drawn at each end of the distribution
analysis_dir = "../_build/analysis"  # where the per-sample similarities are saved (not tracked)

# %% [markdown]
# ## The paper's measure
#
# The paper, section 3.3: *"Stickers in the same set always share a same style or contain
# the same cartoon characters. Intuitively, the more similar the candidate stickers are,
# the more difficult it is to choose the correct sticker from candidates. [...] We first
# calculate the similarity between the ground truth sticker and each negative sample,
# then average the similarity scores. The similarity distribution among test data is
# shown in Figure 2, where the average similarity is 0.258."*
#
# SSIM (Wang et al., 2004) compares two images window by window, through their local
# means $\mu$, variances $\sigma^2$ and covariance $\sigma_{xy}$:
#
# $$\mathrm{SSIM}(x, y) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
#   {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
#   \qquad C_1 = (0.01 L)^2,\ C_2 = (0.03 L)^2,$$
#
# averaged over all windows of the image ($L = 255$ for 8-bit pixels). It is 1 for
# identical images, near 0 for unrelated ones, and can be negative.
#
# For a test sample with ground truth $c^+$ and negatives $c^-_1, \dots, c^-_9$ the
# paper's quantity is $\frac{1}{9}\sum_k \mathrm{SSIM}(c^+, c^-_k)$; Figure 2 is its
# histogram over five bins of $(0, 1]$.
#
# > **Ours.** The paper does not say which SSIM implementation, window or colour handling
# > it used. `srs_lib.analysis.ssim` computes scikit-image's `structural_similarity` with its
# > defaults (a 7×7 uniform window, sample covariance), on grayscale by default, vectorised
# > over many pairs. The negatives are drawn by `srs_lib.data.candidates.draw_candidates`, the
# > same ones that the reference scorers of chapter 1 and the models see. The core of the
# > computation, from the windows' moments:
#
# ```{literalinclude} /srs_lib/analysis/ssim.py
# :pyobject: ssim_from_moments
# ```

# %%
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

import srs_lib  # noqa: F401  (selects the Keras backend before anything imports Keras)
from srs_lib import figures, paper
from srs_lib.analysis import ssim
from srs_lib.experiments import report
from srs_lib.data.candidates import N_CANDIDATES, context_rng, draw_candidates
from srs_lib.data import Corpus

pd.set_option("display.float_format", "{:.3f}".format)

# %%
from skimage.metrics import structural_similarity

corpus = Corpus(base_path)
store = corpus.store
set_id = min(store.sets)
pair_images = store.load_many([(set_id, s) for s in store.sets[set_id].sticker_ids[:4]])
x, y = ssim.to_gray(pair_images[:3]), ssim.to_gray(pair_images[1:4])
ours = ssim.structural_similarity_batch(x, y)
reference = [structural_similarity(a, b, data_range=255) for a, b in zip(x, y)]
print("srs_lib.analysis.ssim:", np.round(ours, 6), " scikit-image:", np.round(reference, 6))
assert np.allclose(ours, reference, atol=1e-6)

# %% [markdown]
# ## Figure 2: the distribution over the test set

# %% tags=["nbval-ignore-output"]
started = time.perf_counter()
similarity = ssim.candidate_similarities(base_path, split, seed=seed, mode=mode, progress=False)
print(f"{len(similarity.samples):,} samples in {time.perf_counter() - started:.1f} s ({mode})")
other_mode = "rgb" if mode == "gray" else "gray"
if compare_modes:
    started = time.perf_counter()
    other = ssim.candidate_similarities(base_path, split, seed=seed, mode=other_mode, progress=False)
    print(f"{len(other.samples):,} samples in {time.perf_counter() - started:.1f} s ({other_mode})")

# %%
summary = similarity.summary()
hist = summary["histogram"]
print(ssim.format_report(similarity))
table = pd.DataFrame({f"ours ({mode})": hist["fractions"] + [summary["mean"]]},
                     index=hist["bins"] + ["mean"])
if compare_modes:
    other_summary = other.summary()
    table[f"ours ({other_mode})"] = other_summary["histogram"]["fractions"] + [other_summary["mean"]]
table["paper"] = ["–"] * len(hist["bins"]) + [f"{paper.FIGURE2_MEAN_SSIM:.3f}"]
table.index.name = f"{split} samples by mean SSIM"
table

# %% [markdown]
# Figure 2 of the paper draws the fraction of test samples in each bin; its bar heights
# appear only in the figure, not in the text, so only its mean (0.258) stands beside ours.
# Left: our fractions per bin (the paper's five bins; samples with a mean SSIM of zero or
# below fall outside them and are counted apart). Right: the same values at a finer
# resolution, with our mean and the paper's.

# %%
values = similarity.values
fig, (ax_bins, ax_fine) = plt.subplots(1, 2, figsize=(10, 3.8))
positions = np.arange(len(hist["bins"]))
width = 0.4 if compare_modes else 0.7
ax_bins.bar(positions - (width / 2 if compare_modes else 0), hist["fractions"], width=width, label=f"ours ({mode})")
if compare_modes:
    ax_bins.bar(positions + width / 2, other_summary["histogram"]["fractions"], width=width,
                label=f"ours ({other_mode})", color="C1", alpha=0.8)
for position, fraction in zip(positions, hist["fractions"]):
    ax_bins.text(position - (width / 2 if compare_modes else 0), fraction + 0.01, f"{fraction:.2f}",
                 ha="center", fontsize=8)
ax_bins.set_xticks(positions, hist["bins"])
ax_bins.set_xlabel("mean SSIM of the ground truth with its negatives")
ax_bins.set_ylabel(f"fraction of {split} samples")
ax_bins.set_ylim(0, 1)
ax_bins.legend(title="(the paper's bar heights are not in its text)", fontsize=8, title_fontsize=7.5)
ax_fine.hist(values, bins=np.linspace(min(values.min(), 0), 1, 51), color="C0", alpha=0.85)
ax_fine.axvline(summary["mean"], color="black", linewidth=1.2, label=f"ours, mean {summary['mean']:.3f}")
ax_fine.axvline(paper.FIGURE2_MEAN_SSIM, color="black", linestyle="--", linewidth=1.2,
                label=f"paper, mean {paper.FIGURE2_MEAN_SSIM}")
for edge in ssim.BIN_EDGES[1:-1]:
    ax_fine.axvline(edge, color="0.8", linewidth=0.8, zorder=0)
ax_fine.set_xlabel(f"mean SSIM of the ground truth with its negatives ({mode})")
ax_fine.set_ylabel(f"{split} samples")
ax_fine.legend(fontsize=8)
fig.tight_layout()

# %%
low = sum(hist["fractions"][:2])
display(Markdown(
    f"> **Ours.** The mean SSIM over our {summary['samples']:,} {split} samples is "
    f"{summary['mean']:.3f} ({mode}; median {summary['median']:.3f}) against the paper's "
    f"{paper.FIGURE2_MEAN_SSIM}"
    + (f", and {other_summary['mean']:.3f} per colour channel" if compare_modes and other_mode == "rgb" else "")
    + (f", and {other_summary['mean']:.3f} on grayscale" if compare_modes and other_mode == "gray" else "")
    + f". {low:.0%} of the samples fall below 0.4: most candidate lists are easy to tell "
    f"apart by their pixels, as in the paper, but {1 - low - hist['nonpositive'] / max(summary['samples'], 1):.0%} "
    f"have negatives that look much like the ground truth, and there the picture alone "
    f"cannot decide. {summary['fewer_than_10_candidates']} samples come from sets with fewer than "
    f"{N_CANDIDATES} stickers and average over fewer negatives."))

# %% [markdown]
# The paper explains the low similarities by the variety within a set, and its section 3.3
# begins: *"Stickers in the same set always share a same style or contain the same cartoon
# characters."* Both hold at once if stickers of a set are far more alike than stickers of
# different sets, yet far from identical. `srs_lib.analysis.ssim.within_across_similarity`
# measures it over the library: every pair of up to 8 random stickers of each set, and as
# many random pairs of stickers of two different sets.

# %%
between = ssim.within_across_similarity(base_path, seed=seed, mode=mode)
display(Markdown(
    f"> **Ours.** Pairs of stickers of one set have a mean SSIM of {between.within:.3f} ({mode}; "
    f"{between.within_pairs:,} pairs over {between.sets:,} sets), pairs of stickers of two different sets "
    f"{between.across:.3f} ({between.across_pairs:,} pairs): a set's stickers are "
    f"{between.within / max(between.across, 1e-9):.1f}× as alike as strangers, and still far from "
    f"identical (SSIM 1)."))

# %% [markdown]
# ## The easiest and the hardest samples
#
# The paper's Figure 3 illustrates the measure with two samples, one of low (0.125) and
# one of high (0.702) mean similarity. Below are the samples at both ends of our
# distribution, each with the end of its context and its candidates: the ground truth
# (framed green) first, then its negatives, each captioned with its SSIM to the ground
# truth. A negative framed orange carries the ground truth's emoji label. We show one
# sample per set, and samples with all 10 candidates where there are any.

# %%
def ends(samples, n):
    """The first n samples of a ranking, one per set, preferring samples with all 10 candidates."""
    full = [s for s in samples if s.n_candidates == N_CANDIDATES] or samples
    picked = []
    for s in full:
        if s.sticker_set_id not in {p.sticker_set_id for p in picked} and len(picked) < n:
            picked.append(s)
    return picked


ranked = sorted(similarity.samples, key=lambda s: s.mean_ssim)
extremes = [("lowest", s) for s in ends(ranked, n_extremes)] + [("highest", s) for s in ends(ranked[::-1], n_extremes)]
dialogs = {d.line: d for d in corpus.load_split(split)[0]}
for end, sample in extremes:
    sticker_set = store.sets[sample.sticker_set_id]
    candidates = draw_candidates(sticker_set.sticker_ids, sample.sticker_id, N_CANDIDATES,
                                 context_rng(seed, sample.line))
    images = store.load_many([(sample.sticker_set_id, c) for c in candidates])
    prepared = ssim.prepare(images, mode)
    pair = ssim.structural_similarity_batch(np.repeat(prepared[:1], len(candidates) - 1, axis=0), prepared[1:],
                                            channel_axis=-1 if mode == "rgb" else None)
    assert np.isclose(pair.mean(), sample.mean_ssim)  # the same candidates as the analysis
    display(Markdown(f"**{end.capitalize()} mean SSIM: {sample.mean_ssim:.3f}** ({split} line {sample.line}, "
                     f"a set of {len(sticker_set)} stickers)\n\n"
                     + figures.dialog_markdown(dialogs[sample.line], last=3)))
    labels = [sticker_set.emoji(c) for c in candidates]
    captions = [figures.emoji_label(labels[0])] + [
        f"{figures.emoji_label(label)}\nSSIM {value:.2f}" for label, value in zip(labels[1:], pair)]
    figures.show_jpeg(figures.candidate_strip(images, labels=labels, captions=captions,
                                              columns=5))

# %% [markdown]
# At the low end the negatives differ from the ground truth in background, pose and grain,
# though they show the same character; at the high end the set's stickers share one pose,
# layout and palette and differ only in their parts: the expression on the face, a symbol
# in a corner, a prop. That is where a model must look closely (the paper's section 7.5
# and Figure 10 measure accuracy per similarity group).

# %% [markdown]
# ### What makes a set alike (embedded corpus only)
#
# The generator gives every sticker set one number, its *self-similarity* in $[0, 1]$,
# which sets how much its stickers vary around the set's style (`data/README.md`).
# It is hidden truth, recorded in `synth_info.json` and never read by a model. Each
# dot below is one set: its self-similarity against the mean SSIM of its test samples
# (the larger the dot, the more test samples). If the SSIM measures what the generator
# varies, the dots rise from left to right.

# %%
info_path = Path(base_path) / "synth_info.json"
if info_path.exists():
    knob = {s["set_id"]: s["style"]["self_similarity"] for s in json.loads(info_path.read_text())["sets"]}
    per_set: dict[int, list[float]] = {}
    for sample in similarity.samples:
        per_set.setdefault(sample.sticker_set_id, []).append(sample.mean_ssim)
    sets = sorted(per_set)
    knob_values = np.array([knob[s] for s in sets])
    set_means = np.array([np.mean(per_set[s]) for s in sets])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.scatter(knob_values, set_means, s=[8 + 2 * len(per_set[s]) ** 0.8 for s in sets], alpha=0.7)
    ax.set_xlabel("self-similarity of the set (generator setting)")
    ax.set_ylabel(f"mean SSIM of its {split} samples")
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0, set_means.min() - 0.02), 1)
    fig.tight_layout()
    print(f"{len(sets)} sets; rank correlation between setting and SSIM "
          f"{pd.Series(knob_values).corr(pd.Series(set_means), method='spearman'):.2f}")
else:
    print("StickerChat: no generator settings to compare with")

# %% [markdown]
# ## Saved for later
#
# Each sample's mean similarity is saved in the format of
# `python -m srs_lib ssim --out FILE` (`srs_lib.analysis.ssim.write_similarities`), so that the
# analysis by similarity group (the paper's Figure 10) ranks the same samples with the
# same candidates. The file goes under `_build/`, never into a tracked folder.
#
# > **Ours.** Section 7.5 of the paper groups test samples by "the average similarity
# > among all candidates", which may include the pairs of negatives; section 3.3 averages
# > over ground truth–negative pairs only. We save the section 3.3 quantity.

# %%
out = Path(analysis_dir) / f"ssim_{profile}_{split}.tsv"
out.parent.mkdir(parents=True, exist_ok=True)
ssim.write_similarities(similarity, str(out))
saved = ssim.read_similarities(str(out))
assert [s.line for s in saved] == [s.line for s in similarity.samples]
print(f"{len(saved):,} samples written to {out} ({mode})")
print(out.read_text().splitlines()[0])

# %%
rows = [{"quantity": f"mean SSIM, ground truth vs negatives ({mode})", "ours": summary["mean"],
         "paper": paper.FIGURE2_MEAN_SSIM}]
if compare_modes:
    rows.append({"quantity": f"mean SSIM, ground truth vs negatives ({other_mode})",
                 "ours": other_summary["mean"], "paper": paper.FIGURE2_MEAN_SSIM})
rows += [{"quantity": f"fraction of {split} samples with mean SSIM in {label}", "ours": fraction, "paper": None}
         for label, fraction in zip(hist["bins"], hist["fractions"])]
rows.append({"quantity": f"{split} samples with mean SSIM <= 0", "ours": hist["nonpositive"], "paper": None})
rows += [{"quantity": f"mean SSIM of sticker pairs within a set ({mode})", "ours": between.within, "paper": None},
         {"quantity": f"mean SSIM of sticker pairs across sets ({mode})", "ours": between.across, "paper": None}]
report.record("02_sticker_similarity", {"rows": rows, "samples": summary["samples"], "mode": mode,
                                        "similarities_file": str(out)},
              base_path=base_path, profile=profile, seed=seed)
