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
# # The sticker encoder
#
# Section 5.2 of the paper, equation 1 and its auxiliary emoji classification: how SRS
# turns a sticker into a $p \times p$ grid of feature vectors $O$, one pooled vector
# $O_{flat}$ and a guess at the sticker's emoji. Once the corpus's sticker cache exists, the
# chapter runs in about 15 seconds with the `cpu` profile (the default: a small CNN) and
# with `ci`, and in about half a minute on a CPU with `paper` (Inception-v3).

# %% tags=["parameters"]
base_path = "../data/small"  # the corpus: the embedded default, or StickerChat
profile = "cpu"  # model sizes: "cpu" (small CNN, this book), "paper" (Inception-v3), "ci"
seed = 0
context_index = 0  # the test context whose candidate stickers are encoded

# %% [markdown]
# We read one context of the test split with its ten candidate stickers (the ground truth
# and nine other stickers of its set, as in the paper) through the same pipeline that
# training uses, and take the model sizes from the profile.

# %%
import json
import math
from pathlib import Path

import emoji
import matplotlib.pyplot as plt
import numpy as np

import srs_lib  # selects the torch backend before Keras is imported
import keras
from keras import ops
from myst_nb import glue

from srs_lib.experiments import report
from srs_lib.layers import StickerEncoder
from srs_lib.layers.sticker_encoder import BACKBONES, DEFAULT_IMAGE_SIZE, build_backbone
from srs_lib.training.losses import emoji_loss
from srs_lib.figures import GROUND_TRUTH_COLOUR, overlay_grid, show_sticker
from srs_lib.models.summary import format_counts, parameter_counts
from srs_lib.provenance import corpus_description
from srs_lib.training.config import profile_config
from srs_lib.training.pipeline import evaluation_batches
from srs_lib.weights import is_named, named_folder

keras.utils.set_random_seed(seed)
config = profile_config(profile)
corpus, batches = evaluation_batches(base_path, config, "test", batch_size=1)
split = batches.split
inputs, targets = batches[context_index]
stickers, positive = inputs["stickers"][0], int(targets["label"][0])
print(f"{corpus_description(base_path)}: {len(split)} test contexts, "
      f"{len(corpus.emoji_vocab)} emoji labels; profile {profile!r}: backbone "
      f"{config.backbone}, hidden {config.hidden}")
print("stickers of one context:", stickers.shape, stickers.dtype, "| ground truth in slot", positive)

# %%
from srs_lib.data.corpus import open_emoji_vocab
from srs_lib.training.config import PROFILES

caps = {name: PROFILES[name].emoji_vocab_size for name in PROFILES}
cap_rule = "; ".join(f"`{name}`: " + (f"the first {cap - 4} emojis ({cap} entries with the 4 "
                                     "reserved ones)" if cap else "every emoji")
                     for name, cap in caps.items())
glue("emoji_cap_rule", cap_rule, display=False)
glue("corpus_emojis", len(open_emoji_vocab(base_path)), display=False)
glue("kept_emojis", len(corpus.emoji_vocab), display=False)

# %% [markdown]
# The head predicts one of the corpus's emoji labels. The released training caps the emoji
# vocabulary at 300 entries, 4 of them reserved, so on the real release the samples whose
# emoji is rarer are dropped there; here every profile's rule is an option
# (`emoji_vocab_size`) and a sample it drops is counted ("emoji outside vocab", see
# `validate`): {glue:text}`emoji_cap_rule`. This corpus lists
# {glue:text}`corpus_emojis` emojis, of which the head predicts {glue:text}`kept_emojis`.

# %% [markdown]
# ## Equation 1: a grid and a vector
#
# The paper encodes each candidate sticker $c$ with Inception-v3 rather than a plain CNN:
#
# $$O,\ O_{flat} = \text{Inception-v3}(c). \tag{1}$$
#
# $O \in \mathbb{R}^{p \times p \times d}$ "conserves the two-dimensional information of the
# sticker" and is what the words of the dialog will be matched against, unit by unit, in the
# deep interaction network (section 5.4, chapter 05). $O_{flat} \in \mathbb{R}^{d}$ is
# "the original image representation output of Inception-v3", one vector for the whole
# sticker.
#
# > **Ours.** The paper does not name the layer that gives $O$. The released code takes
# > Inception-v3's `mixed_17x17x768e` endpoint, called `mixed7` in
# > `keras.applications.InceptionV3`; $O_{flat}$ is the last feature map (`mixed10`)
# > averaged over space. Each is then projected to the model width $d$ by a dense layer,
# > since equation 7 compares sticker units and words of one width. The `cpu` and `ci`
# > profiles replace Inception-v3 by `small_cnn`, four stride-2 convolutions on a
# > downscaled sticker: the map after the third plays `mixed7`, the fourth `mixed10`. Both
# > backbones, at the image sizes they see, built with random weights just to read their
# > shapes:

# %%
for name in BACKBONES:
    size = (config.image_size or DEFAULT_IMAGE_SIZE[name]) if name == config.backbone else DEFAULT_IMAGE_SIZE[name]
    net = build_backbone(name, size, weights=None)
    (_, p, _, channels), (_, q, _, top_channels) = (tuple(o.shape) for o in net.outputs)
    print(f"{name:>12} at {size:>3}×{size:<3}  O before projection: {p}×{p}×{channels:<4}  "
          f"O_flat from a {q}×{q}×{top_channels} map  {net.count_params():>11,} parameters"
          + ("   <- this profile" if name == config.backbone else ""))
    if name == "inception_v3":
        inception_grid, inception_channels, inception_params = p, channels, net.count_params()

# %% [markdown]
# The layer itself: it takes the stickers as stored (uint8, 0–255), resizes them to the
# backbone's input size, scales them to $[-1, 1]$, flattens the candidates into one batch so
# that each sticker is encoded once, and returns $O$, $O_{flat}$ and the emoji logits.
#
# ```{literalinclude} /srs_lib/layers/sticker_encoder.py
# :pyobject: StickerEncoder.preprocess
# ```
#
# ```{literalinclude} /srs_lib/layers/sticker_encoder.py
# :pyobject: StickerEncoder.call
# ```

# %% [markdown]
# > **Ours.** The branches for `code="emoji"` and `code="pooled"` are not the paper's,
# > and no profile uses them: they are diagnostics (chapter 07). With `"emoji"`,
# > $O_{flat}$ becomes a fixed random code of the emoji that the head predicts (its
# > posterior weighting one code per emoji, with no gradient back into the backbone),
# > and $O$ is that code as a single unit ($p = 1$); the `cpu` profile trained with it
# > until the diagnosis of chapter 07 found what kept the small CNN's own features at
# > chance. Every profile, like this chapter, now passes on the paper's $O$ and $O_{flat}$.

# %% [markdown]
# ## A backbone pretrained on other art
#
# The paper starts Inception-v3 from ImageNet. The `cpu` and `ci` profiles start the small
# CNN from weights of our own, made by `python -m srs_lib pretrain` on a classification of
# OpenMoji glyphs, art disjoint from the Twemoji art the embedded corpus is drawn from, with
# none of the corpus's emojis among the classes. They ship with the library, with the
# provenance read below (the `paper` profile keeps ImageNet; "w/o pretrain" starts either
# from random weights).

# %%
if config.pretrained and is_named(config.backbone_weights):
    provenance = json.loads((named_folder(config.backbone_weights) / "provenance.json").read_text())
    held_out = provenance["held_out_accuracy"]
    glue("pretrain_art", f"{provenance['data']['art']} {provenance['data']['version']} "
         f"({provenance['data']['licence']})", display=False)
    glue("pretrain_classes", f"{provenance['classes']['count']:,}", display=False)
    glue("pretrain_images", f"{provenance['images']['train']:,}", display=False)
    glue("pretrain_held_out", f"{provenance['images']['held_out']:,}", display=False)
    glue("pretrain_top1", f"{held_out['top1']:.3f}", display=False)
    glue("pretrain_top5", f"{held_out['top5']:.3f}", display=False)
    glue("pretrain_chance", f"{held_out['chance']:.4f}", display=False)
    glue("pretrain_minutes", f"{provenance['wall_time_s'] / 60:.0f}", display=False)
    curve = held_out["during_training"]
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.plot([c["step"] for c in curve], [c["top1"] for c in curve], marker="o", label="top-1")
    ax.plot([c["step"] for c in curve], [c["top5"] for c in curve], marker="o", label="top-5")
    ax.set_xlabel("pretraining step")
    ax.set_ylabel("held-out accuracy")
    ax.legend()
    fig.tight_layout()
else:  # the paper profile (ImageNet) or "w/o pretrain": the text below does not apply
    print(f"profile {profile!r} does not start from the library's own pretrained weights")
    for key in ("art", "classes", "images", "held_out", "top1", "top5", "chance", "minutes"):
        glue(f"pretrain_{key}", "n/a", display=False)

# %% [markdown]
# Where the profile uses them: {glue:text}`pretrain_classes` glyph classes of
# {glue:text}`pretrain_art`, {glue:text}`pretrain_images` training images rendered fresh with
# augmentation (scale, rotation, colour, backgrounds), {glue:text}`pretrain_minutes` minutes on
# 2 CPU cores; on {glue:text}`pretrain_held_out` held-out images the top-1 accuracy is
# {glue:text}`pretrain_top1` and the top-5 {glue:text}`pretrain_top5` (chance
# {glue:text}`pretrain_chance`). The weights are under CC BY-SA 4.0 like the art they learnt
# from (`srs_lib/weights/small_cnn_openmoji/LICENSE.md`).
#
# Encoding the ten candidates of our context (the backbone as the profile starts it, the
# projections and the emoji head at random: the chapter shows what the layer computes,
# chapter 07 trains it):

# %%
encoder = StickerEncoder(len(corpus.emoji_vocab), hidden=config.hidden, backbone=config.backbone,
                         image_size=config.image_size,
                         backbone_weights=config.backbone_weights if config.pretrained else None)
sticker_map, sticker_vector, emoji_logits = encoder(inputs["stickers"])
p = encoder.grid_size
for label, tensor in (("O", sticker_map), ("O_flat", sticker_vector), ("emoji logits", emoji_logits)):
    print(f"{label:>12}: {tuple(tensor.shape)}")
print(f"each sticker becomes p² = {p}² = {p * p} units O_k of width d = {config.hidden}")

# %% [markdown]
# ## The feature grid over a sticker
#
# Each unit $O_k$ sits on one cell of a $p \times p$ grid laid over the sticker (its receptive
# field is larger than the cell); the deep interaction network numbers them row by row,
# $k = \text{row} \cdot p + \text{column}$. The figure shows five of the candidates (top,
# ground truth framed in green, titled with the emoji label its author gave it) and the
# length $\lVert O_k \rVert$ of every unit over the same sticker (bottom), through a
# projection still at random. Which cells matter for a reply (the paper's "dancing limbs
# or streaming eyes") is what training has to teach it.

# %%
def emoji_name(symbol):
    return emoji.demojize(symbol, delimiters=("", "")).replace("_", " ")


row_emoji = targets["emoji"][0]
names = [emoji_name(corpus.emoji_vocab.token(int(e))) if e >= 0 else "?" for e in row_emoji]
norms = np.linalg.norm(ops.convert_to_numpy(sticker_map)[0], axis=-1)  # (candidates, p, p)
shown = [positive] + [slot for slot in range(len(stickers)) if slot != positive][:4]
fig, axes = plt.subplots(2, len(shown), figsize=(2.3 * len(shown), 5.0))
for column, slot in enumerate(shown):
    show_sticker(axes[0, column], stickers[slot],
                 names[slot] + (" (ground truth)" if slot == positive else ""),
                 frame=GROUND_TRUTH_COLOUR if slot == positive else None)
    grid = overlay_grid(axes[1, column], stickers[slot], norms[slot], smooth=False,
                        vmin=norms.min(), vmax=norms.max())
axes[0, 0].set_ylabel("candidate sticker")
axes[1, 0].set_ylabel(f"‖O_k‖ on the {p}×{p} grid")
fig.colorbar(grid, ax=axes, shrink=0.45, anchor=(0.0, 0.1), label="‖O_k‖ (untrained projection)")
plt.show()

# %% [markdown]
# ## The auxiliary emoji classification
#
# Networks pre-trained on photos, the paper argues, "cannot speed up the training process"
# on stickers. Since every sticker's author attached an emoji to it, SRS adds a task: a
# linear classification layer on $O_{flat}$ predicts that emoji, with a cross-entropy loss
# $L_s$ added to the ranking loss (section 5.6). Untrained, the head knows nothing, so its
# loss on our ten candidates sits at the chance level $\ln(\text{number of emoji labels})$:

# %%
loss_at_init = float(ops.convert_to_numpy(emoji_loss(targets["emoji"], emoji_logits))[0])
chance_loss = math.log(len(corpus.emoji_vocab))
print(f"L_s at initialisation: {loss_at_init:.3f}   ln({len(corpus.emoji_vocab)}) = {chance_loss:.3f}")

# %% [markdown]
# A training loss on stickers that are also in the test split's candidates measures
# memorisation. What the head learns that carries over was measured on the `cpu` profile
# by `python -m srs_lib diagnose --representations` (chapter 07): the emoji stage trained
# alone with a tenth of the library's stickers held out from its loss, then the head's
# top-1 accuracy on those and on the others.

# %%
record_file = Path("../results/diagnostics/sticker_features.json")
held_out_record = json.loads(record_file.read_text()).get("representations") if record_file.exists() else None
if held_out_record and "emoji_accuracy" in held_out_record["features"]:
    accuracy = held_out_record["features"]["emoji_accuracy"]
    print(f"{held_out_record['corpus']}, profile cpu, after {held_out_record['features']['emoji_steps']} "
          f"emoji steps: top-1 {accuracy['held_out']:.3f} on {accuracy['held_out_stickers']} held-out "
          f"stickers, {accuracy['seen']:.3f} on the others; the most frequent label alone "
          f"{accuracy['majority_label']:.3f}")
else:
    print(f"no held-out measurement recorded yet in {record_file}")

# %% [markdown]
# > **Ours.** Some set authors attach random emojis to their stickers (the embedded corpus
# > imitates this in a few "noisy" sets), so $L_s$ cannot fall to zero; the released code
# > trains this head alone for the first 1,000 steps before the ranking loss joins
# > (chapter 07).
#
# ## Where the parameters are
#
# The backbone holds nearly all of the encoder's weights; the projections to width $d$ and
# the emoji head are small.

# %%
counts = parameter_counts(encoder, depth=1)
print(format_counts(counts))
encoder_params = dict((name, count) for _, name, count in counts)

# %% [markdown]
# The stickers are now grids of $p^2$ vectors and one vector each. Chapter 04 encodes the
# other side, the words of the dialog.

# %%
report.record("03_sticker_encoder", {"rows": [
    {"quantity": f"O grid of the {config.backbone} backbone (p)", "ours": p, "paper": None},
    {"quantity": "Inception-v3 mixed7 at 128×128 (p)", "ours": inception_grid, "paper": None},
    {"quantity": "Inception-v3 mixed7 channels", "ours": inception_channels, "paper": None},
    {"quantity": "Inception-v3 backbone parameters", "ours": inception_params, "paper": None},
    {"quantity": "sticker encoder parameters (this profile)", "ours": encoder_params[encoder.name], "paper": None},
    {"quantity": "emoji loss L_s at initialisation", "ours": round(loss_at_init, 4), "paper": None},
    {"quantity": "ln(emoji labels), chance level of L_s", "ours": round(chance_loss, 4), "paper": None},
]}, base_path=base_path, profile=profile, seed=seed)
