"""Masks of padded words, utterances and candidates, shared by every layer, model and the trainer.

Token id 0 is PAD: a word is real where its id is not 0, an utterance where it has a real
word. A masked position gets :data:`MASK_VALUE` instead of its logit or score, so it loses
every softmax and every max, and a padded candidate ranks below every real one.
"""
from __future__ import annotations

from keras import ops

#: Given to masked attention logits and to padded candidates' scores: far below any real
#: value, yet finite in float32, so that a row with every position masked stays finite
#: (and a padded candidate violates no hinge margin).
MASK_VALUE = -1e9


def context_masks(contexts):
    """``(word_mask, utterance_mask)`` of ``(batch, utterances, words)`` token ids: PAD is 0."""
    word_mask = ops.not_equal(contexts, 0)
    return word_mask, ops.any(word_mask, axis=-1)


def masked_softmax(logits, mask, axis=-1):
    """Softmax along `axis` where False entries of `mask` (broadcastable) get weight 0.

    Written out rather than `ops.softmax`, which warns on an axis of size 1 (a context
    with one utterance, an utterance with one word).
    """
    logits = ops.where(mask, logits, MASK_VALUE)
    weights = ops.exp(logits - ops.max(logits, axis=axis, keepdims=True))
    weights = weights * ops.cast(mask, weights.dtype)
    return weights / ops.maximum(ops.sum(weights, axis=axis, keepdims=True), 1e-30)
