"""DAM (Zhou et al., 2018) on stickers: the ranker contract, masks, saving and training."""
from __future__ import annotations

import numpy as np
import pytest

from ranker_checks import (SMALL, assert_contract, assert_ignores_pad_embedding,
                           assert_learns_a_batch, assert_round_trip, make_inputs, scores_of)
from keras import ops

from srs_lib.models.dam import DAM, attention

#: A shallower stack keeps the slower checks quick; the default depth is tested once.
SHALLOW = dict(SMALL, stack_num=2, cnn_channels=(4, 3))


def _cube(model, inputs):
    tokens, _, _ = model.encode_sticker_tokens(inputs["stickers"])
    return ops.convert_to_numpy(model.similarity(inputs["contexts"], tokens))


def test_contract_and_padding_at_the_default_depth():
    model = DAM(**SMALL)
    inputs = make_inputs()
    assert_contract(model, inputs)
    cube = _cube(model, inputs)
    # (batch, candidates, utterances, words, p², 2(L+1)): 12 channels for L = 5.
    assert cube.shape == (2, 3, 4, 5, 4, 12) and model.channels == 12
    assert np.all(cube[1, :, -1] == 0)  # the padded utterance of context 1
    assert np.all(cube[:, :, :, -2:] == 0)  # the padded words
    assert np.abs(cube[:, :, :, :3]).min(axis=(3, 4)).max() > 0  # real words are not zero
    assert_ignores_pad_embedding(model, inputs, [model.embedding])


def test_cube_matches_one_pair_computed_alone():
    """The broadcast cross attention equals the blocks run on one (utterance, sticker)."""
    model = DAM(**SHALLOW)
    inputs = make_inputs()
    cube = _cube(model, inputs)
    b, c, u, real = 0, 2, 1, 3  # context 0, candidate 2, utterance 1 (3 real words)
    tokens, _, _ = model.encode_sticker_tokens(inputs["stickers"])
    turn = model.embedding(inputs["contexts"][b:b + 1, u, :real])  # (1, words, d)
    sticker = tokens[b:b + 1, c]  # (1, p², d)
    turns, stickers = [turn], [sticker]

    def block(layer, query, key):  # block(Q, K, K) on (1, steps, d), nothing masked
        return layer(query, attention(query, key))

    for layer in model.self_blocks:
        turns.append(block(layer, turns[-1], turns[-1]))
        stickers.append(block(layer, stickers[-1], stickers[-1]))
    channels = [ops.matmul(block(model.turn_attend_sticker[l], turns[l], stickers[l]),
                           ops.swapaxes(block(model.sticker_attend_turn[l], stickers[l],
                                              turns[l]), 1, 2))
                for l in range(3)]
    channels += [ops.matmul(turns[l], ops.swapaxes(stickers[l], 1, 2)) for l in range(3)]
    expected = ops.convert_to_numpy(ops.stack(channels, axis=-1))[0] / np.sqrt(SMALL["hidden"])
    np.testing.assert_allclose(cube[b, c, u, :real], expected, rtol=1e-4, atol=1e-5)


def test_round_trip_in_safe_mode(tmp_path):
    inputs = make_inputs()
    assert_round_trip(DAM(**SHALLOW), inputs, tmp_path / "dam.keras")
    untied = DAM(**SHALLOW, share_self_attention=False)
    assert_round_trip(untied, inputs, tmp_path / "dam_untied.keras")
    assert untied.get_config()["cnn_channels"] == (4, 3)


def test_learns_a_batch():
    assert_learns_a_batch(DAM(**SHALLOW), make_inputs())


def test_untied_self_attention_and_depth():
    inputs = make_inputs()
    shared = DAM(**SHALLOW)
    untied = DAM(**SHALLOW, share_self_attention=False)
    for model in (shared, untied):
        assert np.all(np.isfinite(scores_of(model, inputs)))
    assert _cube(shared, inputs).shape[-1] == 6  # 2(L+1) for L = 2
    # The sticker side has its own L blocks: 2·d² kernels, 2 scalar biases, 2 norms each.
    d = SMALL["hidden"]
    assert untied.count_params() - shared.count_params() == 2 * (2 * d * d + 2 + 4 * d)
    assert not untied.sticker_self_blocks[0] is untied.self_blocks[0]
    assert_ignores_pad_embedding(untied, inputs, [untied.embedding])
    with pytest.raises(ValueError, match="cnn_channels"):
        DAM(**SMALL, cnn_channels=(8,))
