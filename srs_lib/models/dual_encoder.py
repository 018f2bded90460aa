"""A dual encoder: the dialog and each sticker mapped apart to one vector each, scored by
their cosine. The retriever of the two-stage recommender (:mod:`srs_lib.recommend`).

SRS is a cross-encoder: every (context, sticker) pair goes through the deep interaction
and the fusion network, so ranking a library of 174,695 stickers means 174,695 passes per
request. A dual encoder scores a pair by a product of two vectors computed apart, so the
sticker side is computed once per library (:class:`srs_lib.recommend.index.StickerIndex`)
and a request costs one context encoding and one matrix product. The paper has no such
model; it is the modern baseline a product puts in front of SRS.

Trained by the same :class:`~srs_lib.training.trainer.Trainer` (the emoji stage, then the
joint stage), but with the contrastive loss of :func:`srs_lib.training.losses.
in_batch_contrastive_loss` instead of the hinge loss: the trainer calls
:meth:`DualEncoder.ranking_loss` where a model defines it.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from srs_lib.layers import UtteranceEncoder
from srs_lib.layers.gru import MaskedGRU
from srs_lib.layers.masking import context_masks
from srs_lib.models.base import StickerRanker
from srs_lib.training.losses import in_batch_contrastive_loss


def _unit(x, axis=-1):
    return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=axis, keepdims=True), 1e-12))


@keras.saving.register_keras_serializable(package="srs_lib")
class DualEncoder(StickerRanker):
    """score(context, sticker) = s · cos(c, v), with c and v computed apart.

    Context side: SRS's :class:`~srs_lib.layers.UtteranceEncoder` on each utterance, a
    mean of its real word states, a :class:`~srs_lib.layers.gru.MaskedGRU` over the
    utterances in order (its final state, so the last utterances weigh most, as they do in
    the corpus) and a linear projection: c `(batch, hidden)`. Sticker side: the shared
    sticker encoder's O_flat and a linear projection: v `(batch, candidates, hidden)`.
    Both are normalised to unit length and the score is their cosine times a learned
    scale s = exp(log_scale), at most :attr:`MAX_SCALE` (CLIP's temperature).

    Why the cosine rather than a raw dot product: with unit vectors the only way to make a
    softmax over negatives sharper is the one scale, so the contrastive loss cannot be
    lowered by growing the vectors' norms, and the norms of popular stickers cannot
    outrank the dialog; the index then stores unit vectors, whose exact top-k is a plain
    matrix product.

    Inputs and outputs: the contract of :class:`StickerRanker` ("scores" over the model's
    own candidates, so the usual evaluation gives it a Table 3 row), plus
    "context_vectors" c `(batch, hidden)` and "candidate_vectors" v `(batch, candidates,
    hidden)`, which :meth:`ranking_loss` compares across the whole batch.

    Args:
        vocab_size, n_emoji, hidden, dropout, backbone, ...: see :class:`StickerRanker`.
        heads, blocks, attention_form: of the utterance encoder (see
            :class:`~srs_lib.layers.UtteranceEncoder`).
        initial_scale: the scale s before training.
    """

    options = ("heads", "blocks", "attention_form", "initial_scale")
    MAX_SCALE = 100.0

    def __init__(self, vocab_size, n_emoji, *, heads=1, blocks=1, attention_form="transformer",
                 initial_scale=10.0, **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        self.heads, self.blocks, self.attention_form = heads, blocks, attention_form
        self.initial_scale = initial_scale
        self.utterance_encoder = UtteranceEncoder(
            vocab_size, hidden=self.hidden, dropout=self.dropout, heads=heads, blocks=blocks,
            attention_form=attention_form, name="utterance_encoder")
        self.context_rnn = MaskedGRU(self.hidden, name="context_rnn")
        self.context_projection = keras.layers.Dense(self.hidden, name="context_projection")
        self.sticker_projection = keras.layers.Dense(self.hidden, name="sticker_projection")

    def build(self, inputs_shape):
        words = inputs_shape["contexts"][-1]
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(inputs_shape["stickers"])
        if not self.utterance_encoder.built:
            self.utterance_encoder.build((None, words))
        self.context_rnn.build((None, None, self.hidden))
        self.context_projection.build((None, self.hidden))
        self.sticker_projection.build((None, self.hidden))
        self.log_scale = self.add_weight(
            shape=(), name="log_scale", trainable=True,
            initializer=keras.initializers.Constant(math.log(self.initial_scale)))

    @property
    def scale(self):
        """s = exp(log_scale), clipped at :attr:`MAX_SCALE`."""
        return ops.exp(ops.minimum(self.log_scale, math.log(self.MAX_SCALE)))

    def encode_context(self, contexts, training=None):
        """c: `(batch, utterances, words)` token ids → `(batch, hidden)` unit vectors."""
        batch, utterances, words = ops.shape(contexts)
        word_mask, utterance_mask = context_masks(contexts)
        h = self.utterance_encoder(ops.reshape(contexts, (batch * utterances, words)),
                                   training=training)
        h = ops.reshape(h, (batch, utterances, words, self.hidden))
        weights = ops.cast(word_mask, h.dtype)[..., None]
        pooled = ops.sum(h * weights, axis=2) / ops.maximum(ops.sum(weights, axis=2), 1.0)
        state = self.context_rnn(pooled, step_mask=utterance_mask)
        return _unit(self.context_projection(state))

    def sticker_vectors(self, sticker_vector):
        """v: the sticker encoder's O_flat `(..., hidden)` → unit vectors `(..., hidden)`
        (what :class:`~srs_lib.recommend.index.StickerIndex` stores for a retriever)."""
        return _unit(self.sticker_projection(sticker_vector))

    def call(self, inputs, training=None):
        _, sticker_vector, emoji_logits = self.encode_candidates(inputs, training=training)
        context = self.encode_context(inputs["contexts"], training=training)
        candidates = self.sticker_vectors(sticker_vector)
        scores = self.scale * ops.sum(candidates * context[:, None, :], axis=-1)
        return {"scores": scores, "emoji_logits": emoji_logits,
                "context_vectors": context, "candidate_vectors": candidates}

    def ranking_loss(self, outputs, targets):
        """The joint stage's ranking loss (the trainer's hook, in place of the hinge loss):
        :func:`~srs_lib.training.losses.in_batch_contrastive_loss` over every candidate of
        the batch, averaged over the contexts; returns ``(loss, "contrastive")``."""
        loss = in_batch_contrastive_loss(
            outputs["context_vectors"], outputs["candidate_vectors"], targets["label"],
            mask=targets["candidate_mask"], rows=targets.get("rows"), scale=self.scale)
        return ops.mean(loss), "contrastive"
