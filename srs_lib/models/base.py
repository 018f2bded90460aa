"""What every sticker ranker shares: the sticker encoder, its settings and the contract.

A model subclasses :class:`StickerRanker`, passes its own keyword arguments through
``__init__``, lists them in :attr:`StickerRanker.options` (so that ``get_config`` saves them)
and implements ``call`` with :meth:`StickerRanker.encode_candidates` (or
:meth:`StickerRanker.encode_candidate_tokens`) and the masks of
:func:`srs_lib.layers.masking.context_masks`.

Reading the candidates only through ``encode_candidates`` is what lets an evaluation encode
each distinct sticker once (:mod:`srs_lib.training.scoring`): the model's inputs may then carry
the sticker encoder's outputs (:data:`ENCODED_STICKERS`) in place of the images.
"""
from __future__ import annotations

import keras

from srs_lib.layers import StickerEncoder
from srs_lib.layers.sticker_encoder import sticker_tokens


#: The sticker encoder's outputs, by the input names under which a model takes them in place
#: of "stickers": O `(batch, candidates, p, p, hidden)`, O_flat `(batch, candidates,
#: hidden)` and the emoji logits `(batch, candidates, n_emoji)`.
ENCODED_STICKERS = ("sticker_map", "sticker_vector", "emoji_logits")


class StickerRanker(keras.Model):
    """Base of the ranking models: owns ``sticker_encoder`` and the shared settings.

    Inputs: {"contexts" `(batch, utterances, words)` int ids (0 = PAD; utterances oldest
    first, all-PAD utterances last), "stickers" `(batch, candidates, H, W, 3)` in 0-255};
    or, once the model is built, the sticker encoder's outputs under the names of
    :data:`ENCODED_STICKERS` instead of "stickers" (see :meth:`encode_candidates`).
    Outputs: {"scores" `(batch, candidates)`, "emoji_logits" `(batch, candidates, n_emoji)`}.

    Args:
        vocab_size: token ids, PAD=0, UNK=1, START=2, STOP=3 included.
        n_emoji: emoji labels predicted by the auxiliary head.
        hidden: model width d (paper: 100).
        dropout: dropout rate (paper and released code: 0.1).
        backbone: "inception_v3" (the paper) or "small_cnn" (CPU-sized runs).
        image_size: side the backbone sees; None: its default (128, or 64 for small_cnn).
        backbone_weights: where pretrained backbone weights come from: "imagenet", the
            name of weights shipped with the library ("openmoji", for the small CNN) or a
            weights file of the backbone.
        pretrained: False is "w/o pretrain": the backbone starts at random.
        classify: False is "w/o Classify": the emoji head stays, its loss weight is 0 (read
            :attr:`emoji_loss_weight`).
        sticker_code: what the sticker encoder passes on, "features" (the paper's O and
            O_flat) or "emoji" (see :class:`~srs_lib.layers.StickerEncoder`).
        ranking_stop: where the ranking loss's gradient stops in the sticker encoder:
            "none" (the paper), "backbone" or "encoder" (see
            :class:`~srs_lib.layers.StickerEncoder`).
        feature_map: which backbone map O comes from, "middle" (the paper) or "last"
            (see :class:`~srs_lib.layers.StickerEncoder`).
        code_temperature: the emoji code's softmax temperature (see
            :class:`~srs_lib.layers.StickerEncoder`).
        data_config: the data options the model was trained and evaluated with
            (:data:`srs_lib.training.config.DATA_OPTIONS`), saved with it and used by
            nothing in it, so that a ``.keras`` file carries everything its evaluation
            needs.
    """

    #: Names of the subclass's own constructor arguments (saved by ``get_config``).
    options: tuple[str, ...] = ()
    #: Whether the model reads each candidate's pixels only through the sticker encoder,
    #: each candidate on its own (:meth:`encode_candidates`), so that an evaluation may
    #: encode each distinct sticker once and hand the model the encodings. A model that
    #: mixed text into the image before or inside the encoder would set it False and be
    #: scored from the images. Every model of :mod:`srs_lib.models.registry` reads them so.
    encodes_stickers_apart: bool = True

    def __init__(self, vocab_size, n_emoji, hidden=100, dropout=0.1, backbone="inception_v3",
                 image_size=None, backbone_weights="imagenet", pretrained=True, classify=True,
                 sticker_code="features", ranking_stop="none", feature_map="middle", code_temperature=1.0,
                 data_config=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.data_config = dict(data_config) if data_config else None
        self.vocab_size, self.n_emoji, self.hidden, self.dropout = vocab_size, n_emoji, hidden, dropout
        self.backbone, self.backbone_weights = backbone, backbone_weights
        self.pretrained, self.classify, self.sticker_code = pretrained, classify, sticker_code
        self.ranking_stop, self.feature_map = ranking_stop, feature_map
        self.code_temperature = code_temperature
        self.sticker_encoder = StickerEncoder(
            n_emoji, hidden=hidden, backbone=backbone, image_size=image_size,
            backbone_weights=backbone_weights if pretrained else None, code=sticker_code,
            ranking_stop=ranking_stop, feature_map=feature_map,
            code_temperature=code_temperature, name="sticker_encoder")
        self.image_size = self.sticker_encoder.image_size

    @property
    def emoji_loss_weight(self):
        """Weight of the emoji-classification loss L_s: 1, or 0 without ``classify``."""
        return 1.0 if self.classify else 0.0

    def encode_stickers(self, stickers, training=None):
        """Equation 1 for every candidate: ``(O, O_flat, emoji_logits)`` with O
        `(batch, candidates, p, p, hidden)`, O_flat `(batch, candidates, hidden)` and the
        emoji logits `(batch, candidates, n_emoji)`."""
        return self.sticker_encoder(stickers, training=training)

    def encode_sticker_tokens(self, stickers, training=None):
        """:meth:`encode_stickers` with O as ``p²`` response tokens in raster order,
        `(batch, candidates, p², hidden)`: how the baselines read a sticker."""
        sticker_map, vector, logits = self.encode_stickers(stickers, training=training)
        return sticker_tokens(sticker_map), vector, logits

    def encode_candidates(self, inputs, training=None):
        """``(O, O_flat, emoji_logits)`` of the candidates of the model's ``inputs``:
        :meth:`encode_stickers` of ``inputs["stickers"]``, or, when ``inputs`` carries the
        encoder's outputs under the names of :data:`ENCODED_STICKERS` (as
        :func:`srs_lib.training.scoring.score_batches` gathers them from its encodings of
        the distinct stickers of an evaluation), those, unchanged."""
        if all(name in inputs for name in ENCODED_STICKERS):
            return tuple(inputs[name] for name in ENCODED_STICKERS)
        return self.encode_stickers(inputs["stickers"], training=training)

    def encode_candidate_tokens(self, inputs, training=None):
        """:meth:`encode_candidates` with O as ``p²`` tokens (see
        :meth:`encode_sticker_tokens`)."""
        sticker_map, vector, logits = self.encode_candidates(inputs, training=training)
        return sticker_tokens(sticker_map), vector, logits

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size, "n_emoji": self.n_emoji, "hidden": self.hidden,
            "dropout": self.dropout, "backbone": self.backbone, "image_size": self.image_size,
            "backbone_weights": self.backbone_weights, "pretrained": self.pretrained,
            "classify": self.classify, "sticker_code": self.sticker_code,
            "ranking_stop": self.ranking_stop, "feature_map": self.feature_map,
            "code_temperature": self.code_temperature, "data_config": self.data_config,
        })
        config.update({name: getattr(self, name) for name in self.options})
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuild a saved model: it carries its trained weights, so build it without
        pretrained backbone weights (no fetch, no file read), then restore the saved
        settings so that the config round-trips unchanged."""
        model = cls(**{**config, "pretrained": False})
        model.pretrained = config["pretrained"]
        model.sticker_encoder.backbone_weights = (
            config["backbone_weights"] if config["pretrained"] else None)
        return model
