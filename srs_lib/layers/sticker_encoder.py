"""Sticker encoder of SRS (section 5.2, equation 1) with its emoji-classification head.

O, O_flat = Inception-v3(c): O is a p×p grid of feature vectors (the paper's released code
takes the 17×17×768 "mixed_7e" endpoint, which is 6×6×768 at the stickers' 128×128 size; in
`keras.applications.InceptionV3` that layer is `mixed7`), O_flat the pooled output of the
whole network. Both are projected to the model width d and layer-normalised. A linear layer
on O_flat predicts each sticker's emoji (the auxiliary task L_s).

The layer norm is ours, not the paper's: the word states h end in a layer norm (eq. 6), so
their length is about √d, while projected backbone features start far smaller (about 0.5
for the small CNN, 0.04 for a random Inception-v3). Without it the relation matrix M of the
deep interaction network is almost entirely its word-only term at initialisation, and its
attentions ignore the sticker; with it the emoji head also trains several times faster.

For CPU-sized runs, `backbone="small_cnn"` replaces Inception-v3 by four strided
convolutions on a resized sticker, with the same two outputs.

`code="emoji"` is ours, and a diagnostic (``python -m srs_lib diagnose``; the `cpu` and
`ci` profiles used it until issue 16): O_flat becomes a fixed code of the sticker's
*predicted* emoji, the emoji head's posterior (with its gradient stopped) weighting a table
of random, non-trainable codes, one per emoji, RMS-normalised; O is that code as its single
unit (p = 1). The model still sees only the sticker's pixels; what it passes on is what the
emoji classifier makes of them, and the ranking loss no longer reaches the backbone. With
it SRS learned the embedded `small` corpus within the `cpu` budget while with the small
CNN's own features it stayed at chance. The diagnosis (``results/diagnostics/
sticker_features.json``, chapter 07) found why at the fusion network, not here: with the
features, the deep interaction's output Q2, which nothing bounds, grew several-fold at the
profile's learning rate and the prediction GRU stopped telling the candidates apart. SRS
now layer-normalises Q2 where the fusion network reads it (``q2_norm``), and the paper's O
(the 6×6 map at 48×48) and O_flat learn end to end (the `diagnose` row
"features_q2_norm"). ``code="pooled"`` (O_flat as the single unit of O) is a diagnostic
too.

`feature_map="last"` (a diagnostic) takes O from the backbone's last map, the one O_flat
pools, instead of the middle one.
"""
from __future__ import annotations

import warnings

import keras
from keras import ops

from srs_lib.weights import is_named, resolve_weights

BACKBONES = ("inception_v3", "small_cnn", "small_cnn_bn")
CODES = ("features", "pooled", "emoji")
RANKING_STOPS = ("none", "backbone", "encoder")
FEATURE_MAPS = ("middle", "last")
EMOJI_CODE_EPSILON = 1e-6
DEFAULT_IMAGE_SIZE = {"inception_v3": 128, "small_cnn": 64, "small_cnn_bn": 64}
SMALL_CNN_FILTERS = (32, 64, 128, 256)


class PretrainedWeightsWarning(UserWarning):
    """The pretrained backbone weights could not be loaded; the backbone starts at random."""


def build_backbone(backbone, image_size, weights):
    """A Keras model mapping `(batch, size, size, 3)` images in [-1, 1] to two outputs.

    Returns a model with outputs `[feature_map, top]`: the p×p map that becomes O and the
    last feature map, pooled into O_flat. `weights` is "imagenet" (Inception-v3 only), the
    name of weights shipped with the library (:data:`srs_lib.weights.NAMED_WEIGHTS`:
    "openmoji", the small CNN pretrained by ``python -m srs_lib pretrain``; read from the
    package, offline), a path given to `Model.load_weights` (a `.weights.h5`, `.keras` or
    Keras-applications `.h5` file of the same backbone) or None (random initialisation).
    If ImageNet weights cannot be loaded (no network), warns once and starts from random
    initialisation; missing named weights are an error.

    The small CNN is all convolutions, so its weights load at any `image_size`.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}.")
    if is_named(weights):
        weights = resolve_weights(weights, backbone)
    if weights == "imagenet" and backbone != "inception_v3":
        raise ValueError(
            f"There are no ImageNet weights for backbone {backbone!r}: pass weights=None "
            "(pretrained=False in SRS) or a path to weights of this backbone."
        )
    shape = (image_size, image_size, 3)
    if backbone == "inception_v3":
        try:
            base = keras.applications.InceptionV3(
                include_top=False, weights="imagenet" if weights == "imagenet" else None,
                input_shape=shape,
            )
        except Exception as error:  # Keras raises a plain Exception when offline.
            if weights != "imagenet":
                raise
            warnings.warn(
                "Could not load the ImageNet weights of Inception-v3 "
                f"({type(error).__name__}: {error}). The sticker encoder starts from random "
                "initialisation: this run amounts to the paper's 'SRS w/o pretrain' ablation "
                "(Table 4), not to SRS.",
                PretrainedWeightsWarning,
                stacklevel=3,
            )
            base = keras.applications.InceptionV3(
                include_top=False, weights=None, input_shape=shape
            )
        model = keras.Model(
            base.inputs, [base.get_layer("mixed7").output, base.output], name="inception_v3"
        )
    else:
        inputs = keras.Input(shape)
        x = inputs
        outputs = []
        for index, filters in enumerate(SMALL_CNN_FILTERS, start=1):
            if backbone == "small_cnn_bn":  # Inception-v3's block: conv, batch norm, ReLU
                x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False,
                                        name=f"conv{index}")(x)
                x = keras.layers.BatchNormalization(scale=False, name=f"bn{index}")(x)
                x = keras.layers.Activation("relu", name=f"relu{index}")(x)
            else:
                x = keras.layers.Conv2D(filters, 3, strides=2, padding="same",
                                        activation="relu", name=f"conv{index}")(x)
            outputs.append(x)
        # The map after three convolutions (size/8) plays mixed7's part, the last one mixed10's.
        model = keras.Model(inputs, [outputs[2], outputs[3]], name=backbone)
    if weights not in (None, "imagenet"):
        model.load_weights(weights)
    return model


@keras.saving.register_keras_serializable(package="srs_lib")
class StickerEncoder(keras.layers.Layer):
    """Equation 1 plus the emoji head: stickers → (O, O_flat, emoji logits).

    Stickers are taken as stored (uint8 or float in 0-255, any spatial size), resized to
    `image_size` if needed and scaled to [-1, 1] inside the layer. Every leading axis is
    flattened before the backbone, so `(batch, candidates, ...)` stickers are encoded once
    each, as one `(batch·candidates, ...)` batch.

    Args:
        n_emoji: size of the emoji vocabulary (outputs of the classification head).
        hidden: model width d that O and O_flat are projected to.
        backbone: "inception_v3" (the paper) or "small_cnn" (CPU-sized runs).
        image_size: side the backbone sees; None: 128 for Inception-v3 (the stickers'
            own size, O is 6×6), 64 for the small CNN (O is 8×8).
        backbone_weights: "imagenet", the name of weights shipped with the library
            ("openmoji" for the small CNN), a weights file of the backbone, or None.
        code: what the layer passes on: "features" (the paper's O and O_flat: every
            profile), "pooled" (O_flat as the single unit of O, p = 1: the grid left out)
            or "emoji" (a fixed code of the predicted emoji as O_flat and as the single
            unit of O; see the module docstring). "pooled" and "emoji" are diagnostics.
        feature_map: which of the backbone's maps O comes from: "middle" (the paper's
            mixed7 of Inception-v3; the small CNN's third convolution) or "last" (the map
            that O_flat pools and the emoji loss therefore trains: mixed10, the small
            CNN's fourth convolution). A diagnostic.
        code_temperature: with code="emoji", the posterior that weights the codes is
            softmax(logits / code_temperature): 1 (default) is the emoji head's own, larger
            values blend the codes of more emojis. A diagnostic.
        ranking_stop: where the ranking loss's gradient stops on its way into the layer:
            "none" (the paper: it trains every weight), "backbone" (not into the backbone,
            which learns from the emoji loss alone; the projections learn from both) or
            "encoder" (not into the layer at all: O and O_flat are what the emoji loss
            made of the sticker). A diagnostic.

    Call arguments:
        inputs: `(batch, candidates, height, width, 3)` or `(batch, height, width, 3)`.

    Returns:
        O: `(batch, candidates, p, p, dim)`; O_flat: `(batch, candidates, dim)`;
        emoji logits: `(batch, candidates, n_emoji)` (without the candidates axis for
        rank-4 input).
    """

    def __init__(self, n_emoji, hidden=100, backbone="inception_v3", image_size=None,
                 backbone_weights=None, code="features", ranking_stop="none",
                 feature_map="middle", code_temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        if code not in CODES:
            raise ValueError(f"code must be one of {CODES}, got {code!r}.")
        if ranking_stop not in RANKING_STOPS:
            raise ValueError(f"ranking_stop must be one of {RANKING_STOPS}, got {ranking_stop!r}.")
        if feature_map not in FEATURE_MAPS:
            raise ValueError(f"feature_map must be one of {FEATURE_MAPS}, got {feature_map!r}.")
        self.code = code
        self.feature_map = feature_map
        if not code_temperature > 0:
            raise ValueError(f"code_temperature must be positive, got {code_temperature!r}.")
        self.code_temperature = float(code_temperature)
        self.ranking_stop = ranking_stop
        self.n_emoji = n_emoji
        self.hidden = hidden
        self.backbone = backbone
        self.image_size = image_size or DEFAULT_IMAGE_SIZE.get(backbone)
        self.backbone_weights = backbone_weights
        self.backbone_model = build_backbone(backbone, self.image_size, backbone_weights)
        map_shape, top_shape = (tuple(output.shape) for output in self.backbone_model.outputs)
        if feature_map == "last":
            map_shape = top_shape
        # The emoji code is one vector per sticker: O is then a single unit (p = 1).
        self.grid_size = map_shape[1] if code == "features" else 1
        self._map_channels, self._top_channels = map_shape[-1], top_shape[-1]
        self.pooled_projection = keras.layers.Dense(hidden, name="pooled_projection")
        # O and O_flat end in a layer norm, like the word states h (eq. 6), so that both
        # sides of the relation M start on the same scale (see the class docstring).
        self.vector_norm = keras.layers.LayerNormalization(name="vector_norm")
        if code == "features":  # the emoji code replaces O: no map projection then
            self.map_projection = keras.layers.Dense(hidden, name="map_projection")
            self.map_norm = keras.layers.LayerNormalization(name="map_norm")
        self.emoji_head = keras.layers.Dense(n_emoji, name="emoji_head")

    def build(self, input_shape):
        self.pooled_projection.build((None, self._top_channels))
        self.vector_norm.build((None, self.hidden))
        self.emoji_head.build((None, self.hidden))
        if self.code == "features":
            p = self.grid_size
            self.map_projection.build((None, p, p, self._map_channels))
            self.map_norm.build((None, p, p, self.hidden))
        elif self.code == "emoji":
            self.emoji_codes = self.add_weight(
                shape=(self.n_emoji, self.hidden), initializer="random_normal",
                trainable=False, name="emoji_codes")

    def preprocess(self, stickers):
        """`(n, height, width, 3)` in 0-255 → `(n, image_size, image_size, 3)` in [-1, 1]."""
        images = ops.cast(stickers, "float32")
        if tuple(ops.shape(images)[1:3]) != (self.image_size, self.image_size):
            images = ops.image.resize(images, (self.image_size, self.image_size))
        return images / 127.5 - 1.0

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        leading = tuple(shape[:-3])
        images = self.preprocess(ops.reshape(inputs, (-1, *shape[-3:])))
        feature_map, top = self.backbone_model(images, training=training)
        if self.feature_map == "last":
            feature_map = top
        pooled = ops.mean(top, axis=(1, 2))
        sticker_vector = self.vector_norm(self.pooled_projection(pooled))
        emoji_logits = self.emoji_head(sticker_vector)
        if self.ranking_stop == "backbone":  # what the ranker reads carries no gradient into the backbone
            feature_map = ops.stop_gradient(feature_map)
            sticker_vector = self.vector_norm(self.pooled_projection(ops.stop_gradient(pooled)))
        p = self.grid_size
        if self.code == "features":
            sticker_map = self.map_norm(self.map_projection(feature_map))
        elif self.code == "pooled":
            sticker_map = sticker_vector[:, None, None, :]
        else:
            posterior = ops.softmax(ops.stop_gradient(ops.cast(emoji_logits, "float32"))
                                    / self.code_temperature, axis=-1)
            code = ops.matmul(posterior, self.emoji_codes)
            code = code * ops.rsqrt(ops.mean(code * code, axis=-1, keepdims=True)
                                    + EMOJI_CODE_EPSILON)
            sticker_vector = ops.cast(code, sticker_vector.dtype)
            sticker_map = sticker_vector[:, None, None, :]
        if self.ranking_stop == "encoder":
            sticker_map, sticker_vector = ops.stop_gradient(sticker_map), ops.stop_gradient(sticker_vector)
        return (
            ops.reshape(sticker_map, (*leading, p, p, self.hidden)),
            ops.reshape(sticker_vector, (*leading, self.hidden)),
            ops.reshape(emoji_logits, (*leading, self.n_emoji)),
        )

    def compute_output_shape(self, input_shape):
        leading = tuple(input_shape[:-3])
        p = self.grid_size
        return (
            (*leading, p, p, self.hidden),
            (*leading, self.hidden),
            (*leading, self.n_emoji),
        )

    def get_config(self):
        config = super().get_config()
        config.update({
            "n_emoji": self.n_emoji,
            "hidden": self.hidden,
            "backbone": self.backbone,
            "image_size": self.image_size,
            "backbone_weights": self.backbone_weights,
            "code": self.code,
            "ranking_stop": self.ranking_stop,
            "feature_map": self.feature_map,
            "code_temperature": self.code_temperature,
        })
        return config

    @classmethod
    def from_config(cls, config):
        # A saved layer carries its trained weights: never fetch or read the initial ones.
        layer = cls(**{**config, "backbone_weights": None})
        layer.backbone_weights = config["backbone_weights"]
        return layer


def sticker_tokens(sticker_map):
    """O as units: `(..., p, p, dim)` → `(..., p², dim)`, row-major (raster order)."""
    shape = ops.shape(sticker_map)
    return ops.reshape(sticker_map, (*shape[:-3], shape[-3] * shape[-2], shape[-1]))
