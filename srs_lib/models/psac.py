"""PSAC: positional self-attention with co-attention (Li et al., AAAI 2019), for stickers.

PSAC answers questions about a video. Its released code (``lixiangpengcs/PSAC``) encodes the
frames with a positional self-attention (PSA) encoder, the question with a QANet encoder
block, fuses the two with a trilinear video-question co-attention, mean-pools over frames
and scores with an MLP; for multiple-choice questions it gives one score per (video,
choice) pair. Here a sticker plays the video (its ``p²`` map tokens are the frames, the
released code's fixed 36 frames being Inception's 6×6 map) and the dialog context plays the
question; each (context, sticker) pair gets one score, as in PSAC's multiple-choice mode.

Three structural doubts about this adaptation are measured by ``python -m srs_lib psac``
(:mod:`srs_lib.analysis.psac_checks`; the `cpu` records are
``results/diagnostics/psac_checks_cpu*.json``, read by chapter 08): whether the
co-attention over frames does anything (with one frame, as under the emoji code, it is a
softmax over one element; with the p×p map it is not), how much of the co-attention's
output depends on the sticker alone, and whether the words are drowned by QANet's timing
signal (they were, at Keras' default initialisation: hence ``word_std``).
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from srs_lib.layers.masking import masked_softmax
from srs_lib.models.base import StickerRanker


def flatten_context(contexts, max_words):
    """The dialog context as one word sequence: PSAC's "question".

    The real words of the utterances, oldest first, are concatenated and the LAST
    ``L = min(max_words, utterances·words)`` of them are kept, left-aligned, PAD after.
    Vectorised: an argsort moves the real words ahead of the padding (keeping their order),
    then one gather per context starts at ``max(count - L, 0)``.

    Args:
        contexts: `(batch, utterances, words)` int ids, 0 = PAD.
        max_words: the longest question kept.

    Returns:
        `(batch, L)` int ids.
    """
    batch, utterances, words = ops.shape(contexts)
    steps = utterances * words
    flat = ops.reshape(contexts, (batch, steps))
    real = ops.not_equal(flat, 0)
    positions = ops.arange(steps, dtype="int32")[None, :]
    # Sort keys are unique: real words keep their position, padding goes after all of them.
    order = ops.argsort(ops.where(real, positions, positions + steps), axis=-1)
    count = ops.sum(ops.cast(real, "int32"), axis=-1)
    length = min(int(max_words), steps)
    start = ops.maximum(count - length, 0)
    slots = ops.arange(length, dtype="int32")[None, :]
    index = ops.minimum(start[:, None] + slots, steps - 1)
    ids = ops.take_along_axis(flat, ops.take_along_axis(order, index, axis=1), axis=1)
    return ops.where(slots < ops.minimum(count, length)[:, None], ids, ops.zeros_like(ids))


def frame_position_table(frames, width):
    """PSAC's sinusoidal frame positions `(frames, width)` (``position_encoding_init``):
    pos / 10000^(2⌊j/2⌋/width), sine on even and cosine on odd channels, row 0 all zero."""
    pos = np.arange(frames, dtype="float64")[:, None]
    j = np.arange(width)[None, :]
    angle = pos / np.power(10000.0, 2 * (j // 2) / width)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    table[0] = 0.0
    return table.astype("float32")


def timing_signal(length, channels, min_timescale=1.0, max_timescale=1.0e4):
    """QANet's ``get_timing_signal``: `(length, channels)` sines then cosines over
    geometrically spaced timescales (a zero channel appended when ``channels`` is odd)."""
    timescales = channels // 2
    increment = math.log(max_timescale / min_timescale) / max(timescales - 1, 1)
    inverse = min_timescale * np.exp(np.arange(timescales) * -increment)
    scaled = np.arange(length)[:, None] * inverse[None, :]
    signal = np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1)
    return np.pad(signal, ((0, 0), (0, channels % 2))).astype("float32")


def _split_heads(x, heads):
    """`(n, steps, dim)` → `(n, heads, steps, dim / heads)`."""
    n, steps, dim = ops.shape(x)
    return ops.transpose(ops.reshape(x, (n, steps, heads, dim // heads)), (0, 2, 1, 3))


def _merge_heads(x):
    """`(n, heads, steps, depth)` → `(n, steps, heads·depth)`."""
    n, heads, steps, depth = ops.shape(x)
    return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (n, steps, heads * depth))


def _check_heads(dim, heads, owner):
    if dim % heads:
        raise ValueError(f"{owner}: width {dim} is not divisible by heads={heads}.")


@keras.saving.register_keras_serializable(package="srs_lib")
class PositionalSelfAttention(keras.layers.Layer):
    """One layer of PSAC's video encoder (``EncoderLayer``): multi-head self-attention over
    the frames, then a position-wise feed-forward network, each with a residual and a norm.

    att = softmax(Q·Kᵀ / √dim) V per head (Q, K, V bias-free, dim/heads wide; the
    temperature is √dim, not √(dim/heads), as in the released code); y = LN(x +
    Dropout(Linear(concat heads))); out = LN(y + Dropout(W2·ReLU(W1·y))). Frames are never
    padded, so no mask. The norms are Keras' (ε = 1e-3 under the square root); the released
    code divides by the unbiased std + 1e-3.

    Args:
        heads: attention heads (released code: 8).
        inner: feed-forward width (released code: 512 for a 2048-wide model).
        dropout: dropout of the attention weights and of both residual branches.

    Call arguments:
        inputs: `(n, frames, dim)`.

    Returns:
        `(n, frames, dim)`.
    """

    def __init__(self, heads=4, inner=100, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.inner, self.dropout = heads, inner, dropout
        self.attention_dropout = keras.layers.Dropout(dropout, name="attention_dropout")
        self.attention_output_dropout = keras.layers.Dropout(dropout,
                                                             name="attention_output_dropout")
        self.feed_forward_dropout = keras.layers.Dropout(dropout, name="feed_forward_dropout")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-3, name="attention_norm")
        self.feed_forward_norm = keras.layers.LayerNormalization(epsilon=1e-3,
                                                                 name="feed_forward_norm")

    def build(self, input_shape):
        dim = input_shape[-1]
        _check_heads(dim, self.heads, "PositionalSelfAttention")
        init = keras.initializers.GlorotNormal()
        self.query = keras.layers.Dense(dim, use_bias=False, kernel_initializer=init, name="query")
        self.key = keras.layers.Dense(dim, use_bias=False, kernel_initializer=init, name="key")
        self.value = keras.layers.Dense(dim, use_bias=False, kernel_initializer=init, name="value")
        self.projection = keras.layers.Dense(dim, kernel_initializer=init, name="projection")
        self.feed_forward_in = keras.layers.Dense(self.inner, activation="relu",
                                                  name="feed_forward_in")
        self.feed_forward_out = keras.layers.Dense(dim, name="feed_forward_out")
        for layer in (self.query, self.key, self.value, self.projection, self.feed_forward_in):
            layer.build(input_shape)
        self.feed_forward_out.build((*input_shape[:-1], self.inner))
        self.attention_norm.build(input_shape)
        self.feed_forward_norm.build(input_shape)

    def call(self, inputs, training=None):
        dim = ops.shape(inputs)[-1]
        q, k, v = (_split_heads(layer(inputs), self.heads)
                   for layer in (self.query, self.key, self.value))
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(dim)
        weights = ops.softmax(logits, axis=-1)
        weights = self.attention_dropout(weights, training=training)
        attended = self.projection(_merge_heads(ops.matmul(weights, v)))
        y = self.attention_norm(inputs + self.attention_output_dropout(attended, training=training))
        z = self.feed_forward_out(self.feed_forward_in(y))
        return self.feed_forward_norm(y + self.feed_forward_dropout(z, training=training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"heads": self.heads, "inner": self.inner, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class VideoEncoder(keras.layers.Layer):
    """PSAC's PSA video encoder (``Encoder``): Enc(V) = layers(V + Linear(positions)).

    The frame positions are the fixed sinusoid table of :func:`frame_position_table`
    (as wide as the frames; 300 in the released code) through a trainable linear map. The
    model adds the residual itself: V̂ = V + Enc(V).

    Args:
        num_layers: stacked :class:`PositionalSelfAttention` layers (released code: 1).
        heads, inner, dropout: those of :class:`PositionalSelfAttention`.

    Call arguments:
        inputs: `(n, frames, dim)`.

    Returns:
        `(n, frames, dim)`.
    """

    def __init__(self, num_layers=1, heads=4, inner=100, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_layers, self.heads, self.inner, self.dropout = num_layers, heads, inner, dropout
        self.blocks = [PositionalSelfAttention(heads=heads, inner=inner, dropout=dropout,
                                               name=f"psa_layer_{i}") for i in range(num_layers)]

    def build(self, input_shape):
        frames, dim = input_shape[-2], input_shape[-1]
        self.positions = frame_position_table(frames, dim)
        self.position_projection = keras.layers.Dense(dim, name="position_projection")
        self.position_projection.build((frames, dim))
        for block in self.blocks:
            block.build(input_shape)

    def call(self, inputs, training=None):
        frames = ops.shape(inputs)[-2]
        table = self.positions if frames == self.positions.shape[0] else \
            frame_position_table(frames, self.positions.shape[1])
        x = inputs + self.position_projection(ops.convert_to_tensor(table))[None]
        for block in self.blocks:
            x = block(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, "heads": self.heads, "inner": self.inner,
                       "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class QuestionEmbedding(keras.layers.Layer):
    """The question's input layer (QANet's ``Embedding`` without its character channel):
    word embedding → dropout → bias-free position-wise linear map → 2-layer highway.

    Highway layer: g = σ(W_g x + b_g); x ← g ⊙ Dropout(W x + b) + (1 − g) ⊙ x (a linear
    transform, as in the released code). The released code concatenates frozen GloVe-300
    vectors with a character CNN; here the words use the dataset's own trainable
    embedding table, ``hidden`` wide, and there is no character channel.

    ``word_std``: the table is initialised from N(0, word_std²). QANet adds its timing
    signal (RMS 1/√2) to these states; Keras' default table (uniform ±0.05) made the words
    about 1/50 of it at initialisation (``python -m srs_lib psac`` measures both), where
    the released code's pretrained vectors and character features are of the signal's
    order. With ``word_std=1`` the words start at about the signal's size; None keeps
    Keras' default.

    Call arguments:
        inputs: `(batch, steps)` int ids.

    Returns:
        `(batch, steps, hidden)`; padded steps carry values that the encoder masks.
    """

    def __init__(self, vocab_size, hidden=100, dropout=0.1, highway_layers=2, word_std=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.hidden, self.dropout = vocab_size, hidden, dropout
        self.highway_layers, self.word_std = highway_layers, word_std
        initializer = ("uniform" if word_std is None
                       else keras.initializers.RandomNormal(stddev=float(word_std)))
        self.embedding = keras.layers.Embedding(vocab_size, hidden, embeddings_initializer=initializer,
                                                name="embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.projection = keras.layers.Dense(hidden, use_bias=False, name="projection")
        self.gates = [keras.layers.Dense(hidden, activation="sigmoid", name=f"highway_gate_{i}")
                      for i in range(highway_layers)]
        self.transforms = [keras.layers.Dense(hidden, name=f"highway_transform_{i}")
                           for i in range(highway_layers)]
        self.highway_dropout = keras.layers.Dropout(dropout, name="highway_dropout")

    def build(self, input_shape):
        self.embedding.build(input_shape)
        for layer in (self.projection, *self.gates, *self.transforms):
            layer.build((*input_shape, self.hidden))

    def call(self, inputs, training=None):
        x = self.projection(self.embedding_dropout(self.embedding(inputs), training=training))
        for gate, transform in zip(self.gates, self.transforms):
            g = gate(x)
            x = g * self.highway_dropout(transform(x), training=training) + (1.0 - g) * x
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.hidden)

    def get_config(self):
        config = super().get_config()
        config.update({"vocab_size": self.vocab_size, "hidden": self.hidden,
                       "dropout": self.dropout, "highway_layers": self.highway_layers,
                       "word_std": self.word_std})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class QuestionEncoderBlock(keras.layers.Layer):
    """QANet's encoder block as PSAC uses it for the question (``EncoderBlock``).

    x + timing signal, then ``conv_layers`` × [LN → (dropout on every other layer) →
    depthwise-separable Conv1d(kernel, SAME) + ReLU, residual], then LN → dropout →
    multi-head self-attention, residual; then LN → dropout → Conv1×1 + ReLU → Conv1×1,
    residual. Every residual branch is a stochastic-depth "layer dropout": in training it
    is dropped whole with probability dropout·l/(conv_layers + 1) for the l-th sublayer
    (l = 1, 2, ...; the released code's schedule), otherwise dropout-ed and added.

    The self-attention is QANet's: bias-free Q and [K; V] projections, Q scaled by
    (dim/heads)^-1/2, padded keys masked, dropout on the weights, no output projection.

    Masking: padded positions are zeroed before every convolution (the released code
    lets them leak into their neighbours) and never receive attention, so they cannot
    influence the real positions; their own outputs are meaningless.

    Args:
        conv_layers: depthwise-separable convolutions (released code: 4).
        kernel_size: their width (released code: 7).
        heads: self-attention heads (released code: 8).
        dropout: dropout rate (released code: 0.1).

    Call arguments:
        inputs: `(batch, steps, dim)`; mask: `(batch, steps)` bool, True for real words.

    Returns:
        `(batch, steps, dim)`.
    """

    def __init__(self, conv_layers=4, kernel_size=7, heads=4, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.conv_layers, self.kernel_size = conv_layers, kernel_size
        self.heads, self.dropout = heads, dropout
        self.supports_masking = True
        self.seed_generator = keras.random.SeedGenerator(name="seed_generator")

    def build(self, input_shape):
        dim = input_shape[-1]
        _check_heads(dim, self.heads, "QuestionEncoderBlock")
        self.conv_norms = [keras.layers.LayerNormalization(name=f"conv_norm_{i}")
                           for i in range(self.conv_layers)]
        self.convs = [keras.layers.SeparableConv1D(
            dim, self.kernel_size, padding="same", activation="relu",
            depthwise_initializer="he_normal", pointwise_initializer="he_normal",
            name=f"separable_conv_{i}") for i in range(self.conv_layers)]
        self.attention_norm = keras.layers.LayerNormalization(name="attention_norm")
        self.query = keras.layers.Dense(dim, use_bias=False, name="query")
        self.memory = keras.layers.Dense(2 * dim, use_bias=False, name="memory")
        self.feed_forward_norm = keras.layers.LayerNormalization(name="feed_forward_norm")
        self.feed_forward_in = keras.layers.Dense(dim, activation="relu",
                                                  kernel_initializer="he_normal",
                                                  name="feed_forward_in")
        self.feed_forward_out = keras.layers.Dense(dim, name="feed_forward_out")
        for layer in (*self.conv_norms, *self.convs, self.attention_norm, self.query,
                      self.memory, self.feed_forward_norm, self.feed_forward_in,
                      self.feed_forward_out):
            layer.build(input_shape)

    def _dropout(self, x, training):
        if training and self.dropout > 0:
            return keras.random.dropout(x, self.dropout, seed=self.seed_generator)
        return x

    def _layer_dropout(self, x, residual, rate, training):
        if training and rate > 0:
            dropped = keras.random.uniform((), seed=self.seed_generator) < rate
            kept = keras.random.dropout(x, rate, seed=self.seed_generator) + residual
            return ops.where(dropped, residual, kept)
        return x + residual

    def _self_attention(self, x, mask, training):
        dim = ops.shape(x)[-1]
        memory = self.memory(x)
        q = _split_heads(self.query(x), self.heads) * (dim // self.heads) ** -0.5
        k = _split_heads(memory[..., :dim], self.heads)
        v = _split_heads(memory[..., dim:], self.heads)
        weights = masked_softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))),
                                 mask[:, None, None, :])
        return _merge_heads(ops.matmul(self._dropout(weights, training), v))

    def call(self, inputs, mask=None, training=None):
        steps, dim = ops.shape(inputs)[1], ops.shape(inputs)[2]
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        keep = ops.cast(mask, inputs.dtype)[..., None]
        total, sublayer = self.conv_layers + 1, 1
        out = inputs + ops.convert_to_tensor(timing_signal(steps, dim))[None]
        for i, (norm, conv) in enumerate(zip(self.conv_norms, self.convs)):
            x = norm(out)
            if i % 2 == 0:
                x = self._dropout(x, training)
            out = self._layer_dropout(conv(x * keep), out, self.dropout * sublayer / total,
                                      training)
            sublayer += 1
        x = self._dropout(self.attention_norm(out), training)
        out = self._layer_dropout(self._self_attention(x, mask, training), out,
                                  self.dropout * sublayer / total, training)
        sublayer += 1
        x = self._dropout(self.feed_forward_norm(out), training)
        return self._layer_dropout(self.feed_forward_out(self.feed_forward_in(x)), out,
                                   self.dropout * sublayer / total, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"conv_layers": self.conv_layers, "kernel_size": self.kernel_size,
                       "heads": self.heads, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class VideoQuestionAttention(keras.layers.Layer):
    """PSAC's co-attention (``VQAttention``) and resizer, mean-pooled over frames.

    V' = Linear(V̂); S_kj = w_v·v'_k + w_q·q_j + w_m·(v'_k ⊙ q_j) + b (trilinear, on
    dropout-ed copies of V' and Q); S1 = softmax over the real question words, S2 =
    softmax over the frames; A = S1·Q, B = S1·S2ᵀ·V'; X = [V'; A; V'⊙A; V'⊙B] → bias-free
    Conv1×1 to ``dim`` → mean over frames. The released code's weight-normalised linear map
    is a plain dense layer here.

    The question is encoded once per context: `(batch, words, dim)` meets
    `(batch, candidates, frames, dim)` by broadcasting, never tiled per candidate.

    Call arguments:
        inputs: [video `(batch, candidates, frames, dim)`, question `(batch, words, dim)`];
        mask: `(batch, words)` bool, True for real words.

    Returns:
        `(batch, candidates, dim)`.
    """

    def __init__(self, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.dropout = dropout
        self.video_dropout = keras.layers.Dropout(dropout, name="video_dropout")
        self.question_dropout = keras.layers.Dropout(dropout, name="question_dropout")

    def build(self, input_shape):
        video_shape, question_shape = input_shape
        dim = question_shape[-1]
        self.transform = keras.layers.Dense(dim, name="video_transform")
        self.transform.build(video_shape)
        self.resizer = keras.layers.Dense(dim, use_bias=False, name="resizer")
        self.resizer.build((*video_shape[:-1], 4 * dim))
        glorot = keras.initializers.GlorotUniform()
        self.w_video = self.add_weight(shape=(dim,), initializer=glorot, name="w_video")
        self.w_question = self.add_weight(shape=(dim,), initializer=glorot, name="w_question")
        self.w_product = self.add_weight(shape=(dim,), initializer=glorot, name="w_product")
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")

    def call(self, inputs, mask=None, training=None):
        video, question = inputs
        v = self.transform(video)  # (batch, candidates, frames, dim)
        vd = self.video_dropout(v, training=training)
        qd = self.question_dropout(question, training=training)
        logits = (ops.einsum("bcpd,d->bcp", vd, self.w_video)[..., None]
                  + ops.einsum("bld,d->bl", qd, self.w_question)[:, None, None, :]
                  + ops.einsum("bcpd,bld->bcpl", vd * self.w_product, qd) + self.bias)
        if mask is None:
            mask = ops.ones(ops.shape(question)[:2], dtype="bool")
        s1 = masked_softmax(logits, mask[:, None, None, :], axis=-1)  # over words
        s2 = ops.softmax(logits, axis=2)  # over frames (never padded)
        a = ops.einsum("bcpl,bld->bcpd", s1, question)
        b = ops.einsum("bcpl,bcld->bcpd", s1, ops.einsum("bcpl,bcpd->bcld", s2, v))
        x = ops.concatenate([v, a, v * a, v * b], axis=-1)
        return ops.mean(self.resizer(x), axis=2)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        video_shape, question_shape = input_shape
        return (*video_shape[:2], question_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class PSAC(StickerRanker):
    """PSAC (Li et al., AAAI 2019) in its multiple-choice mode: one score per (context,
    sticker).

    Video: the sticker's ``p²`` map tokens `(batch, candidates, p², hidden)` are the frames;
    V̂ = V + Enc(V) with the PSA encoder of :class:`VideoEncoder` (sinusoidal frame
    positions, ``video_layers`` self-attention layers), each sticker encoded once.
    Question: the dialog context flattened into one word sequence by
    :func:`flatten_context` (the last ``max_question_words`` real words, no separator
    between utterances), embedded by :class:`QuestionEmbedding` (the dataset's own
    trainable embeddings; no GloVe, no character channel) and encoded by one
    :class:`QuestionEncoderBlock`, once per context. :class:`VideoQuestionAttention`
    fuses each sticker with its context and mean-pools over the frames; the classifier
    Linear(2·hidden) → ReLU → Dropout → Linear(1) gives the score. PSAC trains these
    scores with a multi-margin loss over the choices; here they are trained with the
    trainer's pairwise hinge loss, which is the same loss up to averaging.

    Widths: the released code's 2048 (video), 512 (question, co-attention) and 512 (video
    feed-forward) are all ``hidden``; the classifier's 1024 is 2·hidden.

    Inputs: {"contexts" `(batch, utterances, words)`, "stickers"
    `(batch, candidates, H, W, 3)`}. Outputs: {"scores" `(batch, candidates)`,
    "emoji_logits" `(batch, candidates, n_emoji)`}.

    Args (besides the shared ones of :class:`~srs_lib.models.base.StickerRanker`):
        video_layers: PSA encoder layers (released code: 1).
        heads: attention heads of the video encoder and the question self-attention
            (released code: 8; the default 4 divides the widths used here, 100, 16 and 8,
            which 8 does not).
        max_question_words: the longest flattened context (the released code's Lq = 20 is
            a question; a dialog context needs more).
        conv_layers: depthwise-separable convolutions of the question block (4).
        kernel_size: their width (7).
        classifier_dropout: dropout inside the classifier (0.5).
        word_std: the word table's initial standard deviation (see
            :class:`QuestionEmbedding`; 1.0, so that the words are not drowned by the timing
            signal; None: Keras' default, 1/50 of the signal).
    """

    options = ("video_layers", "heads", "max_question_words", "conv_layers", "kernel_size",
               "classifier_dropout", "word_std")

    def __init__(self, vocab_size, n_emoji, video_layers=1, heads=4, max_question_words=150,
                 conv_layers=4, kernel_size=7, classifier_dropout=0.5, word_std=1.0, **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        self.video_layers, self.heads = video_layers, heads
        self.max_question_words, self.conv_layers = max_question_words, conv_layers
        self.kernel_size, self.classifier_dropout = kernel_size, classifier_dropout
        self.word_std = word_std
        hidden, dropout = self.hidden, self.dropout
        self.video_encoder = VideoEncoder(video_layers, heads=heads, inner=hidden,
                                          dropout=dropout, name="video_encoder")
        self.question_embedding = QuestionEmbedding(vocab_size, hidden, dropout=dropout,
                                                    word_std=word_std, name="question_embedding")
        self.question_encoder = QuestionEncoderBlock(conv_layers, kernel_size, heads=heads,
                                                     dropout=dropout, name="question_encoder")
        self.coattention = VideoQuestionAttention(dropout=dropout, name="coattention")
        self.classifier_hidden = keras.layers.Dense(2 * hidden, activation="relu",
                                                    name="classifier_hidden")
        self.classifier_dropout_layer = keras.layers.Dropout(classifier_dropout,
                                                             name="classifier_dropout")
        self.classifier_out = keras.layers.Dense(1, name="classifier_out")

    @property
    def embeddings(self):
        """The word-embedding tables (one)."""
        return [self.question_embedding.embedding]

    def build(self, inputs_shape):
        batch, utterances, words = inputs_shape["contexts"]
        stickers_shape = inputs_shape["stickers"]
        candidates, d = stickers_shape[1], self.hidden
        frames = self.sticker_encoder.grid_size ** 2
        steps = min(self.max_question_words, utterances * words)
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(stickers_shape)
        self.video_encoder.build((None, frames, d))
        self.question_embedding.build((batch, steps))
        self.question_encoder.build((batch, steps, d))
        self.coattention.build([(batch, candidates, frames, d), (batch, steps, d)])
        self.classifier_hidden.build((batch, candidates, d))
        self.classifier_out.build((batch, candidates, 2 * d))

    def encode_question(self, contexts, training=None):
        """``(question states `(batch, L, hidden)`, mask `(batch, L)`)`` of a context."""
        question = flatten_context(contexts, self.max_question_words)
        mask = ops.not_equal(question, 0)
        x = self.question_embedding(question, training=training)
        return self.question_encoder(x, mask=mask, training=training), mask

    def call(self, inputs, training=None):
        question, mask = self.encode_question(inputs["contexts"], training=training)
        tokens, _, emoji_logits = self.encode_candidate_tokens(inputs, training=training)
        batch, candidates, frames, dim = ops.shape(tokens)
        video = ops.reshape(tokens, (batch * candidates, frames, dim))
        video = video + self.video_encoder(video, training=training)
        video = ops.reshape(video, (batch, candidates, frames, dim))
        fused = self.coattention([video, question], mask=mask, training=training)
        hidden = self.classifier_dropout_layer(self.classifier_hidden(fused), training=training)
        return {"scores": ops.squeeze(self.classifier_out(hidden), -1),
                "emoji_logits": emoji_logits}

