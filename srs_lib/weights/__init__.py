"""Backbone weights shipped with the library, by name.

A configuration names them (``backbone_weights="openmoji"``) instead of giving a path, so
that it works from any folder and after ``pip install``: :func:`resolve_weights` turns the
name into the file inside this package. Nothing is downloaded; a missing file is an error
that says how to make it again.

- ``openmoji``: the ``small_cnn`` backbone trained by ``python -m srs_lib pretrain`` to
  classify OpenMoji glyphs of emojis that the synthetic corpus never shows (our stand-in
  for ImageNet, which cannot be fetched here). The folder ``small_cnn_openmoji/`` holds the
  weights, their provenance (``provenance.json``: command, commit, classes, held-out
  accuracy, ...) and their licence: the art is CC BY-SA 4.0, and so are these weights
  (``LICENSE.md`` there).
"""
from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).parent

#: name: (backbone, file relative to this package)
NAMED_WEIGHTS: dict[str, tuple[str, str]] = {
    "openmoji": ("small_cnn", "small_cnn_openmoji/small_cnn.weights.h5"),
}


def is_named(weights) -> bool:
    """Whether ``weights`` is one of :data:`NAMED_WEIGHTS` (rather than a path or None)."""
    return isinstance(weights, str) and weights in NAMED_WEIGHTS


def named_folder(name: str) -> Path:
    """The folder of the named weights (weights, ``provenance.json``, licence)."""
    return weights_path(name).parent


def weights_path(name: str) -> Path:
    """Where the named weights lie in this package (whether or not the file is there)."""
    if name not in NAMED_WEIGHTS:
        raise ValueError(f"unknown backbone weights {name!r}; named weights: "
                         f"{', '.join(NAMED_WEIGHTS)}")
    return FOLDER / NAMED_WEIGHTS[name][1]


def resolve_weights(name: str, backbone: str) -> str:
    """The file of the named weights for ``backbone``, checked to exist.

    Raises ValueError if the weights belong to another backbone, FileNotFoundError if the
    file is not there (an installation without the package data, or a deleted file).
    """
    path = weights_path(name)
    owner = NAMED_WEIGHTS[name][0]
    if backbone != owner:
        raise ValueError(f"the {name!r} weights are for backbone {owner!r}, not {backbone!r}")
    if not path.is_file():
        raise FileNotFoundError(
            f"the {name!r} backbone weights are missing: expected {path}. They ship with "
            "srs_lib (package data); reinstall it, or make them again with "
            f"`python -m srs_lib pretrain --out {path.parent}` (see the README there).")
    return str(path)
