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
# # The utterance encoder
#
# Section 5.3 of the paper, equations 2–6: how SRS turns each utterance of the dialog into
# one state per word with the attentive module of the Transformer, and why padded words
# must be masked out of it. The chapter runs in 10 to 15 seconds with every profile (`cpu`,
# the default, `ci` and `paper` build the same layer at different sizes).

# %% tags=["parameters"]
base_path = "../data/small"  # the corpus: the embedded default, or StickerChat
profile = "cpu"  # model sizes: "cpu" (this book), "paper" (section 6.4), "ci"
seed = 0
context_index = 0  # the test context whose utterances are encoded
utterance = -1  # which of its utterances to look at (-1: the last, just before the sticker)

# %%
import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

import srs_lib  # selects the torch backend before Keras is imported
import keras
from keras import ops

from srs_lib.experiments import report
from srs_lib.figures import word_heatmap
from srs_lib.layers import UtteranceEncoder
from srs_lib.models.summary import format_counts, parameter_counts
from srs_lib.training.config import profile_config
from srs_lib.training.pipeline import evaluation_batches

# %% [markdown]
# One context of the test split, read through the same pipeline as training, with the
# model sizes of the profile:

# %%
keras.utils.set_random_seed(seed)
config = profile_config(profile)
corpus, batches = evaluation_batches(base_path, config, "test")
split = batches.split
context = split.contexts[context_index]  # (utterances, words) word ids, PAD = 0
n_utterances = int(split.n_utterances[context_index])
print(f"context {context_index}: {n_utterances} utterances (array {context.shape}: the last "
      f"{config.max_utterances} utterances, the first {config.max_words} words of each)")
for row in context[:n_utterances][-4:]:
    print("   ", " ".join(corpus.vocab.decode(row)))

# %% [markdown]
# ## Equations 2–6: the attentive module
#
# Each word $x_j$ of an utterance is looked up in an embedding matrix, $e(x_j)$, and three
# fully-connected layers project it to a query, a key and a value:
#
# $$Q_j = \text{FC}(e(x_j)),\quad K_j = \text{FC}(e(x_j)),\quad V_j = \text{FC}(e(x_j)). \tag{2}$$
#
# Every word then attends to every word of the same utterance ($T_x$ words), takes the
# weighted sum of their values, adds it to its own embedding and goes through a feed-forward
# layer and a layer normalisation:
#
# $$\alpha_{j,k} = \frac{\exp(Q_j \cdot K_k)}{\sum_{n=1}^{T_x} \exp(Q_j \cdot K_n)}, \tag{3}$$
# $$\beta_j = \sum_{k=1}^{T_x} \alpha_{j,k} V_k, \tag{4}$$
# $$\hat h_j = \text{Dropout}(e(x_j) + \beta_j), \tag{5}$$
# $$h_j = \text{norm}\big(\max(0, \hat h_j W_1 + b_1) W_2 + b_2\big). \tag{6}$$
#
# $h_j$ is the state of the $j$-th word; the paper keeps the first 30 words of each utterance
# and zero-pads shorter ones.
#
# > **Ours.** The equations as printed differ from the Transformer block of Vaswani et
# > al. in two places: no $1/\sqrt{d}$ scaling of the logits in equation 3 and no
# > residual connection around the feed-forward layer in equation 6. The released code
# > uses the Transformer block, and so do we by default: with the printed form SRS
# > learns our corpus far more slowly (the unscaled logits saturate the softmax, and
# > without the residual each block is a fresh random function of its input; chapter 07
# > has the measurement). `AttentiveModule(form="paper")` and
# > `SRS(attention_form="paper")` give the printed form. The key projection has no bias (the
# > softmax over $k$ cancels the constant $Q_j \cdot b$). The sums of equations 3–4 run over
# > the $T_x$ real words: in a zero-padded batch the padded positions must be masked out of
# > the softmax, which `masked_softmax` does. The released code stacked two such blocks with
# > 5 heads; `UtteranceEncoder(blocks=..., heads=...)` offers that, the paper's one block with
# > one head is the default.
#
# ```{literalinclude} /srs_lib/layers/masking.py
# :pyobject: masked_softmax
# ```
#
# ```{literalinclude} /srs_lib/layers/utterance_encoder.py
# :pyobject: AttentiveModule.attention_weights
# ```
#
# ```{literalinclude} /srs_lib/layers/utterance_encoder.py
# :pyobject: AttentiveModule.call
# ```
#
# ```{literalinclude} /srs_lib/layers/utterance_encoder.py
# :pyobject: UtteranceEncoder.call
# ```

# %% [markdown]
# The encoder sees one utterance per row: the context's utterances are its batch. It returns
# one $d$-wide state per word position (the states of padded positions are computed but
# meaningless, and the mask that marks them travels with the output):

# %%
encoder = UtteranceEncoder(len(corpus.vocab), hidden=config.hidden, dropout=config.dropout,
                           name="utterance_encoder")
h = encoder(context)  # inference mode: dropout is off
word_mask = ops.convert_to_numpy(encoder.compute_mask(context))
print(f"word ids {context.shape} -> h {tuple(h.shape)}; "
      f"{int(word_mask.sum())} real words, {int((~word_mask).sum())} padded positions")

# %% [markdown]
# ## Attention over the words of a real utterance
#
# The weights $\alpha_{j,k}$ of equation 3 for one utterance of the context: row $j$ is the
# word that attends, column $k$ the word attended to; each row sums to one. The colours show
# $\alpha_{j,k} \cdot T_x$, the weight relative to a uniform spread (1 = uniform, red =
# more than uniform).

# %%
module = encoder.attentive_modules[0]
row = context[:n_utterances][utterance]
words = corpus.vocab.decode(row)
n_words = len(words)
alpha = ops.convert_to_numpy(
    module.attention_weights(encoder.embedding(row[None]), ops.not_equal(row[None], 0)))[0, 0]
relative = alpha[:n_words, :n_words] * n_words
spread = np.abs(relative - 1).max()
fig, ax = plt.subplots(figsize=(0.42 * n_words + 2.5, 0.38 * n_words + 1.5))
shown = word_heatmap(ax, relative, words, words, cmap="RdBu_r", vmin=1 - spread, vmax=1 + spread,
                     xlabel="word attended to (k)", ylabel="attending word (j)")
fig.colorbar(shown, ax=ax, label="α_jk · T_x (1 = uniform)")
plt.show()
assert np.allclose(alpha[:n_words, :n_words].sum(axis=1), 1)  # each row is a distribution
glue("relative_min", float(relative.min()), display=False)
glue("relative_max", float(relative.max()), display=False)

# %% [markdown]
# $\alpha_{j,k} \cdot T_x$ ranges over [{glue:text}`relative_min:.3f`,
# {glue:text}`relative_max:.3f`]. At initialisation every word spreads its attention almost evenly over the utterance: the
# embeddings start small (uniform in ±0.05) and equation 3 has no temperature, so the dot
# products $Q_j \cdot K_k$ are close to zero and $h_j$ starts as little more than a
# transformed average of the utterance. The faint pattern (columns that every row favours
# a little) comes from the random projections, not from meaning. Training (chapter 07)
# has to sharpen it towards the words that matter for the sticker, which the paper's
# Figure 9 shows for the related utterance-wise attention $\tau^u$ (chapter 05).
#
# ## Masked versus unmasked padding
#
# The same utterance, followed by `max_words` PAD tokens as a short utterance is in a
# batch, encoded twice: with the mask (PAD keys excluded from the softmax) and without it.
# With the mask (left) the padded columns receive exactly zero weight; without it (right)
# the PAD tokens, which all share one embedding, soak up attention and change the states of
# the real words.

# %%
padded = np.concatenate([row[:n_words], np.zeros(config.max_words, dtype=row.dtype)])[None]
embedded = encoder.embedding(padded)
real = ops.not_equal(padded, 0)
alpha_masked = ops.convert_to_numpy(module.attention_weights(embedded, real))[0, 0, :n_words]
alpha_unmasked = ops.convert_to_numpy(module.attention_weights(embedded, None))[0, 0, :n_words]

h_alone = ops.convert_to_numpy(encoder(row[None, :n_words]))[0]  # the utterance without padding
h_masked = ops.convert_to_numpy(encoder(padded))[0, :n_words]
h_unmasked = ops.convert_to_numpy(module(embedded, mask=None))[0, :n_words]
pad_mass = {"masked": alpha_masked[:, n_words:].sum(axis=1).mean(),
            "unmasked": alpha_unmasked[:, n_words:].sum(axis=1).mean()}
change = {"masked": np.abs(h_masked - h_alone).max(), "unmasked": np.abs(h_unmasked - h_alone).max()}

labels = words + ["PAD"] * config.max_words
fig, axes = plt.subplots(1, 2, figsize=(14, 0.35 * n_words + 2.4))
for ax, (name, weights) in zip(axes, (("masked", alpha_masked), ("unmasked", alpha_unmasked))):
    shown = word_heatmap(ax, weights, labels, words if ax is axes[0] else None, vmin=0,
                         vmax=max(alpha_masked.max(), alpha_unmasked.max()),
                         xlabel="word attended to (k)", rotation=90, fontsize=7,
                         title=f"{name}: {pad_mass[name]:.1%} of each row's weight on PAD")
    ax.axvline(n_words - 0.5, color="white", linewidth=1.5)
axes[0].set_ylabel("attending word (j)")
fig.colorbar(shown, ax=axes, label="α_jk")
plt.show()
for name in ("masked", "unmasked"):
    glue(f"pad_mass_{name}", float(pad_mass[name]), display=False)
    glue(f"change_{name}", float(change[name]), display=False)
assert change["masked"] < 1e-5 < change["unmasked"]

# %% [markdown]
# Each attending word puts {glue:text}`pad_mass_masked:.4f` of its weight on PAD with the
# mask and {glue:text}`pad_mass_unmasked:.4f` without it; the largest change of a real
# word's state $h_j$ against the unpadded utterance is {glue:text}`change_masked:.1e` with
# the mask and {glue:text}`change_unmasked:.3f` without it.
#
# With the mask, padding changes nothing: a short utterance in a batch of long ones is
# encoded exactly as it would be alone. The same holds for padded utterances further on:
# the deep interaction network (chapter 05) excludes padded words from both of its
# attentions, and the fusion network (chapter 06) skips padded utterances.
#
# ## Where the parameters are
#
# The embedding matrix (one $d$-vector per vocabulary word) dwarfs the attentive module,
# which has five $d \times d$ projections and a layer normalisation whatever the vocabulary.

# %%
counts = parameter_counts(encoder, depth=1)
print(format_counts(counts))
paper_config = profile_config("paper")
glue("paper_vocab", paper_config.vocab_size, display=False)
glue("paper_hidden", paper_config.hidden, display=False)
glue("paper_embedding", paper_config.vocab_size * paper_config.hidden, display=False)

# %% [markdown]
# At the paper's sizes (the released code's {glue:text}`paper_vocab:,` words,
# $d$ = {glue:text}`paper_hidden`) the embedding alone holds
# {glue:text}`paper_embedding:,` parameters.

# %%
encoder_params = {name: count for _, name, count in counts}
report.record("04_utterance_encoder", {"rows": [
    {"quantity": "utterance encoder parameters (this profile)", "ours": encoder_params["utterance_encoder"], "paper": None},
    {"quantity": "attentive module parameters", "ours": encoder_params[module.name], "paper": None},
    {"quantity": "attention weight on PAD, masked", "ours": float(pad_mass["masked"]), "paper": None},
    {"quantity": "attention weight on PAD, unmasked", "ours": round(float(pad_mass["unmasked"]), 4), "paper": None},
    {"quantity": "max |Δh| from padding, masked", "ours": round(float(change["masked"]), 6), "paper": None},
    {"quantity": "max |Δh| from padding, unmasked", "ours": round(float(change["unmasked"]), 4), "paper": None},
]}, base_path=base_path, profile=profile, seed=seed)
