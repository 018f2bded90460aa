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
# # The fusion network and the whole model
#
# Section 5.5 of the paper, equations 12–16, and the model of its Figure 4 put together:
# how SRS reads the per-utterance interaction results in order and boils them down to one
# matching score per candidate sticker, what the assembled model weighs, and how it ranks
# the candidates of a real context before training. The chapter runs in about 15 seconds
# with the `cpu` profile (the default) and with `ci`, and in about half a minute on a CPU
# with `paper` (Inception-v3).

# %% tags=["parameters"]
base_path = "../data/small"  # the corpus: the embedded default, or StickerChat
profile = "cpu"  # model sizes: "cpu" (small CNN, this book), "paper" (Inception-v3), "ci"
seed = 0
context_index = 0  # the test context whose candidates are scored

# %% [markdown]
# As in chapter 05, SRS is built as training builds it, and its first three parts (chapters
# 03–05) turn one test context and its ten candidates into $Q_2$, one vector per
# (candidate, utterance) pair. The fusion network sees each candidate's sequence of
# $Q_2$ over the utterances, so the candidates become its batch.

# %%
import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

import srs_lib  # selects the torch backend before Keras is imported
import keras
from keras import ops

from srs_lib.experiments import report
from srs_lib.figures import candidate_strip
from srs_lib.models.registry import build_model
from srs_lib.models.summary import format_counts, parameter_counts
from srs_lib.training.config import profile_config
from srs_lib.training.losses import emoji_loss, hinge_loss
from srs_lib.training.pipeline import evaluation_batches

# %% [markdown]
# One test context, an untrained SRS built as training builds it, and the $Q_2$ of every
# (candidate, utterance) pair from the first three parts (chapters 03–05):

# %%
keras.utils.set_random_seed(seed)
# The paper's sticker features O and O_flat, whatever the profile trains with (chapter 07).
config = profile_config(profile, sticker_code="features")
corpus, batches = evaluation_batches(base_path, config, "test", batch_size=1)
split = batches.split
inputs, targets = batches[context_index]
positive = int(targets["label"][0])


def new_srs(config, **changes):
    """SRS with the options of a training configuration (as the trainer builds it)."""
    return build_model(config, **{"vocab_size": len(corpus.vocab),
                                  "n_emoji": len(corpus.emoji_vocab), **changes})


model = new_srs(config)
outputs = model(inputs)  # builds the model and scores the candidates

# Q2 of every (candidate, utterance) pair, from the first three parts (chapters 03-05).
contexts = inputs["contexts"]
utterances = contexts.shape[1]
parts = model.interaction_inputs(inputs)
q2 = model.interaction(parts["pair_inputs"], mask=parts["word_mask"])[0]  # (candidates, utterances, d)
utterance_mask = ops.broadcast_to(parts["utterance_mask"], (config.n_candidates, utterances))
n_utterances = int(ops.convert_to_numpy(utterance_mask)[0].sum())
fusion = model.fusion_network
glue("n_candidates", config.n_candidates, display=False)
glue("utterance_slots", utterances, display=False)
glue("n_utterances", n_utterances, display=False)
glue("hidden", config.hidden, display=False)

# %% [markdown]
# $Q_2$ holds {glue:text}`n_candidates` candidates × {glue:text}`utterance_slots`
# utterance slots ({glue:text}`n_utterances` of them real) × $d$ = {glue:text}`hidden`.

# %% [markdown]
# ## Equations 12–16: short-term, long-term, combined
#
# The utterances are in chronological order. A GRU, the *fusion RNN*, reads the
# interaction results one after the other for the short-term dependencies:
#
# $$g_i = \text{RNN}(Q_2^i, g_{i-1}). \tag{12}$$
#
# The *fusion Transformer* models the long-term ones with the self-attention block of
# equations 3–6 (chapter 04), applied to the sequence $Q_2^1..Q_2^{T_u}$ with its own
# projections $Q^i = \text{FC}(Q_2^i)$, $K^i = \text{FC}(Q_2^i)$, $V^i = \text{FC}(Q_2^i)$
# (13), giving $\hat g_1..\hat g_{T_u}$. The prediction layer combines the two with the
# SUBMULT function of Wang and Jiang,
#
# $$\bar g_i = \text{ReLU}\Big(W_s \begin{bmatrix} (\hat g_i - g_i) \odot (\hat g_i - g_i) \\ \hat g_i \odot g_i \end{bmatrix} + b_s\Big), \tag{14}$$
#
# a second GRU runs over the combined sequence, and its last state gives the score:
#
# $$\tilde g_i = \text{RNN}(\tilde g_{i-1}, \bar g_i), \tag{15}$$
# $$\hat y = \text{FC}(\tilde g_{T_u}), \qquad \hat y \in (0, 1). \tag{16}$$
#
# > **Ours.** The fusion Transformer is the same `AttentiveModule` class as the utterance
# > encoder's (with its own weights). Both GRUs take the utterance mask: a padded utterance
# > does not advance them, so $\tilde g_{T_u}$ is the state after the last *real*
# > utterance, and the fusion Transformer gives padded utterances no weight. Two choices
# > follow the released code by default: SUBMULT takes $[\hat g_i - g_i; \hat g_i \odot
# > g_i]$, keeping the difference linear instead of squaring it, and $\hat y$ is the raw
# > output of the final dense layer (the released code feeds that logit to its hinge
# > loss), not squashed into $(0, 1)$. With the sigmoid SRS did not learn our corpus,
# > while the printed SUBMULT learns as well as the released one (chapter 07 has the
# > measurements); `FusionNetwork(submult="paper", score_activation="sigmoid")` gives
# > the printed forms.
# > `FusionNetwork(use_fusion_rnn=False)` is the paper's "SRS w/o FR" ablation: no fusion
# > RNN, hence no SUBMULT, the prediction GRU reads $\hat g$ directly.
#
# > **Ours.** SRS layer-normalises $Q_2$ where the fusion network reads it, before both
# > the fusion RNN and the fusion Transformer (`q2_norm`, on by default in `SRS`;
# > `FusionNetwork(q2_norm=False)` is the paper's form). $Q_2$ is affine in products of
# > the sticker's and the words' states, so nothing bounds its scale; with the small CNN's
# > own features it grew several-fold in training and the prediction GRU stopped telling
# > the candidates apart, which kept SRS at chance (chapter 07 has the measurements).
#
# ```{literalinclude} /srs_lib/layers/fusion_network.py
# :pyobject: FusionNetwork.stages
# ```
#
# ```{literalinclude} /srs_lib/layers/fusion_network.py
# :pyobject: FusionNetwork.combine
# ```

# %% [markdown]
# ## Step by step, with padded utterances
#
# We run the parts of `call` one at a time on the ground-truth candidate's sequence, with
# a few all-PAD utterances appended (as a shorter context would have in a batch), and check
# that the score is the one the layer gives for the sequence without them.

# %%
extra = 4
sequence = ops.convert_to_numpy(q2)[positive:positive + 1]  # (1, utterances, d)
real = ops.convert_to_numpy(utterance_mask)[positive:positive + 1]
sequence = np.concatenate([sequence, np.zeros((1, extra, config.hidden), "float32")], axis=1)
mask = np.concatenate([real, np.zeros((1, extra), bool)], axis=1)
read = fusion.q2_normalisation(sequence) if fusion.q2_norm else sequence  # ours: Q2 normalised
g = fusion.fusion_rnn(read, step_mask=mask, return_sequences=True)  # eq. 12
g_hat = fusion.fusion_transformer(read, mask=mask)  # eq. 13
g_bar = fusion.combine(g_hat, g)  # eq. 14 (SUBMULT)
g_tilde = fusion.prediction_rnn(g_bar, step_mask=mask)  # eq. 15
y_hat = fusion.score(g_tilde)  # eq. 16
for name, tensor in (("g", g), ("ĝ", g_hat), ("ḡ", g_bar), ("g̃", g_tilde), ("ŷ", y_hat)):
    print(f"{name:>2}: {tuple(tensor.shape)}")
scores_four_ways = {
    "step": float(ops.convert_to_numpy(y_hat)[0, 0]),
    "layer": float(ops.convert_to_numpy(fusion(sequence, mask=mask))[0]),
    "alone": float(ops.convert_to_numpy(fusion(sequence[:, :n_utterances]))[0]),
    "model": float(ops.convert_to_numpy(outputs["scores"])[0, positive]),
}
assert np.allclose(list(scores_four_ways.values()), scores_four_ways["step"], atol=1e-5)
for name, value in scores_four_ways.items():
    glue(f"y_{name}", value, display=False)

# %% [markdown]
# | $\hat y$ computed | value |
# | --- | --- |
# | step by step, with the padding | {glue:text}`y_step:.5f` |
# | by the layer, with the padding | {glue:text}`y_layer:.5f` |
# | by the layer, on the real utterances alone | {glue:text}`y_alone:.5f` |
# | in the whole model | {glue:text}`y_model:.5f` |

# %% [markdown]
# The three sequences for this candidate, one column per utterance slot (the padded slots
# right of the white line). The fusion RNN's state $g$ (left) stops changing at the last
# real utterance and is carried unchanged through the padding; the fusion Transformer's
# $\hat g$ (middle) is computed for the padded slots too, but no real slot attends to them,
# and the prediction GRU never reads them. SUBMULT's output $\bar g$ (right) passes
# through a ReLU, so it is sparse: only units where the two views' agreement and
# disagreement push the pre-activation above zero carry a signal.

# %%
panels = (("g: fusion RNN (eq. 12)", g), ("ĝ: fusion Transformer (eq. 13)", g_hat),
          ("ḡ: SUBMULT (eq. 14)", g_bar))
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
for ax, (title, tensor) in zip(axes, panels):
    values = ops.convert_to_numpy(tensor)[0].T  # (units, utterance slots)
    limit = np.abs(values).max()
    shown = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                      interpolation="nearest")
    ax.axvline(n_utterances - 0.5, color="white", linewidth=2)
    ax.set_title(title)
    ax.set_xlabel("utterance slot i (padded right of the line)")
    fig.colorbar(shown, ax=ax)
axes[0].set_ylabel("hidden unit")
plt.show()
g_np = ops.convert_to_numpy(g)[0]
assert np.allclose(g_np[n_utterances:], g_np[n_utterances - 1])  # carried through the padding
glue("g_bar_zero", float((ops.convert_to_numpy(g_bar)[0, :n_utterances] == 0).mean()), display=False)

# %% [markdown]
# $g$ after the last real utterance equals $g$ on every padded slot, and $\bar g$ is zero
# in {glue:text}`g_bar_zero:.0%` of its real entries.

# %% [markdown]
# ## Where the parameters are
#
# The whole model, by component, at this profile's sizes. The paper gives no parameter
# counts; below the table, the same model at the paper's sizes (Inception-v3 at 128×128,
# the released code's 50,000-word vocabulary, $d = 100$) is built with random weights
# only to count them.

# %%
counts = parameter_counts(model, depth=2)
print(format_counts(counts))
paper_config = profile_config("paper")
paper_model = new_srs(paper_config, vocab_size=paper_config.vocab_size, pretrained=False)
paper_model.build({"contexts": (None, paper_config.max_utterances, paper_config.max_words),
                   "stickers": (None, paper_config.n_candidates, 128, 128, 3)})
paper_counts = [(0, "srs at the paper's sizes", paper_model.count_params()),
                *parameter_counts(paper_model, depth=1)[1:]]
print(f"\nat the paper's sizes ({len(corpus.emoji_vocab)} emoji labels, as in this corpus):")
print(format_counts(paper_counts))

# %% [markdown]
# The sticker backbone dominates at the paper's sizes, and the word embedding is most of
# the rest; the parts that make SRS what it is — the attentive modules, the deep
# interaction network and the fusion network — are a small share of the weights.
#
# ## Ranking the candidates of a real context, untrained
#
# The last utterances of our test context, and the scores that the untrained model gives
# its ten candidates (titled with their rank and score, the ground truth framed in green):

# %%
n_real = int(split.n_utterances[context_index])
for row in contexts[0, :n_real][-4:]:
    print("   ", " ".join(corpus.vocab.decode(row)))
scores = ops.convert_to_numpy(outputs["scores"])[0]
fig = candidate_strip(inputs["stickers"][0], positive=positive, scores=scores, size=1.5)
plt.show()
rank = int((scores > scores[positive]).sum()) + 1
glue("untrained_rank", rank, display=False)
glue("score_min", float(scores.min()), display=False)
glue("score_max", float(scores.max()), display=False)
glue("score_spread", float(scores.max() - scores.min()), display=False)

# %% [markdown]
# The ground truth ranks {glue:text}`untrained_rank` of {glue:text}`n_candidates`; the
# scores span {glue:text}`score_min:.4f` to {glue:text}`score_max:.4f`, a spread of
# {glue:text}`score_spread:.4f`.

# %% [markdown]
# ## What training must change
#
# Untrained, the scores are nearly equal and their order is arbitrary: nothing yet ties the
# sticker whose emoji the dialog talks about to a higher score. The losses of section 5.6 measure how far it is from that. The hinge loss of
# equation 17, with the released code's margin of 1,
#
# $$L_r = \sum_{\text{negatives}} \max(0,\ \hat y_{neg} - \hat y_{pos} + \text{margin}), \tag{17}$$
#
# starts near its value for equal scores, (candidates − 1) × margin, and the emoji loss
# $L_s$ at chance level (chapter 03):

# %%
hinge = float(ops.convert_to_numpy(hinge_loss(targets["label"], outputs["scores"], margin=config.margin))[0])
negatives = int(targets["candidate_mask"][0].sum()) - 1
emoji_at_init = float(ops.convert_to_numpy(emoji_loss(targets["emoji"], outputs["emoji_logits"]))[0])
for name, value in (("hinge_init", hinge), ("negatives", negatives), ("margin", config.margin),
                    ("hinge_equal", negatives * config.margin), ("emoji_init", emoji_at_init),
                    ("n_emoji", len(corpus.emoji_vocab)),
                    ("emoji_chance", float(np.log(len(corpus.emoji_vocab))))):
    glue(name, value, display=False)

# %% [markdown]
# | loss | at initialisation | reference |
# | --- | --- | --- |
# | hinge $L_r$ | {glue:text}`hinge_init:.3f` | equal scores: {glue:text}`negatives` × {glue:text}`margin` = {glue:text}`hinge_equal:.3f` |
# | emoji $L_s$ | {glue:text}`emoji_init:.3f` | chance: ln({glue:text}`n_emoji`) = {glue:text}`emoji_chance:.3f` |

# %% [markdown]
# Training has to pull the ground truth's score above every negative's, which means, inside
# the model: word states that single out the cue words (chapter 04's attention is nearly
# uniform now), a relation matrix whose pair-specific product term outweighs the
# word-only and unit-only terms (in chapter 05 the same words win for every candidate),
# sticker units that tell one emoji's picture from another's, and a fusion network that weighs the
# recent utterances against the whole dialog.
#
# > **Ours.** With the paper's $\hat y \in (0, 1)$ and a margin of 1, every negative
# > violates the margin as long as $\hat y_{pos} - \hat y_{neg} < 1$: $L_r$ could reach
# > zero only with the sigmoid saturated at 1 for the positive and 0 for the negatives,
# > where its gradient vanishes. In a run with the sigmoid all scores saturated near 0
# > instead, and training stalled. Raw scores (our default) can meet the margin with a
# > finite gap. Chapter 07 trains the model.

# %%
component = {name: count for level, name, count in counts if level <= 1}
report.record("06_fusion_network", {"rows": [
    {"quantity": "SRS parameters (this profile)", "ours": component[model.name], "paper": None},
    *({"quantity": f"SRS {name} parameters (this profile)", "ours": count, "paper": None}
      for name, count in component.items() if name != model.name),
    {"quantity": "SRS parameters at the paper's sizes", "ours": paper_counts[0][2], "paper": None},
    {"quantity": "untrained rank of the ground truth (of 10)", "ours": rank, "paper": None},
    {"quantity": "untrained score spread (max - min)", "ours": round(float(scores.max() - scores.min()), 5), "paper": None},
    {"quantity": "hinge loss L_r at initialisation", "ours": round(hinge, 4), "paper": None},
]}, base_path=base_path, profile=profile, seed=seed)
