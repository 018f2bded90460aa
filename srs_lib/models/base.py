"""What every sticker ranker shares: the sticker encoder, its settings and the contract.

A baseline subclasses :class:`StickerRanker`, passes its own keyword arguments through
``__init__``, lists them in :attr:`StickerRanker.options` (so that ``get_config`` saves them)
and implements ``call`` with :meth:`StickerRanker.encode_stickers` and the masks of
:func:`context_masks`.
"""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers import StickerEncoder
from srs_lib.layers.sticker_encoder import model_from_saved_config


def context_masks(contexts):
    """``(word_mask, utterance_mask)`` of ``(batch, utterances, words)`` token ids: PAD is 0."""
    word_mask = ops.not_equal(contexts, 0)
    return word_mask, ops.any(word_mask, axis=-1)


class StickerRanker(keras.Model):
    """Base of the ranking models: owns ``sticker_encoder`` and the shared settings.

    Inputs: {"contexts" `(batch, utterances, words)` int ids (0 = PAD; utterances oldest
    first, all-PAD utterances last), "stickers" `(batch, candidates, H, W, 3)` in 0-255}.
    Outputs: {"scores" `(batch, candidates)`, "emoji_logits" `(batch, candidates, n_emoji)`}.

    Shared arguments are SRS's: ``vocab_size``, ``n_emoji``, ``hidden``, ``dropout``,
    ``backbone``, ``image_size``, ``backbone_weights``, ``pretrained`` (False: the backbone
    starts at random), ``classify`` (False: the emoji loss weight is 0) and ``sticker_code``
    ("features" or "emoji": what the sticker encoder passes on, see :class:`StickerEncoder`).
    ``data_config`` is saved with the model and used by nothing in it: the data options it
    was trained and evaluated with (:data:`srs_lib.training.config.DATA_OPTIONS`), so that
    a ``.keras`` file carries everything its evaluation needs.
    """

    #: Names of the subclass's own constructor arguments (saved by ``get_config``).
    options: tuple[str, ...] = ()

    def __init__(self, vocab_size, n_emoji, hidden=100, dropout=0.1, backbone="inception_v3",
                 image_size=None, backbone_weights="imagenet", pretrained=True, classify=True,
                 sticker_code="features", data_config=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.data_config = dict(data_config) if data_config else None
        self.vocab_size, self.n_emoji, self.hidden, self.dropout = vocab_size, n_emoji, hidden, dropout
        self.backbone, self.backbone_weights = backbone, backbone_weights
        self.pretrained, self.classify = pretrained, classify
        self.sticker_encoder = StickerEncoder(
            n_emoji, hidden=hidden, backbone=backbone, image_size=image_size,
            backbone_weights=backbone_weights if pretrained else None, code=sticker_code,
            name="sticker_encoder")
        self.image_size = self.sticker_encoder.image_size

    @property
    def emoji_loss_weight(self):
        """Weight of the emoji-classification loss: 1, or 0 without ``classify``."""
        return 1.0 if self.classify else 0.0

    def encode_stickers(self, stickers, training=None):
        """``(tokens, vector, emoji_logits)``: the sticker map as ``p²`` response tokens
        `(batch, candidates, p², hidden)` in raster order, the pooled vector
        `(batch, candidates, hidden)` and the emoji logits."""
        sticker_map, vector, logits = self.sticker_encoder(stickers, training=training)
        shape = ops.shape(sticker_map)
        tokens = ops.reshape(sticker_map, (shape[0], shape[1], shape[2] * shape[3], shape[4]))
        return tokens, vector, logits

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size, "n_emoji": self.n_emoji, "hidden": self.hidden,
            "dropout": self.dropout, "backbone": self.backbone, "image_size": self.image_size,
            "backbone_weights": self.backbone_weights, "pretrained": self.pretrained,
            "classify": self.classify,
            "sticker_code": self.sticker_encoder.code,
            "data_config": self.data_config,
        })
        config.update({name: getattr(self, name) for name in self.options})
        return config

    @classmethod
    def from_config(cls, config):
        return model_from_saved_config(cls, config)
