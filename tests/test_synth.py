"""The embedded corpus generator (``srs_lib.synth``) on the ``tiny`` preset.

What is checked: byte-for-byte determinism (also across worker processes and hash seeds),
the release format (and that ``validate`` accepts it), the dialog statistics of the
paper's Table 1 within tolerances, the sticker sets (small sets, noisy labels, shared
emojis, themes) and the atomic write. The reference scorers on a generated corpus are in
``test_reference.py``.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from srs_lib.synth import PRESETS, generate_corpus
from srs_lib.synth import writer as synth_writer
from srs_lib.synth.art import render_sticker, sample_style
from srs_lib.synth.inventory import THEMES, has_artwork, inventory, load_artwork, twemoji_filename
from srs_lib.synth.language import Lexicon, name_words
from srs_lib.synth.sets import set_sizes

ROOT = Path(__file__).resolve().parents[1]


def _digest_tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate_corpus(str(out), "tiny", seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def info(tiny) -> dict:
    return json.loads((tiny / "synth_info.json").read_text(encoding="utf-8"))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------------------------
# determinism and writing
# --------------------------------------------------------------------------------------
def test_same_seed_gives_identical_bytes_across_processes_and_hash_seeds(tiny, tmp_path):
    again = tmp_path / "again"
    code = (
        "import sys; from srs_lib.synth import generate_corpus; "
        "generate_corpus(sys.argv[1], 'tiny', seed=0, workers=2, progress=False)"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", code, str(again)], check=True, cwd=ROOT, env=env)
    first, second = _digest_tree(tiny), _digest_tree(again)
    assert sorted(first) == sorted(second)
    assert first == second


def test_another_seed_gives_another_corpus(tiny, tmp_path):
    other = tmp_path / "other"
    generate_corpus(str(other), "tiny", seed=1, progress=False)
    assert (other / "release_train.json").read_bytes() != (tiny / "release_train.json").read_bytes()
    assert sorted(os.listdir(other / "npy_stickers")) != sorted(os.listdir(tiny / "npy_stickers"))


def test_refuses_to_overwrite_and_interrupted_runs_leave_nothing(tiny, tmp_path, monkeypatch):
    with pytest.raises(FileExistsError):
        generate_corpus(str(tiny), "tiny", seed=0, progress=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_writer, "_write_dialogs", interrupted)
    target = tmp_path / "corpus"
    with pytest.raises(KeyboardInterrupt):
        generate_corpus(str(target), "tiny", seed=0, progress=False)
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no half corpus, no leftover temporary folder


# --------------------------------------------------------------------------------------
# format
# --------------------------------------------------------------------------------------
def test_files_follow_the_release_format(tiny, info):
    for split, n in PRESETS["tiny"].splits.items():
        records = _records(tiny / f"release_{split}.json")
        assert len(records) == n
        for record in records:
            assert list(record) == ["context", "current"]
            assert list(record["current"]) == [
                "from_id", "reply_to_msg_id", "sticker_set_id", "sticker_id", "sticker_alt"]
            for message in record["context"]:
                assert list(message) == ["text", "reply_to_msg_id", "id", "from_id"]
                assert message["text"].split(), "no empty utterance"
    # ids are JSON integers, written exactly (no float, no exponent)
    first = (tiny / "release_train.json").read_text(encoding="utf-8").splitlines()[0]
    record = json.loads(first)
    assert f'"sticker_set_id": {record["current"]["sticker_set_id"]},' in first

    sets = info["sets"]
    assert len(os.listdir(tiny / "npy_stickers")) == len(sets)
    for s in sets:
        folder = tiny / "npy_stickers" / str(s["set_id"])
        lines = (folder / "emoji_mapping.txt").read_text(encoding="utf-8").splitlines()
        assert len(lines) == s["n_stickers"] == len(os.listdir(folder)) - 1
        sticker_id, emoji_char = lines[0].split("\t")
        image = np.load(folder / f"{sticker_id}.npy", allow_pickle=False)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert emoji_char


def test_vocab_files_are_token_count_lines_sorted_by_count(tiny):
    for name in ("vocab", "emoji_vocab"):
        rows = [line.rsplit(" ", 1) for line in (tiny / name).read_text(encoding="utf-8").splitlines()]
        counts = [int(c) for _, c in rows]
        assert counts == sorted(counts, reverse=True)
        assert len({t for t, _ in rows}) == len(rows)
    words = Counter(w for r in _records(tiny / "release_train.json") for m in r["context"] for w in m["text"].split())
    vocab = dict(line.rsplit(" ", 1) for line in (tiny / "vocab").read_text(encoding="utf-8").splitlines())
    assert {w: int(c) for w, c in vocab.items()} == dict(words)
    labels = {line.split("\t")[1] for p in (tiny / "npy_stickers").glob("*/emoji_mapping.txt")
              for line in p.read_text(encoding="utf-8").splitlines()}
    emoji_vocab = {line.rsplit(" ", 1)[0] for line in (tiny / "emoji_vocab").read_text(encoding="utf-8").splitlines()}
    assert labels <= emoji_vocab


def test_validate_accepts_the_corpus(tiny, capsys):
    from srs_lib.cli import main

    assert main(["validate", "--base_path", str(tiny), "--no_progress"]) == 0


def test_synth_info_records_provenance(info):
    assert info["preset"] == "tiny" and info["seed"] == 0 and info["synth_version"]
    assert info["pairs"] == PRESETS["tiny"].splits
    assert "CC-BY 4.0" in info["credits"]


# --------------------------------------------------------------------------------------
# dialogs: Table 1 of the paper, within tolerances
# --------------------------------------------------------------------------------------
def test_dialog_statistics_match_the_paper(tiny):
    records = [r for split in ("train", "val", "test") for r in _records(tiny / f"release_{split}.json")]
    utterances = [len(r["context"]) for r in records]
    words = [len(m["text"].split()) for r in records for m in r["context"]]
    users = [len({m["from_id"] for m in r["context"]} | {r["current"]["from_id"]}) for r in records]
    assert max(utterances) <= 20 and min(utterances) >= 1
    assert 14.5 <= np.mean(utterances) <= 16.5  # paper 15.5
    assert 7.0 <= np.mean(words) <= 8.0  # paper 7.54 / 7.50 / 7.42
    assert 5.2 <= np.mean(users) <= 6.4  # paper 5.81 / 5.81 / 5.79


def test_ids_are_64_bit_above_2_53_and_replies_point_backwards(tiny):
    records = _records(tiny / "release_train.json")
    replies = sticker_replies = messages = 0
    for r in records:
        ids = [m["id"] for m in r["context"]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for m in r["context"]:
            messages += 1
            for key in ("id", "from_id"):
                assert 2**53 < m[key] < 2**63
            if m["reply_to_msg_id"] is not None:
                replies += 1
                assert m["reply_to_msg_id"] < m["id"]
        current = r["current"]
        for key in ("from_id", "sticker_set_id", "sticker_id"):
            assert 2**53 < current[key] < 2**63
        if current["reply_to_msg_id"] is not None:
            sticker_replies += 1
            assert current["reply_to_msg_id"] in ids
    assert 0.05 < replies / messages < 0.3
    assert 0.1 < sticker_replies / len(records) < 0.4


# --------------------------------------------------------------------------------------
# sticker sets
# --------------------------------------------------------------------------------------
def test_sets_have_small_and_noisy_members_and_shared_emojis(tiny, info):
    sets = info["sets"]
    assert sum(s["n_stickers"] for s in sets) == PRESETS["tiny"].n_stickers
    assert sum(s["n_stickers"] < 10 for s in sets) == PRESETS["tiny"].n_small_sets
    noisy = [s for s in sets if s["noisy_labels"]]
    assert len(noisy) == PRESETS["tiny"].n_noisy_sets
    for s in sets:
        folder = tiny / "npy_stickers" / str(s["set_id"])
        labels = [line.split("\t")[1] for line in (folder / "emoji_mapping.txt").read_text(encoding="utf-8").splitlines()]
        agree = np.mean([a == b for a, b in zip(labels, s["art"])])
        if s["noisy_labels"]:
            assert agree < 0.5, "a noisy set's labels are random"
        else:
            assert agree == 1.0
            assert len(set(s["art"])) < len(s["art"]), "stickers of a set share emojis"
        themed = THEMES[s["theme"]].split()
        assert np.mean([a in themed for a in s["art"]]) >= 0.6, "a set keeps to its theme"


def test_set_sizes_of_the_paper_preset_are_exact():
    preset = PRESETS["paper"]
    sizes = set_sizes(preset, np.random.default_rng(0))
    assert len(sizes) == 3_516 and sum(sizes) == 174_695
    assert sum(s < 10 for s in sizes) == preset.n_small_sets
    assert max(sizes) <= preset.max_set_size
    small = PRESETS["small"]
    assert abs(small.n_stickers / small.n_sets - 49.64) < 0.5


def test_inventory_uses_real_twemoji_artwork():
    emojis = [e for members in inventory(12, ["faces", "food"]).values() for e in members]
    assert len(emojis) == 24 and all(has_artwork(e) for e in emojis)
    art = load_artwork("😂")
    assert art.shape == (72, 72, 4) and art[..., 3].max() == 255
    assert twemoji_filename("❤️") == "2764.png"  # variation selector dropped
    assert name_words("😂") == ["tears", "joy"]


def test_rendering_is_deterministic_and_set_styles_differ():
    rng = np.random.default_rng(0)
    loose, tight = sample_style(rng, 0.05), sample_style(rng, 0.95)
    a = render_sticker("😂", loose, np.random.default_rng(7))
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_sticker("😂", loose, np.random.default_rng(7)))
    assert loose.grain > tight.grain and loose.rotation > tight.rotation


def test_cue_words_overlap_so_no_word_decides():
    lexicon = Lexicon(["😺", "😹", "🐱", "❤️", "💙"], language="en")
    cats = [lexicon.cue_words(e) for e in ("😺", "😹", "🐱")]
    assert set.intersection(*map(set, cats)), "cat emojis share cue words"
    assert lexicon.cue_words("❤️") & lexicon.cue_words("💙"), "hearts share cue words"
    rare = set(lexicon.rare)
    assert not rare & set().union(*lexicon.cue_table().values())
