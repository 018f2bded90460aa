"""The ranking models a training run can use, by name.

Every model takes ``{"contexts": (batch, utterances, words), "stickers": (batch, candidates,
128, 128, 3)}`` and returns ``{"scores": (batch, candidates), "emoji_logits": (batch,
candidates, n_emoji)}``, and has a ``sticker_encoder`` attribute (the part the emoji
warm-up stage trains). Adding a model is adding an entry here.
"""
from __future__ import annotations

from srs_lib.models.context_blind import ContextBlind
from srs_lib.models.dam import DAM
from srs_lib.models.mrfn import MRFN
from srs_lib.models.psac import PSAC
from srs_lib.models.smn import SMN
from srs_lib.models.srs import SRS
from srs_lib.models.synergistic import Synergistic

MODELS = {"srs": SRS, "smn": SMN, "dam": DAM, "mrfn": MRFN, "psac": PSAC,
          "synergistic": Synergistic, "context_blind": ContextBlind}


def build_model(name: str, *, vocab_size: int, n_emoji: int, hidden: int, dropout: float,
                backbone: str, image_size: int | None, backbone_weights: str | None,
                pretrained: bool, classify: bool, **options):
    """A fresh model ``name`` with the shared hyper-parameters and its own ``options``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name](vocab_size=vocab_size, n_emoji=n_emoji, hidden=hidden, dropout=dropout,
                        backbone=backbone, image_size=image_size,
                        backbone_weights=backbone_weights, pretrained=pretrained,
                        classify=classify, **options)
