"""SRS, the sticker response selector (Gao et al., WWW 2020, section 5), as a Keras model."""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers.sticker_encoder import model_from_saved_config
from srs_lib.layers import (DeepInteraction, FusionNetwork, PooledInteraction, StickerEncoder,
                            UtteranceEncoder)


@keras.saving.register_keras_serializable(package="srs_lib")
class SRS(keras.Model):
    """Sticker encoder → utterance encoder → deep interaction → fusion network → score.

    Inputs: a dict with "contexts" `(batch, utterances, words)` int token ids (0 = PAD;
    utterances in chronological order, padded all-PAD utterances last) and "stickers"
    `(batch, candidates, 128, 128, 3)` uint8 or float in 0-255.
    Outputs: a dict with "scores" `(batch, candidates)` and "emoji_logits"
    `(batch, candidates, n_emoji)`.

    Each utterance is encoded once per context and each sticker once per batch; they meet
    only in the interaction layer. :meth:`explain` also returns the interaction's relation
    matrix and attentions (the paper's Figures 8 and 9).

    Args:
        vocab_size: token ids, PAD=0, UNK=1, START=2, STOP=3 included.
        n_emoji: emoji labels predicted by the auxiliary head.
        hidden: model width d (paper: 100).
        dropout: dropout rate of the attentive modules (paper and released code: 0.1).
        backbone: "inception_v3" (the paper) or "small_cnn" (CPU-sized runs).
        image_size: side the backbone sees; None: its default (128, or 64 for small_cnn).
        backbone_weights: where pretrained backbone weights come from: "imagenet" or a
            weights file of the backbone.
        pretrained: False is "SRS w/o pretrain": the backbone starts at random.
        classify: False is "SRS w/o Classify": the head stays, its loss weight is 0 (read
            :attr:`emoji_loss_weight`).
        use_din: False is "SRS w/o DIN": :class:`PooledInteraction` replaces the deep
            interaction network.
        use_fusion_rnn: False is "SRS w/o FR" (see :class:`FusionNetwork`).
        heads: attention heads in the utterance encoder and fusion Transformer (paper: 1).
        blocks: attentive modules stacked in the utterance encoder (paper: 1).
        softmax_attention: softmax-normalise the interaction attentions τ (default;
            False is the paper's raw max-pooled τ, which trained unreliably: see
            :class:`DeepInteraction`).
        score_activation: None (default: a raw score, as the released code feeds its
            hinge loss) or "sigmoid" (the paper's ŷ ∈ (0, 1)).
        integrate_words: True (default): Q2 = IF(Q1, l); False: the paper's FC([Q1; l])
            (see :class:`DeepInteraction`).
        submult: "released" (default) or "paper" (eq. 14; see :class:`FusionNetwork`).
        attention_form: "transformer" (default: scaled attention and a residual around
            the feed-forward layer, as in the released code) or "paper" (equations 3 and
            6 as printed; see :class:`AttentiveModule`), for the utterance encoder and the
            fusion Transformer.

    The last four follow the released code rather than the printed equations. ``python -m
    srs_lib diagnose`` measures each printed form on the ``cpu`` profile, one changed back
    per run (600 joint steps, validation R10@1 on 600 contexts, chance about 0.1; the file
    ``results/diagnostics/cpu.json``, shown in chapter 07). With all four printed forms
    SRS stays at chance. One at a time: the sigmoid score alone keeps it at chance (it
    saturates, so the hinge loss of equation 17 sees almost no difference between
    candidates), and so does the printed Q2, which holds no product of sticker and words;
    with the printed attentive module, whose softmax saturates (see
    :class:`AttentiveModule`), SRS learns but is well behind after 600 joint steps; the
    printed SUBMULT learns as well as the released one here, and we keep the released
    form, the one the authors ran. The ``cpu`` profile needs two more changes, measured
    by the same command: a code of each sticker's predicted emoji instead of the small
    CNN's own features (``sticker_code="emoji"``, see :class:`StickerEncoder`), and one
    Adam per training stage (see :class:`~srs_lib.training.trainer.Trainer`).

    ``sticker_code``: "features" (the paper's O and O_flat) or "emoji" (see above).
    ``data_config``: the data options of its training, saved with it and unused by the
    model (as in :class:`~srs_lib.models.base.StickerRanker`).
    """

    def __init__(self, vocab_size, n_emoji, hidden=100, dropout=0.1, backbone="inception_v3",
                 image_size=None, backbone_weights="imagenet", pretrained=True, classify=True,
                 sticker_code="features",
                 use_din=True, use_fusion_rnn=True, heads=1, blocks=1,
                 softmax_attention=True, score_activation=None, integrate_words=True,
                 submult="released", attention_form="transformer", data_config=None, **kwargs):
        super().__init__(**kwargs)
        self.data_config = dict(data_config) if data_config else None
        self.vocab_size = vocab_size
        self.n_emoji = n_emoji
        self.hidden = hidden
        self.dropout = dropout
        self.backbone = backbone
        self.backbone_weights = backbone_weights
        self.pretrained = pretrained
        self.classify = classify
        self.use_din = use_din
        self.use_fusion_rnn = use_fusion_rnn
        self.heads = heads
        self.blocks = blocks
        self.softmax_attention = softmax_attention
        self.score_activation = score_activation
        self.integrate_words = integrate_words
        self.submult = submult
        self.attention_form = attention_form
        self.sticker_encoder = StickerEncoder(
            n_emoji, hidden=hidden, backbone=backbone, image_size=image_size,
            backbone_weights=backbone_weights if pretrained else None, code=sticker_code,
            name="sticker_encoder",
        )
        self.image_size = self.sticker_encoder.image_size
        self.utterance_encoder = UtteranceEncoder(
            vocab_size, hidden=hidden, dropout=dropout, heads=heads, blocks=blocks,
            attention_form=attention_form, name="utterance_encoder",
        )
        if use_din:
            self.interaction = DeepInteraction(hidden, softmax_attention=softmax_attention,
                                               integrate_words=integrate_words,
                                               name="deep_interaction")
        else:
            self.interaction = PooledInteraction(hidden, integrate_words=integrate_words,
                                                 name="pooled_interaction")
        self.fusion_network = FusionNetwork(
            hidden, dropout=dropout, heads=heads, use_fusion_rnn=use_fusion_rnn,
            score_activation=score_activation, submult=submult,
            attention_form=attention_form, name="fusion_network",
        )

    @property
    def emoji_loss_weight(self):
        """Weight of the emoji-classification loss L_s: 1 for SRS, 0 for "w/o Classify"."""
        return 1.0 if self.classify else 0.0

    def build(self, inputs_shape):
        batch, utterances, words = inputs_shape["contexts"]
        stickers_shape = inputs_shape["stickers"]
        candidates = stickers_shape[1]
        p, d = self.sticker_encoder.grid_size, self.hidden
        shapes = {
            self.utterance_encoder: (None, words),
            self.sticker_encoder: stickers_shape,
            self.interaction: [(batch, candidates, p, p, d), (batch, candidates, d),
                               (batch, utterances, words, d)],
            self.fusion_network: (None, utterances, d),
        }
        for layer, shape in shapes.items():
            if not layer.built:  # a component may have been called on its own first
                layer.build(shape)

    def _forward(self, inputs, training=None, return_attention=False):
        contexts, stickers = inputs["contexts"], inputs["stickers"]
        batch, utterances, words = ops.shape(contexts)
        word_mask = ops.not_equal(contexts, 0)  # (batch, utterances, words)
        utterance_mask = ops.any(word_mask, axis=-1)  # (batch, utterances)

        h = self.utterance_encoder(ops.reshape(contexts, (batch * utterances, words)),
                                   training=training)
        h = ops.reshape(h, (batch, utterances, words, self.hidden))
        sticker_map, sticker_vector, emoji_logits = self.sticker_encoder(stickers,
                                                                         training=training)
        candidates = ops.shape(sticker_vector)[1]

        pair_inputs = [sticker_map, sticker_vector, h]
        if return_attention:
            q2, attention = self.interaction(pair_inputs, mask=word_mask, training=training,
                                             return_attention=True)
        else:
            q2, attention = self.interaction(pair_inputs, mask=word_mask,
                                             training=training), None
        q2 = ops.reshape(q2, (batch * candidates, utterances, self.hidden))
        fusion_mask = ops.reshape(
            ops.broadcast_to(utterance_mask[:, None, :], (batch, candidates, utterances)),
            (batch * candidates, utterances),
        )
        scores = self.fusion_network(q2, mask=fusion_mask, training=training)
        outputs = {"scores": ops.reshape(scores, (batch, candidates)),
                   "emoji_logits": emoji_logits}
        return outputs, attention

    def call(self, inputs, training=None):
        outputs, _ = self._forward(inputs, training=training)
        return outputs

    def explain(self, inputs):
        """Scores plus the interpretable internals of the deep interaction network.

        Returns a dict: "scores" `(batch, candidates)`, "relation" M
        `(batch, candidates, utterances, p², words)`, "utterance_attention" τ^u
        `(batch, candidates, utterances, words)` (0 on padded words) and
        "sticker_attention" τ^s `(batch, candidates, utterances, p, p)`. Runs in inference
        mode.
        """
        if not self.use_din:
            raise ValueError("explain() needs the deep interaction network (use_din=True).")
        if not self.built:
            self.build({name: tuple(ops.shape(x)) for name, x in inputs.items()})
        outputs, attention = self._forward(inputs, training=False, return_attention=True)
        return {"scores": outputs["scores"], **attention}

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size,
            "n_emoji": self.n_emoji,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "backbone": self.backbone,
            "image_size": self.image_size,
            "backbone_weights": self.backbone_weights,
            "pretrained": self.pretrained,
            "classify": self.classify,
            "sticker_code": self.sticker_encoder.code,
            "use_din": self.use_din,
            "use_fusion_rnn": self.use_fusion_rnn,
            "heads": self.heads,
            "blocks": self.blocks,
            "softmax_attention": self.softmax_attention,
            "score_activation": self.score_activation,
            "integrate_words": self.integrate_words,
            "submult": self.submult,
            "attention_form": self.attention_form,
            "data_config": self.data_config,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return model_from_saved_config(cls, config)
