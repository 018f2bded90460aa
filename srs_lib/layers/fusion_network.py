"""Fusion network of SRS (section 5.5, equations 12-16): from per-utterance interactions
to one matching score per (context, candidate sticker)."""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers.gru import MaskedGRU
from srs_lib.layers.utterance_encoder import AttentiveModule


@keras.saving.register_keras_serializable(package="srs_lib")
class FusionNetwork(keras.layers.Layer):
    """Fusion RNN, fusion Transformer, SUBMULT and the prediction GRU (eqs. 12-16).

    g_i = GRU(Q2_i, g_{i-1}) (short-term, eq. 12); ĝ = attentive module of eqs. 3-6 over
    the Q2 sequence (long-term, eq. 13); ḡ_i = ReLU(W_s[(ĝ_i − g_i)⊙(ĝ_i − g_i); ĝ_i⊙g_i]
    + b_s) (eq. 14); g̃ = last state of a GRU over ḡ (eq. 15); ŷ = FC(g̃) (eq. 16).

    Padded utterances are masked: both GRUs carry their state through them unchanged (so
    they stop at the true number of utterances) and the attentive module gives them no
    weight.

    Args:
        hidden: width of the GRU states and of ḡ.
        dropout: dropout rate of the fusion Transformer's equation 5.
        heads: attention heads of the fusion Transformer (paper: 1).
        use_fusion_rnn: False is "SRS w/o FR": no fusion RNN and hence no SUBMULT; the
            prediction GRU reads the fusion Transformer's output ĝ directly.
        score_activation: None (default) gives a raw score, as the released code feeds
            its hinge loss; "sigmoid" gives the paper's ŷ ∈ (0, 1).
        submult: "released" (default: [ĝ − g; ĝ⊙g], the released code's features
            without its attention between the two sequences; it keeps a term linear in
            the inputs) or "paper" (eq. 14: [(ĝ − g)⊙(ĝ − g); ĝ⊙g], quadratic in them).
            Why the defaults follow the released code: :class:`~srs_lib.models.SRS`.
        attention_form: ``form`` of the fusion Transformer, ``"transformer"`` or
            ``"paper"`` (see :class:`~srs_lib.layers.AttentiveModule`).
        submult_norm: layer-normalise ḡ before the prediction GRU (ours, a diagnostic;
            default False: the paper's ḡ as it is). SUBMULT's ReLU outputs are all
            non-negative, so ḡ carries a common offset; ``diagnose --fixed_codes`` measures
            what normalising it changes (row "features_submult_norm").
        q2_norm: layer-normalise the input Q2 before both the fusion RNN and the fusion
            Transformer (ours; False here is the paper's Q2 as it is; :class:`SRS` turns it
            on by default). Q2 is affine in products of its inputs, so nothing bounds its
            scale: ``diagnose --fixed_codes`` measures it growing several-fold while SRS
            stays at chance with the CNN's own features (rows "features" and
            "features_q2_norm"; chapter 07).

    Call arguments:
        inputs: Q2 `(batch, utterances, dim)`.
        mask: `(batch, utterances)` bool, True for real utterances.

    Returns:
        ŷ `(batch,)`.
    """

    def __init__(self, hidden=100, dropout=0.1, heads=1, use_fusion_rnn=True,
                 score_activation=None, submult="released", attention_form="transformer",
                 submult_norm=False, q2_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the utterance mask; see compute_mask
        self.hidden = hidden
        self.dropout = dropout
        self.heads = heads
        self.use_fusion_rnn = use_fusion_rnn
        self.score_activation = score_activation
        if submult not in ("paper", "released"):
            raise ValueError(f"submult must be 'paper' or 'released', got {submult!r}")
        self.submult = submult
        self.attention_form = attention_form
        if submult_norm and not use_fusion_rnn:
            raise ValueError("submult_norm normalises SUBMULT's output: it needs use_fusion_rnn")
        self.submult_norm = submult_norm
        self.q2_norm = q2_norm
        if q2_norm:
            self.q2_normalisation = keras.layers.LayerNormalization(name="q2_norm")
        self.fusion_transformer = AttentiveModule(heads=heads, dropout=dropout,
                                                  form=attention_form, name="fusion_transformer")
        if use_fusion_rnn:
            self.fusion_rnn = MaskedGRU(hidden, name="fusion_rnn")
            self.submult_dense = keras.layers.Dense(hidden, activation="relu", name="submult")
            if submult_norm:
                self.submult_normalisation = keras.layers.LayerNormalization(name="submult_norm")
        self.prediction_rnn = MaskedGRU(hidden, name="prediction_rnn")
        # A raw score has no bias: the ranking loss depends only on score differences.
        self.score = keras.layers.Dense(1, activation=score_activation,
                                        use_bias=score_activation is not None, name="score")

    def build(self, input_shape):
        batch, utterances, dim = input_shape
        if self.q2_norm:
            self.q2_normalisation.build(input_shape)
        self.fusion_transformer.build(input_shape)
        if self.use_fusion_rnn:
            if dim != self.hidden:
                raise ValueError(
                    f"SUBMULT compares ĝ (width {dim}) with g (width {self.hidden}): the "
                    "input width must equal hidden."
                )
            self.fusion_rnn.build(input_shape)
            self.submult_dense.build((batch, utterances, 2 * self.hidden))
            if self.submult_norm:
                self.submult_normalisation.build((batch, utterances, self.hidden))
            self.prediction_rnn.build((batch, utterances, self.hidden))
        else:
            self.prediction_rnn.build(input_shape)
        self.score.build((batch, self.hidden))

    def call(self, inputs, mask=None, training=None):
        return self.stages(inputs, mask=mask, training=training)["score"]

    def stages(self, inputs, mask=None, training=None) -> dict:
        """Every intermediate of the fusion network for Q2 ``inputs``: ``g_hat`` (eq. 13),
        with the fusion RNN ``g`` (eq. 12) and ``g_bar`` (eq. 14), then ``g_tilde``
        (eq. 15) and ``score`` (eq. 16) — what :meth:`call` returns the last of."""
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        if self.q2_norm:
            inputs = self.q2_normalisation(inputs)
        out = {"g_hat": self.fusion_transformer(inputs, mask=mask, training=training)}
        if self.use_fusion_rnn:
            out["g"] = self.fusion_rnn(inputs, step_mask=mask, return_sequences=True)
            out["g_bar"] = self.combine(out["g_hat"], out["g"])
        out["g_tilde"] = self.prediction_rnn(out.get("g_bar", out["g_hat"]), step_mask=mask)
        out["score"] = ops.squeeze(self.score(out["g_tilde"]), axis=-1)
        return out

    def combine(self, g_hat, g):
        """ḡ: SUBMULT of the two views (eq. 14, or the released code's form)."""
        difference = g_hat - g
        first = difference * difference if self.submult == "paper" else difference
        g_bar = self.submult_dense(ops.concatenate([first, g_hat * g], axis=-1))
        return self.submult_normalisation(g_bar) if self.submult_norm else g_bar

    def compute_mask(self, inputs, mask=None):
        return None  # one score per sequence: the utterance mask ends here

    def compute_output_shape(self, input_shape):
        return input_shape[:1]

    def get_config(self):
        config = super().get_config()
        config.update({
            "hidden": self.hidden,
            "dropout": self.dropout,
            "heads": self.heads,
            "use_fusion_rnn": self.use_fusion_rnn,
            "score_activation": self.score_activation,
            "submult": self.submult,
            "attention_form": self.attention_form,
            "submult_norm": self.submult_norm,
            "q2_norm": self.q2_norm,
        })
        return config
