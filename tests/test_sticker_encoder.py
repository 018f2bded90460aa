"""Sticker encoder (paper eq. 1) with the emoji head."""
import warnings

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib.layers import PretrainedWeightsWarning, StickerEncoder
from srs_lib.layers import sticker_encoder as sticker_encoder_module


def _numpy(x):
    return ops.convert_to_numpy(x)


def _stickers(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype("uint8")


@pytest.mark.parametrize("leading,image_size,grid", [((2, 3), None, 8), ((4,), 32, 4),
                                                     ((1, 1), 16, 2)])
def test_small_cnn_shapes(leading, image_size, grid):
    encoder = StickerEncoder(7, hidden=12, backbone="small_cnn", image_size=image_size)
    sticker_map, sticker_vector, emoji_logits = encoder(_stickers((*leading, 128, 128, 3)))
    assert encoder.grid_size == grid
    assert tuple(sticker_map.shape) == (*leading, grid, grid, 12)
    assert tuple(sticker_vector.shape) == (*leading, 12)
    assert tuple(emoji_logits.shape) == (*leading, 7)
    assert encoder.compute_output_shape((*leading, 128, 128, 3)) == (
        (*leading, grid, grid, 12), (*leading, 12), (*leading, 7))


def test_each_sticker_is_encoded_on_its_own():
    """(batch, candidates) stickers give what each sticker gives alone; uint8 = float."""
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn")
    stickers = _stickers((2, 3, 128, 128, 3))
    together = [_numpy(x) for x in encoder(stickers)]
    alone = [_numpy(x) for x in encoder(stickers[1, 2:3])]
    for batched, single in zip(together, alone):
        np.testing.assert_allclose(batched[1, 2], single[0], rtol=1e-5, atol=1e-5)
    as_float = [_numpy(x) for x in encoder(stickers.astype("float32"))]
    for a, b in zip(together, as_float):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_inception_v3_gives_a_6x6_grid_from_mixed7():
    encoder = StickerEncoder(5, hidden=8, backbone="inception_v3", backbone_weights=None)
    assert encoder.image_size == 128 and encoder.grid_size == 6
    assert encoder.backbone_model.outputs[0].shape[1:] == (6, 6, 768)
    sticker_map, sticker_vector, emoji_logits = encoder(_stickers((1, 2, 128, 128, 3)))
    assert tuple(sticker_map.shape) == (1, 2, 6, 6, 8)
    assert tuple(sticker_vector.shape) == (1, 2, 8)
    assert tuple(emoji_logits.shape) == (1, 2, 5)


def test_offline_imagenet_falls_back_to_random_init_with_one_warning(monkeypatch):
    real_inception = keras.applications.InceptionV3

    def offline_inception(*args, weights="imagenet", **kwargs):
        if weights == "imagenet":
            raise Exception("URL fetch failure: no network")
        return real_inception(*args, weights=weights, **kwargs)

    monkeypatch.setattr(sticker_encoder_module.keras.applications, "InceptionV3",
                        offline_inception)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder = StickerEncoder(5, hidden=8, backbone="inception_v3",
                                 backbone_weights="imagenet")
    ours = [w for w in caught if issubclass(w.category, PretrainedWeightsWarning)]
    assert len(ours) == 1
    assert "w/o pretrain" in str(ours[0].message)
    assert encoder.grid_size == 6 and encoder.backbone_weights == "imagenet"


def test_imagenet_weights_are_refused_for_the_small_cnn():
    with pytest.raises(ValueError, match="no ImageNet weights"):
        StickerEncoder(5, backbone="small_cnn", backbone_weights="imagenet")
    with pytest.raises(ValueError, match="backbone must be one of"):
        StickerEncoder(5, backbone="resnet")


def test_backbone_weights_load_from_a_file(tmp_path):
    source = StickerEncoder(5, hidden=8, backbone="small_cnn")
    path = tmp_path / "small_cnn.weights.h5"
    source.backbone_model.save_weights(path)
    loaded = StickerEncoder(5, hidden=8, backbone="small_cnn", backbone_weights=str(path))
    for a, b in zip(source.backbone_model.weights, loaded.backbone_model.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))


def test_gradient_reaches_every_weight():
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=32)
    sticker_map, sticker_vector, emoji_logits = encoder(_stickers((2, 2, 128, 128, 3)),
                                                        training=True)
    loss = ops.sum(sticker_map ** 2) + ops.sum(sticker_vector ** 2) + ops.sum(
        emoji_logits[..., 0])
    loss.backward()
    assert len(encoder.trainable_weights) == 18  # 4 convolutions, 3 dense layers, 2 layer norms
    for weight in encoder.trainable_weights:
        grad = weight.value.grad.detach().cpu().numpy()
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), weight.path


@pytest.mark.parametrize("code", ["features", "emoji"])
def test_keras_round_trip_does_not_reload_initial_weights(tmp_path, code):
    """The saved file carries the weights (the emoji codes too): the initial weights file
    may be gone."""
    initial = StickerEncoder(5, hidden=8, backbone="small_cnn")
    weights_path = tmp_path / "initial.weights.h5"
    initial.backbone_model.save_weights(weights_path)

    inputs = keras.Input((2, 128, 128, 3))
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn",
                             backbone_weights=str(weights_path), code=code)
    model = keras.Model(inputs, encoder(inputs))
    model.save(tmp_path / "sticker_encoder.keras")
    weights_path.unlink()

    loaded = keras.saving.load_model(tmp_path / "sticker_encoder.keras", safe_mode=True)
    assert loaded.layers[-1].get_config() == encoder.get_config()
    stickers = _stickers((3, 2, 128, 128, 3)).astype("float32")
    for a, b in zip(model(stickers), loaded(stickers)):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))


def test_emoji_code_is_the_posterior_weighted_fixed_table():
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=32, code="emoji")
    sticker_map, sticker_vector, emoji_logits = (_numpy(x) for x in
                                                 encoder(_stickers((2, 3, 128, 128, 3))))
    assert [w.path.split("/")[-1] for w in encoder.non_trainable_weights] == ["emoji_codes"]
    logits = emoji_logits - emoji_logits.max(-1, keepdims=True)
    posterior = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    code = posterior @ _numpy(encoder.emoji_codes)
    code /= np.sqrt((code ** 2).mean(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(sticker_vector, code, rtol=1e-4, atol=1e-5)
    assert encoder.grid_size == 1 and sticker_map.shape == (2, 3, 1, 1, 8)
    np.testing.assert_array_equal(sticker_map[:, :, 0, 0], sticker_vector)


def test_emoji_code_passes_no_ranking_gradient_to_the_backbone():
    """Only the emoji loss trains the backbone; the codes themselves never train."""
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=32, code="emoji")
    sticker_map, sticker_vector, emoji_logits = encoder(_stickers((2, 2, 128, 128, 3)),
                                                        training=True)
    # O and O_flat are cut from the autograd graph (torch backend): no weight is behind them.
    assert not sticker_map.requires_grad and not sticker_vector.requires_grad
    ops.sum(emoji_logits[..., 0]).backward()
    assert np.any(encoder.backbone_model.trainable_weights[0].value.grad.cpu().numpy())
    assert not encoder.emoji_codes.trainable


def test_stopped_before_the_backbone_only_the_emoji_loss_reaches_it():
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=32,
                             ranking_stop="backbone")
    sticker_map, sticker_vector, emoji_logits = encoder(_stickers((2, 2, 128, 128, 3)),
                                                        training=True)
    first_conv = encoder.backbone_model.trainable_weights[0]
    (ops.sum(sticker_map) + ops.sum(sticker_vector)).backward()
    assert first_conv.value.grad is None or not np.any(first_conv.value.grad.cpu().numpy())
    assert np.any(encoder.map_projection.trainable_weights[0].value.grad.cpu().numpy())
    ops.sum(emoji_logits[..., 0]).backward()
    assert np.any(first_conv.value.grad.cpu().numpy())
    # The same function as with the gradient: only the autograd graph differs.
    with_gradient = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=32)
    stickers = _stickers((1, 3, 128, 128, 3))
    with_gradient(stickers)
    with_gradient.set_weights(encoder.get_weights())
    for a, b in zip(encoder(stickers), with_gradient(stickers)):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=1e-6)


def test_stopped_before_the_encoder_the_ranker_trains_nothing_in_it():
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=32,
                             ranking_stop="encoder")
    sticker_map, sticker_vector, emoji_logits = encoder(_stickers((2, 2, 128, 128, 3)),
                                                        training=True)
    assert not sticker_map.requires_grad and not sticker_vector.requires_grad
    ops.sum(emoji_logits).backward()
    assert np.any(encoder.pooled_projection.trainable_weights[0].value.grad.cpu().numpy())
    with pytest.raises(ValueError, match="ranking_stop must be one of"):
        StickerEncoder(5, hidden=8, backbone="small_cnn", ranking_stop="everywhere")


def test_pooled_code_is_o_flat_as_the_single_unit_of_o():
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=32, code="pooled")
    sticker_map, sticker_vector, _ = encoder(_stickers((2, 3, 128, 128, 3)))
    assert encoder.grid_size == 1 and tuple(sticker_map.shape) == (2, 3, 1, 1, 8)
    np.testing.assert_array_equal(ops.convert_to_numpy(sticker_map)[:, :, 0, 0],
                                  ops.convert_to_numpy(sticker_vector))


def test_unknown_code_is_refused():
    with pytest.raises(ValueError, match="code must be one of"):
        StickerEncoder(5, hidden=8, backbone="small_cnn", code="pixels")


def test_small_cnn_bn_normalises_every_convolution_and_tracks_statistics():
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn_bn", image_size=32)
    stickers = _stickers((2, 3, 128, 128, 3))
    encoder(stickers)
    names = [layer.name for layer in encoder.backbone_model.layers]
    assert [n for n in names if n.startswith("bn")] == ["bn1", "bn2", "bn3", "bn4"]
    assert not any(layer.use_bias for layer in encoder.backbone_model.layers
                   if layer.name.startswith("conv"))
    moving = encoder.backbone_model.get_layer("bn1").moving_mean
    before = ops.convert_to_numpy(moving).copy()
    encoder(stickers, training=False)
    np.testing.assert_array_equal(ops.convert_to_numpy(moving), before)  # inference: unchanged
    encoder(stickers, training=True)
    assert not np.allclose(ops.convert_to_numpy(moving), before)  # training: updated


def test_o_may_come_from_the_last_map_which_o_flat_pools():
    from srs_lib.layers import StickerEncoder

    stickers = np.random.default_rng(0).integers(0, 256, (2, 3, 48, 48, 3)).astype("uint8")
    middle = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=48)
    last = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=48, feature_map="last")
    assert tuple(middle(stickers)[0].shape) == (2, 3, 6, 6, 8)
    assert tuple(last(stickers)[0].shape) == (2, 3, 3, 3, 8)
    assert StickerEncoder.from_config(last.get_config()).feature_map == "last"
    with pytest.raises(ValueError, match="feature_map"):
        StickerEncoder(5, backbone="small_cnn", feature_map="top")


def test_a_warmer_emoji_code_blends_the_codes_of_more_emojis():
    from srs_lib.layers import StickerEncoder

    stickers = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3)).astype("uint8")
    sharp = StickerEncoder(6, hidden=8, backbone="small_cnn", image_size=48, code="emoji")
    sharp(stickers)
    warm = StickerEncoder.from_config({**sharp.get_config(), "code_temperature": 50.0})
    warm(stickers)
    warm.set_weights(sharp.get_weights())
    codes = ops.convert_to_numpy(sharp.emoji_codes)
    sharp_vector = ops.convert_to_numpy(sharp(stickers)[1])
    warm_vector = ops.convert_to_numpy(warm(stickers)[1])
    mean_code = codes.mean(axis=0) / np.sqrt(np.mean(codes.mean(axis=0) ** 2))
    # Hot enough, every sticker gets nearly the (RMS-normalised) mean of all codes.
    assert np.allclose(warm_vector, mean_code, atol=0.05)
    assert not np.allclose(sharp_vector, mean_code, atol=0.05)
    with pytest.raises(ValueError, match="code_temperature"):
        StickerEncoder(6, backbone="small_cnn", code="emoji", code_temperature=0)
