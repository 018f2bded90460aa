"""The Synergistic network (Guo, Xu and Tao, CVPR 2019), for sticker selection.

The Synergistic network answers visual-dialog questions in two stages: stage 1 scores every
candidate answer against a fusion of the question, the dialog history and the image
("late fusion"); stage 2 re-reads the top-N answers together with the question, attends
over the image once per answer and re-ranks them. No official code was released; this
follows the paper as summarised in the project's baseline notes (section 5) with that
note's sticker adaptation: the question is the last utterance, the history the earlier
ones, there is no input image in stage 1, and in stage 2 each candidate sticker is both the
"answer" and the attended "image" (its ``p²`` map regions).

Why the last utterance is the question: in visual dialog the question is the turn that the
answer replies to, and the history is every earlier round (the paper's stage 1 attends over
the history rounds guided by the question). A sticker replies to the latest turn in the
same way, so the mapping keeps the model as its paper describes it. The model still reads
as much of the dialog as SRS does (the same last ``max_utterances`` utterances), but it
reads only the last one word by word; the earlier ones reach it as one state per round,
weighted by their MFB fusion with the question. Where a corpus puts the cues of the answer
in earlier turns too (the embedded corpus does: their distance from the end is geometric),
that weighs against Synergistic by design, not by accident.
"""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers.masking import MASK_VALUE, context_masks, masked_softmax
from srs_lib.models.base import StickerRanker

#: ε inside the signed square root of MFB: keeps its gradient finite at 0.
SQRT_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="srs_lib")
class MFB(keras.layers.Layer):
    """Multi-modal factorised bilinear pooling (Yu et al., ICCV 2017).

    z = SumPool_k(Dropout(Uᵀx ⊙ Vᵀy)) (k·o → o), then the signed square root
    sign(z)(√(|z| + ε) − √ε) and an L2 normalisation. The two inputs broadcast against each
    other on their leading axes, so a context-level vector meets a candidate-level one
    without being tiled.

    Args:
        factor: k, the factor per output (paper: 5).
        output_dim: o, the fused width (paper: 1000).
        dropout: dropout on the product (MFB's code: 0.1).

    Call arguments:
        inputs: [x `(..., dx)`, y `(..., dy)`] with broadcastable leading axes.

    Returns:
        `(..., output_dim)`, unit L2 norm (or 0).
    """

    def __init__(self, factor=5, output_dim=100, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.output_dim, self.dropout = factor, output_dim, dropout
        self.product_dropout = keras.layers.Dropout(dropout, name="product_dropout")

    def build(self, input_shape):
        x_shape, y_shape = input_shape
        self.project_x = keras.layers.Dense(self.factor * self.output_dim, name="project_x")
        self.project_y = keras.layers.Dense(self.factor * self.output_dim, name="project_y")
        self.project_x.build(x_shape)
        self.project_y.build(y_shape)

    def call(self, inputs, training=None):
        x, y = inputs
        z = self.product_dropout(self.project_x(x) * self.project_y(y), training=training)
        shape = ops.shape(z)
        z = ops.sum(ops.reshape(z, (*shape[:-1], self.output_dim, self.factor)), axis=-1)
        z = ops.sign(z) * (ops.sqrt(ops.abs(z) + SQRT_EPSILON) - SQRT_EPSILON ** 0.5)
        return z / ops.sqrt(ops.sum(z * z, axis=-1, keepdims=True) + 1e-12)

    def compute_output_shape(self, input_shape):
        x_shape, y_shape = input_shape
        leading = tuple(a if b in (1, None) else b for a, b in zip(x_shape[:-1], y_shape[:-1]))
        return (*leading, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "output_dim": self.output_dim,
                       "dropout": self.dropout})
        return config


def _last_real_utterance(contexts, utterance_mask):
    """``(question ids `(batch, words)`, index `(batch,)`)``: the last real utterance
    (utterances are post-padded, so it sits at index count - 1; 0 for an empty context)."""
    count = ops.sum(ops.cast(utterance_mask, "int32"), axis=-1)
    last = ops.maximum(count - 1, 0)
    question = ops.take_along_axis(contexts, last[:, None, None], axis=1)
    return ops.squeeze(question, 1), last


@keras.saving.register_keras_serializable(package="srs_lib")
class Synergistic(StickerRanker):
    """Two-stage Synergistic network: coarse late-fusion scores, then re-ranking of the
    top-N candidates with the sticker regions as the attended image.

    Text: one word embedding table (``hidden`` wide). Question q: the last real utterance
    through a ``lstm_layers``-layer LSTM and a self-attention pooling
    softmax(wᵀtanh(W h_t)) over its real words. History rounds h_r: each earlier utterance
    through another ``lstm_layers``-layer LSTM, last state. All text is encoded once per
    context.

    Stage 1 (every candidate): α_r = softmax_r(wᵀ MFB(q, h_r)) over the real history
    rounds, h̃ = Σ α_r h_r; e = Linear(MFB(q, h̃)) (the image attention of the original is
    dropped: there is no input image); a_i = ReLU(W g_i) from the pooled sticker vector
    g_i; s1_i = e · a_i.

    Stage 2 (the ``rerank_top`` best candidates of stage 1, gathered, so the rest costs
    nothing): qa_i = LSTM over the question's word embeddings followed by one step a_i (the
    question prefix is run once per context, the extra step once per candidate); the
    guide m_i = MFB(qa_i, h̃); attention over the sticker's regions r_ip:
    β_p = softmax_p(wᵀ MFB(r_ip, m_i)), ṽ_i = Σ_p β_p r_ip; s2_i = Linear(MFB(ṽ_i, m_i)).
    The paper's three-way fusion MFB(ṽ, h̃, qa) is written as MFB(ṽ, MFB(qa, h̃)), the
    way stage 1 fuses the image with the question-history fusion.

    Score (one real value per candidate, differentiable):
    ``score_i = s1_i + [i ∈ top-N]·(s2_i + c)`` with
    ``c = stop_gradient(relu(max_{j ∉ top-N} s1_j − min_{i ∈ top-N}(s1_i + s2_i) + 1))``.
    So the top-N always rank above the rest (by at least 1, the hinge margin), ordered
    among themselves by s1 + s2 (stage 2 acts as a learned correction of stage 1 within
    the N), and the rest keep stage 1's order. Under the trainer's pairwise hinge loss this
    trains both stages at once, as the paper trains them jointly with one loss each:
    pairs inside the top-N train s1 and s2 (the paper's stage-2 loss, plus stage 1's own
    loss on these candidates); pairs outside train s1 alone (stage 1's loss); a positive
    left out of the top-N is pushed up on s1 (towards the N; the paper forces the ground
    truth into the N during training, which a model that sees no label cannot do) and the
    negatives above it down on s1 and s2; a positive inside the N already beats every
    outside negative by the margin, so those pairs add nothing. The offset c is
    data-dependent and zero when the groups are already apart, so the hinge values stay on
    the scale of the scores (a fixed large constant would give hinge values of that
    size). With ``rerank_top`` ≥ candidates every candidate is re-ranked and the score
    is s1 + s2 + c. The paper's N-pair loss with its "imbalance" parameter is replaced by
    the shared hinge loss; its ordering within the N is by s2 alone.

    Inputs: {"contexts" `(batch, utterances, words)`, "stickers"
    `(batch, candidates, H, W, 3)`}. Outputs: {"scores" `(batch, candidates)`,
    "emoji_logits" `(batch, candidates, n_emoji)`}.

    Args (besides the shared ones of :class:`~srs_lib.models.base.StickerRanker`):
        rerank_top: N, the candidates re-ranked by stage 2 (5 of 10 keeps the paper's
            "hard subset"; 10, all of them, is the variant).
        mfb_factor: k of every MFB (paper: 5).
        mfb_output: o of every MFB; None = ``hidden`` (the paper's 1000 is about twice
            its 512 width; at hidden = 100 a 1000-wide fusion, with 5000-wide
            projections, would dwarf the rest of the model).
        lstm_layers: depth of the question and history LSTMs (paper: 2; the
            question-answer LSTM of stage 2 has 1 layer, as in the paper).
    """

    options = ("rerank_top", "mfb_factor", "mfb_output", "lstm_layers")

    def __init__(self, vocab_size, n_emoji, rerank_top=5, mfb_factor=5, mfb_output=None,
                 lstm_layers=2, **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        self.rerank_top, self.mfb_factor = rerank_top, mfb_factor
        self.mfb_output, self.lstm_layers = mfb_output, lstm_layers
        hidden, dropout = self.hidden, self.dropout
        fused = mfb_output or hidden

        def mfb(name):
            return MFB(mfb_factor, fused, dropout=dropout, name=name)

        self.embedding = keras.layers.Embedding(vocab_size, hidden, name="embedding")
        self.question_lstms = [keras.layers.LSTM(hidden, return_sequences=True,
                                                 name=f"question_lstm_{i}")
                               for i in range(lstm_layers)]
        self.question_attention_hidden = keras.layers.Dense(hidden, activation="tanh",
                                                            name="question_attention_hidden")
        self.question_attention = keras.layers.Dense(1, use_bias=False, name="question_attention")
        self.history_lstms = [keras.layers.LSTM(hidden, return_sequences=i < lstm_layers - 1,
                                                name=f"history_lstm_{i}")
                              for i in range(lstm_layers)]
        self.history_mfb = mfb("history_mfb")
        self.history_attention = keras.layers.Dense(1, use_bias=False, name="history_attention")
        self.question_history_mfb = mfb("question_history_mfb")
        self.context_projection = keras.layers.Dense(hidden, name="context_projection")
        self.answer_projection = keras.layers.Dense(hidden, activation="relu",
                                                    name="answer_projection")
        self.qa_lstm = keras.layers.LSTM(hidden, return_state=True, name="qa_lstm")
        self.guide_mfb = mfb("guide_mfb")
        self.region_mfb = mfb("region_mfb")
        self.region_attention = keras.layers.Dense(1, use_bias=False, name="region_attention")
        self.rerank_mfb = mfb("rerank_mfb")
        self.rerank_score = keras.layers.Dense(1, name="rerank_score")

    @property
    def embeddings(self):
        """The word-embedding tables (one)."""
        return [self.embedding]

    def build(self, inputs_shape):
        batch, utterances, words = inputs_shape["contexts"]
        stickers_shape = inputs_shape["stickers"]
        candidates, d = stickers_shape[1], self.hidden
        o = self.mfb_output or d
        frames = self.sticker_encoder.grid_size ** 2
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(stickers_shape)
        self.embedding.build((None, words))
        for lstm in (*self.question_lstms, *self.history_lstms, self.qa_lstm):
            lstm.build((None, words, d))
        shapes = {
            self.question_attention_hidden: (None, words, d),
            self.question_attention: (None, words, d),
            self.history_mfb: [(None, 1, d), (None, utterances, d)],
            self.history_attention: (None, utterances, o),
            self.question_history_mfb: [(None, d), (None, d)],
            self.context_projection: (None, o),
            self.answer_projection: (None, candidates, d),
            self.guide_mfb: [(None, None, d), (None, 1, d)],
            self.region_mfb: [(None, None, frames, d), (None, None, 1, o)],
            self.region_attention: (None, None, frames, o),
            self.rerank_mfb: [(None, None, d), (None, None, o)],
            self.rerank_score: (None, None, o),
        }
        for layer, shape in shapes.items():
            layer.build(shape)

    def _encode_context(self, contexts, training=None):
        """Text side, once per context: question states, q, h̃ and e."""
        batch, utterances, words = ops.shape(contexts)
        word_mask, utterance_mask = context_masks(contexts)
        question_ids, last = _last_real_utterance(contexts, utterance_mask)
        question_mask = ops.not_equal(question_ids, 0)
        question_words = self.embedding(question_ids)  # (batch, words, d)
        h = question_words
        for lstm in self.question_lstms:
            h = lstm(h, mask=question_mask, training=training)
        logits = self.question_attention(self.question_attention_hidden(h))[..., 0]
        q = ops.sum(masked_softmax(logits, question_mask)[..., None] * h, axis=1)  # (batch, d)

        rounds = ops.reshape(contexts, (batch * utterances, words))
        h_r = self.embedding(rounds)
        round_mask = ops.not_equal(rounds, 0)
        for lstm in self.history_lstms:
            h_r = lstm(h_r, mask=round_mask, training=training)
        h_r = ops.reshape(h_r, (batch, utterances, self.hidden))
        history_mask = ops.logical_and(
            utterance_mask, ops.arange(utterances, dtype="int32")[None, :] < last[:, None])
        fused = self.history_mfb([q[:, None, :], h_r], training=training)
        alpha = masked_softmax(self.history_attention(fused)[..., 0], history_mask)
        history = ops.sum(alpha[..., None] * h_r, axis=1)  # h̃ (batch, d)
        e = self.context_projection(self.question_history_mfb([q, history], training=training))
        return question_words, question_mask, history, e

    def stages(self, inputs, training=None):
        """All scores: "stage1" s1 `(batch, candidates)`, "stage2" s2 (0 outside the
        top-N), "top" the top-N indicator (float) and "scores" the final scores;
        plus "emoji_logits"."""
        if not self.built:
            self.build({name: tuple(ops.shape(x)) for name, x in inputs.items()})
        contexts = inputs["contexts"]
        question_words, question_mask, history, e = self._encode_context(contexts, training)
        regions, vector, emoji_logits = self.encode_candidate_tokens(inputs, training=training)
        batch, candidates, frames, d = ops.shape(regions)

        answers = self.answer_projection(vector)  # a_i (batch, candidates, d)
        stage1 = ops.einsum("bd,bcd->bc", e, answers)

        n = min(int(self.rerank_top), candidates)
        _, top = ops.top_k(ops.stop_gradient(stage1), n)
        select = ops.one_hot(top, candidates, dtype=stage1.dtype)  # (batch, n, candidates)
        top_answers = ops.einsum("bnc,bcd->bnd", select, answers)
        top_regions = ops.einsum("bnc,bcpd->bnpd", select, regions)

        # qa_i: the question prefix once per context, then one step a_i per candidate.
        _, state_h, state_c = self.qa_lstm(question_words, mask=question_mask, training=training)
        initial = [ops.reshape(ops.broadcast_to(s[:, None, :], (batch, n, d)), (batch * n, d))
                   for s in (state_h, state_c)]
        qa, _, _ = self.qa_lstm(ops.reshape(top_answers, (batch * n, 1, d)),
                                initial_state=initial, training=training)
        qa = ops.reshape(qa, (batch, n, d))
        guide = self.guide_mfb([qa, history[:, None, :]], training=training)  # m_i (b, n, o)
        beta = ops.softmax(self.region_attention(
            self.region_mfb([top_regions, guide[:, :, None, :]], training=training))[..., 0],
            axis=-1)
        attended = ops.sum(beta[..., None] * top_regions, axis=2)  # ṽ_i (batch, n, d)
        fused = self.rerank_mfb([attended, guide], training=training)
        top_stage2 = self.rerank_score(fused)[..., 0]  # s2 of the top-N (batch, n)

        stage2 = ops.einsum("bn,bnc->bc", top_stage2, select)
        in_top = ops.sum(select, axis=1)  # (batch, candidates) 1 for the top-N
        rest_best = ops.max(ops.where(in_top > 0, MASK_VALUE, stage1), axis=-1)
        top_worst = ops.min(ops.where(in_top > 0, stage1 + stage2, -MASK_VALUE), axis=-1)
        offset = ops.stop_gradient(ops.relu(rest_best - top_worst + 1.0))
        scores = stage1 + in_top * (stage2 + offset[:, None])
        return {"scores": scores, "stage1": stage1, "stage2": stage2, "top": in_top,
                "emoji_logits": emoji_logits}

    def call(self, inputs, training=None):
        out = self.stages(inputs, training=training)
        return {"scores": out["scores"], "emoji_logits": out["emoji_logits"]}
