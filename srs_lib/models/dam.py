"""DAM, the Deep Attention Matching network (Zhou et al., ACL 2018), adapted to stickers.

Utterances and response are each represented at L+1 granularities by a stack of
projection-free attentive modules (self-attention), and meet at every level through
cross-attention both ways. The 2(L+1) word-by-word similarity maps of every utterance are
stacked into a cube `(utterances, words, response tokens, channels)` that a 3D CNN reads.

The sticker adaptation (the project's baseline notes, section 2): the response tokens are
the sticker's p² map cells in raster order, with no mask and no positional signal (as in
the original, ``is_positional=False``).
"""
from __future__ import annotations

import math

import keras
from keras import ops

from srs_lib.layers.masking import context_masks, masked_softmax
from srs_lib.models.base import StickerRanker


def attention(query, key, key_mask=None, logits_equation="nqd,nkd->nqk",
              output_equation="nqk,nkd->nqd"):
    """DAM's single-head dot attention with no projections: softmax(Q·Kᵀ/√d) K.

    The two einsum equations say how the query and key axes pair up, so that the cross
    attention of every (context, candidate, utterance) runs as a few large batched
    products rather than over broadcast copies: e.g. turns `(b, u, w, d)` attending
    stickers `(b, c, k, d)` use "buwd,bckd->bcuwk" and "bcuwk,bckd->bcuwd". The keys are
    the values. ``key_mask`` (bool, broadcastable to the logits, True on real keys) keeps
    padded keys out of the softmax; a query whose keys are all masked gets 0. The
    original masks padded query rows too (they then attend uniformly to every key,
    padded ones included); here their outputs are computed and discarded by the caller.
    """
    logits = ops.einsum(logits_equation, query, key) / math.sqrt(ops.shape(query)[-1])
    if key_mask is None:
        weights = ops.softmax(logits, axis=-1)
    else:
        weights = masked_softmax(logits, key_mask)
    return ops.einsum(output_equation, weights, key)


@keras.saving.register_keras_serializable(package="srs_lib")
class AttentiveBlock(keras.layers.Layer):
    """DAM's attentive module ``block(Q, K, V=K)`` around an :func:`attention` result.

    y = LN(Q + att);  out = LN(y + FFN(y)),  FFN(y) = max(0, yW1 + b1)W2 + b2.

    As in the released code (``DAM/utils/layers.py``, ``operations.py``): no Q/K/V
    projections, the FFN keeps the width d, its kernels start orthogonal and its biases
    are *scalars*; the layer norms are over the last axis with eps 1e-6.

    Call arguments:
        query: `(..., queries, d)`, broadcastable against ``attended``.
        attended: att of :func:`attention`, `(..., queries, d)`.

    Returns:
        `(..., queries, d)`, with the broadcast shape of the two.
    """

    def build(self, query_shape, attended_shape=None):
        d = query_shape[-1]
        self.ffn_kernel_1 = self.add_weight(shape=(d, d), initializer="orthogonal",
                                            name="ffn_kernel_1")
        self.ffn_bias_1 = self.add_weight(shape=(1,), initializer="zeros", name="ffn_bias_1")
        self.ffn_kernel_2 = self.add_weight(shape=(d, d), initializer="orthogonal",
                                            name="ffn_kernel_2")
        self.ffn_bias_2 = self.add_weight(shape=(1,), initializer="zeros", name="ffn_bias_2")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6,
                                                              name="attention_norm")
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="ffn_norm")
        self.attention_norm.build(query_shape)
        self.ffn_norm.build(query_shape)

    def call(self, query, attended):
        y = self.attention_norm(query + attended)
        hidden = ops.relu(ops.matmul(y, self.ffn_kernel_1) + self.ffn_bias_1)
        return self.ffn_norm(y + ops.matmul(hidden, self.ffn_kernel_2) + self.ffn_bias_2)

    def compute_output_shape(self, query_shape, attended_shape=None):
        return attended_shape or query_shape


def _cnn_init():
    return keras.initializers.RandomUniform(-0.01, 0.01)


@keras.saving.register_keras_serializable(package="srs_lib")
class DAM(StickerRanker):
    """Self/cross attentive stacks → 2(L+1)-channel similarity cube → 3D CNN → score.

    Inputs: {"contexts" `(batch, utterances, words)` int ids (0 = PAD, all-PAD utterances
    last), "stickers" `(batch, candidates, H, W, 3)` in 0-255}. Outputs: {"scores"
    `(batch, candidates)`, "emoji_logits" `(batch, candidates, n_emoji)`}.

    1. H_u^0: word embeddings `(batch, utterances, words, d)` (zero on padded words);
       H_r^0: the sticker's map tokens `(batch, candidates, p², d)`.
    2. Self stack, l = 1..L: H^l = block(H^{l-1}, H^{l-1}); each context and each sticker is
       encoded once. With ``share_self_attention`` (the original: one ``self_stack_l``
       scope for response and turns) text and sticker tokens go through the same blocks.
    3. Cross, l = 0..L (separate weights per level, shared by the turns):
       T_l = block(H_u^l, H_r^l) and R_l = block(H_r^l, H_u^l) for every (context,
       candidate, utterance), padded words masked out of R_l's keys.
    4. sim_c[i, j] = ⟨U_c[i], R_c[j]⟩/√d over the channels U = [T_0..T_L, H_u^0..H_u^L],
       R = [R_0..R_L, H_r^0..H_r^L]: 2(L+1) channels (12 for L = 5), a cube
       `(utterances, words, p², 2(L+1))` per pair (the original divides by √200, its d).
       Padded words, hence whole padded utterances, get all-zero similarities: the
       original post-pads the turns and runs the 3D CNN over them; here they hold zeros,
       whatever the PAD embedding.
    5. 3D CNN: [Conv3D(3³, SAME, ELU) → MaxPool3D(3³, stride 3, SAME)] × 2 with
       ``cnn_channels`` filters (kernels uniform ±0.01, as the original), flatten, then
       Dense(1). The flatten size depends on the utterances, words and p², so the Dense
       is built in ``build()`` from the input shapes (15 utterances × 20 words × 36 cells:
       2×3×4×16 = 384).

    Score = that Dense(1) logit: the original's sigmoid logit (it trained with a binary
    cross-entropy), trained here with the trainer's pairwise hinge loss.

    Cost: the cross blocks (2(L+1) per pair and utterance) and the 3D CNN over a
    `(utterances, words, p², 2(L+1))` cube per (context, candidate) pair dominate; this is
    by far the heaviest baseline. The cpu grid may pass a smaller ``stack_num`` (and
    ``cnn_channels``) to fit its time budget; say so where results are reported.

    Args:
        vocab_size, n_emoji, hidden, dropout, backbone, image_size, backbone_weights,
            pretrained, classify: the shared ones of
            :class:`~srs_lib.models.base.StickerRanker` (``dropout`` is kept in the config
            and unused: DAM has no dropout). The attentive modules have width ``hidden``.
        stack_num: L, the depth of the self-attention stack (original: 5).
        cnn_channels: filters of the two 3D convolutions (original: (32, 16) for Ubuntu,
            (16, 16) for Douban).
        share_self_attention: True (default, the original's weight sharing between
            response and turns): sticker tokens use the text self-attention blocks; False
            gives the sticker side its own L blocks.
    """

    options = ("stack_num", "cnn_channels", "share_self_attention")

    def __init__(self, vocab_size, n_emoji, stack_num=5, cnn_channels=(32, 16),
                 share_self_attention=True, **kwargs):
        super().__init__(vocab_size, n_emoji, **kwargs)
        self.stack_num = int(stack_num)
        self.cnn_channels = tuple(int(c) for c in cnn_channels)
        if len(self.cnn_channels) != 2:
            raise ValueError(f"cnn_channels must hold two filter counts, got {cnn_channels!r}.")
        self.share_self_attention = share_self_attention
        self.embedding = keras.layers.Embedding(vocab_size, self.hidden, name="embedding")
        levels = range(self.stack_num)
        self.self_blocks = [AttentiveBlock(name=f"self_stack_{l}") for l in levels]
        if not share_self_attention:
            self.sticker_self_blocks = [AttentiveBlock(name=f"sticker_self_stack_{l}")
                                        for l in levels]
        self.turn_attend_sticker = [AttentiveBlock(name=f"t_attend_r_{l}")
                                    for l in range(self.stack_num + 1)]
        self.sticker_attend_turn = [AttentiveBlock(name=f"r_attend_t_{l}")
                                    for l in range(self.stack_num + 1)]
        self.convs = [
            keras.layers.Conv3D(channels, 3, padding="same", activation="elu",
                                kernel_initializer=_cnn_init(), name=f"conv3d_{i}")
            for i, channels in enumerate(self.cnn_channels)]
        self.pools = [keras.layers.MaxPooling3D(3, strides=3, padding="same", name=f"pool_{i}")
                      for i in range(2)]
        self.score = keras.layers.Dense(1, kernel_initializer="orthogonal", name="score")

    @property
    def channels(self):
        """Channels of the similarity cube: 2(L+1)."""
        return 2 * (self.stack_num + 1)

    def _sticker_blocks(self):
        return self.self_blocks if self.share_self_attention else self.sticker_self_blocks

    def build(self, inputs_shape):
        _, utterances, words = inputs_shape["contexts"]
        if not self.sticker_encoder.built:
            self.sticker_encoder.build(inputs_shape["stickers"])
        d, cells = self.hidden, self.sticker_encoder.grid_size ** 2
        self.embedding.build((None, words))
        blocks = list(self.self_blocks) + list(self.turn_attend_sticker)
        blocks += list(self.sticker_attend_turn)
        if not self.share_self_attention:
            blocks += list(self.sticker_self_blocks)
        for block in blocks:
            block.build((None, None, d))
        shape = (None, utterances, words, cells, self.channels)
        for conv, pool in zip(self.convs, self.pools):
            conv.build(shape)
            shape = pool.compute_output_shape(conv.compute_output_shape(shape))
        self.score.build((None, math.prod(shape[1:])))

    def _stack(self, tokens, blocks, mask=None):
        """[H^0, ..., H^L] of `(n, steps, d)` tokens; ``mask`` `(n, steps)` or None."""
        key_mask = None if mask is None else mask[:, None, :]
        stack = [tokens]
        for block in blocks:
            stack.append(block(stack[-1], attention(stack[-1], stack[-1], key_mask)))
        return stack

    def similarity(self, contexts, tokens):
        """The similarity cube `(batch, candidates, utterances, words, p², 2(L+1))`.

        contexts: `(batch, utterances, words)` ids; tokens: the sticker map tokens
        `(batch, candidates, p², d)`. Zero on padded words and padded utterances.
        """
        batch, utterances, words = ops.shape(contexts)
        candidates, cells, d = ops.shape(tokens)[1:]
        word_mask, _ = context_masks(contexts)
        keep = ops.cast(word_mask, "float32")
        embedded = self.embedding(contexts) * keep[..., None]

        # Each context and each sticker through the self stack once.
        text = self._stack(ops.reshape(embedded, (batch * utterances, words, d)),
                           self.self_blocks, ops.reshape(word_mask, (batch * utterances, words)))
        text = [ops.reshape(h, (batch, utterances, words, d)) for h in text]
        sticker = self._stack(ops.reshape(tokens, (batch * candidates, cells, d)),
                              self._sticker_blocks())
        sticker = [ops.reshape(h, (batch, candidates, cells, d)) for h in sticker]

        # Cross attention per (context, candidate, utterance): the turns (batch, utterances,
        # words, d) meet the stickers (batch, candidates, p², d) in batched einsums, and
        # each block's residual broadcasts its query over the other side's axis.
        words_mask = word_mask[:, None, :, None, :]  # keys of R_l: (batch, 1, utt, 1, words)
        scale = 1.0 / math.sqrt(d)
        sims = []
        for level in range(self.stack_num + 1):
            turn, response = text[level], sticker[level]
            t_a_r = self.turn_attend_sticker[level](turn[:, None], attention(
                turn, response, None, "buwd,bckd->bcuwk", "bcuwk,bckd->bcuwd"))
            r_a_t = self.sticker_attend_turn[level](response[:, :, None], attention(
                response, turn, words_mask, "bckd,buwd->bcukw", "bcukw,buwd->bcukd"))
            sims.append(ops.matmul(t_a_r, ops.swapaxes(r_a_t, -1, -2)))
        for level in range(self.stack_num + 1):
            sims.append(ops.einsum("buwd,bckd->bcuwk", text[level], sticker[level]))
        cube = ops.stack(sims, axis=-1) * scale  # (batch, candidates, utt, words, p², channels)
        return cube * keep[:, None, :, :, None, None]

    def call(self, inputs, training=None):
        contexts = inputs["contexts"]
        tokens, _, emoji_logits = self.encode_candidate_tokens(inputs, training=training)
        cube = self.similarity(contexts, tokens)
        batch, candidates = ops.shape(cube)[:2]
        x = ops.reshape(cube, (batch * candidates, *ops.shape(cube)[2:]))
        for conv, pool in zip(self.convs, self.pools):
            x = pool(conv(x))
        scores = self.score(ops.reshape(x, (batch * candidates, -1)))
        return {"scores": ops.reshape(scores, (batch, candidates)),
                "emoji_logits": emoji_logits}
