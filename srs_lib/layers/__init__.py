"""The four parts of SRS (section 5) as Keras layers, one module per part."""
from srs_lib.layers.deep_interaction import DeepInteraction, PooledInteraction
from srs_lib.layers.fusion_network import FusionNetwork
from srs_lib.layers.sticker_encoder import PretrainedWeightsWarning, StickerEncoder
from srs_lib.layers.utterance_encoder import AttentiveModule, UtteranceEncoder

__all__ = [
    "AttentiveModule",
    "DeepInteraction",
    "FusionNetwork",
    "PooledInteraction",
    "PretrainedWeightsWarning",
    "StickerEncoder",
    "UtteranceEncoder",
]
