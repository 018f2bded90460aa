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
# # The deep interaction network
#
# Section 5.4 of the paper, equations 7–11, and the attention maps of its Figures 8 and 9:
# how every candidate sticker meets every utterance through a relation matrix $M$ between
# sticker units and words, and the two attentions derived from it. The chapter runs in about
# 15 seconds with the `cpu` profile (the default) and with `ci`, and in about half a minute
# on a CPU with `paper` (Inception-v3).

# %% tags=["parameters"]
base_path = "../data/small"  # the corpus: the embedded default, or StickerChat
profile = "cpu"  # model sizes: "cpu" (small CNN, this book), "paper" (Inception-v3), "ci"
seed = 0
context_index = 0  # the test context shown
utterance = -1  # which of its utterances to look at (-1: the last, just before the sticker)

# %% [markdown]
# The whole SRS model is built as training builds it (chapter 06 counts its parts); here
# we run its sticker encoder (chapter 03) and utterance encoder (chapter 04) on one test
# context with its ten candidates and hand their outputs to the interaction layer.

# %%
import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

import srs_lib  # selects the torch backend before Keras is imported
import keras
from keras import ops

from srs_lib import paper
from srs_lib.experiments import report
from srs_lib.figures import GROUND_TRUTH_COLOUR, overlay_grid, word_heatmap
from srs_lib.layers import DeepInteraction, PooledInteraction
from srs_lib.models.registry import build_model
from srs_lib.training.config import profile_config
from srs_lib.training.pipeline import evaluation_batches

# %% [markdown]
# The shapes of everything that meets here, for one test context and its ten candidates:

# %%
keras.utils.set_random_seed(seed)
# The paper's sticker features O and O_flat, whatever the profile trains with (chapter 07).
config = profile_config(profile, sticker_code="features")
corpus, batches = evaluation_batches(base_path, config, "test", batch_size=1)
inputs, targets = batches[context_index]
positive = int(targets["label"][0])
model = build_model(config, vocab_size=len(corpus.vocab), n_emoji=len(corpus.emoji_vocab))
explained = model.explain(inputs)  # builds the model; its maps are used further on

contexts = inputs["contexts"]  # (batch, utterances, words)
batch, utterances, words = contexts.shape
parts = model.interaction_inputs(inputs)  # O, O_flat and h, with the word mask
sticker_map, sticker_vector, h = parts["pair_inputs"]
word_mask = parts["word_mask"]
interaction = model.interaction
q2, attention = interaction(parts["pair_inputs"], mask=word_mask, return_attention=True)
p = model.sticker_encoder.grid_size
for name, tensor in (("O", sticker_map), ("O_flat", sticker_vector), ("h", h), ("Q2", q2),
                     *((f"  {key}", value) for key, value in attention.items())):
    print(f"{name:>22}: {tuple(tensor.shape)}")

# %% [markdown]
# ## Equations 7–11: a relation matrix and two attentions
#
# Take one utterance with word states $h_j$, $j = 1..T_u$, and one sticker with units
# $O_k$, $k = 1..p^2$. A trainable scalar function scores every pair,
#
# $$M_{kj} = \sigma(O_k, h_j), \qquad \sigma(x, y) = w^\top [x \oplus y \oplus (x \otimes y)], \tag{7}$$
#
# with $\oplus$ concatenation and $\otimes$ the element-wise product. Max-pooling $M$ over
# the sticker units gives the *utterance-wise attention* $\tau^u_j = \max(M_{:j})$, which
# should single out the words related to the sticker, and the *sticker-aware utterance*
#
# $$l = \sum_{j}^{T_u} \tau^u_j h_j. \tag{8}$$
#
# Max-pooling over the words gives the *sticker-wise attention* $\tau^s_k = \max(M_{k:})$,
# which part of the sticker matters for this utterance, and the *utterance-aware sticker*
#
# $$r = \sum_{k}^{p^2} \tau^s_k O_k. \tag{9}$$
#
# An integrate function merges $r$ with the pooled sticker vector, and $l$ joins last:
#
# $$Q_1 = \text{IF}(O_{flat}, r), \quad \text{IF}(x, y) = \text{FC}(x \oplus y \oplus (x \otimes y) \oplus (x + y)), \tag{10}$$
# $$Q_2 = \text{FC}(Q_1 \oplus l). \tag{11}$$
#
# $Q_2$ is one vector per (candidate, utterance) pair: the shapes above show all
# $10 \times T_u$ pairs of the context computed at once, the stickers encoded once and the
# utterances once, broadcast against each other only here.
#
# > **Ours.** By default $l$ joins through the same integrate function,
# > $Q_2 = \text{IF}(Q_1, l)$, so that $Q_2$ holds the product $Q_1 \otimes l$ of the
# > sticker side and the words (the released code feeds its fusion network
# > $[a + b; a \otimes b; a; b]$ too). With equation 11 as printed, SRS did not learn our
# > corpus; chapter 07 has the measurement.
# > `SRS(integrate_words=False)` gives equation 11.
#
# ```{literalinclude} /srs_lib/layers/deep_interaction.py
# :pyobject: DeepInteraction.relation
# ```
#
# ```{literalinclude} /srs_lib/layers/deep_interaction.py
# :pyobject: DeepInteraction.call
# ```

# %% [markdown]
# ## The trilinear form, without the concatenation
#
# > **Ours.** Written as in equation 7, $M$ needs the $3d$-wide concatenation
# > $[O_k \oplus h_j \oplus O_k \otimes h_j]$ for every (sticker, utterance, unit, word)
# > quadruple. Splitting $w$ into three $d$-wide parts gives the same number as
# > $w_s \cdot O_k + w_w \cdot h_j + (O_k \otimes w_p) \cdot h_j$: two small projections and
# > one batched matrix product, `relation` above. We check it against the literal
# > concatenation for one pair and count what the literal form would have cost for one
# > training batch of this profile.

# %%
candidate, row = positive, np.arange(utterances)[ops.convert_to_numpy(ops.any(word_mask, -1))[0]][utterance]
n_words = int(ops.convert_to_numpy(word_mask)[0, row].sum())
units = ops.convert_to_numpy(sticker_map)[0, candidate].reshape(p * p, -1)  # (p², d)
states = ops.convert_to_numpy(h)[0, row, :n_words]  # (T_u, d)
w = np.concatenate([ops.convert_to_numpy(v) for v in
                    (interaction.w_sticker, interaction.w_word, interaction.w_product)])
shape = (p * p, n_words, units.shape[-1])
literal = np.concatenate([np.broadcast_to(units[:, None], shape), np.broadcast_to(states[None], shape),
                          units[:, None] * states[None]], axis=-1) @ w  # eq. 7 as written
relation = ops.convert_to_numpy(attention["relation"])[0]  # (candidates, utterances, p², words)
assert np.allclose(relation[candidate, row, :, :n_words], literal, atol=1e-4)  # the same M
entries = config.batch_size * config.n_candidates * config.max_utterances * p * p * config.max_words
for name, value in (("batch", config.batch_size), ("candidates", config.n_candidates),
                    ("utterances", config.max_utterances), ("units", p * p),
                    ("words", config.max_words), ("concat_factor", 3 * config.hidden),
                    ("m_mib", entries * 4 / 2**20),
                    ("concat_gib", entries * 3 * config.hidden * 4 / 2**30)):
    glue(name, value, display=False)

# %% [markdown]
# The decomposition gives the same $M$ as equation 7 written out. For one training batch
# of this profile ({glue:text}`batch` contexts × {glue:text}`candidates` candidates ×
# {glue:text}`utterances` utterances × {glue:text}`units` units × {glue:text}`words`
# words) $M$ holds {glue:text}`m_mib:,.1f` MiB in float32; the literal concatenation would
# hold {glue:text}`concat_factor` times as much, {glue:text}`concat_gib:,.1f` GiB.

# %% [markdown]
# ## The relation matrix of a real pair
#
# $M$ for the ground-truth sticker and one utterance of the context (left, transposed: one
# row per word, one column per sticker unit $k$, the units of each grid row between the
# white lines), and its maximum over the units, the utterance-wise scores $\max_k M_{kj}$
# that become $\tau^u$ (right). With random weights, which units and words win is arbitrary;
# chapter 07 trains the weights that make it meaningful.
#
# > **Ours.** Of the three terms of the decomposition, only the product
# > $(O_k \otimes w_p) \cdot h_j$ depends on both the unit and the word: $w_w \cdot h_j$ shifts
# > a whole row of the picture, $w_s \cdot O_k$ a whole column. So part of $\tau^u$ is a
# > sticker-independent salience of each word, and part of $\tau^s$ an utterance-independent
# > salience of each unit. Untrained, the word term dominates, because the layer-normalised
# > word states are far longer than the projected sticker units (both lengths are given
# > in the next section): hence the horizontal bands of the picture, whose share of the
# > variance of $M$ is given below it, and the same words winning for every candidate in
# > the next figures.

# %%
sentence = corpus.vocab.decode(contexts[0, row])
fig, (ax_m, ax_t) = plt.subplots(1, 2, figsize=(13, 0.32 * n_words + 2.2),
                                 gridspec_kw={"width_ratios": [5, 1]})
shown = word_heatmap(ax_m, relation[candidate, row, :, :n_words].T,
                     [str(k) if k % p == 0 else "" for k in range(p * p)], sentence,
                     cmap="coolwarm", rotation=0, xlabel="sticker unit k (row-major on the p×p grid)",
                     ylabel="word j", title="relation matrix Mᵀ (eq. 7), ground-truth sticker")
for boundary in range(p, p * p, p):
    ax_m.axvline(boundary - 0.5, color="white", linewidth=1)
fig.colorbar(shown, ax=ax_m, label="M_kj")
ax_t.barh(range(n_words), relation[candidate, row, :, :n_words].max(axis=0), color="tab:purple")
ax_t.set_yticks(range(n_words))
ax_t.set_yticklabels([])
ax_t.set_ylim(n_words - 0.5, -0.5)
ax_t.set_xlabel("max_k M_kj")
ax_t.set_title("before the softmax")
plt.show()
pair = relation[candidate, row, :, :n_words]  # (p², T_u)
word_effect, unit_effect = pair.mean(axis=0) - pair.mean(), pair.mean(axis=1) - pair.mean()
shares = {"word (rows of the picture)": word_effect.var() / pair.var(),
          "unit (columns)": unit_effect.var() / pair.var()}
shares["pair-specific rest"] = 1 - sum(shares.values())
for name, key in (("share_word", "word (rows of the picture)"), ("share_unit", "unit (columns)"),
                  ("share_rest", "pair-specific rest")):
    glue(name, float(shares[key]), display=False)

# %% [markdown]
# Of the variance of this $M$, the word term (the rows of the picture) explains
# {glue:text}`share_word:.1%`, the unit term (the columns) {glue:text}`share_unit:.1%`,
# and the pair-specific rest is {glue:text}`share_rest:.1%`.

# %% [markdown]
# ## τ softmax-normalised: a documented deviation
#
# > **Ours.** The paper weights $h_j$ and $O_k$ by the raw max-pooled scores. By default
# > our layer passes them through a softmax over the real words and over the $p^2$ units
# > first, so that $l$ and $r$ are convex combinations of word states and sticker units,
# > whose scale does not grow with the utterance's length or the grid's size (the released
# > code normalised too). `SRS(softmax_attention=False)` gives the paper's version; trained
# > so on the `cpu` profile SRS stays near chance where the default learns (the rows
# > `raw_attention` and `defaults` of `python -m srs_lib diagnose`, chapter 07).
#
# The same weights with the raw scores, on every (candidate, utterance) pair of our
# context: with raw $\tau^u$ the length of $l$ (left) swings with the number of words and
# the signs of the scores, while the normalised $l$ stays on the scale of a single word
# state ($\lVert h_j \rVert \approx \sqrt{d}$ after the layer normalisation). Likewise the
# normalised $r$ (right) stays on the scale of one sticker unit, while the raw $r$ sums
# $p^2$ weighted units and comes out many times larger (the ranges are in the table below).

# %%
raw = DeepInteraction(config.hidden, softmax_attention=False, name="raw_interaction")
raw.build([tuple(sticker_map.shape), tuple(sticker_vector.shape), tuple(h.shape)])
raw.set_weights(interaction.get_weights())
_, raw_attention = raw([sticker_map, sticker_vector, h], mask=word_mask, return_attention=True)
states_all = ops.convert_to_numpy(h)[0]
real = ops.convert_to_numpy(word_mask)[0]
has_words = real.any(axis=-1)
lengths = np.broadcast_to(real.sum(axis=-1), (config.n_candidates, utterances))[:, has_words]
units_all = ops.convert_to_numpy(sticker_map)[0].reshape(config.n_candidates, p * p, -1)
summary, r_norms = {}, {}
fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, att, marker in (("softmax (ours)", attention, "o"), ("raw (paper)", raw_attention, "x")):
    tau_u = ops.convert_to_numpy(att["utterance_attention"])[0]  # (candidates, utterances, words)
    tau_s = ops.convert_to_numpy(att["sticker_attention"])[0].reshape(config.n_candidates, utterances, -1)
    l_norm = np.linalg.norm(np.einsum("cuw,uwd->cud", tau_u, states_all), axis=-1)[:, has_words]
    r_norms[name] = np.linalg.norm(np.einsum("cuk,ckd->cud", tau_s, units_all), axis=-1)[:, has_words]
    ax_l.scatter(lengths.ravel(), l_norm.ravel(), marker=marker, alpha=0.6, label=name)
    summary[name] = {"l": (l_norm.min(), l_norm.max()), "r": (r_norms[name].min(), r_norms[name].max())}
bins = np.geomspace(min(v.min() for v in r_norms.values()), max(v.max() for v in r_norms.values()), 40)
for name, values in r_norms.items():
    ax_r.hist(values.ravel(), bins=bins, alpha=0.6, label=name)
ax_r.set_xscale("log")
ax_l.set_xlabel("real words in the utterance")
ax_l.set_ylabel("‖l‖, sticker-aware utterance (eq. 8)")
ax_l.legend()
ax_r.set_xlabel("‖r‖, utterance-aware sticker (eq. 9)")
ax_r.set_ylabel("(candidate, utterance) pairs")
ax_r.legend()
fig.tight_layout()
plt.show()
for name, values in (("softmax", summary["softmax (ours)"]), ("raw", summary["raw (paper)"])):
    for key, (low, high) in values.items():
        glue(f"{name}_{key}_min", float(low), display=False)
        glue(f"{name}_{key}_max", float(high), display=False)
glue("h_norm", float(np.linalg.norm(states_all[real], axis=-1).mean()), display=False)
glue("o_norm", float(np.linalg.norm(units_all, axis=-1).mean()), display=False)

# %% [markdown]
# | τ | ‖l‖ | ‖r‖ |
# | --- | --- | --- |
# | softmax (ours) | {glue:text}`softmax_l_min:.2f` – {glue:text}`softmax_l_max:.2f` | {glue:text}`softmax_r_min:.3f` – {glue:text}`softmax_r_max:.3f` |
# | raw (paper) | {glue:text}`raw_l_min:.2f` – {glue:text}`raw_l_max:.2f` | {glue:text}`raw_r_min:.3f` – {glue:text}`raw_r_max:.3f` |
#
# For scale: the mean ‖h_j‖ is {glue:text}`h_norm:.2f` and the mean ‖O_k‖
# {glue:text}`o_norm:.3f`.

# %% [markdown]
# ## Sticker-wise and utterance-wise attention (the paper's Figures 8 and 9)
#
# The paper shows $\tau^s$ as a heat map over the sticker (Figure 8: "the lighter the area,
# the higher the attention weight") and $\tau^u$ over the words of an utterance (Figure 9).
# Here are both for the same utterance and four candidates, the ground truth framed in
# green: $\tau^s$ upsampled over each sticker (top), $\tau^u$ over the words (bottom).
# They come from `SRS.explain`, which returns these maps for a whole batch. Untrained,
# $\tau^s$ is nearly uniform and $\tau^u$ picks the same words for every candidate (the word
# term of $M$, above): neither depends on the pairing yet. After training, the paper's maps
# light up a character's eyes or hands and the salient words ("make a lot of money").

# %%
tau_s = ops.convert_to_numpy(explained["sticker_attention"])[0, :, row]  # (candidates, p, p)
tau_u = ops.convert_to_numpy(explained["utterance_attention"])[0, :, row, :n_words]
shown_slots = [positive] + [slot for slot in range(config.n_candidates) if slot != positive][:3]
fig, axes = plt.subplots(2, len(shown_slots), figsize=(3.3 * len(shown_slots), 5.6),
                         gridspec_kw={"height_ratios": [3, 1.4]})
for column, slot in enumerate(shown_slots):
    top = overlay_grid(axes[0, column], inputs["stickers"][0, slot], tau_s[slot], cmap="gray",
                       alpha=0.65, lines=False, vmin=tau_s[shown_slots].min(), vmax=tau_s[shown_slots].max(),
                       title="ground truth" if slot == positive else f"candidate {slot}",
                       frame=GROUND_TRUTH_COLOUR if slot == positive else None)
    bottom = word_heatmap(axes[1, column], tau_u[slot], sentence, cmap="Greys", vmin=0,
                          vmax=tau_u[shown_slots].max(), fontsize=8)
fig.colorbar(top, ax=axes[0, :], shrink=0.8, label="τ^s_k (lighter: more attention)")
fig.colorbar(bottom, ax=axes[1, :], shrink=0.9, label="τ^u_j (darker: more)")
plt.show()
glue("utterance_text", " ".join(sentence), display=False)
for name, value in (("tau_s_min", tau_s[positive].min()), ("tau_s_max", tau_s[positive].max()),
                    ("tau_s_uniform", 1 / (p * p)), ("tau_u_min", tau_u[positive].min()),
                    ("tau_u_max", tau_u[positive].max()), ("tau_u_uniform", 1 / n_words)):
    glue(name, float(value), display=False)

# %% [markdown]
# The utterance is "{glue:text}`utterance_text`". On the ground truth, $\tau^s$ ranges
# over {glue:text}`tau_s_min:.4f` – {glue:text}`tau_s_max:.4f` (uniform: $1/p^2$ =
# {glue:text}`tau_s_uniform:.4f`) and $\tau^u$ over {glue:text}`tau_u_min:.3f` –
# {glue:text}`tau_u_max:.3f` (uniform: $1/T_u$ = {glue:text}`tau_u_uniform:.3f`).

# %% [markdown]
# ## Padded words take no part
#
# Padded word positions get $\tau^u = 0$ and are left out of the max that gives $\tau^s$,
# so appending more padding to every utterance changes nothing downstream:

# %%
extra = 7
padded = np.pad(contexts, ((0, 0), (0, 0), (0, extra)))
h_padded = model.encode_utterances(padded)
q2_padded = interaction([sticker_map, sticker_vector, h_padded], mask=ops.not_equal(padded, 0))
tau_u_all = ops.convert_to_numpy(attention["utterance_attention"])
padded_weight = float(tau_u_all[~np.broadcast_to(real, tau_u_all.shape)].max())
q2_change = float(np.abs(ops.convert_to_numpy(q2) - ops.convert_to_numpy(q2_padded)).max())
assert padded_weight == 0.0 and q2_change < 1e-5
glue("extra_pad", extra, display=False)
glue("q2_change", q2_change, display=False)

# %% [markdown]
# No padded word gets any weight, and {glue:text}`extra_pad` more PAD words per utterance
# change $Q_2$ by at most {glue:text}`q2_change:.1e`.

# %% [markdown]
# ## Without the deep interaction network
#
# The paper's ablation "SRS w/o DIN" (its Table 4, quoted below) replaces this layer; our
# `PooledInteraction` meets each utterance only through the sticker's pooled
# vector and the mean of the utterance's word states, $Q_2 = \text{IF}(O_{flat}, \bar h)$
# (or $\text{FC}([O_{flat} \oplus \bar h])$ with `integrate_words=False`), with the same
# inputs and output shape. What the relation matrix and the integrate function add in
# weights is small; what they add is the pairing of sticker parts with words.

# %%
pooled = PooledInteraction(config.hidden, name="pooled_interaction")
q2_pooled = pooled([sticker_map, sticker_vector, h], mask=word_mask)
din_params, pooled_params = interaction.count_params(), pooled.count_params()
assert tuple(q2_pooled.shape) == tuple(q2.shape)
glue("din_params", din_params, display=False)
glue("pooled_params", pooled_params, display=False)
glue("paper_srs_map", paper.row(paper.TABLE4, "SRS")["MAP"], display=False)
glue("paper_wo_din_map", paper.row(paper.TABLE4, "SRS w/o DIN")["MAP"], display=False)

# %% [markdown]
# `PooledInteraction` gives $Q_2$ of the same shape with {glue:text}`pooled_params:,`
# parameters, against {glue:text}`din_params:,` for the deep interaction network. In the
# paper's Table 4, SRS reaches MAP {glue:text}`paper_srs_map:.3f` and SRS w/o DIN
# {glue:text}`paper_wo_din_map:.3f`.

# %%
report.record("05_deep_interaction", {"rows": [
    {"quantity": "units per sticker (p²)", "ours": p * p, "paper": None},
    {"quantity": "relation matrix M per batch (MiB, float32)", "ours": round(entries * 4 / 2**20, 2), "paper": None},
    {"quantity": "literal concatenation of eq. 7 per batch (MiB)", "ours": round(entries * 3 * config.hidden * 4 / 2**20, 1), "paper": None},
    {"quantity": "max ‖l‖ with softmax τ", "ours": round(float(summary["softmax (ours)"]["l"][1]), 3), "paper": None},
    {"quantity": "max ‖l‖ with raw τ", "ours": round(float(summary["raw (paper)"]["l"][1]), 3), "paper": None},
    {"quantity": "deep interaction parameters", "ours": din_params, "paper": None},
    {"quantity": "pooled interaction (w/o DIN) parameters", "ours": pooled_params, "paper": None},
]}, base_path=base_path, profile=profile, seed=seed)
