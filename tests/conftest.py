"""Shared pytest fixtures.

The corpus fixtures write the tiny release-format corpus of :mod:`tests.corpus_fixtures`
(read its docstring for what every line and sticker holds) into a fresh temporary folder:

* ``corpus``: with every quirk (malformed lines, odd stickers, ids above 2**53, ...);
* ``clean_corpus``: the same usable samples, no quirk;
* ``make_corpus``: a factory, ``make_corpus(**options)`` → a new corpus folder, with the
  options of :func:`tests.corpus_fixtures.write_corpus`.

Tests import its constants as ``from corpus_fixtures import BIG_SET, ...`` (pytest puts
``tests/`` on ``sys.path``: the folder has no ``__init__.py``).
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from corpus_fixtures import write_corpus


@pytest.fixture
def make_corpus(tmp_path):
    counter = itertools.count()

    def make(**options) -> Path:
        return write_corpus(tmp_path / f"corpus{next(counter)}", **options)

    return make


@pytest.fixture
def corpus(make_corpus) -> Path:
    return make_corpus()


@pytest.fixture
def clean_corpus(make_corpus) -> Path:
    return make_corpus(quirks=False)


@pytest.fixture
def labels():
    """The positive's slot of 200 test contexts with 10 candidates (grid tests)."""
    return np.random.default_rng(1).integers(0, 10, 200)
