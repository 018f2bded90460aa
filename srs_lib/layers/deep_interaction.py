"""Deep interaction network of SRS (section 5.4, equations 7-11) and its ablation.

Every candidate sticker meets every utterance of its context. The stickers are encoded once
per batch and the utterances once per context; the two are broadcast against each other
here, and nowhere earlier. :class:`PooledInteraction` is the "SRS w/o DIN" replacement
with the same inputs and output.
"""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers.masking import MASK_VALUE, masked_softmax
from srs_lib.layers.sticker_encoder import sticker_tokens


def _check_widths(input_shape):
    map_shape, vector_shape, words_shape = input_shape
    if not map_shape[-1] == vector_shape[-1] == words_shape[-1]:
        raise ValueError(
            "The sticker map, sticker vector and word states must share one width (project "
            f"them first); got {map_shape[-1]}, {vector_shape[-1]} and {words_shape[-1]}."
        )
    return words_shape[-1]


class _PairInteraction(keras.layers.Layer):
    """What both interaction layers share: `(sticker, utterance)` pairs out, no mask out."""

    def compute_mask(self, inputs, mask=None):
        return None  # the word mask does not apply to the (sticker, utterance) pairs

    def compute_output_shape(self, input_shape):
        map_shape, _, words_shape = input_shape
        return (map_shape[0], map_shape[1], words_shape[1], self.hidden)


@keras.saving.register_keras_serializable(package="srs_lib")
class DeepInteraction(_PairInteraction):
    """Bi-directional attention between each sticker and each utterance (eqs. 7-11).

    M_kj = wᵀ[O_k ; h_j ; O_k ⊙ h_j] with w = [w_sticker ; w_word ; w_product], computed
    for all pairs at once as (O·w_sticker) + (h·w_word) + (O ⊙ w_product)·hᵀ, never
    materialising the concatenation; τ^u_j = max_k M_kj, l = Σ_j τ^u_j h_j; τ^s_k = max_j M_kj,
    r = Σ_k τ^s_k O_k; Q1 = IF(O_flat, r) with IF(x, y) = FC([x; y; x⊙y; x+y]);
    Q2 = FC([Q1; l]) (or IF(Q1, l): ``integrate_words``). FC is affine (the paper writes
    no non-linearity there).

    Padded words take no part: they are excluded from τ^s's max and get τ^u = 0. An
    utterance without any real word gets τ^s = 0 (its Q2 is finite and masked later).

    Args:
        hidden: width of Q1 and Q2.
        softmax_attention: True (default): τ^u and τ^s are the max-pooled relation
            scores softmax-normalised over the real words and over the p² units, so l and
            r are convex combinations whose scale does not grow with the utterance length
            or the grid size (the released code normalised, too). False: the paper's raw
            max-pooled scores, with which SRS stayed near chance on the ``cpu`` profile
            where the default learns (the rows "raw_attention" and "defaults" of
            ``python -m srs_lib diagnose``).
        integrate_words: True (default): Q2 = IF(Q1, l) = FC([Q1; l; Q1 ⊙ l; Q1 + l]),
            the integration of eq. 10 applied to the sticker side and the sticker-aware
            utterance too, so that Q2 holds a direct product of the two (the released
            code feeds its fusion [a + b; a ⊙ b; a; b]). False: the paper's Q2 =
            FC([Q1; l]), with which SRS did not learn (see :class:`~srs_lib.models.SRS`).

    Call arguments:
        inputs: `[O, O_flat, h]` with O `(batch, candidates, p, p, dim)`, O_flat
            `(batch, candidates, dim)`, h `(batch, utterances, words, dim)`.
        mask: `(batch, utterances, words)` bool, True for real words.
        return_attention: also return the relation matrix and both attentions.

    Returns:
        Q2 `(batch, candidates, utterances, hidden)`; with `return_attention`, also a dict
        with "relation" M `(batch, candidates, utterances, p², words)`,
        "utterance_attention" τ^u `(batch, candidates, utterances, words)` and
        "sticker_attention" τ^s `(batch, candidates, utterances, p, p)`.
    """

    def __init__(self, hidden=100, softmax_attention=True, integrate_words=True, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the word mask; see compute_mask
        self.hidden = hidden
        self.softmax_attention = softmax_attention
        self.integrate_words = integrate_words
        self.integrate = keras.layers.Dense(hidden, name="integrate")
        self.combine = keras.layers.Dense(hidden, name="combine")

    def build(self, input_shape):
        dim = _check_widths(input_shape)
        self.w_sticker = self.add_weight(shape=(dim,), initializer="glorot_uniform",
                                         name="w_sticker")
        self.w_word = self.add_weight(shape=(dim,), initializer="glorot_uniform",
                                      name="w_word")
        self.w_product = self.add_weight(shape=(dim,), initializer="glorot_uniform",
                                         name="w_product")
        self.integrate.build((None, 4 * dim))
        if self.integrate_words and dim != self.hidden:
            raise ValueError(f"integrate_words multiplies Q1 (width {self.hidden}) with l "
                             f"(width {dim}): the widths must be equal")
        self.combine.build((None, (4 if self.integrate_words else 1) * self.hidden + (
            0 if self.integrate_words else dim)))

    def relation(self, sticker_units, words):
        """M of equation 7: `(batch, candidates, utterances, p², words)`.

        sticker_units: `(batch, candidates, p², dim)`; words: `(batch, utterances, words, dim)`.
        """
        sticker_term = ops.einsum("bckd,d->bck", sticker_units, self.w_sticker)
        word_term = ops.einsum("buwd,d->buw", words, self.w_word)
        product_term = ops.einsum("bckd,buwd->bcukw", sticker_units * self.w_product, words)
        return (product_term + sticker_term[:, :, None, :, None]
                + word_term[:, None, :, None, :])

    def _normalise(self, scores, mask):
        if self.softmax_attention:
            return masked_softmax(scores, mask)
        return ops.where(mask, scores, 0.0)

    def call(self, inputs, mask=None, training=None, return_attention=False):
        sticker_map, sticker_vector, words = inputs
        sticker_units = sticker_tokens(sticker_map)
        if mask is None:
            mask = ops.ones(ops.shape(words)[:-1], dtype="bool")
        word_mask = mask[:, None, :, None, :]  # (batch, 1, utterances, 1, words)
        relation = self.relation(sticker_units, words)

        # Utterance-wise attention τ^u and the sticker-aware utterance l (eq. 8).
        utterance_attention = self._normalise(ops.max(relation, axis=3), mask[:, None])
        sticker_aware_utterance = ops.einsum("bcuw,buwd->bcud", utterance_attention, words)

        # Sticker-wise attention τ^s and the utterance-aware sticker r (eq. 9).
        has_words = ops.any(mask, axis=-1)[:, None, :, None]  # (batch, 1, utterances, 1)
        sticker_scores = ops.max(ops.where(word_mask, relation, MASK_VALUE), axis=4)
        sticker_attention = self._normalise(sticker_scores, has_words)
        r = ops.einsum("bcuk,bckd->bcud", sticker_attention, sticker_units)

        # Integrate (eq. 10) and combine with l (eq. 11).
        o_flat = ops.broadcast_to(sticker_vector[:, :, None, :], ops.shape(r))
        q1 = self.integrate(ops.concatenate([o_flat, r, o_flat * r, o_flat + r], axis=-1))
        l = sticker_aware_utterance
        q2 = self.combine(ops.concatenate(
            [q1, l, q1 * l, q1 + l] if self.integrate_words else [q1, l], axis=-1))
        if not return_attention:
            return q2
        p = ops.shape(sticker_map)[2]
        return q2, {
            "relation": relation,
            "utterance_attention": utterance_attention,
            "sticker_attention": ops.reshape(
                sticker_attention, (*ops.shape(sticker_attention)[:3], p, p)),
        }

    def get_config(self):
        config = super().get_config()
        config.update({"hidden": self.hidden, "softmax_attention": self.softmax_attention,
                       "integrate_words": self.integrate_words})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class PooledInteraction(_PairInteraction):
    """"SRS w/o DIN": Q2 = IF(O_flat, u) or FC([O_flat ; u]), u the utterance's mean word state.

    No relation matrix and no attention: the sticker meets each utterance only through
    its pooled vector and the utterance's mean word state.

    Args:
        hidden: width of Q2.
        integrate_words: as in :class:`DeepInteraction`: Q2 = IF(O_flat, u) =
            FC([O_flat; u; O_flat ⊙ u; O_flat + u]), so that the ablation removes the
            attention and keeps the same way of combining the two sides.

    Call arguments and returns: as :class:`DeepInteraction` (without `return_attention`).
    """

    def __init__(self, hidden=100, integrate_words=True, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the word mask; see compute_mask
        self.hidden = hidden
        self.integrate_words = integrate_words
        self.combine = keras.layers.Dense(hidden, name="combine")

    def build(self, input_shape):
        dim = _check_widths(input_shape)
        self.combine.build((None, (4 if self.integrate_words else 2) * dim))

    def call(self, inputs, mask=None, training=None):
        _, sticker_vector, words = inputs
        if mask is None:
            mask = ops.ones(ops.shape(words)[:-1], dtype="bool")
        weights = ops.cast(mask, words.dtype)[..., None]
        utterance = ops.sum(words * weights, axis=2) / ops.maximum(
            ops.sum(weights, axis=2), 1.0)  # (batch, utterances, dim)
        batch, candidates, dim = ops.shape(sticker_vector)
        utterances = ops.shape(words)[1]
        shape = (batch, candidates, utterances, dim)
        sticker = ops.broadcast_to(sticker_vector[:, :, None, :], shape)
        utterance = ops.broadcast_to(utterance[:, None, :, :], shape)
        parts = ([sticker, utterance, sticker * utterance, sticker + utterance]
                 if self.integrate_words else [sticker, utterance])
        return self.combine(ops.concatenate(parts, axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update({"hidden": self.hidden, "integrate_words": self.integrate_words})
        return config
