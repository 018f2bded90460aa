"""Corpus sizes (``srs_lib.synth.presets``) and what the set builder makes of them.

Every preset must be buildable into exactly its numbers (pairs, sets, stickers, small and
noisy sets), keep the release's 49.64 stickers per set where it claims to, and give every
set an expression vocabulary; the ``paper`` preset must have the release's sizes.
Building a preset's sets draws no pictures, so even ``paper`` is checked here.
"""
from __future__ import annotations

import numpy as np
import pytest

from srs_lib.paper import TABLE1
from srs_lib.synth.inventory import inventory
from srs_lib.synth.presets import PRESETS, get_preset
from srs_lib.synth.sets import build_sets, set_sizes


def test_paper_preset_has_the_release_sizes():
    paper = PRESETS["paper"]
    assert paper.splits == {"train": TABLE1["train"]["pairs"], "val": TABLE1["val"]["pairs"],
                            "test": TABLE1["test"]["pairs"]}
    assert (paper.n_sets, paper.n_stickers) == (3_516, 174_695)


@pytest.mark.parametrize("name", list(PRESETS))
def test_set_sizes_are_exact_and_bounded(name):
    preset = PRESETS[name]
    sizes = set_sizes(preset, np.random.default_rng(0))
    assert len(sizes) == preset.n_sets and sum(sizes) == preset.n_stickers
    assert sum(s < 10 for s in sizes) == preset.n_small_sets
    assert min(sizes) >= 3 and max(sizes) <= preset.max_set_size
    assert preset.n_noisy_sets <= preset.n_sets - preset.n_small_sets


@pytest.mark.parametrize("name", ["small", "medium", "paper"])
def test_book_presets_keep_the_release_mean_set_size(name):
    preset = PRESETS[name]
    assert abs(preset.n_stickers / preset.n_sets - TABLE1["library"]["avg_stickers_per_set"]) < 0.5


@pytest.mark.parametrize("name", ["tiny", "small", "paper"])
def test_built_sets_have_the_presets_numbers_and_every_kind_of_part(name):
    preset = PRESETS[name]
    themes = inventory(preset.per_theme, list(preset.themes) if preset.themes else None)
    sets = build_sets(preset, themes, np.random.default_rng(0))
    assert len(sets) == preset.n_sets and sum(len(s) for s in sets) == preset.n_stickers
    assert sum(s.noisy for s in sets) == preset.n_noisy_sets
    assert sum(len(s) < 10 for s in sets) == preset.n_small_sets
    ids = [i for s in sets for i in [s.set_id, *s.sticker_ids]]
    assert len(set(ids)) == len(ids) and min(ids) > 2**53 and max(ids) < 2**63
    kinds = {kind for s in sets for parts in s.parts for kind, _ in parts}
    assert kinds == {"expression", "accent", "prop"}
    assert all(s.vocabulary["expression"] for s in sets)
    # every theme has sets, and self-similarity spreads over (0, 1)
    assert {s.theme for s in sets} == set(themes)
    similarity = np.array([s.style.self_similarity for s in sets])
    assert similarity.min() < 0.15 and similarity.max() > 0.75


def test_get_preset_names_the_known_ones():
    assert get_preset("small") is PRESETS["small"]
    with pytest.raises(ValueError, match="tiny, small, medium, paper"):
        get_preset("huge")
