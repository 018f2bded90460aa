"""Keras conventions every layer and model of srs_lib keeps: each constructor argument is
stored under its own name and saved by ``get_config`` (a built sub-layer gets another name)."""
from __future__ import annotations

import inspect

import pytest

import srs_lib  # noqa: F401  (selects the Keras backend before anything imports Keras)
from srs_lib.layers import (AttentiveModule, DeepInteraction, FusionNetwork, PooledInteraction,
                            StickerEncoder, UtteranceEncoder)
from srs_lib.layers.gru import MaskedGRU
from srs_lib.models.dam import DAM
from srs_lib.models.mrfn import MRFN, InteractionMatching, MRFNAttention
from srs_lib.models.psac import (PSAC, PositionalSelfAttention, QuestionEmbedding,
                                 QuestionEncoderBlock, VideoEncoder, VideoQuestionAttention)
from srs_lib.models.registry import MODELS
from srs_lib.models.smn import SMN
from srs_lib.models.synergistic import MFB, Synergistic

SMALL = dict(vocab_size=30, n_emoji=5, hidden=8, backbone="small_cnn", image_size=32,
             backbone_weights=None, pretrained=False)

CASES = [
    (AttentiveModule, dict(heads=2, dropout=0.2, form="paper")),
    (UtteranceEncoder, dict(vocab_size=30, hidden=8, dropout=0.2, heads=2, blocks=2,
                            attention_form="paper")),
    (StickerEncoder, dict(n_emoji=5, hidden=8, backbone="small_cnn", image_size=32,
                          backbone_weights=None, code="emoji")),
    (DeepInteraction, dict(hidden=8, softmax_attention=False, integrate_words=False)),
    (PooledInteraction, dict(hidden=8, integrate_words=False)),
    (FusionNetwork, dict(hidden=8, dropout=0.2, heads=2, use_fusion_rnn=False,
                         score_activation="sigmoid", submult="paper", attention_form="paper")),
    (MaskedGRU, dict(units=8)),
    (MFB, dict(factor=2, output_dim=4, dropout=0.2)),
    (InteractionMatching, dict(hidden=8, dropout=0.2)),
    (MRFNAttention, dict(heads=2)),
    (PositionalSelfAttention, dict(heads=2, inner=8, dropout=0.2)),
    (QuestionEmbedding, dict(vocab_size=30, hidden=8, dropout=0.2, highway_layers=1)),
    (QuestionEncoderBlock, dict(conv_layers=1, kernel_size=3, heads=2, dropout=0.2)),
    (VideoEncoder, dict(num_layers=1, heads=2, inner=8, dropout=0.2)),
    (VideoQuestionAttention, dict(dropout=0.2)),
    *[(cls, SMALL) for cls in MODELS.values()],
    (SMN, dict(SMALL, aggregation="static")),
    (DAM, dict(SMALL, stack_num=1)),
    (MRFN, dict(SMALL, heads=2)),
    (PSAC, dict(SMALL, video_layers=1)),
    (Synergistic, dict(SMALL, rerank_top=3)),
]


def constructor_arguments(cls) -> list[str]:
    """The arguments of ``cls.__init__`` and of every ``__init__`` it passes ``**kwargs``
    to, up to Keras's own classes."""
    names = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("srs_lib") or "__init__" not in vars(klass):
            continue
        for name, parameter in inspect.signature(klass.__init__).parameters.items():
            if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD,
                                                         parameter.VAR_POSITIONAL):
                names.append(name)
    return list(dict.fromkeys(names))


def test_every_layer_and_model_is_covered():
    import srs_lib.layers.deep_interaction as di

    covered = {cls for cls, _ in CASES}
    assert set(MODELS.values()) <= covered
    assert di._PairInteraction not in covered  # an abstract base: no arguments of its own


@pytest.mark.parametrize("cls,arguments", CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_constructor_arguments_are_attributes_and_config(cls, arguments):
    layer = cls(**arguments)
    config = layer.get_config()
    for name in constructor_arguments(cls):
        assert name in config, f"{cls.__name__}.get_config() does not save {name!r}"
        assert getattr(layer, name) == config[name], (
            f"{cls.__name__}.{name} is {getattr(layer, name)!r}, not the argument "
            f"{config[name]!r}: store each argument under its own name")
        if name in arguments:
            assert config[name] == arguments[name]
