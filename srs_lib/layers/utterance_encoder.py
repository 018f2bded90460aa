"""Utterance encoder of SRS (section 5.3, equations 2-6) and its attentive module.

The attentive module (equations 3-6) is reused by the fusion Transformer (section 5.5.2,
equation 13), so it lives here as a layer of its own: :class:`AttentiveModule`.
"""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers.masking import masked_softmax

# The two forms of the attentive module (see AttentiveModule).
FORMS = ("transformer", "paper")


@keras.saving.register_keras_serializable(package="srs_lib")
class AttentiveModule(keras.layers.Layer):
    """Self-attention block of equations 3-6, over a padded sequence of vectors.

    Q, K, V = FC(x);  α = softmax(Q·Kᵀ / c) with masked keys excluded;  β = αV;
    ĥ = Dropout(x + β);  h = LayerNorm(r·ĥ + max(0, ĥW1 + b1)W2 + b2).

    Two forms differ in c and r:

    * ``"transformer"`` (default): c = √(width per head) and r = 1, the Transformer block
      of Vaswani et al. that the released code uses (scaled dot-product attention, a
      residual connection around the feed-forward layer).
    * ``"paper"``: c = 1 and r = 0, equations 3 and 6 as printed. At SRS's width the
      unscaled logits saturate the softmax (in the fusion Transformer at initialisation a
      query puts 0.84 of its weight on one key on average) and, without the residual, the
      block's output is a fresh random function of its input. Trained this way SRS
      learns the ``small`` corpus far more slowly (the row "paper_attention" of
      ``python -m srs_lib diagnose``, shown in chapter 07).

    The feed-forward width equals the input width. The key projection has no bias (the
    softmax is invariant to it).

    Args:
        heads: number of attention heads; 1 is the paper's block. With more heads the
            width is split evenly between them (the released code used 5 and 4).
        dropout: dropout rate of equation 5.
        form: ``"transformer"`` or ``"paper"`` (above).

    Call arguments:
        inputs: `(batch, steps, dim)` float.
        mask: `(batch, steps)` bool, True for real steps; masked steps receive no
            attention weight. Their own outputs are computed but meaningless.

    Returns:
        `(batch, steps, dim)`.
    """

    def __init__(self, heads=1, dropout=0.1, form="transformer", **kwargs):
        super().__init__(**kwargs)
        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, got {form!r}")
        self.heads = heads
        self.dropout = dropout
        self.form = form
        self.supports_masking = True
        self.residual_dropout = keras.layers.Dropout(dropout, name="residual_dropout")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.heads:
            raise ValueError(
                f"AttentiveModule: input width {dim} is not divisible by heads={self.heads}."
            )
        self.query = keras.layers.Dense(dim, name="query")
        # No key bias: Q_j·b is the same for every key k, so the softmax cancels it and it
        # would never receive a gradient.
        self.key = keras.layers.Dense(dim, use_bias=False, name="key")
        self.value = keras.layers.Dense(dim, name="value")
        self.feed_forward_in = keras.layers.Dense(dim, activation="relu", name="feed_forward_in")
        self.feed_forward_out = keras.layers.Dense(dim, name="feed_forward_out")
        for layer in (self.query, self.key, self.value, self.feed_forward_in,
                      self.feed_forward_out):
            layer.build(input_shape)
        self.norm.build(input_shape)

    def _split_heads(self, x):
        batch, steps, dim = ops.shape(x)
        x = ops.reshape(x, (batch, steps, self.heads, dim // self.heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def attention_weights(self, inputs, mask=None):
        """α of equation 3: `(batch, heads, steps, steps)`, zero on masked keys."""
        logits = ops.matmul(
            self._split_heads(self.query(inputs)),
            ops.transpose(self._split_heads(self.key(inputs)), (0, 1, 3, 2)),
        )
        if self.form == "transformer":
            logits = logits / (ops.shape(inputs)[-1] // self.heads) ** 0.5
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        return masked_softmax(logits, mask[:, None, None, :])

    def call(self, inputs, mask=None, training=None):
        alpha = self.attention_weights(inputs, mask)
        beta = ops.matmul(alpha, self._split_heads(self.value(inputs)))
        batch, steps, dim = ops.shape(inputs)
        beta = ops.reshape(ops.transpose(beta, (0, 2, 1, 3)), (batch, steps, dim))
        h_hat = self.residual_dropout(inputs + beta, training=training)
        h = self.feed_forward_out(self.feed_forward_in(h_hat))
        return self.norm(h_hat + h if self.form == "transformer" else h)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"heads": self.heads, "dropout": self.dropout, "form": self.form})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class UtteranceEncoder(keras.layers.Layer):
    """Word states of one utterance (equations 2-6): embedding, then attentive module(s).

    Token id 0 is PAD: padded words are masked out of every softmax. The embedding width
    equals `hidden` (the residual e + β of equation 5 needs it).

    Args:
        vocab_size: number of token ids, PAD=0 included.
        hidden: embedding and state width d (paper: 100).
        dropout: dropout rate of equation 5.
        heads: attention heads per block (paper: 1).
        blocks: stacked attentive modules (paper: 1; the released code used 2).
        attention_form: ``form`` of the attentive modules, ``"transformer"`` or
            ``"paper"`` (see :class:`AttentiveModule`).

    Call arguments:
        inputs: `(batch, words)` int token ids.

    Returns:
        h: `(batch, words, dim)`; its Keras mask is `inputs != 0`.
    """

    def __init__(self, vocab_size, hidden=100, dropout=0.1, heads=1, blocks=1,
                 attention_form="transformer", **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden = hidden
        self.dropout = dropout
        self.heads = heads
        self.blocks = blocks
        self.attention_form = attention_form
        self.embedding = keras.layers.Embedding(vocab_size, hidden, name="embedding")
        self.attentive_modules = [
            AttentiveModule(heads=heads, dropout=dropout, form=attention_form,
                            name=f"attentive_module_{i}")
            for i in range(blocks)
        ]

    def build(self, input_shape):
        self.embedding.build(input_shape)
        for module in self.attentive_modules:
            module.build((*input_shape, self.hidden))

    def call(self, inputs, mask=None, training=None):
        word_mask = ops.not_equal(inputs, 0)
        h = self.embedding(inputs)
        for module in self.attentive_modules:
            h = module(h, mask=word_mask, training=training)
        return h

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.hidden)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "heads": self.heads,
            "blocks": self.blocks,
            "attention_form": self.attention_form,
        })
        return config
