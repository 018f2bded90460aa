"""Fusion network (paper eqs. 12-16)."""
import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.layers import FusionNetwork


def _numpy(x):
    return ops.convert_to_numpy(x)


def _sequences(batch=3, utterances=5, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    q2 = rng.normal(size=(batch, utterances, dim)).astype("float32")
    lengths = np.resize(np.arange(1, utterances + 1)[::-1], batch)
    return q2, np.arange(utterances) < lengths[:, None]


@pytest.mark.parametrize("batch,utterances,hidden", [(1, 1, 4), (3, 5, 8), (6, 20, 10)])
def test_shapes_and_score_range(batch, utterances, hidden):
    q2, mask = _sequences(batch, utterances, hidden)
    network = FusionNetwork(hidden=hidden, score_activation="sigmoid")
    scores = _numpy(network(q2, mask=mask))
    assert scores.shape == (batch,) == network.compute_output_shape(q2.shape)
    assert np.all((scores > 0) & (scores < 1))  # the paper's ŷ ∈ (0, 1)
    raw_network = FusionNetwork(hidden=hidden)  # the released code's raw score
    raw_network(q2, mask=mask)
    *weights, bias = network.get_weights()  # a raw score has no bias (differences only)
    raw_network.set_weights(weights)
    raw = _numpy(raw_network(q2, mask=mask))
    np.testing.assert_allclose(1 / (1 + np.exp(-(raw + bias))), scores, rtol=1e-5)


@pytest.mark.parametrize("use_fusion_rnn", [True, False])
def test_padded_utterances_change_nothing(use_fusion_rnn):
    """A context padded to more utterances scores as the context itself, unpadded."""
    rng = np.random.default_rng(1)
    network = FusionNetwork(hidden=8, use_fusion_rnn=use_fusion_rnn)
    for real in (1, 3):
        context = rng.normal(size=(1, real, 8)).astype("float32")
        alone = _numpy(network(context))
        padded = np.concatenate([context, rng.normal(size=(1, 4, 8)) * 100], axis=1)
        mask = np.arange(real + 4)[None] < real
        np.testing.assert_allclose(_numpy(network(padded.astype("float32"), mask=mask)),
                                   alone, rtol=1e-5, atol=1e-6)


def test_without_fusion_rnn_drops_the_gru_branch_and_submult():
    full = FusionNetwork(hidden=8)
    ablated = FusionNetwork(hidden=8, use_fusion_rnn=False)
    q2, mask = _sequences()
    full(q2, mask=mask)
    ablated(q2, mask=mask)
    assert not hasattr(ablated, "fusion_rnn") and not hasattr(ablated, "submult_dense")
    gru = 3 * (8 * 8 + 8 * 8 + 2 * 8)  # kernel, recurrent kernel, two biases (reset_after)
    submult = 2 * 8 * 8 + 8
    assert full.count_params() - ablated.count_params() == gru + submult


def test_submult_needs_the_model_width():
    with pytest.raises(ValueError, match="must equal hidden"):
        FusionNetwork(hidden=8)(np.zeros((1, 2, 6), "float32"))
    assert FusionNetwork(hidden=8, use_fusion_rnn=False)(
        np.zeros((1, 2, 6), "float32")).shape == (1,)


def test_released_submult_keeps_the_difference_linear():
    """"released": ḡ = ReLU(W[ĝ − g; ĝ⊙g] + b) where the paper squares ĝ − g (eq. 14)."""
    q2, mask = _sequences(seed=5)
    paper = FusionNetwork(hidden=8, submult="paper")
    paper(q2, mask=mask)
    released = FusionNetwork(hidden=8)
    released(q2, mask=mask)
    released.set_weights(paper.get_weights())
    g = paper.fusion_rnn(q2, step_mask=mask, return_sequences=True)
    g_hat = paper.fusion_transformer(q2, mask=mask)
    expected = paper.score(paper.prediction_rnn(
        paper.submult_dense(ops.concatenate([g_hat - g, g_hat * g], axis=-1)), step_mask=mask))
    np.testing.assert_allclose(_numpy(released(q2, mask=mask)), _numpy(expected)[:, 0],
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(_numpy(paper(q2, mask=mask)), _numpy(released(q2, mask=mask)))
    with pytest.raises(ValueError, match="submult must be"):
        FusionNetwork(hidden=8, submult="other")


def test_gradient_reaches_every_weight():
    q2, mask = _sequences(seed=2)
    network = FusionNetwork(hidden=8, heads=2)
    loss = ops.sum(network(q2, mask=mask, training=True))
    loss.backward()
    assert len(network.trainable_weights) == 20  # 11 Transformer, 3 + 3 GRU, 2 + 1 dense
    for weight in network.trainable_weights:
        grad = weight.value.grad.detach().cpu().numpy()
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), weight.path


def test_keras_round_trip(tmp_path):
    q2, mask = _sequences(seed=3)
    inputs, mask_input = keras.Input((5, 8)), keras.Input((5,), dtype="bool")
    network = FusionNetwork(hidden=8, heads=2, score_activation="sigmoid", submult="paper",
                            attention_form="paper")
    model = keras.Model([inputs, mask_input], network(inputs, mask=mask_input))
    model.save(tmp_path / "fusion.keras")
    loaded = keras.saving.load_model(tmp_path / "fusion.keras", safe_mode=True)
    assert loaded.layers[-1].get_config() == network.get_config()
    np.testing.assert_array_equal(_numpy(loaded([q2, mask])), _numpy(model([q2, mask])))


def test_submult_norm_normalises_what_the_prediction_gru_reads(tmp_path):
    q2, mask = _sequences(batch=4, utterances=6, dim=8)
    plain = FusionNetwork(hidden=8)
    normed = FusionNetwork(hidden=8, submult_norm=True)
    plain(q2, mask=mask)
    normed(q2, mask=mask)
    g_hat = normed.fusion_transformer(q2, mask=mask)
    g = normed.fusion_rnn(q2, step_mask=mask, return_sequences=True)
    g_bar = _numpy(normed.combine(g_hat, g))
    raw = _numpy(normed.submult_dense(ops.concatenate([g_hat - g, g_hat * g], axis=-1)))
    by_hand = (raw - raw.mean(-1, keepdims=True)) / np.sqrt(
        raw.var(-1, keepdims=True) + normed.submult_normalisation.epsilon)
    np.testing.assert_allclose(g_bar, by_hand, atol=1e-4)  # gain 1, bias 0 at the start
    np.testing.assert_allclose(g_bar.mean(axis=-1), 0.0, atol=1e-5)  # centred per step
    assert (_numpy(plain.combine(g_hat, g)) >= 0).all()  # the paper's ḡ: ReLU outputs
    assert {w.path.split("/")[-2] for w in normed.weights} >= {"submult_norm"}
    restored = FusionNetwork.from_config(normed.get_config())
    assert restored.submult_norm is True
    with pytest.raises(ValueError, match="needs use_fusion_rnn"):
        FusionNetwork(hidden=8, use_fusion_rnn=False, submult_norm=True)


@pytest.mark.parametrize("q2_norm", [False, True])
@pytest.mark.parametrize("use_fusion_rnn", [True, False])
def test_stages_are_the_intermediates_of_call(use_fusion_rnn, q2_norm):
    """stages() is the computation of call(), step by step, each stage recomposed here from
    the sublayers: ĝ the fusion Transformer over Q2 (layer-normalised first with q2_norm),
    g the fusion RNN, ḡ SUBMULT of the two, g̃ the prediction GRU, the score its read-out;
    call() returns that score."""
    q2, mask = _sequences()
    network = FusionNetwork(hidden=8, use_fusion_rnn=use_fusion_rnn, q2_norm=q2_norm)
    scores = _numpy(network(q2, mask=mask))
    stages = network.stages(q2, mask=mask)
    expected = {"g_hat", "g_tilde", "score"} | ({"g", "g_bar"} if use_fusion_rnn else set())
    assert set(stages) == expected
    read = network.q2_normalisation(q2) if q2_norm else q2
    g_hat = network.fusion_transformer(read, mask=mask)
    np.testing.assert_allclose(_numpy(stages["g_hat"]), _numpy(g_hat), rtol=1e-6)
    if use_fusion_rnn:
        g = network.fusion_rnn(read, step_mask=mask, return_sequences=True)
        np.testing.assert_allclose(_numpy(stages["g"]), _numpy(g), rtol=1e-6)
        difference = g_hat - g
        g_bar = network.submult_dense(ops.concatenate([difference, g_hat * g], axis=-1))
        np.testing.assert_allclose(_numpy(stages["g_bar"]), _numpy(g_bar), rtol=1e-6)
    g_tilde = network.prediction_rnn(g_bar if use_fusion_rnn else g_hat, step_mask=mask)
    np.testing.assert_allclose(_numpy(stages["g_tilde"]), _numpy(g_tilde), rtol=1e-6)
    score = _numpy(network.score(g_tilde))[:, 0]
    np.testing.assert_allclose(_numpy(stages["score"]), score, rtol=1e-6)
    np.testing.assert_allclose(scores, score, rtol=1e-6)
    if q2_norm:  # the normalisation is applied: without it the scores differ
        raw = network.prediction_rnn(
            network.combine(network.fusion_transformer(q2, mask=mask),
                            network.fusion_rnn(q2, step_mask=mask, return_sequences=True))
            if use_fusion_rnn else network.fusion_transformer(q2, mask=mask), step_mask=mask)
        assert not np.allclose(_numpy(network.score(raw))[:, 0], score, rtol=1e-3)
        assert FusionNetwork.from_config(network.get_config()).q2_norm is True
