"""Training objectives of SRS (section 5.6): the ranking hinge loss of equation 17 and the
auxiliary emoji-classification loss L_s of section 5.2.

The functions return one value per context, `(batch,)`; the Keras `Loss` wrappers average
them over the batch (Keras' default "sum_over_batch_size" reduction), which is what
:func:`srs_loss` does too. Use the wrappers with `compile`:

    model.compile(optimizer,
                  loss={"scores": HingeLoss(margin), "emoji_logits": EmojiLoss()},
                  loss_weights={"scores": 1.0, "emoji_logits": model.emoji_loss_weight})

with targets `{"scores": positive_index, "emoji_logits": emoji_labels}`.
"""
from __future__ import annotations

import keras
from keras import ops


def _positive_mask(positive, num_candidates):
    """`(batch,)` indices or `(batch, candidates)` one-hot → `(batch, candidates)` float."""
    if len(ops.shape(positive)) == 1:
        return ops.one_hot(ops.cast(positive, "int32"), num_candidates)
    return ops.cast(positive, "float32")


#: How equation 17's hinge terms of one context are combined: "sum" over the negatives (as
#: printed) or "mean" over them (the released code's TF-Ranking pairwise hinge loss with
#: SUM_BY_NONZERO_WEIGHTS averages over the valid pairs).
HINGE_REDUCTIONS = ("sum", "mean")


def hinge_loss(positive, scores, margin=1.0, *, mask=None, reduction="sum"):
    """Equation 17 per context: max(0, ŷ_neg − ŷ_pos + margin) over the negatives.

    Args:
        positive: `(batch,)` index of the ground-truth candidate, or `(batch, candidates)`
            one-hot.
        scores: `(batch, candidates)` matching scores ŷ.
        margin: the hinge margin (not given in the paper; the released code used 1).
        mask: optional `(batch, candidates)` bool, True for real candidates; padded ones
            are no negatives.
        reduction: "sum" over the negatives (equation 17 as printed) or "mean" over the
            real negatives (the released code), which makes the ranking loss the size of
            one hinge term whatever the number of candidates.

    Returns:
        `(batch,)`.
    """
    if reduction not in HINGE_REDUCTIONS:
        raise ValueError(f"reduction must be one of {HINGE_REDUCTIONS}, got {reduction!r}")
    scores = ops.convert_to_tensor(scores, "float32")
    is_positive = _positive_mask(ops.convert_to_tensor(positive), ops.shape(scores)[-1])
    negatives = 1.0 - is_positive
    if mask is not None:
        negatives = negatives * ops.cast(mask, "float32")
    positive_score = ops.sum(scores * is_positive, axis=-1, keepdims=True)
    violations = ops.relu(scores - positive_score + margin) * negatives
    total = ops.sum(violations, axis=-1)
    if reduction == "sum":
        return total
    return total / ops.maximum(ops.sum(negatives, axis=-1), 1.0)


def emoji_loss(labels, logits, mask=None):
    """L_s per context: mean cross-entropy of the emoji head over the known candidates.

    Args:
        labels: `(batch, candidates)` int emoji ids; negative ids mark candidates whose
            emoji is unknown (or padded candidates) and are ignored.
        logits: `(batch, candidates, n_emoji)`.
        mask: optional `(batch, candidates)` bool, True where the label counts; combined
            with `labels >= 0`.

    Returns:
        `(batch,)`; 0 for a context without any known label.
    """
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    known = ops.greater_equal(labels, 0)
    if mask is not None:
        known = ops.logical_and(known, ops.cast(mask, "bool"))
    cross_entropy = keras.losses.sparse_categorical_crossentropy(
        ops.where(known, labels, 0), ops.convert_to_tensor(logits, "float32"),
        from_logits=True)
    weights = ops.cast(known, "float32")
    return ops.sum(cross_entropy * weights, axis=-1) / ops.maximum(
        ops.sum(weights, axis=-1), 1.0)


def srs_loss(positive, scores, emoji_labels, emoji_logits, margin=1.0, emoji_weight=1.0):
    """L_r + emoji_weight · L_s, each averaged over the batch (a scalar).

    `emoji_weight=0` is the "SRS w/o Classify" ablation.
    """
    return ops.mean(hinge_loss(positive, scores, margin)) + emoji_weight * ops.mean(
        emoji_loss(emoji_labels, emoji_logits))


@keras.saving.register_keras_serializable(package="srs_lib")
class HingeLoss(keras.losses.Loss):
    """:func:`hinge_loss` as a Keras loss (targets: positive index or one-hot)."""

    def __init__(self, margin=1.0, name="hinge_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        return hinge_loss(y_true, y_pred, self.margin)

    def get_config(self):
        config = super().get_config()
        config.update({"margin": self.margin})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class EmojiLoss(keras.losses.Loss):
    """:func:`emoji_loss` as a Keras loss (targets: emoji ids, negative = unknown)."""

    def __init__(self, name="emoji_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return emoji_loss(y_true, y_pred)


def in_batch_contrastive_loss(context_vectors, candidate_vectors, positive, *, mask=None,
                              rows=None, scale=1.0):
    """Softmax cross-entropy of each context's positive against every candidate of the batch.

    Context i's logits are ``scale · c_i · v_{j,k}`` for every candidate k of every context
    j of the batch: its own same-set negatives (the batch's 10 candidates per context) and
    every other context's candidates, positives included, as negatives. Padded candidates
    (``mask`` false) are left out; so is, when ``rows`` is given, every other slot that
    holds the very sticker of i's positive (the same sticker drawn for another context of
    its set would otherwise be a false negative).

    Args:
        context_vectors: c `(batch, dim)`.
        candidate_vectors: v `(batch, candidates, dim)`.
        positive: `(batch,)` the positive's slot among the context's own candidates.
        mask: `(batch, candidates)` bool, True for real candidates.
        rows: `(batch, candidates)` int, the candidates' sticker-cache rows (-1 padding).
        scale: the logits' scale (a float or a scalar tensor).

    Returns:
        `(batch,)`: ``-log softmax`` of the positive among the kept logits.
    """
    context_vectors = ops.convert_to_tensor(context_vectors, "float32")
    candidate_vectors = ops.convert_to_tensor(candidate_vectors, "float32")
    batch, candidates = ops.shape(candidate_vectors)[0], ops.shape(candidate_vectors)[1]
    flat = ops.reshape(candidate_vectors, (batch * candidates, -1))
    logits = ops.cast(scale, "float32") * ops.matmul(context_vectors, ops.transpose(flat))
    target = ops.arange(batch) * candidates + ops.cast(ops.convert_to_tensor(positive), "int32")
    is_target = ops.cast(ops.one_hot(target, batch * candidates), "bool")
    keep = ops.ones((batch, batch * candidates), dtype="bool")
    if mask is not None:
        keep = ops.logical_and(keep, ops.reshape(ops.cast(ops.convert_to_tensor(mask), "bool"),
                                                 (1, batch * candidates)))
    if rows is not None:
        flat_rows = ops.reshape(ops.convert_to_tensor(rows, "int64"), (1, batch * candidates))
        positive_rows = ops.take(flat_rows[0], target)[:, None]
        keep = ops.logical_and(keep, ops.logical_not(ops.equal(flat_rows, positive_rows)))
    keep = ops.logical_or(keep, is_target)
    logits = ops.where(keep, logits, -1e9)
    target_logit = ops.sum(ops.where(is_target, logits, 0.0), axis=-1)
    return ops.logsumexp(logits, axis=-1) - target_logit
