"""Hinge loss (paper eq. 17), emoji loss L_s and their sum, against hand-computed values."""
import math

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.training.losses import EmojiLoss, HingeLoss, emoji_loss, hinge_loss, srs_loss

SCORES = np.array([[0.9, 0.2, 0.5],
                   [1.0, 3.0, 2.0]], "float32")
POSITIVE = np.array([0, 2])
# Row 0: max(0, 0.2 - 0.9 + 1) + max(0, 0.5 - 0.9 + 1) = 0.3 + 0.6 = 0.9.
# Row 1: max(0, 1 - 2 + 1) + max(0, 3 - 2 + 1) = 0 + 2 = 2.
HINGE = np.array([0.9, 2.0])

LOGITS = np.array([[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0]],
                   [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]], "float32")
LABELS = np.array([[1, 0, -1],
                   [-1, -1, -1]])
# Row 0: mean of -log(1/2) and -log(3/4) over its two known candidates; row 1: none known.
EMOJI = np.array([(math.log(2.0) + math.log(4.0 / 3.0)) / 2, 0.0])


def _numpy(x):
    return ops.convert_to_numpy(x)


def test_hinge_loss_sums_over_negatives():
    np.testing.assert_allclose(_numpy(hinge_loss(POSITIVE, SCORES)), HINGE, rtol=1e-6)
    one_hot = np.eye(3)[POSITIVE]
    np.testing.assert_allclose(_numpy(hinge_loss(one_hot, SCORES)), HINGE, rtol=1e-6)


def test_hinge_loss_mean_over_the_real_negatives():
    # Row 0 has two negatives, 0.9 / 2; in row 1 the candidate 1 is padding (masked), so
    # only candidate 0 is a negative: max(0, 1 - 2 + 1) = 0.
    mask = np.array([[True, True, True], [True, False, True]])
    np.testing.assert_allclose(_numpy(hinge_loss(POSITIVE, SCORES, reduction="mean")),
                               HINGE / 2, rtol=1e-6)
    np.testing.assert_allclose(_numpy(hinge_loss(POSITIVE, SCORES, mask=mask, reduction="mean")),
                               [0.45, 0.0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(_numpy(hinge_loss(POSITIVE, SCORES, mask=mask)), [0.9, 0.0],
                               rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="reduction must be one of"):
        hinge_loss(POSITIVE, SCORES, reduction="max")


def test_hinge_loss_margin():
    # Margin 0.1: row 0 has no violation; row 1 only 3 - 2 + 0.1.
    np.testing.assert_allclose(_numpy(hinge_loss(POSITIVE, SCORES, margin=0.1)), [0.0, 1.1],
                               rtol=1e-6, atol=1e-7)
    # Without margin a perfectly separated ranking costs nothing.
    assert float(_numpy(hinge_loss([1], [[0.0, 4.0, -1.0]], margin=0.0))[0]) == 0.0


def test_emoji_loss_ignores_unknown_labels():
    np.testing.assert_allclose(_numpy(emoji_loss(LABELS, LOGITS)), EMOJI, rtol=1e-5)
    mask = np.array([[True, False, True], [True, True, True]])
    np.testing.assert_allclose(_numpy(emoji_loss(LABELS, LOGITS, mask=mask)),
                               [math.log(2.0), 0.0], rtol=1e-5)


@pytest.mark.parametrize("weight", [1.0, 0.5, 0.0])
def test_srs_loss_is_the_weighted_sum_of_batch_means(weight):
    total = srs_loss(POSITIVE, SCORES, LABELS, LOGITS, margin=1.0, emoji_weight=weight)
    np.testing.assert_allclose(float(_numpy(total)), HINGE.mean() + weight * EMOJI.mean(),
                               rtol=1e-5)


def test_keras_losses_average_over_the_batch_and_serialise():
    hinge = HingeLoss(margin=1.0)
    np.testing.assert_allclose(float(_numpy(hinge(POSITIVE, SCORES))), HINGE.mean(),
                               rtol=1e-6)
    np.testing.assert_allclose(float(_numpy(EmojiLoss()(LABELS, LOGITS))), EMOJI.mean(),
                               rtol=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(HingeLoss(margin=0.3)))
    assert isinstance(restored, HingeLoss) and restored.margin == 0.3
