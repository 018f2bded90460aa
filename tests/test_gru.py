"""MaskedGRU: the same function as ``keras.layers.GRU``, masked steps carrying the state."""
import numpy as np

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.layers.gru import MaskedGRU


def test_masked_gru_is_keras_gru():
    """Same weights, same outputs as ``keras.layers.GRU``, masked steps included."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(3, 6, 5)).astype("float32")
    mask = np.arange(6)[None] < np.array([[6], [2], [4]])
    ours = MaskedGRU(4)
    ours.build(inputs.shape)
    reference = keras.layers.GRU(4, return_sequences=True)
    reference.build(inputs.shape)
    reference.set_weights(ours.get_weights())
    expected = ops.convert_to_numpy(reference(inputs, mask=mask))
    states = ops.convert_to_numpy(ours(inputs, step_mask=mask, return_sequences=True))
    np.testing.assert_allclose(states[mask], expected[mask], rtol=1e-5, atol=1e-6)
    final = ops.convert_to_numpy(ours(inputs, step_mask=mask))
    np.testing.assert_allclose(final, expected[np.arange(3), mask.sum(1) - 1], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(ours(inputs)),
                               ops.convert_to_numpy(reference(inputs))[:, -1], rtol=1e-5,
                               atol=1e-6)
