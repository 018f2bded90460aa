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

from srs_lib.layers import StickerEncoder
from srs_lib.layers.sticker_encoder import model_from_saved_config


@keras.saving.register_keras_serializable(package="srs_lib")
class ContextBlind(keras.Model):
    """Score = FC(O_flat): the same contract as :class:`~srs_lib.models.srs.SRS`.

    Inputs: {"contexts" `(batch, utterances, words)` (read for its shape only), "stickers"
    `(batch, candidates, 128, 128, 3)`}. Outputs: {"scores" `(batch, candidates)`,
    "emoji_logits" `(batch, candidates, n_emoji)`}. Arguments as SRS's shared ones; the
    text-side ones (``vocab_size``, ``dropout``) are kept in the config and unused.
    """

    def __init__(self, vocab_size, n_emoji, hidden=100, dropout=0.1, backbone="inception_v3",
                 image_size=None, backbone_weights="imagenet", pretrained=True, classify=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.n_emoji, self.hidden, self.dropout = vocab_size, n_emoji, hidden, dropout
        self.backbone, self.backbone_weights = backbone, backbone_weights
        self.pretrained, self.classify = pretrained, classify
        self.sticker_encoder = StickerEncoder(
            n_emoji, hidden=hidden, backbone=backbone, image_size=image_size,
            backbone_weights=backbone_weights if pretrained else None, name="sticker_encoder")
        self.image_size = self.sticker_encoder.image_size
        self.score = keras.layers.Dense(1, name="score")

    def build(self, inputs_shape):
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(inputs_shape["stickers"])
        self.score.build((None, self.hidden))

    def call(self, inputs, training=None):
        _, sticker_vector, emoji_logits = self.sticker_encoder(inputs["stickers"], training=training)
        return {"scores": ops.squeeze(self.score(sticker_vector), -1), "emoji_logits": emoji_logits}

    @property
    def emoji_loss_weight(self):
        return 1.0 if self.classify else 0.0

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size, "n_emoji": self.n_emoji, "hidden": self.hidden,
            "dropout": self.dropout, "backbone": self.backbone, "image_size": self.image_size,
            "backbone_weights": self.backbone_weights, "pretrained": self.pretrained,
            "classify": self.classify,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return model_from_saved_config(cls, config)
