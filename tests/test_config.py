"""Training configurations: the profiles, their corpora, the ablations and their checks."""
from __future__ import annotations

import dataclasses

import pytest

from srs_lib.training.config import (ABLATIONS, DEFAULT_CORPUS, PROFILES, TrainConfig,
                                     ablation_changes, profile_config)


def test_the_paper_profile_is_section_6_4_and_the_released_flags():
    paper = PROFILES["paper"]
    assert paper == TrainConfig()
    assert (paper.backbone, paper.image_size, paper.hidden, paper.batch_size) == (
        "inception_v3", None, 100, 32)
    assert (paper.max_utterances, paper.max_words, paper.n_candidates) == (15, 30, 10)
    assert (paper.learning_rate, paper.end_learning_rate, paper.emoji_steps) == (1e-4, 1e-5, 1000)
    assert paper.backbone_weights == "imagenet" and paper.sticker_code == "features"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_gives_srs_the_papers_sticker_map_and_a_normalised_q2(profile):
    """The paper's sticker representation in every profile: O the backbone's map of p × p
    units with p >= 3 at the profile's image size (never the emoji code's single unit),
    and SRS's Q2 layer-normalised (its default, which no profile turns off)."""
    from srs_lib.models.registry import build_model

    config = PROFILES[profile]
    assert config.sticker_code == "features"
    model = build_model(config.replace(backbone_weights=None, pretrained=False),
                        vocab_size=50, n_emoji=6)  # as the trainer builds it
    assert model.sticker_encoder.grid_size >= 3 and model.q2_norm is True
    assert model.fusion_network.q2_norm is True


def test_every_profile_has_a_corpus_entry_and_the_embedded_ones_a_preset():
    from srs_lib.synth.presets import PRESETS

    assert set(DEFAULT_CORPUS) == set(PROFILES)
    assert DEFAULT_CORPUS["paper"] is None  # the real corpus: the user names it
    for name, corpus in DEFAULT_CORPUS.items():
        if corpus is not None:
            preset, seed = corpus
            assert preset in PRESETS and isinstance(seed, int), name


def test_profile_config_applies_changes_and_refuses_unknown_names():
    config = profile_config("ci", steps=3, model="smn")
    assert (config.steps, config.model) == (3, "smn")
    assert PROFILES["ci"].steps != 3  # the profile itself is unchanged
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        profile_config("gpu")
    with pytest.raises(ValueError, match="unknown training option"):
        profile_config("ci", learning_rte=1.0)


def test_ablations_combine_and_merge_model_options():
    changes = ablation_changes(["din", "fr", "classify"])
    assert changes == {"model_options": {"use_din": False, "use_fusion_rnn": False},
                       "classify": False}
    assert ablation_changes(["pretrain"]) == {"pretrained": False}
    assert set(ABLATIONS) == {"pretrain", "classify", "din", "fr"}
    with pytest.raises(ValueError, match="unknown ablation 'attention'"):
        ablation_changes(["attention"])


def test_a_config_round_trips_through_its_dict():
    config = profile_config("cpu", model_options={"heads": 2})
    assert TrainConfig(**config.to_dict()) == config
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(config.to_dict())


def test_the_checked_choices_are_those_of_the_layers_and_losses():
    import srs_lib  # noqa: F401  (selects the Keras backend)
    from srs_lib.layers import sticker_encoder
    from srs_lib.training import config, losses

    assert config.STICKER_CODES == sticker_encoder.CODES
    assert config.RANKING_STOPS == sticker_encoder.RANKING_STOPS
    assert config.HINGE_REDUCTIONS == losses.HINGE_REDUCTIONS
    for option, value in (("sticker_code", "pixels"), ("ranking_stop", "halfway"),
                          ("hinge_reduction", "max"), ("backbone_lr_scale", -0.1)):
        with pytest.raises(ValueError, match=f"--{option}"):
            profile_config("ci", **{option: value})
