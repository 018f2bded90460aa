"""srs_lib.data.cache: packing, reopening, rebuilding on change, no half-written cache."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from corpus_fixtures import BIG_SET, BIG_STICKERS, LOADABLE_BIG, SMALL_SET, SMALL_STICKERS, big_emoji

from srs_lib.data import cache as cache_module
from srs_lib.data.cache import INDEX_FILE, LOCK_FILE, StickerCache
from srs_lib.data.stickers import StickerStore


def _open(base, **kwargs) -> StickerCache:
    return StickerCache.open(base, progress=False, **kwargs)


def _files(folder) -> list[str]:
    """The cache folder's files but its lock file (an empty file, kept)."""
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_FILE)


def test_packs_every_loadable_sticker(corpus):
    cache = _open(corpus)
    assert cache.built and cache.directory == corpus / ".srs_cache"
    expected = [(SMALL_SET, s) for s in SMALL_STICKERS] + [(BIG_SET, BIG_STICKERS[i]) for i in LOADABLE_BIG]
    assert cache.keys == expected  # sets by increasing id, stickers in mapping order
    assert cache.images.shape == (11, 128, 128, 3) and cache.images.dtype == np.uint8
    assert isinstance(cache.images, np.memmap) and not cache.images.flags.writeable
    store = StickerStore(corpus)
    for key in expected:
        np.testing.assert_array_equal(cache.load(*key), store.load(*key))
    assert cache.excluded == {"missing": 1, "unloadable": 3}
    assert cache.conversions == {"grayscale": 2, "rgba": 1}
    assert cache.set_rows(BIG_SET).tolist() == list(range(3, 11))
    assert cache.set_rows(12345).tolist() == []
    assert cache.emojis[cache.row(BIG_SET, BIG_STICKERS[9])] == big_emoji(9)
    assert (BIG_SET, BIG_STICKERS[5]) not in cache and (BIG_SET, BIG_STICKERS[4]) in cache
    batch = cache.load_many([(BIG_SET, BIG_STICKERS[2]), (SMALL_SET, 701)])
    assert batch.shape == (2, 128, 128, 3)
    np.testing.assert_array_equal(batch[0], store.load(BIG_SET, BIG_STICKERS[2]))


def test_index_keeps_ids_exact(corpus):
    _open(corpus)
    index = json.loads((corpus / ".srs_cache" / INDEX_FILE).read_text(encoding="utf-8"))
    assert [BIG_SET, BIG_STICKERS[0], "😀"] in index["rows"]
    reopened = _open(corpus)
    assert reopened.row(556029562811580420, 556029562811581404) == 3
    with pytest.raises(KeyError):
        reopened.row(556029562811580416, 556029562811581404)  # the float64 neighbour


def test_reopens_without_rebuilding(corpus, monkeypatch):
    first = _open(corpus)
    monkeypatch.setattr(StickerStore, "load", lambda *a: pytest.fail("an unchanged cache was rebuilt"))
    second = _open(corpus)
    assert not second.built and second.fingerprint == first.fingerprint
    np.testing.assert_array_equal(second.images, first.images)


def test_rebuilds_when_a_sticker_file_changes(corpus):
    first = _open(corpus)
    path = StickerStore(corpus).path(BIG_SET, BIG_STICKERS[0])
    np.save(path, np.full((128, 128, 3), 7, np.uint8))  # same size
    os.utime(path, ns=(10**18, 10**18))
    second = _open(corpus)
    assert second.built and second.fingerprint != first.fingerprint
    assert (second.load(BIG_SET, BIG_STICKERS[0]) == 7).all()
    # the previous data file is gone; only the new one and the index remain
    assert _files(corpus / ".srs_cache") == sorted([INDEX_FILE, json.loads(
        (corpus / ".srs_cache" / INDEX_FILE).read_text(encoding="utf-8"))["data_file"]])


def test_rebuilds_when_a_mapping_changes(corpus):
    _open(corpus)
    mapping = corpus / "npy_stickers" / str(SMALL_SET) / "emoji_mapping.txt"
    mapping.write_text("701\t😀\n702\t😂\n", encoding="utf-8")
    second = _open(corpus)
    assert second.built and len(second) == 10 and (SMALL_SET, 703) not in second


def test_forced_rebuild_and_custom_location(corpus, tmp_path):
    elsewhere = tmp_path / "cache_elsewhere"
    first = _open(corpus, cache_dir=elsewhere)
    assert first.directory == elsewhere and not (corpus / ".srs_cache").exists()
    assert _open(corpus, cache_dir=elsewhere, rebuild=True).built


def _crash_after(monkeypatch, calls: int):
    real_load = StickerStore.load
    count = {"n": 0}

    def load(self, set_id, sticker_id):
        count["n"] += 1
        if count["n"] > calls:
            raise RuntimeError("simulated crash while packing")
        return real_load(self, set_id, sticker_id)

    monkeypatch.setattr(StickerStore, "load", load)


def test_crash_during_first_build_leaves_no_cache(corpus, monkeypatch):
    _crash_after(monkeypatch, 4)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _open(corpus)
    assert _files(corpus / ".srs_cache") == []  # no index, no data, no temporary file
    monkeypatch.undo()
    assert len(_open(corpus)) == 11


def test_crash_during_rebuild_keeps_the_old_cache(corpus, monkeypatch):
    old = _open(corpus)
    old_index = (corpus / ".srs_cache" / INDEX_FILE).read_bytes()
    old_pixels = np.array(old.images)
    (corpus / "npy_stickers" / str(SMALL_SET) / "emoji_mapping.txt").write_text("701\t😀\n", encoding="utf-8")
    _crash_after(monkeypatch, 2)
    with pytest.raises(RuntimeError):
        _open(corpus)
    assert (corpus / ".srs_cache" / INDEX_FILE).read_bytes() == old_index
    data_file = json.loads(old_index)["data_file"]
    assert _files(corpus / ".srs_cache") == sorted([INDEX_FILE, data_file])
    np.testing.assert_array_equal(np.load(corpus / ".srs_cache" / data_file), old_pixels)


def test_crash_while_writing_the_index_keeps_the_old_cache(corpus, monkeypatch):
    _open(corpus)
    old_index = (corpus / ".srs_cache" / INDEX_FILE).read_bytes()
    (corpus / "npy_stickers" / str(SMALL_SET) / "emoji_mapping.txt").write_text("701\t😀\n", encoding="utf-8")

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache_module, "write_text_atomically", broken_write)
    with pytest.raises(OSError, match="disk full"):
        _open(corpus)
    assert (corpus / ".srs_cache" / INDEX_FILE).read_bytes() == old_index
    assert _files(corpus / ".srs_cache") == sorted([INDEX_FILE, json.loads(old_index)["data_file"]])


def test_leftovers_of_a_killed_build_are_removed(corpus):
    folder = corpus / ".srs_cache"
    folder.mkdir()
    # A build holds the folder's lock, so every temporary of the cache's naming scheme found
    # by a build is a leftover, whichever process wrote it; nothing else is touched.
    dead = folder / f"stickers-{'a' * 12}-{'0' * 8}.npy.tmp-{2**22 + 1}"  # above Linux's largest pid
    dead.write_bytes(b"partial")
    mine = folder / f"stickers-{'b' * 12}-{'0' * 8}.npy.tmp-{os.getpid()}"
    mine.write_bytes(b"partial")
    orphan = folder / f"stickers-{'c' * 12}-{'0' * 8}.npy"  # a data file no index names
    orphan.write_bytes(b"old")
    foreign = folder / f"notes.txt.tmp-{2**22 + 1}"  # not of the cache's naming scheme: kept
    foreign.write_bytes(b"someone else's")
    _open(corpus)
    assert not dead.exists() and not mine.exists() and not orphan.exists() and foreign.exists()


def test_corrupt_index_is_rebuilt(corpus):
    _open(corpus)
    (corpus / ".srs_cache" / INDEX_FILE).write_text("{not json", encoding="utf-8")
    assert _open(corpus).built
