"""Utterance encoder and attentive module (paper eqs. 2-6)."""
import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.layers import AttentiveModule, UtteranceEncoder


def _numpy(x):
    return ops.convert_to_numpy(x)


def _assert_gradients_reach_every_weight(layer, loss):
    loss.backward()
    assert layer.trainable_weights
    for weight in layer.trainable_weights:
        grad = weight.value.grad
        assert grad is not None, f"no gradient for {weight.path}"
        grad = grad.detach().cpu().numpy()
        assert np.all(np.isfinite(grad)), f"non-finite gradient for {weight.path}"
        assert np.any(grad != 0), f"zero gradient for {weight.path}"


def _tokens(rng, batch, words, real, vocab=50):
    """Token ids with `real[i]` real words at the start of row i, PAD (0) after."""
    ids = rng.integers(4, vocab, size=(batch, words)).astype("int32")
    for row, count in enumerate(real):
        ids[row, count:] = 0
    return ids


def _reference_attentive_module(module, x, mask):
    """Equations 3-6 written out in numpy, one head at a time, in the module's form."""
    w = {layer.name: [_numpy(v) for v in layer.weights] for layer in
         (module.query, module.key, module.value, module.feed_forward_in,
          module.feed_forward_out)}
    q = x @ w["query"][0] + w["query"][1]
    k = x @ w["key"][0]
    v = x @ w["value"][0] + w["value"][1]
    heads, width = module.heads, x.shape[-1] // module.heads
    beta = np.zeros_like(x)
    for head in range(heads):
        cols = slice(head * width, (head + 1) * width)
        logits = np.einsum("bjd,bkd->bjk", q[..., cols], k[..., cols])
        if module.form == "transformer":
            logits = logits / np.sqrt(width)
        logits = np.where(mask[:, None, :], logits, -np.inf)
        alpha = np.exp(logits - logits.max(-1, keepdims=True))
        alpha /= alpha.sum(-1, keepdims=True)
        beta[..., cols] = alpha @ v[..., cols]
    h_hat = x + beta
    f = np.maximum(0, h_hat @ w["feed_forward_in"][0] + w["feed_forward_in"][1])
    f = f @ w["feed_forward_out"][0] + w["feed_forward_out"][1]
    if module.form == "transformer":
        f = f + h_hat
    gamma, shift = (_numpy(v) for v in module.norm.weights)
    mean, var = f.mean(-1, keepdims=True), f.var(-1, keepdims=True)
    return (f - mean) / np.sqrt(var + 1e-6) * gamma + shift


@pytest.mark.parametrize("form", ["transformer", "paper"])
@pytest.mark.parametrize("heads", [1, 2])
def test_attentive_module_matches_equations_3_to_6(heads, form):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    module = AttentiveModule(heads=heads, dropout=0.5, form=form)
    out = _numpy(module(x, mask=mask, training=False))
    expected = _reference_attentive_module(module, x, mask)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_attentive_module_gives_masked_steps_no_weight():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0]], bool)
    module = AttentiveModule()
    before = _numpy(module(x, mask=mask))
    alpha = _numpy(module.attention_weights(x, mask))
    assert alpha.shape == (2, 1, 6, 6)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-5)
    assert np.all(alpha[0, :, :, 4:] == 0) and np.all(alpha[1, :, :, 1:] == 0)

    changed = x.copy()
    changed[~mask] = rng.normal(size=changed[~mask].shape) * 100
    after = _numpy(module(changed, mask=mask))
    np.testing.assert_allclose(before[mask], after[mask], rtol=1e-5, atol=1e-5)


def test_attentive_module_rejects_an_unknown_form():
    with pytest.raises(ValueError, match="'transformer', 'paper'"):
        AttentiveModule(form="vaswani")


def test_attentive_module_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible"):
        AttentiveModule(heads=3)(np.zeros((1, 2, 8), "float32"))


@pytest.mark.parametrize("batch,words,hidden,heads,blocks",
                         [(1, 1, 4, 1, 1), (3, 7, 10, 2, 1), (2, 30, 16, 4, 2)])
def test_utterance_encoder_shapes(batch, words, hidden, heads, blocks):
    rng = np.random.default_rng(2)
    ids = _tokens(rng, batch, words, real=[words] * batch)
    encoder = UtteranceEncoder(50, hidden=hidden, heads=heads, blocks=blocks)
    h = encoder(ids)
    assert tuple(h.shape) == (batch, words, hidden)
    assert tuple(encoder.compute_output_shape((batch, words))) == (batch, words, hidden)
    assert len(encoder.attentive_modules) == blocks
    np.testing.assert_array_equal(_numpy(encoder.compute_mask(ids)), ids != 0)


def test_padded_words_change_nothing():
    """More padding, or another PAD embedding, leaves the real words' states unchanged."""
    rng = np.random.default_rng(3)
    ids = _tokens(rng, 3, 5, real=[5, 3, 1])
    longer = np.concatenate([ids, np.zeros((3, 4), "int32")], axis=1)
    encoder = UtteranceEncoder(50, hidden=8, blocks=2)
    h = _numpy(encoder(ids))
    h_longer = _numpy(encoder(longer))
    real = ids != 0
    np.testing.assert_allclose(h[real], h_longer[:, :5][real], rtol=1e-5, atol=1e-5)

    table = _numpy(encoder.embedding.embeddings).copy()
    table[0] = rng.normal(size=table.shape[1]) * 10
    encoder.embedding.embeddings.assign(table)
    h_new_pad = _numpy(encoder(ids))
    np.testing.assert_allclose(h[real], h_new_pad[real], rtol=1e-5, atol=1e-5)


def test_dropout_acts_only_in_training():
    ids = _tokens(np.random.default_rng(4), 2, 6, real=[6, 4])
    encoder = UtteranceEncoder(50, hidden=8, dropout=0.5)
    np.testing.assert_array_equal(_numpy(encoder(ids)), _numpy(encoder(ids)))
    assert not np.allclose(_numpy(encoder(ids, training=True)), _numpy(encoder(ids)))


def test_gradient_reaches_every_weight():
    ids = _tokens(np.random.default_rng(5), 3, 6, real=[6, 4, 2])
    encoder = UtteranceEncoder(50, hidden=8, heads=2, blocks=2)
    h = encoder(ids, training=True)
    target = ops.convert_to_tensor(np.random.default_rng(6).normal(size=(3, 6, 8)), "float32")
    _assert_gradients_reach_every_weight(encoder, ops.sum(h * target))


def test_keras_round_trip(tmp_path):
    ids = _tokens(np.random.default_rng(7), 2, 5, real=[5, 2])
    inputs = keras.Input((5,), dtype="int32")
    model = keras.Model(inputs, UtteranceEncoder(50, hidden=8, heads=2, blocks=2,
                                                 attention_form="paper")(inputs))
    path = tmp_path / "utterance_encoder.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.layers[-1]
    assert isinstance(layer, UtteranceEncoder)
    assert layer.get_config() == model.layers[-1].get_config()
    np.testing.assert_array_equal(_numpy(loaded(ids)), _numpy(model(ids)))
