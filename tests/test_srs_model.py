"""The SRS model: contract, masking, ablation switches, saving, both backbones."""
import warnings

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.layers import PooledInteraction, PretrainedWeightsWarning
from srs_lib.layers import sticker_encoder as sticker_encoder_module
from srs_lib.training.losses import EmojiLoss, HingeLoss, srs_loss
from srs_lib.models import SRS

VOCAB, N_EMOJI, HIDDEN = 40, 6, 8
SMALL = dict(vocab_size=VOCAB, n_emoji=N_EMOJI, hidden=HIDDEN, backbone="small_cnn",
             image_size=16, pretrained=False)


def _numpy(x):
    return ops.convert_to_numpy(x)


def _batch(batch=2, candidates=3, utterances=4, words=5, seed=0):
    """Contexts whose last context has one utterance (of one word) and padded words."""
    rng = np.random.default_rng(seed)
    contexts = rng.integers(4, VOCAB, size=(batch, utterances, words)).astype("int32")
    lengths = rng.integers(1, words + 1, size=(batch, utterances))
    contexts[np.arange(words) >= lengths[..., None]] = 0
    contexts[-1, 1:] = 0
    contexts[-1, 0, 1:] = 0
    stickers = rng.integers(0, 256, size=(batch, candidates, 128, 128, 3)).astype("uint8")
    return {"contexts": contexts, "stickers": stickers}


def _offline_inception(monkeypatch, calls):
    real_inception = keras.applications.InceptionV3

    def offline(*args, weights="imagenet", **kwargs):
        calls.append(weights)
        if weights == "imagenet":
            raise Exception("URL fetch failure: no network")
        return real_inception(*args, weights=weights, **kwargs)

    monkeypatch.setattr(sticker_encoder_module.keras.applications, "InceptionV3", offline)


@pytest.mark.parametrize("batch,candidates,utterances,words",
                         [(1, 1, 1, 1), (2, 3, 4, 5), (3, 10, 2, 7)])
def test_outputs_follow_the_contract(batch, candidates, utterances, words):
    model = SRS(**SMALL)
    outputs = model(_batch(batch, candidates, utterances, words))
    assert set(outputs) == {"scores", "emoji_logits"}
    assert tuple(outputs["scores"].shape) == (batch, candidates)
    assert tuple(outputs["emoji_logits"].shape) == (batch, candidates, N_EMOJI)
    assert outputs["scores"].dtype == outputs["emoji_logits"].dtype
    assert keras.backend.standardize_dtype(outputs["scores"].dtype) == "float32"
    assert np.all(np.isfinite(_numpy(outputs["scores"])))


def test_components_called_on_their_own_first_do_not_break_the_model():
    model = SRS(**SMALL)
    inputs = _batch()
    model.sticker_encoder(inputs["stickers"])
    model.utterance_encoder(inputs["contexts"][:, 0])
    outputs = model(inputs)
    assert tuple(outputs["scores"].shape) == (2, 3)


def test_backward_reaches_every_weight():
    model = SRS(**{**SMALL, "image_size": 32, "heads": 2, "blocks": 2})
    inputs = _batch()
    outputs = model(inputs, training=True)
    emoji = np.random.default_rng(1).integers(0, N_EMOJI, size=(2, 3))
    srs_loss([0, 2], outputs["scores"], emoji, outputs["emoji_logits"]).backward()
    assert len(model.trainable_weights) > 40
    for weight in model.trainable_weights:
        grad = weight.value.grad
        assert grad is not None, weight.path
        grad = grad.detach().cpu().numpy()
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), weight.path


def test_padding_changes_nothing():
    """More padded utterances or padded words leave every score as it was."""
    model = SRS(**SMALL)
    inputs = _batch(seed=2)
    scores = _numpy(model(inputs)["scores"])
    contexts = np.pad(inputs["contexts"], ((0, 0), (0, 3), (0, 2)))
    padded = _numpy(model({**inputs, "contexts": contexts})["scores"])
    np.testing.assert_allclose(padded, scores, rtol=1e-5, atol=1e-6)


def test_contexts_and_candidates_are_scored_independently():
    model = SRS(**SMALL)
    inputs = _batch(batch=3, seed=3)
    outputs = {k: _numpy(v) for k, v in model(inputs).items()}
    single = model({k: v[1:2] for k, v in inputs.items()})
    np.testing.assert_allclose(_numpy(single["scores"])[0], outputs["scores"][1], rtol=1e-5,
                               atol=1e-6)
    order = [2, 0, 1]
    permuted = model({**inputs, "stickers": inputs["stickers"][:, order]})
    np.testing.assert_allclose(_numpy(permuted["scores"]), outputs["scores"][:, order],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(permuted["emoji_logits"]),
                               outputs["emoji_logits"][:, order], rtol=1e-5, atol=1e-6)


def test_explain_returns_the_attention_of_figures_8_and_9():
    model = SRS(**{**SMALL, "image_size": 32})
    inputs = _batch(seed=4)
    explained = model.explain(inputs)
    batch, utterances, words = inputs["contexts"].shape
    assert tuple(explained["relation"].shape) == (batch, 3, utterances, 16, words)
    assert tuple(explained["utterance_attention"].shape) == (batch, 3, utterances, words)
    assert tuple(explained["sticker_attention"].shape) == (batch, 3, utterances, 4, 4)
    np.testing.assert_allclose(_numpy(explained["scores"]), _numpy(model(inputs)["scores"]),
                               rtol=1e-6)
    pad = np.broadcast_to(inputs["contexts"][:, None] == 0, (batch, 3, utterances, words))
    utterance_attention = _numpy(explained["utterance_attention"])
    assert np.all(utterance_attention[pad] == 0)
    # Softmax-normalised by default: each real utterance's τ^u sums to one, τ^s too.
    real = (inputs["contexts"] != 0).any(-1)[:, None].repeat(3, axis=1)
    np.testing.assert_allclose(utterance_attention.sum(-1)[real], 1.0, rtol=1e-5)
    np.testing.assert_allclose(_numpy(explained["sticker_attention"]).sum((-2, -1))[real],
                               1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="use_din"):
        SRS(**SMALL, use_din=False).explain(inputs)


def test_ablation_switches_change_the_architecture():
    inputs = _batch(seed=5)
    models = {}
    for name, switch in {"full": {}, "no_din": {"use_din": False},
                         "no_fr": {"use_fusion_rnn": False},
                         "no_classify": {"classify": False}}.items():
        models[name] = SRS(**SMALL, **switch)
        models[name](inputs)
    params = {name: model.count_params() for name, model in models.items()}

    assert isinstance(models["no_din"].interaction, PooledInteraction)
    assert "w_product" not in {w.name for w in models["no_din"].weights}
    din = 3 * HIDDEN + (4 * HIDDEN + 1) * HIDDEN + (2 * HIDDEN + 1) * HIDDEN
    pooled = (2 * HIDDEN + 1) * HIDDEN
    assert params["full"] - params["no_din"] == din - pooled

    assert not hasattr(models["no_fr"].fusion_network, "fusion_rnn")
    gru = 3 * (2 * HIDDEN * HIDDEN + 2 * HIDDEN)
    submult = (2 * HIDDEN + 1) * HIDDEN
    assert params["full"] - params["no_fr"] == gru + submult

    assert params["no_classify"] == params["full"]
    assert models["full"].emoji_loss_weight == 1.0
    assert models["no_classify"].emoji_loss_weight == 0.0


def test_inception_v3_configuration_runs_on_a_tiny_batch():
    model = SRS(vocab_size=VOCAB, n_emoji=N_EMOJI, hidden=HIDDEN, pretrained=False)
    assert model.backbone == "inception_v3" and model.image_size == 128
    assert model.sticker_encoder.backbone_weights is None
    inputs = _batch(batch=1, candidates=2, utterances=3, words=4, seed=6)
    outputs = model(inputs)
    assert tuple(outputs["scores"].shape) == (1, 2)
    assert tuple(outputs["emoji_logits"].shape) == (1, 2, N_EMOJI)
    assert tuple(model.explain(inputs)["sticker_attention"].shape) == (1, 2, 3, 6, 6)


def test_offline_imagenet_warns_once_and_a_reload_does_not_fetch_again(monkeypatch):
    calls = []
    _offline_inception(monkeypatch, calls)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = SRS(vocab_size=VOCAB, n_emoji=N_EMOJI, hidden=HIDDEN)
    ours = [w for w in caught if issubclass(w.category, PretrainedWeightsWarning)]
    assert len(ours) == 1 and "w/o pretrain" in str(ours[0].message)
    assert calls == ["imagenet", None]

    calls.clear()
    restored = SRS.from_config(model.get_config())
    assert calls == [None]
    assert restored.get_config() == model.get_config()
    assert restored.sticker_encoder.backbone_weights == "imagenet"


def test_keras_round_trip(tmp_path):
    """Saved and loaded with safe_mode=True, the model scores identically; the initial
    backbone weights file is not needed any more."""
    initial = SRS(**SMALL)
    weights_path = tmp_path / "small_cnn.weights.h5"
    initial.sticker_encoder.backbone_model.save_weights(weights_path)
    model = SRS(**{**SMALL, "pretrained": True, "backbone_weights": str(weights_path)},
                use_fusion_rnn=False, softmax_attention=False, score_activation=None)
    inputs = _batch(seed=7)
    expected = {k: _numpy(v) for k, v in model(inputs).items()}
    model.save(tmp_path / "srs.keras")
    weights_path.unlink()
    loaded = keras.saving.load_model(tmp_path / "srs.keras", safe_mode=True)
    assert isinstance(loaded, SRS) and loaded.get_config() == model.get_config()
    for key, value in loaded(inputs).items():
        np.testing.assert_array_equal(_numpy(value), expected[key])


def test_trains_with_compile_and_fit():
    model = SRS(**SMALL)
    inputs = _batch(batch=4, seed=8)
    targets = {"scores": np.array([0, 1, 2, 0]),
               "emoji_logits": np.array([[1, -1, 2], [0, 0, -1], [3, 4, 5], [-1, -1, -1]])}
    model.compile(keras.optimizers.Adam(1e-2),
                  loss={"scores": HingeLoss(), "emoji_logits": EmojiLoss()},
                  loss_weights={"scores": 1.0, "emoji_logits": model.emoji_loss_weight})
    before = [_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(inputs, targets, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(a, _numpy(w)) for a, w in zip(before, model.trainable_weights)]
    assert all(changed)
