"""The context-blind baseline: the SRS contract, blind to the dialog, trainable, savable."""
from __future__ import annotations

import json

import numpy as np

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib import cli
from srs_lib.models.context_blind import ContextBlind

SMALL = dict(vocab_size=40, n_emoji=6, hidden=8, backbone="small_cnn", image_size=16,
             pretrained=False)


def _inputs(seed=0, batch=2, candidates=3):
    rng = np.random.default_rng(seed)
    return {"contexts": rng.integers(0, 40, size=(batch, 4, 5)).astype("int32"),
            "stickers": rng.integers(0, 256, size=(batch, candidates, 128, 128, 3)).astype("uint8")}


def test_contract_and_blindness():
    model = ContextBlind(**SMALL)
    inputs = _inputs()
    out = model(inputs)
    assert tuple(out["scores"].shape) == (2, 3)
    assert tuple(out["emoji_logits"].shape) == (2, 3, 6)
    other = dict(inputs, contexts=_inputs(seed=1)["contexts"])
    np.testing.assert_array_equal(ops.convert_to_numpy(out["scores"]),
                                  ops.convert_to_numpy(model(other)["scores"]))


def test_round_trip_in_safe_mode(tmp_path):
    model = ContextBlind(**SMALL)
    inputs = _inputs()
    expected = ops.convert_to_numpy(model(inputs)["scores"])
    model.save(tmp_path / "blind.keras")
    loaded = keras.saving.load_model(tmp_path / "blind.keras", safe_mode=True)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(inputs)["scores"]), expected, rtol=1e-6)


def test_trains_through_the_registry(make_corpus, tmp_path):
    corpus = make_corpus(extra_samples=20)
    status = cli.main(["train", "--profile", "ci", "--model", "context_blind", "--exp_name", "blind",
                       "--log_root", str(tmp_path), "--base_path", str(corpus), "--steps", "4",
                       "--auto_test_step", "2", "--emoji_steps", "1", "--hidden", "8"])
    assert status == 0
    report = json.loads((tmp_path / "blind/metrics.json").read_text())
    assert report["model"] == "context_blind" and 0.0 <= report["test"]["MAP"] <= 1.0
