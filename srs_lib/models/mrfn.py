"""MRFN, the Multi-Representation Fusion Network (Tao et al., WSDM 2019), FLS variant.

MRFN encodes the context and the response in several representations and matches them
representation by representation. The released code (`chongyangtao/MRFN`, `model_FLS.py`
and `modules.py`) only has the "fusion at the last stage" (FLS) variant, which is the one
written here. Every representation has its own matching network, and their predictions are
added up at the end:

* **word**: the word embeddings;
* **seq**: a GRU over the words;
* **conv**: 1-D convolutions with kernels 1-4 (ReLU, SAME), concatenated, then a layer norm;
* **self**: multi-head self-attention with ReLU-activated Q/K/V projections, a residual
  connection and a layer norm (no feed-forward);
* **cross**: the same attention between the utterance and the response, in both
  directions, with the same weights.

The context and the response share the encoders of every representation.

For each representation and each (context, candidate, turn), ``interaction_matching``:

    e_u = U W;   A = Rsp e_uᵀ;   R̃ = softmax_words(A) U;
    f = ReLU([R̃ ⊙ Rsp ; R̃ − Rsp] W_f + b_f);
    v = GRU over the response positions of f (final state);
    s = Dense(GRU over the turns of v).

Sticker adaptation (notes, section 3): the response is the sticker's ``p²`` map tokens in
raster order (``encode_sticker_tokens``), so "seq", "conv" and the matching GRU run over raster
positions. The original's sixth representation (characters) has no image counterpart and
is dropped. The ``representations`` option picks a subset of the five.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from srs_lib.layers.gru import MaskedGRU
from srs_lib.layers.masking import context_masks, masked_softmax
from srs_lib.models.base import StickerRanker

#: The representations of the released FLS model, less the character one.
REPRESENTATIONS = ("word", "seq", "conv", "self", "cross")


def _zero_padded(x, mask):
    """``x`` `(..., steps, dim)` with the steps where ``mask`` `(..., steps)` is False set to 0."""
    return ops.where(mask[..., None], x, ops.zeros_like(x))


@keras.saving.register_keras_serializable(package="srs_lib")
class MRFNAttention(keras.layers.Layer):
    """MRFN's ``multihead_attention``: ReLU-activated Q/K/V projections, scaled dot products
    over ``heads`` heads, a residual connection and a layer norm (no output projection and
    no feed-forward layer).

    Queries and keys may have different leading axes as long as they broadcast, e.g.
    queries `(batch, 1, utterances, words, dim)` and keys `(batch, candidates, 1, p², dim)`
    give `(batch, candidates, utterances, words, dim)`: each side is projected once and
    only the attention itself is computed per pair.

    When ``heads`` does not divide the width ``dim``, each head gets ``ceil(dim / heads)``
    query and key dimensions; the value projection keeps ``dim`` units, zero-padded to
    ``heads · ceil(dim / heads)`` before the heads are split, and the padding is cut off
    after them (so the last heads read fewer value dimensions). With ``heads | dim`` this is
    exactly the original layer.

    Args:
        heads: attention heads (original: 8).

    Call arguments:
        queries: `(..., query_steps, dim)`.
        keys: `(..., key_steps, dim)` (the original uses the keys as values too).
        query_mask: `(..., query_steps)` bool or None: masked queries receive no attention
            output (they keep only the residual), as in the original.
        key_mask: `(..., key_steps)` bool or None: masked keys receive no weight.

    Returns:
        `(..., query_steps, dim)`, the broadcast of the leading axes.
    """

    def __init__(self, heads=8, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")

    def build(self, queries_shape, keys_shape=None):
        dim = queries_shape[-1]
        self.dim = dim
        self.head_size = math.ceil(dim / self.heads)
        width = self.heads * self.head_size
        self.query = keras.layers.Dense(width, activation="relu", name="dense_q")
        self.key = keras.layers.Dense(width, activation="relu", name="dense_k")
        self.value = keras.layers.Dense(dim, activation="relu", name="dense_v")
        for layer in (self.query, self.key, self.value):
            layer.build((None, dim))
        self.norm.build((None, dim))

    def _split_heads(self, x):
        """`(..., steps, heads·head_size)` → `(..., heads, steps, head_size)`."""
        shape = tuple(ops.shape(x))
        x = ops.reshape(x, (*shape[:-1], self.heads, self.head_size))
        return ops.moveaxis(x, -2, -3)

    def call(self, queries, keys, query_mask=None, key_mask=None):
        q = self._split_heads(self.query(queries))
        k = self._split_heads(self.key(keys))
        v = self.value(keys)
        padding = self.heads * self.head_size - self.dim
        if padding:
            v = ops.pad(v, [(0, 0)] * (len(v.shape) - 1) + [(0, padding)])
        v = self._split_heads(v)
        logits = ops.matmul(q / math.sqrt(self.head_size), ops.swapaxes(k, -1, -2))
        if key_mask is None:
            weights = ops.softmax(logits, axis=-1)
        else:
            weights = masked_softmax(logits, key_mask[..., None, None, :])
        if query_mask is not None:
            weights = weights * ops.cast(query_mask[..., None, :, None], weights.dtype)
        out = ops.moveaxis(ops.matmul(weights, v), -3, -2)  # (..., query_steps, heads, size)
        shape = tuple(ops.shape(out))
        out = ops.reshape(out, (*shape[:-2], self.heads * self.head_size))[..., :self.dim]
        return self.norm(out + queries)

    def get_config(self):
        config = super().get_config()
        config.update({"heads": self.heads})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class InteractionMatching(keras.layers.Layer):
    """MRFN's ``interaction_matching_batch`` for one representation: one score per pair.

    For every (context, candidate, turn): e_u = U W; A = Rsp e_uᵀ; R̃ = softmax(A) U with
    the softmax over the utterance's real words; f = ReLU(Dense([R̃ ⊙ Rsp ; R̃ − Rsp]));
    a GRU over the response positions of f gives one vector per turn, a GRU over the real
    turns one vector per pair and a linear layer one real-valued score (the original's
    2-way softmax logits, reduced to one output for the hinge loss).

    The original softmax adds a 1e-5 smoothing that gives padded words a tiny weight (and
    a uniform one in an empty turn); here padded words get exactly none, and empty turns
    are skipped by the turn GRU instead. All (context, candidate, turn) triples go through
    the response GRU as one batch.

    Args:
        hidden: width d of the GRUs and of f (original: 200, the representation width).
        dropout: dropout rate on f (original: 1 − keep_prob = 0.2).

    Call arguments:
        context: `(batch, 1 or candidates, utterances, words, d)` utterance representation
            (one per context, or one per pair for the cross-attention representation).
        response: `(batch, candidates, 1 or utterances, p², d)` response representation.
        word_mask: `(batch, utterances, words)` bool. utterance_mask: `(batch, utterances)`.

    Returns:
        `(batch, candidates)` scores.
    """

    def __init__(self, hidden, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.dropout = dropout
        self.feature = keras.layers.Dense(hidden, name="feature")  # its ReLU is in call
        self.feature_dropout = keras.layers.Dropout(dropout, name="feature_dropout")
        self.response_gru = MaskedGRU(hidden, name="response_gru")
        self.turn_gru = MaskedGRU(hidden, name="turn_gru")
        self.score = keras.layers.Dense(1, name="score")

    def build(self, context_shape, response_shape=None):
        dim = context_shape[-1]
        self.utterance_weight = self.add_weight(shape=(dim, dim), initializer="glorot_uniform",
                                                name="utterance_weight")
        self.feature.build((None, 2 * dim))
        self.response_gru.build((None, None, self.hidden))
        self.turn_gru.build((None, None, self.hidden))
        self.score.build((None, self.hidden))

    def call(self, context, response, word_mask, utterance_mask, training=None):
        e_u = ops.matmul(context, self.utterance_weight)
        a = ops.matmul(response, ops.swapaxes(e_u, -1, -2))  # (b, c, u, p², words)
        attention = masked_softmax(a, word_mask[:, None, :, None, :])
        # f = ReLU([R̃ ⊙ Rsp ; R̃ − Rsp] W_f + b) with W_f = [W_1; W_2], computed as
        # (R̃ ⊙ Rsp) W_1 + softmax(A) (U W_2) − Rsp W_2 + b: U W_2 and Rsp W_2 are per
        # context and per candidate, so only one d×d product is computed per pair and turn.
        dim = ops.shape(context)[-1]
        w_1, w_2 = self.feature.kernel[:dim], self.feature.kernel[dim:]
        both = ops.matmul(attention, ops.concatenate([context, ops.matmul(context, w_2)], -1))
        attended, attended_w_2 = both[..., :dim], both[..., dim:]  # R̃ and R̃ W_2
        f = ops.relu(ops.matmul(attended * response, w_1) + attended_w_2
                     - ops.matmul(response, w_2) + self.feature.bias)
        f = self.feature_dropout(f, training=training)
        batch, candidates, utterances, positions, dim = ops.shape(f)
        pairs_and_turns = batch * candidates * utterances
        turns = self.response_gru(ops.reshape(f, (pairs_and_turns, positions, dim)))
        turns = ops.reshape(turns, (batch * candidates, utterances, self.hidden))
        turn_mask = ops.reshape(
            ops.broadcast_to(utterance_mask[:, None, :], (batch, candidates, utterances)),
            (batch * candidates, utterances))
        pair = self.turn_gru(turns, step_mask=turn_mask)
        return ops.reshape(self.score(pair), (batch, candidates))

    def get_config(self):
        config = super().get_config()
        config.update({"hidden": self.hidden, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="srs_lib")
class MRFN(StickerRanker):
    """MRFN-FLS with the sticker as response: five representations, five matchings, one sum.

    Inputs: {"contexts" `(batch, utterances, words)` int ids (0 = PAD, empty utterances
    last), "stickers" `(batch, candidates, H, W, 3)` in 0-255}. Outputs: {"scores"
    `(batch, candidates)`, "emoji_logits" `(batch, candidates, n_emoji)`}.

    Score = the SUM of the per-representation real-valued scores. The original sums the
    per-representation 2-way softmax probabilities for prediction and the
    per-representation cross-entropies for training; our trainer applies one pairwise
    hinge loss to one score, so the per-representation scores are added before the loss.
    :meth:`representation_scores` gives them one by one.

    The word/seq/conv/self representations of the utterances are computed once per
    context and broadcast over the candidates; those of the sticker once per candidate;
    only the cross-attention representation and the matchings are computed per pair. The
    turns are post-padded here (the original pre-pads and runs its turn GRU without
    lengths): the turn GRU is masked so that empty utterances never advance it. Padded
    words are zeroed right after the embedding (the original relies on a zero PAD row),
    receive no attention weight anywhere and do not advance the word GRU.

    Arguments: the shared ones of :class:`~srs_lib.models.base.StickerRanker` (``hidden``
    is the embedding, representation and GRU width, 200 in the original; ``dropout`` is
    applied to the embeddings, the sticker tokens and the matching features, 0.2 in the
    original), and:

        representations: names among "word", "seq", "conv", "self", "cross" (default: all
            five; the original's "char" has no image counterpart).
        heads: heads of the self- and cross-attention (original: 8); when they do not
            divide ``hidden``, each head's query/key size is ``ceil(hidden / heads)`` (see
            :class:`MRFNAttention`).
        conv_kernels: kernel sizes of the "conv" representation (original: 1, 2, 3, 4 with
            50 filters each, i.e. 200 = the width); the ``hidden`` filters are split
            between the kernels as evenly as possible, so the concatenation is ``hidden``
            wide.
    """

    options = ("representations", "heads", "conv_kernels")

    def __init__(self, vocab_size, n_emoji, representations=REPRESENTATIONS, heads=8,
                 conv_kernels=(1, 2, 3, 4), **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        representations = tuple(representations)
        unknown = [name for name in representations if name not in REPRESENTATIONS]
        if not representations or unknown or len(set(representations)) != len(representations):
            raise ValueError(f"representations must be distinct names among {REPRESENTATIONS}, "
                             f"got {representations!r}.")
        conv_kernels = tuple(int(k) for k in conv_kernels)
        if "conv" in representations and not 0 < len(conv_kernels) <= self.hidden:
            raise ValueError(f"conv_kernels needs 1 to hidden={self.hidden} kernel sizes, "
                             f"got {conv_kernels!r}.")
        self.representations, self.heads, self.conv_kernels = representations, heads, conv_kernels
        d = self.hidden
        self.embedding = keras.layers.Embedding(vocab_size, d, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(self.dropout, name="embedding_dropout")
        if "seq" in representations:
            self.sentence_gru = MaskedGRU(d, name="sentence_gru")
        if "conv" in representations:
            filters = [d // len(conv_kernels) + (i < d % len(conv_kernels))
                       for i in range(len(conv_kernels))]
            self.convolutions = [
                keras.layers.Conv1D(n, k, padding="same", activation="relu", name=f"conv_{k}")
                for n, k in zip(filters, conv_kernels)]
            self.conv_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="conv_norm")
        if "self" in representations:
            self.self_attention = MRFNAttention(heads, name="self_attention")
        if "cross" in representations:
            self.cross_attention = MRFNAttention(heads, name="cross_attention")
        self.matchings = [InteractionMatching(d, dropout=self.dropout, name=f"{name}_matching")
                          for name in representations]

    def build(self, inputs_shape):
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(inputs_shape["stickers"])
        d = self.hidden
        sequence = (None, None, d)
        self.embedding.build(inputs_shape["contexts"])
        if "seq" in self.representations:
            self.sentence_gru.build(sequence)
        if "conv" in self.representations:
            for layer in self.convolutions:
                layer.build(sequence)
            self.conv_norm.build(sequence)
        for name in ("self", "cross"):
            if name in self.representations:
                getattr(self, f"{name}_attention").build(sequence, sequence)
        for matching in self.matchings:
            matching.build((None, None, None, None, d), (None, None, None, None, d))

    def _encode(self, name, x, mask=None):
        """The shared encoder of representation ``name`` on `(n, steps, d)` embeddings
        (``mask`` `(n, steps)`: the utterances' real words, None for sticker tokens)."""
        if name == "word":
            return x
        if name == "seq":
            return self.sentence_gru(x, step_mask=mask, return_sequences=True)
        if name == "conv":
            return self.conv_norm(ops.concatenate([conv(x) for conv in self.convolutions], -1))
        if name == "self":
            return self.self_attention(x, x, query_mask=mask, key_mask=mask)
        raise ValueError(name)

    def representation_scores(self, inputs, training=None):
        """``({name: (batch, candidates) score}, emoji_logits)``, one score per representation."""
        contexts = inputs["contexts"]
        word_mask, utterance_mask = context_masks(contexts)
        batch, utterances, words = ops.shape(contexts)
        d = self.hidden
        tokens, _, emoji_logits = self.encode_candidate_tokens(inputs, training=training)
        candidates, positions = ops.shape(tokens)[1], ops.shape(tokens)[2]

        # Embeddings: padded words become 0 before any encoder reads them.
        embedded = _zero_padded(self.embedding(contexts), word_mask)
        embedded = self.embedding_dropout(embedded, training=training)
        tokens = self.embedding_dropout(tokens, training=training)
        flat_words = ops.reshape(embedded, (batch * utterances, words, d))
        flat_mask = ops.reshape(word_mask, (batch * utterances, words))
        flat_tokens = ops.reshape(tokens, (batch * candidates, positions, d))

        scores = {}
        for name, matching in zip(self.representations, self.matchings):
            if name == "cross":
                # Per pair: each utterance attends to the sticker and the sticker to each
                # utterance, with the same weights.
                context = self.cross_attention(
                    embedded[:, None], tokens[:, :, None], query_mask=word_mask[:, None])
                response = self.cross_attention(
                    tokens[:, :, None], embedded[:, None], key_mask=word_mask[:, None])
            else:
                context = self._encode(name, flat_words, flat_mask)
                context = ops.reshape(context, (batch, 1, utterances, words, d))
                response = self._encode(name, flat_tokens)
                response = ops.reshape(response, (batch, candidates, 1, positions, d))
            context = _zero_padded(context, word_mask[:, None])
            scores[name] = matching(context, response, word_mask, utterance_mask,
                                    training=training)
        return scores, emoji_logits

    def call(self, inputs, training=None):
        scores, emoji_logits = self.representation_scores(inputs, training=training)
        total = None
        for score in scores.values():
            total = score if total is None else total + score
        return {"scores": total, "emoji_logits": emoji_logits}
