"""A context-blind ranker: the sticker encoder alone, scoring stickers without the dialog.

The paper has no such baseline; a reader needs one. Trained with the same loss, candidates
and schedule as SRS, it measures how much can be learnt without reading the dialog: on a
corpus whose ground truths are drawn uniformly within their sets it should stay at chance,
while under the released code's "first 9" candidate rule it can exploit the fact that a
ground truth outside the first ten stickers of its set is never a negative.
"""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.models.base import StickerRanker


@keras.saving.register_keras_serializable(package="srs_lib")
class ContextBlind(StickerRanker):
    """Score = FC(O_flat): the same contract as :class:`~srs_lib.models.srs.SRS`.

    Inputs: {"contexts" `(batch, utterances, words)` (read for its shape only), "stickers"
    `(batch, candidates, 128, 128, 3)`}. Outputs: {"scores" `(batch, candidates)`,
    "emoji_logits" `(batch, candidates, n_emoji)`}. Arguments: the shared ones of
    :class:`~srs_lib.models.base.StickerRanker`; the text-side ones (``vocab_size``,
    ``dropout``) are kept in the config and unused.
    """

    def __init__(self, vocab_size, n_emoji, **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        self.score = keras.layers.Dense(1, name="score")

    def build(self, inputs_shape):
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(inputs_shape["stickers"])
        self.score.build((None, self.hidden))

    def call(self, inputs, training=None):
        _, sticker_vector, emoji_logits = self.encode_candidates(inputs, training=training)
        return {"scores": ops.squeeze(self.score(sticker_vector), -1), "emoji_logits": emoji_logits}
