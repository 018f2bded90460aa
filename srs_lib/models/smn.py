"""SMN, the Sequential Matching Network (Wu et al., ACL 2017), adapted to sticker responses.

Each utterance meets the response first, word by word, in two similarity "images": M1 of
the word embeddings and M2 of GRU states through a learned matrix A. A CNN turns each image
into a matching vector, a GRU accumulates the vectors in the order of the turns, and an
aggregation L of its states (the last one, a static or a dynamic weighting) gives the score.

The sticker adaptation (the project's baseline notes, section 1): the response is the
sticker's p² map tokens in raster order, so M1 = U_i·Rᵀ compares words with map cells and
the response GRU runs over the p² cells.
"""
from __future__ import annotations

import keras
from keras import ops

from srs_lib.layers.masking import context_masks, masked_softmax
from srs_lib.models.base import StickerRanker

AGGREGATIONS = ("last", "static", "dynamic")


@keras.saving.register_keras_serializable(package="srs_lib")
class SMN(StickerRanker):
    """Utterance-response matching images → CNN → turn GRU → aggregation → score.

    Inputs: {"contexts" `(batch, utterances, words)` int ids (0 = PAD, all-PAD utterances
    last), "stickers" `(batch, candidates, H, W, 3)` in 0-255}. Outputs: {"scores"
    `(batch, candidates)`, "emoji_logits" `(batch, candidates, n_emoji)`}.

    Per context (encoded once, shared by its candidates): word embeddings U_i
    `(utterances, words, d)` and utterance-GRU states H_{u_i}. Per sticker (encoded once):
    its map tokens R `(p², d)` (the response "words") and the response-GRU states H_r over
    them in raster order. Per (context, candidate, utterance):

    * M1 = U_i·Rᵀ and M2 = H_{u_i}·A·H_rᵀ, stacked into a `(words, p², 2)` image;
    * v_i = tanh(Dense(flatten(maxpool(ReLU(conv(image)))))), `(matching_dim,)`;

    then h'_i = GRU(v_1..v_n) over the real utterances and L, per ``aggregation``:

    * "last" (SMN_last, default; what most later papers report): h' after the last *real*
      utterance. Utterances are post-padded, so this is the masked GRU's final state, not
      its last slot;
    * "static": Σ_i w_i h'_i over the real utterances, with w learned and indexed by
      recency (w_0 for the last real utterance): the Theano code left-pads the turns, so
      its w_t weights the t-th turn counted from the end. w starts at ones, as there;
    * "dynamic" (SMN_dynamic): α_i ∝ exp(tanh(h'_i W + h_{u_i,last} W_2 + b)·u_s) over the
      real utterances (a max-subtracted softmax), with h_{u_i,last} the utterance GRU's
      final state; L = Σ_i α_i h'_i.

    Score = Dense(1)(L). The original ends in Dense(2) and a softmax cross-entropy; a 2-way
    softmax depends only on the difference of its two logits, so the single logit here is
    the log-odds of "match" and is trained, like every model of this project, with the
    trainer's pairwise hinge loss.

    Padding: padded words have their embeddings and GRU states set to zero (the original
    relies on a zero PAD embedding for M1), so they give zero rows in M1 and M2, as in the
    original, and they do not advance the GRU. Padded utterances do not advance the turn
    GRU and take no part in any aggregation.

    Sizes: the word embedding, the utterance and response GRUs and A have width ``hidden``
    (d; Theano Ubuntu run: 100). The conv follows the original (VALID 3×3, max-pool 3×3
    stride 3); on maps smaller than the kernel (e.g. a 2×2 sticker gives p² = 4 cells, and
    one word less than 3) the conv falls back to SAME padding and the pool size is clipped
    to the conv's output, so tiny inputs never collapse to an empty map. The Dense after the
    flatten is built from the input shapes (with 20 words and 36 cells: 6×11×8 = 528).

    Args:
        vocab_size, n_emoji, hidden, dropout, backbone, image_size, backbone_weights,
            pretrained, classify: the shared ones of
            :class:`~srs_lib.models.base.StickerRanker` (``dropout`` is kept in the config
            and unused: SMN has no dropout).
        aggregation: "last" (default), "static" or "dynamic".
        filters: conv filters (original: 8).
        kernel_size: conv kernel side (original: 3).
        pool_size: max-pool side and stride (original: 3).
        matching_dim: width of the matching vectors v_i (original: 50).
        turn_units: width of the turn-level GRU (Theano code, the paper's run: 50; the TF
            code uses 200).
        share_gru: True (default, the original): one GRU encodes the utterances and the
            response, here the sticker cells too; False gives the sticker its own GRU.
    """

    options = ("aggregation", "filters", "kernel_size", "pool_size", "matching_dim",
               "turn_units", "share_gru")

    def __init__(self, vocab_size, n_emoji, aggregation="last", filters=8, kernel_size=3,
                 pool_size=3, matching_dim=50, turn_units=50, share_gru=True, **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}.")
        self.aggregation = aggregation
        self.filters, self.kernel_size, self.pool_size = filters, kernel_size, pool_size
        self.matching_dim, self.turn_units, self.share_gru = matching_dim, turn_units, share_gru
        d = self.hidden
        self.embedding = keras.layers.Embedding(vocab_size, d, name="embedding")
        self.utterance_gru = keras.layers.GRU(d, return_sequences=True, return_state=True,
                                              name="utterance_gru")
        if not share_gru:
            self.sticker_gru = keras.layers.GRU(d, return_sequences=True, name="sticker_gru")
        self.matching = keras.layers.Dense(matching_dim, activation="tanh",
                                           name="matching_vector")
        self.turn_gru = keras.layers.GRU(turn_units, return_sequences=True, return_state=True,
                                         name="turn_gru")
        self.score = keras.layers.Dense(1, name="score")

    def build(self, inputs_shape):
        _, utterances, words = inputs_shape["contexts"]
        stickers_shape = inputs_shape["stickers"]
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(stickers_shape)
        d, cells = self.hidden, self.sticker_encoder.grid_size ** 2
        self.embedding.build((None, words))
        self.utterance_gru.build((None, words, d))
        if not self.share_gru:
            self.sticker_gru.build((None, cells, d))
        self.A = self.add_weight(shape=(d, d), initializer="orthogonal", name="A")

        # The original's VALID conv and pool, guarded against maps smaller than a kernel.
        fits = min(words, cells) >= self.kernel_size
        self.conv = keras.layers.Conv2D(self.filters, self.kernel_size,
                                        padding="valid" if fits else "same",
                                        activation="relu", name="conv")
        self.conv.build((None, words, cells, 2))
        conv_shape = self.conv.compute_output_shape((None, words, cells, 2))
        pool = tuple(min(self.pool_size, side) for side in conv_shape[1:3])
        self.pool = keras.layers.MaxPooling2D(pool, strides=pool, name="pool")
        pooled = self.pool.compute_output_shape(conv_shape)
        self.matching.build((None, pooled[1] * pooled[2] * pooled[3]))

        self.turn_gru.build((None, utterances, self.matching_dim))
        units = self.turn_units
        if self.aggregation == "static":
            self.turn_weights = self.add_weight(shape=(utterances,), initializer="ones",
                                                name="turn_weights")
        elif self.aggregation == "dynamic":
            self.W = self.add_weight(shape=(units, units), initializer="orthogonal", name="W")
            self.W2 = self.add_weight(shape=(d, units), initializer="glorot_uniform", name="W2")
            self.b = self.add_weight(shape=(units,), initializer="zeros", name="b")
            self.u_s = self.add_weight(shape=(units,), initializer="glorot_uniform", name="u_s")
        self.score.build((None, units))

    def encode_context(self, contexts):
        """``(U, H_u, h_last)``: embeddings and utterance-GRU states `(batch, utterances,
        words, d)`, zero on padded words, and final states `(batch, utterances, d)`."""
        batch, utterances, words = ops.shape(contexts)
        word_mask, _ = context_masks(contexts)
        keep = ops.cast(word_mask, "float32")[..., None]
        embedded = self.embedding(contexts) * keep
        flat_mask = ops.reshape(word_mask, (batch * utterances, words))
        states, last = self.utterance_gru(
            ops.reshape(embedded, (batch * utterances, words, self.hidden)), mask=flat_mask)
        states = ops.reshape(states, (batch, utterances, words, self.hidden)) * keep
        return embedded, states, ops.reshape(last, (batch, utterances, self.hidden))

    def matching_vectors(self, embedded, states, tokens):
        """v_i for every (context, candidate, utterance): `(batch, candidates, utterances,
        matching_dim)` from U, H_u `(batch, utterances, words, d)` and the sticker tokens
        `(batch, candidates, p², d)`."""
        batch, candidates, cells, d = ops.shape(tokens)
        utterances, words = ops.shape(embedded)[1:3]
        gru = self.utterance_gru if self.share_gru else self.sticker_gru
        response = gru(ops.reshape(tokens, (batch * candidates, cells, d)))
        if self.share_gru:
            response = response[0]  # the shared GRU also returns its final state
        response = ops.reshape(response, (batch, candidates, cells, d))
        m1 = ops.einsum("buwd,bckd->bcuwk", embedded, tokens)
        m2 = ops.einsum("buwd,bckd->bcuwk", ops.matmul(states, self.A), response)
        images = ops.reshape(ops.stack([m1, m2], axis=-1),
                             (batch * candidates * utterances, words, cells, 2))
        pooled = self.pool(self.conv(images))
        vectors = self.matching(ops.reshape(pooled, (ops.shape(pooled)[0], -1)))
        return ops.reshape(vectors, (batch, candidates, utterances, self.matching_dim))

    def call(self, inputs, training=None):
        contexts = inputs["contexts"]
        batch, utterances, _ = ops.shape(contexts)
        _, utterance_mask = context_masks(contexts)
        embedded, states, last_states = self.encode_context(contexts)
        tokens, _, emoji_logits = self.encode_candidate_tokens(inputs, training=training)
        candidates = ops.shape(tokens)[1]

        vectors = self.matching_vectors(embedded, states, tokens)
        pairs = batch * candidates
        turn_mask = ops.reshape(
            ops.broadcast_to(utterance_mask[:, None, :], (batch, candidates, utterances)),
            (pairs, utterances))
        turn_states, final = self.turn_gru(
            ops.reshape(vectors, (pairs, utterances, self.matching_dim)), mask=turn_mask)
        # turn_states: (batch·candidates, utterances, turn_units); final: the state after
        # the last real utterance (masked steps carry the state over).
        if self.aggregation == "last":
            summary = final
        else:
            turn_states = turn_states * ops.cast(turn_mask, "float32")[..., None]
            if self.aggregation == "static":
                weights = ops.cast(turn_mask, "float32") * self._recency_weights(turn_mask)
            else:
                last = ops.reshape(
                    ops.broadcast_to(last_states[:, None], (batch, candidates, utterances,
                                                             self.hidden)),
                    (pairs, utterances, self.hidden))
                logits = ops.tanh(ops.matmul(turn_states, self.W) + ops.matmul(last, self.W2)
                                  + self.b)
                weights = masked_softmax(ops.matmul(logits, self.u_s), turn_mask)
            summary = ops.sum(turn_states * weights[..., None], axis=1)
        scores = ops.reshape(self.score(summary), (batch, candidates))
        return {"scores": scores, "emoji_logits": emoji_logits}

    def _recency_weights(self, turn_mask):
        """w of "static" for each utterance slot: w_0 on the last real utterance, w_1 on
        the one before, ... `(pairs, utterances)` (masked slots are zeroed by the caller)."""
        utterances = ops.shape(turn_mask)[1]
        slots = ops.arange(utterances, dtype="int32")[None, :]
        last = ops.max(ops.where(turn_mask, slots, -1), axis=1, keepdims=True)
        recency = ops.clip(last - slots, 0, ops.shape(self.turn_weights)[0] - 1)
        return ops.take(self.turn_weights, recency)
