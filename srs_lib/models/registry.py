"""The ranking models a training run can use, by name.

Every model takes ``{"contexts": (batch, utterances, words), "stickers": (batch, candidates,
128, 128, 3)}`` and returns ``{"scores": (batch, candidates), "emoji_logits": (batch,
candidates, n_emoji)}``, and has a ``sticker_encoder`` attribute (the part the emoji
warm-up stage trains). Adding a model is adding an entry here.
"""
from __future__ import annotations

from srs_lib.models.context_blind import ContextBlind
from srs_lib.models.dam import DAM
from srs_lib.models.dual_encoder import DualEncoder
from srs_lib.models.mrfn import MRFN
from srs_lib.models.psac import PSAC
from srs_lib.models.smn import SMN
from srs_lib.models.srs import SRS
from srs_lib.models.synergistic import Synergistic

MODELS = {"srs": SRS, "smn": SMN, "dam": DAM, "mrfn": MRFN, "psac": PSAC,
          "synergistic": Synergistic, "context_blind": ContextBlind,
          "dual_encoder": DualEncoder}


def build_model(config, *, vocab_size: int, n_emoji: int, **changes):
    """A fresh model as a training configuration describes it (``config.model`` with the
    shared hyper-parameters and ``config.model_options``); ``changes`` override options."""
    if config.model not in MODELS:
        raise ValueError(f"unknown model {config.model!r}; choose from {', '.join(MODELS)}")
    options = dict(vocab_size=vocab_size, n_emoji=n_emoji, hidden=config.hidden,
                   dropout=config.dropout, backbone=config.backbone,
                   image_size=config.image_size, backbone_weights=config.backbone_weights,
                   pretrained=config.pretrained, classify=config.classify,
                   sticker_code=config.sticker_code, ranking_stop=config.ranking_stop,
                   feature_map=config.feature_map, code_temperature=config.code_temperature)
    return MODELS[config.model](**{**options, **config.model_options, **changes})
