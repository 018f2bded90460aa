"""SRS, the sticker response selector (Gao et al., WWW 2020, section 5), as a Keras model."""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers import (
    DeepInteraction,
    FusionNetwork,
    PooledInteraction,
    UtteranceEncoder,
)
from srs_lib.layers.masking import context_masks
from srs_lib.models.base import StickerRanker


@keras.saving.register_keras_serializable(package="srs_lib")
class SRS(StickerRanker):
    """Sticker encoder → utterance encoder → deep interaction → fusion network → score.

    Inputs: a dict with "contexts" `(batch, utterances, words)` int token ids (0 = PAD;
    utterances in chronological order, padded all-PAD utterances last) and "stickers"
    `(batch, candidates, 128, 128, 3)` uint8 or float in 0-255.
    Outputs: a dict with "scores" `(batch, candidates)` and "emoji_logits"
    `(batch, candidates, n_emoji)`.

    Each utterance is encoded once per context and each sticker once per batch; they meet
    only in the interaction layer. The steps are public, so that a chapter can show each:
    :meth:`encode_utterances`, :meth:`encode_stickers` (from :class:`StickerRanker`),
    :meth:`interaction_inputs` (both, with the masks, as the interaction layer takes them)
    and :meth:`fuse`. :meth:`explain` also returns the interaction's relation matrix and
    attentions (the paper's Figures 8 and 9).

    Args:
        vocab_size, n_emoji, hidden, dropout, backbone, image_size, backbone_weights,
            pretrained ("SRS w/o pretrain"), classify ("SRS w/o Classify"), sticker_code:
            shared by every ranker, see :class:`StickerRanker`.
        use_din: False is "SRS w/o DIN": :class:`PooledInteraction` replaces the deep
            interaction network.
        use_fusion_rnn: False is "SRS w/o FR" (see :class:`FusionNetwork`).
        heads: attention heads in the utterance encoder and fusion Transformer (paper: 1).
        blocks: attentive modules stacked in the utterance encoder (paper: 1).
        softmax_attention: softmax-normalise the interaction attentions τ (default;
            False is the paper's raw max-pooled τ, which kept SRS near chance: see
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
        submult_norm: layer-normalise SUBMULT's output (a diagnostic; see
            :class:`FusionNetwork`).
        q2_norm: True (default, ours): layer-normalise Q2 where the fusion network reads
            it; False: the paper's Q2 as it is (see :class:`FusionNetwork`).

    score_activation, integrate_words, submult and attention_form follow the released
    code rather than the printed equations. ``python -m
    srs_lib diagnose`` measures each printed form on the ``cpu`` profile, one changed back
    per run (600 joint steps, validation R10@1 on 600 contexts, chance about 0.1; the file
    ``results/diagnostics/cpu.json``, measured on the first embedded corpus with a backbone
    from random weights, shown in chapter 07). With all four printed forms
    SRS stays at chance. One at a time: the sigmoid score alone keeps it at chance (it
    saturates, so the hinge loss of equation 17 sees almost no difference between
    candidates), and so does the printed Q2, which holds no product of sticker and words;
    with the printed attentive module, whose softmax saturates (see
    :class:`AttentiveModule`), SRS learns but is well behind after 600 joint steps; the
    printed SUBMULT learns as well as the released one here, and we keep the released
    form, the one the authors ran. Two more changes are ours, measured by the same command
    on today's corpus (``results/diagnostics/sticker_features.json``): one Adam per
    training stage (see :class:`~srs_lib.training.trainer.Trainer`), and ``q2_norm``: with
    the small CNN's own features and Q2 as printed, SRS stayed at chance in every run of
    the ``cpu`` budget (rows "features" and its variants), Q2's scale growing several-fold
    while the prediction GRU lost the candidates' differences (``diagnose --fixed_codes``);
    with Q2 normalised it learns end to end (row "features_q2_norm"; chapter 07).
    """

    options = ("use_din", "use_fusion_rnn", "heads", "blocks", "softmax_attention",
               "score_activation", "integrate_words", "submult", "attention_form",
               "submult_norm", "q2_norm")

    def __init__(self, vocab_size, n_emoji, *, use_din=True, use_fusion_rnn=True, heads=1,
                 blocks=1, softmax_attention=True, score_activation=None, integrate_words=True,
                 submult="released", attention_form="transformer", submult_norm=False, q2_norm=True,
                 **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        self.use_din = use_din
        self.use_fusion_rnn = use_fusion_rnn
        self.heads = heads
        self.blocks = blocks
        self.softmax_attention = softmax_attention
        self.score_activation = score_activation
        self.integrate_words = integrate_words
        self.submult = submult
        self.attention_form = attention_form
        self.submult_norm = submult_norm
        self.q2_norm = q2_norm
        self.utterance_encoder = UtteranceEncoder(
            vocab_size, hidden=self.hidden, dropout=self.dropout, heads=heads, blocks=blocks,
            attention_form=attention_form, name="utterance_encoder",
        )
        if use_din:
            self.interaction = DeepInteraction(self.hidden, softmax_attention=softmax_attention,
                                               integrate_words=integrate_words,
                                               name="deep_interaction")
        else:
            self.interaction = PooledInteraction(self.hidden, integrate_words=integrate_words,
                                                 name="pooled_interaction")
        self.fusion_network = FusionNetwork(
            self.hidden, dropout=self.dropout, heads=heads, use_fusion_rnn=use_fusion_rnn,
            score_activation=score_activation, submult=submult,
            attention_form=attention_form, submult_norm=submult_norm, q2_norm=q2_norm,
            name="fusion_network",
        )

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

    def encode_utterances(self, contexts, training=None):
        """Equations 2-6 for every utterance of every context, each on its own:
        `(batch, utterances, words)` token ids → h `(batch, utterances, words, hidden)`."""
        batch, utterances, words = ops.shape(contexts)
        h = self.utterance_encoder(ops.reshape(contexts, (batch * utterances, words)),
                                   training=training)
        return ops.reshape(h, (batch, utterances, words, self.hidden))

    def interaction_inputs(self, inputs, training=None):
        """What the interaction layer takes, from the model's inputs: a dict with
        "pair_inputs" ``[O, O_flat, h]`` (see :class:`~srs_lib.layers.DeepInteraction`),
        "word_mask" `(batch, utterances, words)`, "utterance_mask" `(batch, utterances)`
        and "emoji_logits" `(batch, candidates, n_emoji)`. The candidates come through
        :meth:`encode_candidates`: their images, or encodings already made."""
        contexts = inputs["contexts"]
        word_mask, utterance_mask = context_masks(contexts)
        h = self.encode_utterances(contexts, training=training)
        sticker_map, sticker_vector, emoji_logits = self.encode_candidates(inputs,
                                                                           training=training)
        return {"pair_inputs": [sticker_map, sticker_vector, h], "word_mask": word_mask,
                "utterance_mask": utterance_mask, "emoji_logits": emoji_logits}

    def fuse(self, q2, utterance_mask, training=None):
        """Equations 12-16: Q2 `(batch, candidates, utterances, hidden)` and the utterance
        mask `(batch, utterances)` → scores `(batch, candidates)`."""
        batch, candidates, utterances, _ = ops.shape(q2)
        mask = ops.broadcast_to(utterance_mask[:, None, :], (batch, candidates, utterances))
        scores = self.fusion_network(
            ops.reshape(q2, (batch * candidates, utterances, self.hidden)),
            mask=ops.reshape(mask, (batch * candidates, utterances)), training=training)
        return ops.reshape(scores, (batch, candidates))

    def _forward(self, inputs, training=None, return_attention=False):
        parts = self.interaction_inputs(inputs, training=training)
        attention = None
        if return_attention:
            q2, attention = self.interaction(parts["pair_inputs"], mask=parts["word_mask"],
                                             training=training, return_attention=True)
        else:
            q2 = self.interaction(parts["pair_inputs"], mask=parts["word_mask"],
                                  training=training)
        scores = self.fuse(q2, parts["utterance_mask"], training=training)
        return {"scores": scores, "emoji_logits": parts["emoji_logits"]}, attention

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
