"""Synergistic baseline: the ranker contract, masking, the two-stage score, saving, training."""
from __future__ import annotations

import numpy as np

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops
from ranker_checks import (SMALL, assert_contract, assert_ignores_appended_padding,
                           assert_ignores_pad_embedding,
                           assert_learns_a_batch, assert_round_trip, make_inputs, scores_of)

from srs_lib.models.synergistic import MFB, Synergistic

CANDIDATES = 7  # more than the default rerank_top = 5, so that stage 2 re-ranks a subset


def _model(**options):
    keras.utils.set_random_seed(0)
    return Synergistic(**SMALL, **options)


def _numpy(outputs):
    return {name: ops.convert_to_numpy(value) for name, value in outputs.items()}


def test_contract_and_masking():
    model = _model()
    inputs = make_inputs(candidates=CANDIDATES)
    assert_contract(model, inputs)
    assert_ignores_pad_embedding(model, inputs, model.embeddings)


def test_padded_utterances_do_not_count():
    model = _model()
    inputs = make_inputs(candidates=CANDIDATES)
    assert_ignores_appended_padding(model, inputs, utterances=2)


def test_question_and_history_both_count_and_a_lone_utterance_works():
    model = _model()
    inputs = make_inputs(candidates=CANDIDATES)  # context 1: 3 real utterances, then PAD
    base = scores_of(model, inputs)
    for utterance in (2, 0):  # the question (last real utterance), then a history round
        contexts = inputs["contexts"].copy()
        contexts[1, utterance, 0] = 4 + (contexts[1, utterance, 0] + 3) % 36
        scores = scores_of(model, dict(inputs, contexts=contexts))
        np.testing.assert_allclose(scores[0], base[0], rtol=1e-5, atol=1e-6)
        assert not np.allclose(scores[1], base[1]), f"utterance {utterance} is ignored"
    lone = inputs["contexts"].copy()
    lone[:, 1:] = 0  # a question without history
    assert np.all(np.isfinite(scores_of(model, dict(inputs, contexts=lone))))


def test_final_order_is_stage_two_within_the_top_then_stage_one():
    model = _model(rerank_top=3)
    out = _numpy(model.stages(make_inputs(candidates=CANDIDATES), training=False))
    for s1, s2, top, scores in zip(out["stage1"], out["stage2"], out["top"], out["scores"]):
        chosen = np.argsort(-s1)[:3]
        np.testing.assert_array_equal(np.flatnonzero(top), np.sort(chosen))
        rest = np.setdiff1d(np.arange(CANDIDATES), chosen)
        assert scores[chosen].min() >= scores[rest].max() + 1.0 - 1e-5
        np.testing.assert_array_equal(np.argsort(-scores[chosen]),
                                      np.argsort(-(s1 + s2)[chosen]))
        np.testing.assert_array_equal(np.argsort(-scores[rest]), np.argsort(-s1[rest]))
        np.testing.assert_allclose(s2[rest], 0.0)


def test_variant_rerank_everything():
    model = _model(rerank_top=10)
    inputs = make_inputs(candidates=CANDIDATES)
    assert_contract(model, inputs)
    out = _numpy(model.stages(inputs, training=False))
    assert np.all(out["top"] == 1.0)
    np.testing.assert_allclose(out["scores"], out["stage1"] + out["stage2"], rtol=1e-5, atol=1e-5)


def test_mfb_is_unit_norm_and_broadcasts():
    layer = MFB(factor=5, output_dim=4, dropout=0.0)
    x = np.random.default_rng(0).normal(size=(2, 3, 6)).astype("float32")
    y = np.random.default_rng(1).normal(size=(2, 1, 5)).astype("float32")
    z = ops.convert_to_numpy(layer([x, y]))
    assert z.shape == (2, 3, 4)
    np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, rtol=1e-5)


def test_round_trip_in_safe_mode(tmp_path):
    model = _model(rerank_top=2, mfb_output=6, lstm_layers=1)
    assert_round_trip(model, make_inputs(candidates=CANDIDATES), tmp_path / "synergistic.keras")
    assert model.get_config()["mfb_output"] == 6


def test_learns_a_batch():
    assert_learns_a_batch(_model(), make_inputs(candidates=CANDIDATES))
