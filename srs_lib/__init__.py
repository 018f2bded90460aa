"""srs_lib: SRS, the sticker response selector of Gao et al. (WWW 2020), in Keras 3.

Importing this package selects the PyTorch backend for Keras (see :mod:`srs_lib._backend`)
before Keras is imported anywhere else through it.
"""
import warnings

from srs_lib._backend import select_backend

KERAS_BACKEND = select_backend()

# With the emoji sticker code (StickerEncoder(code="emoji")) a sticker is one unit, so the
# models' attentions over sticker units are softmaxes over one key, exactly 1 as intended.
# Keras warns about every such softmax; that warning tells a reader nothing here.
warnings.filterwarnings("ignore", message="You are using a softmax over axis",
                        category=UserWarning)

__version__ = "0.1.0"

# `srs_lib.recommend(context, checkpoint=..., base_path=...)`: the two-stage recommender
# (the package is callable; importing it loads no Keras).
from srs_lib import recommend  # noqa: E402
