"""Deep interaction network (paper eqs. 7-11) and its "w/o DIN" replacement."""
import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.layers import DeepInteraction, PooledInteraction


def _numpy(x):
    return ops.convert_to_numpy(x)


def _pairs(batch=2, candidates=3, grid=2, utterances=4, words=5, dim=6, seed=0):
    """Random O, O_flat, h and a word mask with padded words and one empty utterance."""
    rng = np.random.default_rng(seed)
    sticker_map = rng.normal(size=(batch, candidates, grid, grid, dim)).astype("float32")
    sticker_vector = rng.normal(size=(batch, candidates, dim)).astype("float32")
    words_state = rng.normal(size=(batch, utterances, words, dim)).astype("float32")
    lengths = rng.integers(1, words + 1, size=(batch, utterances))
    lengths[0, -1] = 0  # a padded utterance
    mask = np.arange(words) < lengths[..., None]
    return [sticker_map, sticker_vector, words_state], mask


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _reference(layer, inputs, mask):
    """Equations 7-11 for one (sticker, utterance) pair at a time, concatenation and all."""
    sticker_map, sticker_vector, words_state = inputs
    w = np.concatenate([_numpy(layer.w_sticker), _numpy(layer.w_word),
                        _numpy(layer.w_product)])
    w_if, b_if = (_numpy(v) for v in layer.integrate.weights)
    w_q2, b_q2 = (_numpy(v) for v in layer.combine.weights)
    batch, candidates, grid, _, dim = sticker_map.shape
    utterances, words = words_state.shape[1:3]
    q2 = np.zeros((batch, candidates, utterances, layer.hidden), "float32")
    relation = np.zeros((batch, candidates, utterances, grid * grid, words), "float32")
    for b in range(batch):
        for c in range(candidates):
            units = sticker_map[b, c].reshape(grid * grid, dim)
            o_flat = sticker_vector[b, c]
            for u in range(utterances):
                h, real = words_state[b, u], mask[b, u]
                m = np.array([[w @ np.concatenate([units[k], h[j], units[k] * h[j]])
                               for j in range(words)] for k in range(grid * grid)])
                relation[b, c, u] = m
                tau_u = np.zeros(words)
                tau_s = np.zeros(grid * grid)
                if real.any():
                    tau_u[real] = m[:, real].max(0)
                    tau_s = m[:, real].max(1)
                    if layer.softmax_attention:
                        tau_u[real] = _softmax(tau_u[real])
                        tau_s = _softmax(tau_s)
                l = tau_u @ h
                r = tau_s @ units
                q1 = np.concatenate([o_flat, r, o_flat * r, o_flat + r]) @ w_if + b_if
                combined = ([q1, l, q1 * l, q1 + l] if layer.integrate_words else [q1, l])
                q2[b, c, u] = np.concatenate(combined) @ w_q2 + b_q2
    return q2, relation


@pytest.mark.parametrize("softmax_attention,integrate_words",
                         [(False, False), (True, False), (True, True)])
def test_matches_equations_7_to_11_with_the_naive_concatenation(softmax_attention,
                                                                integrate_words):
    inputs, mask = _pairs()
    hidden = 6 if integrate_words else 7  # IF(Q1, l) needs Q1 as wide as the word states
    layer = DeepInteraction(hidden=hidden, softmax_attention=softmax_attention,
                            integrate_words=integrate_words)
    q2, attention = layer(inputs, mask=mask, return_attention=True)
    expected_q2, expected_relation = _reference(layer, inputs, mask)
    np.testing.assert_allclose(_numpy(attention["relation"]), expected_relation,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_numpy(q2), expected_q2, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch,candidates,grid,utterances,words",
                         [(1, 1, 1, 1, 1), (2, 3, 2, 4, 5), (3, 10, 6, 2, 30)])
def test_shapes(batch, candidates, grid, utterances, words):
    inputs, mask = _pairs(batch, candidates, grid, utterances, words, dim=4)
    layer = DeepInteraction(hidden=9, integrate_words=False)
    q2, attention = layer(inputs, mask=mask, return_attention=True)
    assert tuple(q2.shape) == (batch, candidates, utterances, 9)
    assert tuple(attention["relation"].shape) == (
        batch, candidates, utterances, grid * grid, words)
    assert tuple(attention["utterance_attention"].shape) == (
        batch, candidates, utterances, words)
    assert tuple(attention["sticker_attention"].shape) == (
        batch, candidates, utterances, grid, grid)
    assert layer.compute_output_shape([x.shape for x in inputs]) == tuple(q2.shape)
    np.testing.assert_array_equal(_numpy(layer(inputs, mask=mask)), _numpy(q2))


@pytest.mark.parametrize("softmax_attention", [False, True])
def test_padded_words_change_nothing(softmax_attention):
    inputs, mask = _pairs(seed=1)
    layer = DeepInteraction(hidden=6, softmax_attention=softmax_attention)
    q2, attention = layer(inputs, mask=mask, return_attention=True)
    changed = [x.copy() for x in inputs]
    changed[2][~mask] = 1000.0
    q2_changed = layer(changed, mask=mask)
    np.testing.assert_allclose(_numpy(q2), _numpy(q2_changed), rtol=1e-5, atol=1e-5)
    utterance_attention = _numpy(attention["utterance_attention"])
    padded = np.broadcast_to(~mask[:, None], utterance_attention.shape)
    assert padded.any() and np.all(utterance_attention[padded] == 0)
    assert np.all(np.isfinite(_numpy(q2)))
    # The padded utterance (no real word) gets no sticker-wise attention at all.
    assert np.all(_numpy(attention["sticker_attention"])[0, :, -1] == 0)


def test_gradient_reaches_every_weight():
    inputs, mask = _pairs(seed=2)
    layer = DeepInteraction(hidden=6)
    loss = ops.sum(layer(inputs, mask=mask) ** 2)
    loss.backward()
    assert {w.name for w in layer.trainable_weights} == {
        "w_sticker", "w_word", "w_product", "kernel", "bias"}
    assert len(layer.trainable_weights) == 7
    for weight in layer.trainable_weights:
        grad = weight.value.grad.detach().cpu().numpy()
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), weight.path


def test_widths_must_match():
    inputs, mask = _pairs(dim=6)
    inputs[2] = inputs[2][..., :4]
    with pytest.raises(ValueError, match="share one width"):
        DeepInteraction(hidden=5, integrate_words=False)(inputs, mask=mask)
    inputs, mask = _pairs(dim=6)
    with pytest.raises(ValueError, match="widths must be equal"):
        DeepInteraction(hidden=5, integrate_words=True)(inputs, mask=mask)


def test_pooled_interaction_is_a_smaller_drop_in_replacement():
    inputs, mask = _pairs(dim=6, seed=3)
    deep = DeepInteraction(hidden=5, integrate_words=False)
    pooled = PooledInteraction(hidden=5, integrate_words=False)
    q2 = pooled(inputs, mask=mask)
    assert tuple(q2.shape) == tuple(deep(inputs, mask=mask).shape)
    # Only FC([O_flat ; mean h]): (6 + 6) * 5 + 5 weights, no relation vector, no IF.
    assert pooled.count_params() == 65
    assert deep.count_params() == 3 * 6 + (4 * 6 * 5 + 5) + ((5 + 6) * 5 + 5)
    changed = [x.copy() for x in inputs]
    changed[0] += 1.0  # the sticker map plays no part without the DIN
    changed[2][~mask] = 1000.0
    np.testing.assert_allclose(_numpy(q2), _numpy(pooled(changed, mask=mask)), rtol=1e-5,
                               atol=1e-5)


def test_pooled_interaction_integrates_like_equation_10():
    inputs, mask = _pairs(dim=6, seed=5)
    pooled = PooledInteraction(hidden=5)
    q2 = _numpy(pooled(inputs, mask=mask))
    _, sticker_vector, words = inputs
    weights = mask[..., None].astype("float32")
    u = (words * weights).sum(2) / np.maximum(weights.sum(2), 1.0)  # (batch, utterances, dim)
    s = np.broadcast_to(sticker_vector[:, :, None], (*sticker_vector.shape[:2], *u.shape[1:]))
    u = np.broadcast_to(u[:, None], s.shape)
    kernel, bias = (_numpy(v) for v in pooled.combine.weights)
    expected = np.concatenate([s, u, s * u, s + u], axis=-1) @ kernel + bias
    np.testing.assert_allclose(q2, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layer", [DeepInteraction(hidden=5, softmax_attention=False,
                                                   integrate_words=False),
                                   DeepInteraction(hidden=6),
                                   PooledInteraction(hidden=5, integrate_words=False),
                                   PooledInteraction(hidden=6)],
                         ids=["deep", "deep-integrate-words", "pooled", "pooled-integrate"])
def test_keras_round_trip(tmp_path, layer):
    inputs, mask = _pairs(seed=4)
    symbolic = [keras.Input(x.shape[1:]) for x in inputs]
    symbolic_mask = keras.Input(mask.shape[1:], dtype="bool")
    model = keras.Model([*symbolic, symbolic_mask], layer(symbolic, mask=symbolic_mask))
    model.save(tmp_path / "interaction.keras")
    loaded = keras.saving.load_model(tmp_path / "interaction.keras", safe_mode=True)
    assert loaded.layers[-1].get_config() == layer.get_config()
    np.testing.assert_array_equal(_numpy(loaded([*inputs, mask])),
                                  _numpy(model([*inputs, mask])))
