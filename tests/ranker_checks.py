"""Checks that every ranking model must pass (used by the per-model test files).

Every model of :mod:`srs_lib.models.registry` takes {"contexts", "stickers"} and returns
{"scores", "emoji_logits"}; these helpers check that contract on small inputs, the
safe-mode save/load round trip, that padded words do not leak into the scores, and that
one model learns a fixed batch with the trainer's loss.
"""
from __future__ import annotations

import numpy as np

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.training.losses import hinge_loss

#: Shared arguments of a small model (small CNN backbone at 16 px: a 2×2 map).
SMALL = dict(vocab_size=40, n_emoji=6, hidden=8, backbone="small_cnn", image_size=16,
             pretrained=False)


def make_inputs(seed=0, batch=2, candidates=3, utterances=4, words=5):
    """Random contexts with padding (the last utterance of the second context and the last
    two words of every utterance are PAD) and random stickers."""
    rng = np.random.default_rng(seed)
    contexts = rng.integers(4, 40, size=(batch, utterances, words)).astype("int32")
    contexts[:, :, -2:] = 0
    if batch > 1:
        contexts[1, -1] = 0
    stickers = rng.integers(0, 256, size=(batch, candidates, 32, 32, 3)).astype("uint8")
    return {"contexts": contexts, "stickers": stickers}


def scores_of(model, inputs):
    return ops.convert_to_numpy(model(inputs, training=False)["scores"])


def assert_contract(model, inputs):
    """Output shapes, finite scores, and the scores depend on the dialog."""
    out = model(inputs, training=False)
    batch, candidates = inputs["stickers"].shape[:2]
    assert tuple(out["scores"].shape) == (batch, candidates)
    assert tuple(out["emoji_logits"].shape) == (batch, candidates, model.n_emoji)
    scores = ops.convert_to_numpy(out["scores"])
    assert np.all(np.isfinite(scores))
    other = dict(inputs, contexts=np.where(inputs["contexts"] > 0,
                                           (inputs["contexts"] + 7) % 36 + 4, 0).astype("int32"))
    assert not np.allclose(scores_of(model, other), scores), "the scores ignore the dialog"


def assert_ignores_pad_embedding(model, inputs, embeddings):
    """Changing the PAD row (id 0) of each of ``embeddings`` leaves the scores unchanged."""
    expected = scores_of(model, inputs)
    for layer in embeddings:
        table = ops.convert_to_numpy(layer.embeddings).copy()
        table[0] = 5.0
        layer.embeddings.assign(table)
    np.testing.assert_allclose(scores_of(model, inputs), expected, rtol=1e-4, atol=1e-5)


def assert_ignores_appended_padding(model, inputs, utterances=1, words=0, rtol=1e-4, atol=1e-5):
    """All-PAD utterances (and PAD words) appended after the real ones leave the scores
    unchanged."""
    expected = scores_of(model, inputs)
    contexts = inputs["contexts"]
    padded = np.pad(contexts, ((0, 0), (0, utterances), (0, words)))
    np.testing.assert_allclose(scores_of(model, dict(inputs, contexts=padded)), expected,
                               rtol=rtol, atol=atol)


def assert_round_trip(model, inputs, path):
    """Saved and reloaded in safe mode, the model gives the same scores and config."""
    expected = scores_of(model, inputs)
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(scores_of(loaded, inputs), expected, rtol=1e-5, atol=1e-6)


def assert_learns_a_batch(model, inputs, steps=8, learning_rate=3e-3):
    """A few Adam steps on the trainer's hinge loss lower that loss on a fixed batch."""
    keras.utils.set_random_seed(0)
    label = np.zeros(inputs["stickers"].shape[0], dtype="int32")

    def loss(training):
        return ops.mean(hinge_loss(label, model(inputs, training=training)["scores"]))

    before = float(ops.convert_to_numpy(loss(False)))
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = model.trainable_variables
    for _ in range(steps):
        for variable in variables:
            variable.value.grad = None
        value = loss(True)
        value.backward()
        used = [v for v in variables if v.value.grad is not None]  # not the emoji head
        optimizer.apply([v.value.grad for v in used], used)
    after = float(ops.convert_to_numpy(loss(False)))
    assert after < before, f"hinge loss {before:.4f} -> {after:.4f}"
