"""The dual encoder: the ranker contract, its contrastive loss by hand, training through the
trainer's hook, and the safe-mode round trip."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
from keras import ops

from ranker_checks import SMALL, assert_contract, assert_round_trip, make_inputs
from srs_lib import cli
from srs_lib.models.dual_encoder import DualEncoder
from srs_lib.training.losses import in_batch_contrastive_loss

VECTORS = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.6, 0.8]]], dtype="float32")
CONTEXTS = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")


def _lse(values):
    return math.log(sum(math.exp(v) for v in values))


def test_contrastive_loss_by_hand():
    # context 1 (positive: its slot 0): logits 2·[1, 0, 0, 0.6] over the batch's 4 candidates
    # context 2 (positive: its slot 0, flat 2): logits 2·[0, 1, 1, 0.8]
    loss = ops.convert_to_numpy(in_batch_contrastive_loss(CONTEXTS, VECTORS, [0, 0], scale=2.0))
    np.testing.assert_allclose(loss, [_lse([2, 0, 0, 1.2]) - 2, _lse([0, 2, 2, 1.6]) - 2], rtol=1e-5)


def test_the_positive_sticker_elsewhere_in_the_batch_is_no_negative():
    # context 2's positive (row 6) is also context 1's slot 1: with rows it is left out
    rows = np.array([[5, 6], [6, 7]])
    loss = ops.convert_to_numpy(in_batch_contrastive_loss(CONTEXTS, VECTORS, [0, 0], rows=rows,
                                                          scale=2.0))
    np.testing.assert_allclose(loss, [_lse([2, 0, 0, 1.2]) - 2, _lse([0, 2, 1.6]) - 2], rtol=1e-5)


def test_padded_candidates_are_no_negatives():
    mask = np.array([[True, False], [True, True]])
    loss = ops.convert_to_numpy(in_batch_contrastive_loss(CONTEXTS, VECTORS, [0, 0], mask=mask,
                                                          scale=2.0))
    np.testing.assert_allclose(loss, [_lse([2, 0, 1.2]) - 2, _lse([0, 2, 1.6]) - 2], rtol=1e-5)


def test_contract_unit_vectors_and_cosine_scores():
    model = DualEncoder(**SMALL)
    inputs = make_inputs()
    assert_contract(model, inputs)
    out = model(inputs, training=False)
    context = ops.convert_to_numpy(out["context_vectors"])
    candidates = ops.convert_to_numpy(out["candidate_vectors"])
    np.testing.assert_allclose(np.linalg.norm(context, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(candidates, axis=-1), 1.0, rtol=1e-5)
    expected = float(ops.convert_to_numpy(model.scale)) * np.einsum("bd,bcd->bc", context, candidates)
    np.testing.assert_allclose(ops.convert_to_numpy(out["scores"]), expected, rtol=1e-5, atol=1e-6)
    assert float(ops.convert_to_numpy(model.scale)) == pytest.approx(10.0)


def test_padding_does_not_change_the_context_vector():
    model = DualEncoder(**SMALL)
    inputs = make_inputs()
    expected = ops.convert_to_numpy(model.encode_context(inputs["contexts"]))
    padded = np.pad(inputs["contexts"], ((0, 0), (0, 2), (0, 3)))
    np.testing.assert_allclose(ops.convert_to_numpy(model.encode_context(padded)), expected,
                               rtol=1e-5, atol=1e-6)


def test_round_trip_in_safe_mode(tmp_path):
    model = DualEncoder(**SMALL)
    assert_round_trip(model, make_inputs(), tmp_path / "dual.keras")


def test_trains_through_the_trainer_with_its_own_loss(make_corpus, tmp_path):
    corpus = make_corpus(extra_samples=20)
    status = cli.main(["train", "--profile", "ci", "--model", "dual_encoder", "--exp_name", "dual",
                       "--log_root", str(tmp_path), "--base_path", str(corpus), "--steps", "4",
                       "--auto_test_step", "2", "--emoji_steps", "1", "--hidden", "8"])
    assert status == 0
    report = json.loads((tmp_path / "dual/metrics.json").read_text())
    assert report["model"] == "dual_encoder" and 0.0 <= report["test"]["MAP"] <= 1.0
    history = json.loads((tmp_path / "dual/history.json").read_text())
    joint = [r for r in history["train"] if r["stage"] == "joint"]
    assert joint and all("contrastive" in r and "hinge" not in r for r in joint)
