"""srs_lib.data.stickers: the sticker library, conversions and refusals."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from corpus_fixtures import BIG_SET, BIG_STICKERS, EMOJIS, SMALL_EMOJIS, SMALL_SET, SMALL_STICKERS, big_emoji

from srs_lib.data.stickers import StickerError, StickerStore, read_npy_header


@pytest.fixture
def store(corpus) -> StickerStore:
    return StickerStore(corpus)


def test_sets_in_mapping_order_with_exact_ids(store):
    assert set(store.sets) == {BIG_SET, SMALL_SET}
    big = store.sets[BIG_SET]
    assert big.set_id == 556029562811580420
    assert big.sticker_ids == BIG_STICKERS and all(type(i) is int for i in big.sticker_ids)
    assert big.emojis == tuple(big_emoji(i) for i in range(12))
    assert big.emojis[:4] == EMOJIS
    assert big.position(BIG_STICKERS[7]) == 7 and big.emoji(BIG_STICKERS[2]) == "😭"
    assert BIG_STICKERS[0] in big and BIG_STICKERS[0] - 1 not in big
    small = store.sets[SMALL_SET]
    assert (small.sticker_ids, small.emojis, len(small)) == (SMALL_STICKERS, SMALL_EMOJIS, 3)


def test_malformed_mapping_lines_are_reported_not_fatal(store):
    issues = [(i.set_id, i.line) for i in store.mapping_issues]
    assert issues == [(BIG_SET, 4), (BIG_SET, 5)]
    assert "'not-a-number' is not an integer" in store.mapping_issues[0].reason


def test_plain_sticker_loads_as_saved(store):
    image = store.load(BIG_SET, BIG_STICKERS[0])
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.load(store.path(BIG_SET, BIG_STICKERS[0])))
    assert store.path(BIG_SET, BIG_STICKERS[0]).name == "556029562811581404.npy"
    assert store.path(BIG_SET, BIG_STICKERS[0]).parent.name == "556029562811580420"
    assert not store.conversions


def test_rgba_is_composited_over_white_and_counted_once(store):
    raw = np.load(store.path(BIG_SET, BIG_STICKERS[2]))
    image = store.load(BIG_SET, BIG_STICKERS[2])
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert (image[:, :32] == 255).all()  # alpha 0: white
    np.testing.assert_array_equal(image[:, 32:96], raw[:, 32:96, :3])  # alpha 255: the colour
    r = int(raw[5, 100, 0])  # alpha 128: 128/255 of the colour over white
    assert image[5, 100, 0] == round(r * 128 / 255 + 255 * 127 / 255)
    store.load(BIG_SET, BIG_STICKERS[2])
    assert store.conversions == {"rgba": 1}


def test_grayscale_is_copied_to_three_channels(store):
    for position in (3, 4):  # (128, 128) and (128, 128, 1)
        raw = np.load(store.path(BIG_SET, BIG_STICKERS[position])).reshape(128, 128)
        image = store.load(BIG_SET, BIG_STICKERS[position])
        assert image.shape == (128, 128, 3)
        for channel in range(3):
            np.testing.assert_array_equal(image[:, :, channel], raw)
    assert store.conversions == {"grayscale": 2}


@pytest.mark.parametrize(
    "position, message",
    [
        (6, "pickled Python objects"),
        (7, "dtype float32, expected (128, 128, 3) uint8"),
        (8, "shape (64, 64, 3) dtype uint8"),
        (5, "file not found"),
    ],
)
def test_unusable_stickers_are_refused_naming_the_file(store, position, message):
    sticker_id = BIG_STICKERS[position]
    with pytest.raises(StickerError) as refused:
        store.load(BIG_SET, sticker_id)
    assert f"{sticker_id}.npy" in str(refused.value)
    check = store.check(BIG_SET, sticker_id)
    assert not check.usable and message in check.error and f"{sticker_id}.npy" in check.error
    assert check.missing == (position == 5)


def test_pickled_load_message(store):
    with pytest.raises(StickerError, match="without unpickling"):
        store.load(BIG_SET, BIG_STICKERS[6])


def test_header_check_classifies_without_reading_pixels(store):
    assert store.check(BIG_SET, BIG_STICKERS[0]).conversion is None
    assert store.check(BIG_SET, BIG_STICKERS[0]).usable
    assert store.check(BIG_SET, BIG_STICKERS[2]).conversion == "rgba"
    assert store.check(BIG_SET, BIG_STICKERS[3]).conversion == "grayscale"
    assert store.check(BIG_SET, BIG_STICKERS[4]).conversion == "grayscale"
    assert not store.conversions  # checks convert nothing
    assert read_npy_header(store.path(BIG_SET, BIG_STICKERS[8])) == ((64, 64, 3), np.dtype(np.uint8))


def test_truncated_and_foreign_files_are_refused(tmp_path):
    truncated = tmp_path / "1.npy"
    np.save(truncated, np.zeros((128, 128, 3), np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(StickerError, match="truncated"):
        read_npy_header(truncated)
    raw_pickle = tmp_path / "2.npy"
    raw_pickle.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(StickerError, match="not a valid .npy file"):
        read_npy_header(raw_pickle)


def test_load_many_stacks(store):
    keys = [(BIG_SET, BIG_STICKERS[0]), (SMALL_SET, 703), (BIG_SET, BIG_STICKERS[3])]
    batch = store.load_many(keys)
    assert batch.shape == (3, 128, 128, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[1], store.load(SMALL_SET, 703))
    assert store.load_many([]).shape == (0, 128, 128, 3)


def test_odd_folder_contents_are_reported(corpus):
    root = corpus / "npy_stickers"
    (root / "0123").mkdir()  # not a canonical id
    (root / "notes.txt").write_text("x")
    (root / "99").mkdir()  # a set without a mapping
    np.save(root / "99" / "1.npy", np.zeros((128, 128, 3), np.uint8))
    np.save(root / str(SMALL_SET) / "704.npy", np.zeros((128, 128, 3), np.uint8))  # not in the mapping
    with open(root / str(SMALL_SET) / "emoji_mapping.txt", "a", encoding="utf-8") as mapping:
        mapping.write("701\t😭\n")  # repeated sticker: the first listing wins
    store = StickerStore(corpus)
    assert store.unrecognised == ["0123", "notes.txt"]
    assert store.sets_without_mapping == [99] and 99 not in store.sets
    assert store.unlisted_files == {SMALL_SET: [704]}
    assert store.sets[SMALL_SET].emoji(701) == "😀"
    assert store.mapping_issues[-1].reason == "sticker 701 listed twice"


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="npy_stickers"):
        StickerStore(tmp_path)
