"""The standing check of issue #20: what a hostile or broken corpus, a crash and a rerun can do.

Every test starts from a copy of the ``tiny`` preset (generated once per module, in about a
second), mutates it the way a copied or damaged corpus would be, and asserts the promised
behaviour: refused and named, counted, or handled. The README's section "Reliability"
states the guarantees these tests hold the code to.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from srs_lib.data.cache import INDEX_FILE, StickerCache


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from srs_lib.synth.writer import generate_corpus

    out = tmp_path_factory.mktemp("tiny") / "tiny"
    generate_corpus(str(out), "tiny", 0, progress=False)
    return out


@pytest.fixture
def corpus(tiny, tmp_path) -> Path:
    """A fresh copy of the ``tiny`` corpus that the test may damage."""
    copy = tmp_path / "corpus"
    shutil.copytree(tiny, copy, symlinks=True)
    return copy


def _open_cache(base, **kwargs) -> StickerCache:
    return StickerCache.open(base, progress=False, **kwargs)


# -- 1. the sticker cache removes only files it created --------------------------------
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_crafted_cache_index_cannot_make_the_cache_delete_a_file(corpus, tmp_path, how):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = corpus / ".srs_cache"
    folder.mkdir()
    name = str(victim) if how == "absolute" else os.path.relpath(victim, folder)
    crafted = {"format": 1, "fingerprint": "0" * 64, "data_file": name, "shape": [1, 128, 128, 3],
               "rows": [], "excluded": [], "conversions": {}}
    (folder / INDEX_FILE).write_text(json.dumps(crafted), encoding="utf-8")
    cache = _open_cache(corpus)  # fingerprint mismatch: rebuilt
    assert cache.built and len(cache) == 160
    assert victim.read_text() == "precious"
    # ... and with the corpus's own fingerprint, the foreign file is not served either.
    index = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
    np.save(tmp_path / "foreign.npy", np.zeros((160, 128, 128, 3), np.uint8))
    index["data_file"] = str(tmp_path / "foreign.npy")
    (folder / INDEX_FILE).write_text(json.dumps(index), encoding="utf-8")
    again = _open_cache(corpus)
    assert again.built and (tmp_path / "foreign.npy").exists() and victim.exists()


def test_a_cache_folder_linking_out_of_the_corpus_is_refused(corpus, tmp_path):
    from srs_lib.data.cache import CacheError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (corpus / ".srs_cache").symlink_to(elsewhere)
    with pytest.raises(CacheError, match="outside the corpus.*cache_dir"):
        _open_cache(corpus)
    assert list(elsewhere.iterdir()) == []
    assert len(_open_cache(corpus, cache_dir=tmp_path / "mine")) == 160
