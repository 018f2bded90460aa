"""The model registry: every model by name, built from a training configuration."""
from __future__ import annotations

import pytest

import srs_lib  # noqa: F401  (selects the Keras backend before anything imports Keras)
from srs_lib.models.base import StickerRanker
from srs_lib.models.registry import MODELS, build_model
from srs_lib.models.srs import SRS
from srs_lib.training.config import profile_config

CONFIG = profile_config("ci", hidden=8)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_is_a_sticker_ranker_built_with_the_shared_settings(name):
    model = build_model(CONFIG.replace(model=name), vocab_size=40, n_emoji=6)
    assert isinstance(model, MODELS[name]) and isinstance(model, StickerRanker)
    assert (model.vocab_size, model.n_emoji, model.hidden) == (40, 6, 8)
    assert (model.backbone, model.image_size, model.sticker_code) == (
        CONFIG.backbone, CONFIG.image_size, CONFIG.sticker_code)
    assert model.pretrained == CONFIG.pretrained and model.classify == CONFIG.classify


def test_model_options_and_changes_reach_the_model_in_that_order():
    config = CONFIG.replace(model_options={"use_din": False, "heads": 2})
    model = build_model(config, vocab_size=40, n_emoji=6, heads=4)
    assert isinstance(model, SRS) and model.use_din is False and model.heads == 4


def test_unknown_model_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown model 'bert'; choose from srs, "):
        build_model(CONFIG.replace(model="bert"), vocab_size=40, n_emoji=6)
