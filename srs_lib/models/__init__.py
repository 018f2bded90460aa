"""Sticker ranking models, interchangeable behind one contract.

Every model is a `keras.Model` called on a dict with "contexts" `(batch, utterances, words)`
int token ids (0 = PAD) and "stickers" `(batch, candidates, 128, 128, 3)` in 0-255. It
returns a dict with "scores" `(batch, candidates)` and "emoji_logits"
`(batch, candidates, n_emoji)` from its shared :class:`~srs_lib.layers.StickerEncoder`
(attribute `sticker_encoder`; once built, a model also takes that encoder's outputs in place
of "stickers", see :data:`srs_lib.models.base.ENCODED_STICKERS`), and exposes
`emoji_loss_weight`, the weight its trainer
gives the emoji loss (see :mod:`srs_lib.training.losses`). :mod:`srs_lib.models.registry` finds
the models by name.
"""
from srs_lib.models.srs import SRS

__all__ = ["SRS"]
