"""MRFN (FLS): the ranker contract, masking, per-representation scores, saving, training."""
import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from ranker_checks import (SMALL, assert_contract, assert_ignores_appended_padding,
                           assert_ignores_pad_embedding,
                           assert_learns_a_batch, assert_round_trip, make_inputs, scores_of)
from srs_lib.models.mrfn import REPRESENTATIONS, MRFN, MRFNAttention


def _model(**options):
    keras.utils.set_random_seed(0)
    return MRFN(**SMALL, **options)


def test_contract_and_sum_of_representation_scores():
    model = _model()
    inputs = make_inputs()
    assert_contract(model, inputs)
    per_representation, _ = model.representation_scores(inputs, training=False)
    assert tuple(per_representation) == REPRESENTATIONS
    total = sum(ops.convert_to_numpy(score) for score in per_representation.values())
    np.testing.assert_allclose(total, scores_of(model, inputs), rtol=1e-5, atol=1e-6)


def test_padding_does_not_change_the_scores():
    model = _model()
    inputs = make_inputs()
    # An extra all-PAD utterance (post-padded), and an extra PAD word in every utterance.
    assert_ignores_appended_padding(model, inputs, utterances=1)
    assert_ignores_appended_padding(model, inputs, utterances=0, words=1)
    assert_ignores_pad_embedding(model, inputs, [model.embedding])


def test_broadcast_attention_equals_the_per_pair_attention():
    """The cross-attention on broadcast (context, candidate) axes is the per-pair layer."""
    keras.utils.set_random_seed(0)
    layer = MRFNAttention(heads=3)  # 3 does not divide 8: 3 dims per query/key head
    rng = np.random.default_rng(0)
    utterances = rng.normal(size=(2, 1, 4, 5, 8)).astype("float32")
    stickers = rng.normal(size=(2, 3, 1, 4, 8)).astype("float32")
    mask = rng.random((2, 1, 4, 5)) > 0.3
    mask[..., 0] = True
    both = ops.convert_to_numpy(layer(stickers, utterances, key_mask=mask))
    assert both.shape == (2, 3, 4, 4, 8)
    for b in range(2):
        for c in range(3):
            for u in range(4):
                one = layer(stickers[b:b + 1, c, 0], utterances[b:b + 1, 0, u],
                            key_mask=mask[b:b + 1, 0, u])
                np.testing.assert_allclose(both[b, c, u], ops.convert_to_numpy(one)[0],
                                           rtol=1e-5, atol=1e-5)


def test_round_trip(tmp_path):
    model = _model(representations=("word", "cross"), heads=4, conv_kernels=(1, 3))
    assert_round_trip(model, make_inputs(), tmp_path / "mrfn.keras")


def test_learns_a_batch():
    assert_learns_a_batch(_model(), make_inputs(batch=3))


@pytest.mark.parametrize("representations", [("word",), ("seq", "conv"), ("self", "cross")])
def test_subsets_of_representations(representations):
    model = _model(representations=representations, heads=3)
    inputs = make_inputs()
    assert_contract(model, inputs)
    per_representation, _ = model.representation_scores(inputs, training=False)
    assert tuple(per_representation) == representations
    assert len(model.matchings) == len(representations)


def test_conv_filters_add_up_to_the_width_and_bad_options_fail():
    model = _model(conv_kernels=(1, 2, 3))
    assert [layer.filters for layer in model.convolutions] == [3, 3, 2]
    with pytest.raises(ValueError, match="representations"):
        MRFN(**SMALL, representations=("word", "char"))
    with pytest.raises(ValueError, match="representations"):
        MRFN(**SMALL, representations=())
