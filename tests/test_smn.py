"""SMN (Wu et al., 2017) on stickers: the ranker contract, masks, saving and training."""
from __future__ import annotations

import numpy as np
import pytest

from ranker_checks import (SMALL, assert_contract, assert_ignores_appended_padding,
                           assert_ignores_pad_embedding,
                           assert_learns_a_batch, assert_round_trip, make_inputs, scores_of)
from srs_lib.models.smn import SMN


@pytest.mark.parametrize("aggregation", ["last", "static", "dynamic"])
def test_contract_and_padding(aggregation):
    model = SMN(**SMALL, aggregation=aggregation)
    inputs = make_inputs()
    assert_contract(model, inputs)
    # An all-PAD utterance appended after the real ones changes nothing: it does not
    # advance the turn GRU, "last" reads the state after the last real utterance, and
    # "static"/"dynamic" weigh real utterances only ("static" counts from the last one).
    assert_ignores_appended_padding(model, inputs, utterances=1, rtol=1e-5, atol=1e-6)
    assert_ignores_pad_embedding(model, inputs, [model.embedding])


def test_last_reads_the_last_real_utterance():
    """Context 1 has 3 real utterances: its "last" score must change when the third one
    changes (the state after it is read) and equal the score of the 3-utterance context."""
    model = SMN(**SMALL)
    inputs = make_inputs()
    expected = scores_of(model, inputs)
    short = dict(inputs, contexts=inputs["contexts"][1:, :3], stickers=inputs["stickers"][1:])
    np.testing.assert_allclose(scores_of(model, short), expected[1:], rtol=1e-5, atol=1e-6)
    changed = inputs["contexts"].copy()
    changed[1, 2, :3] = (changed[1, 2, :3] + 5) % 36 + 4
    assert not np.allclose(scores_of(model, dict(inputs, contexts=changed))[1], expected[1])


def test_round_trip_in_safe_mode(tmp_path):
    inputs = make_inputs()
    assert_round_trip(SMN(**SMALL), inputs, tmp_path / "smn.keras")
    model = SMN(**SMALL, aggregation="dynamic", share_gru=False, turn_units=6, matching_dim=7)
    assert_round_trip(model, inputs, tmp_path / "smn_dynamic.keras")
    assert model.get_config()["aggregation"] == "dynamic"


def test_learns_a_batch():
    assert_learns_a_batch(SMN(**SMALL), make_inputs())


def test_variants_and_tiny_maps():
    inputs = make_inputs(words=5)
    inputs["contexts"] = inputs["contexts"][:, :, :2]  # 2 real words < the 3×3 kernel
    shared, untied = SMN(**SMALL), SMN(**SMALL, share_gru=False)
    for model in (shared, untied):
        assert np.all(np.isfinite(scores_of(model, inputs)))
    assert shared.conv.padding == "same"
    assert untied.count_params() > shared.count_params()  # the sticker's own GRU
    assert SMN(**SMALL).get_config()["aggregation"] == "last"
    with pytest.raises(ValueError, match="aggregation"):
        SMN(**SMALL, aggregation="mean")
