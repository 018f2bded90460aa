"""srs_lib: SRS, the sticker response selector of Gao et al. (WWW 2020), in Keras 3.

Importing this package selects the PyTorch backend for Keras (see :mod:`srs_lib._backend`)
before Keras is imported anywhere else through it.
"""
from srs_lib._backend import select_backend

KERAS_BACKEND = select_backend()

__version__ = "0.1.0"
