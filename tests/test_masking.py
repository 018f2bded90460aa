"""Masks of padded words and utterances, and the masked softmax every attention uses."""
from __future__ import annotations

import numpy as np

import srs_lib  # noqa: F401  (selects the Keras backend before anything imports Keras)
from keras import ops

from srs_lib.layers.masking import MASK_VALUE, context_masks, masked_softmax


def test_context_masks_mark_real_words_and_utterances():
    contexts = np.array([[[5, 6, 0], [0, 0, 0], [7, 0, 0]]])
    words, utterances = (ops.convert_to_numpy(m) for m in context_masks(contexts))
    np.testing.assert_array_equal(words, [[[1, 1, 0], [0, 0, 0], [1, 0, 0]]])
    np.testing.assert_array_equal(utterances, [[True, False, True]])


def test_masked_softmax_by_hand():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype="float32")
    mask = np.array([[True, False, True], [False, False, False]])
    weights = ops.convert_to_numpy(masked_softmax(logits, mask))
    e1, e3 = np.exp(1.0 - 3.0), 1.0
    np.testing.assert_allclose(weights[0], [e1 / (e1 + e3), 0.0, e3 / (e1 + e3)], rtol=1e-6)
    np.testing.assert_array_equal(weights[1], [0.0, 0.0, 0.0])  # nothing real: all zero, finite


def test_mask_value_loses_every_softmax_and_stays_finite_in_float32():
    assert np.isfinite(np.float32(MASK_VALUE)) and MASK_VALUE < -1e8
    weights = ops.convert_to_numpy(masked_softmax(np.array([[MASK_VALUE, 0.0]], "float32"),
                                                  np.array([[True, True]])))
    assert weights[0, 0] == 0.0 and weights[0, 1] == 1.0
