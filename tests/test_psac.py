"""PSAC baseline: the ranker contract, masking, the flattened question, saving, training."""
from __future__ import annotations

import numpy as np

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops
from ranker_checks import (SMALL, assert_contract, assert_ignores_appended_padding,
                           assert_ignores_pad_embedding,
                           assert_learns_a_batch, assert_round_trip, make_inputs, scores_of)

from srs_lib.models.psac import PSAC, flatten_context


def _model(**options):
    keras.utils.set_random_seed(0)
    return PSAC(**SMALL, **options)


def test_flatten_context_keeps_the_last_real_words_in_order():
    contexts = np.array([[[5, 6, 0], [7, 0, 0], [0, 0, 0]],
                         [[11, 12, 13], [14, 15, 16], [17, 18, 19]],
                         [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], dtype="int32")
    np.testing.assert_array_equal(ops.convert_to_numpy(flatten_context(contexts, 4)),
                                  [[5, 6, 7, 0], [16, 17, 18, 19], [0, 0, 0, 0]])
    full = ops.convert_to_numpy(flatten_context(contexts, 150))
    assert full.shape == (3, 9)  # never longer than utterances × words
    np.testing.assert_array_equal(full[0], [5, 6, 7, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(full[1], np.arange(11, 20))


def test_contract_and_masking():
    model = _model()
    inputs = make_inputs()
    assert_contract(model, inputs)
    assert_ignores_pad_embedding(model, inputs, model.embeddings)


def test_padded_utterances_do_not_count():
    model = _model()
    inputs = make_inputs()
    assert_ignores_appended_padding(model, inputs, utterances=2)


def test_round_trip_in_safe_mode(tmp_path):
    model = _model(video_layers=2, max_question_words=7)
    inputs = make_inputs()
    assert_round_trip(model, inputs, tmp_path / "psac.keras")
    assert model.get_config()["video_layers"] == 2


def test_learns_a_batch():
    assert_learns_a_batch(_model(), make_inputs(candidates=4))


def test_variant_two_video_layers_and_a_short_question():
    model = _model(video_layers=2, max_question_words=6, conv_layers=2, kernel_size=3)
    inputs = make_inputs()
    assert len(model.video_encoder.blocks) == 2
    assert_contract(model, inputs)
    # Only the last 6 real words are read: changing an earlier word changes nothing.
    contexts = inputs["contexts"].copy()
    contexts[:, 0, 0] = np.where(contexts[:, 0, 0] > 0, 4 + (contexts[:, 0, 0] + 1) % 36, 0)
    np.testing.assert_allclose(scores_of(model, dict(inputs, contexts=contexts)),
                               scores_of(model, inputs), rtol=1e-5, atol=1e-6)
