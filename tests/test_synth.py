"""The embedded corpus generator (``srs_lib.synth``) on the ``tiny`` preset.

What is checked: byte-for-byte determinism (also across worker processes and hash seeds),
the release format (and that ``validate`` accepts it), the dialog statistics of the
paper's Table 1 within tolerances, the sticker sets (one character per set, parts from the
set's vocabulary, small sets, noisy labels, shared parts, themes), where each part is drawn
(its stated box holds it, and nothing else changes without it), and the atomic write. The
dialogs' cues are in ``test_synth_dialogs.py``, the presets in ``test_presets.py``, the
reference scorers on a generated corpus in ``test_reference.py``.
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
from srs_lib.analysis.ssim import SSIMImages, prepare
from srs_lib.synth.art import render_sticker, sample_style
from srs_lib.synth.character import sample_character
from srs_lib.synth.inventory import THEMES, has_artwork, inventory, load_artwork, twemoji_filename
from srs_lib.synth.language import Lexicon, name_words
from srs_lib.synth.parts import ACCENT_THEMES, REGIONS, STRONG_ACCENTS, face_features, part_kind
from srs_lib.synth.sets import describe_sets
from srs_lib.synth.writer import redraw_sticker

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
def _labels(tiny: Path, set_id: int) -> list[str]:
    lines = (tiny / "npy_stickers" / str(set_id) / "emoji_mapping.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[1] for line in lines]


def test_sets_have_small_and_noisy_members(info):
    sets = info["sets"]
    assert sum(s["n_stickers"] for s in sets) == PRESETS["tiny"].n_stickers
    assert sum(s["n_stickers"] < 10 for s in sets) == PRESETS["tiny"].n_small_sets
    assert sum(s["noisy_labels"] for s in sets) == PRESETS["tiny"].n_noisy_sets
    assert all(s["n_stickers"] >= 10 for s in sets if s["noisy_labels"]), "noisy sets are not the small ones"


def test_labels_are_the_authors_pick_except_in_noisy_sets(tiny, info):
    for s in info["sets"]:
        labels = _labels(tiny, s["set_id"])
        assert labels == [t["label"] for t in s["stickers"]]
        shown = [{p["emoji"] for p in t["parts"]} for t in s["stickers"]]
        agree = np.mean([label in parts for label, parts in zip(labels, shown)])
        if s["noisy_labels"]:
            assert agree < 0.5, "a noisy set's labels are random"
            continue
        assert agree == 1.0, "an author labels a sticker with one of its parts"
        for label, sticker in zip(labels, s["stickers"]):
            kinds = {p["kind"]: p["emoji"] for p in sticker["parts"]}
            if not s["label_by_accent"]:
                assert label == kinds["expression"]
            elif label != kinds["expression"]:
                assert label == kinds.get("prop") or (label == kinds.get("accent") and label in STRONG_ACCENTS)


def test_a_set_is_one_character_whose_stickers_combine_its_parts(info):
    shares_expression = 0
    for s in info["sets"]:
        vocabulary = s["vocabulary"]
        assert set(vocabulary) <= {"expression", "accent", "prop"} and vocabulary["expression"]
        combinations = []
        for t in s["stickers"]:
            kinds = [p["kind"] for p in t["parts"]]
            assert kinds[0] == "expression" and kinds.count("expression") == 1
            assert len(kinds) == len(set(kinds)), "at most one part of each kind"
            for p in t["parts"]:
                assert p["emoji"] in vocabulary[p["kind"]], "parts come from the set's vocabulary"
                assert part_kind(p["emoji"], "reactions" if p["kind"] == "accent" else "food") == p["kind"]
            combinations.append(tuple((p["kind"], p["emoji"]) for p in t["parts"]))
        capacity = len(vocabulary["expression"]) * (len(vocabulary.get("accent", [])) + 1) * (
            len(vocabulary.get("prop", [])) + 1)
        assert len(set(combinations)) == min(len(combinations), capacity), "stickers differ where they can"
        expressions = Counter(c[0] for c in combinations)
        shares_expression += any(n > 1 for n in expressions.values())
        if s["theme"] in ACCENT_THEMES and len(combinations) >= 10:
            accents = [dict(c).get("accent") for c in combinations]
            own = THEMES[s["theme"]].split()
            assert np.mean([a in own for a in accents]) >= 0.5, "an accent theme's set uses its accents"
    assert shares_expression >= len(info["sets"]) - 1, "stickers of a set share expressions"


def test_a_sets_stickers_share_their_base():
    """The same character in one style, drawn without its parts, is (nearly) the same
    picture in every sticker of a tight set, and another character is not."""
    rng = np.random.default_rng(3)
    style = sample_style(rng, 0.97)
    first, second = sample_character(rng), sample_character(rng)
    parts = [[("expression", "😂"), ("accent", "❓")], [("expression", "😭")], [("expression", "😴"), ("prop", "🍕")]]
    everything = ("expression", "accent", "prop")
    same = [render_sticker(p, first, style, np.random.default_rng(k), omit=everything)[0] for k, p in enumerate(parts)]
    other = render_sticker(parts[0], second, style, np.random.default_rng(0), omit=everything)[0]
    with_parts = [render_sticker(p, first, style, np.random.default_rng(k))[0] for k, p in enumerate(parts)]
    ssim = SSIMImages(prepare(np.stack(same + [other] + with_parts)))
    assert ssim.pairs([0, 0], [1, 2]).min() > 0.95, "a set's stickers share one base"
    assert ssim.pairs([0], [3])[0] < ssim.pairs([0], [1])[0] - 0.1, "sets differ in character"
    assert ssim.pairs([4, 4], [5, 6]).max() < 0.95, "stickers of a set differ in their parts"


def test_each_part_lies_in_its_box_and_nothing_else_changes_without_it(tiny, info):
    """Drawn again from synth_info.json, a sticker equals its file; without one part, it
    differs only inside that part's stated box, and there in a good share of the pixels."""
    checked = {"expression": 0, "accent": 0, "prop": 0}
    for s in info["sets"]:
        band, frame = s["style"]["band"], s["style"]["frame"]
        height = 128 - max(band, frame)
        for t in s["stickers"][:4]:
            image, placed = redraw_sticker(info, s["set_id"], t["sticker_id"])
            stored = np.load(tiny / "npy_stickers" / str(s["set_id"]) / f"{t['sticker_id']}.npy")
            assert np.array_equal(image, stored) and placed == t["parts"]
            for part in t["parts"]:
                without, _ = redraw_sticker(info, s["set_id"], t["sticker_id"], omit=[part["kind"]])
                changed = np.any(image != without, axis=-1)
                x0, y0, x1, y1 = part["box"]
                inside = np.zeros_like(changed)
                inside[y0:y1, x0:x1] = True
                assert not (changed & ~inside).any(), f"{part} changed pixels outside its box"
                # features are strokes (closed eyes, a mouth); glyphs fill their box more
                share = 0.08 if part["kind"] == "expression" else 0.2
                assert changed[inside].mean() > share, f"{part}: its box is mostly other pixels"
                if part["kind"] == "accent":
                    (xa, xb), (ya, yb) = REGIONS[part["region"]]
                    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                    slack = 0.12 * 128  # a box clipped at the sticker's edge moves its centre
                    assert xa * 128 - slack <= cx <= xb * 128 + slack, part
                    assert ya * height - slack <= cy <= yb * height + slack, part
                checked[part["kind"]] += 1
    assert min(checked.values()) >= 3, checked


def test_describe_sets_by_hand():
    def sticker(label, *parts):
        return {"label": label, "parts": [{"kind": k, "emoji": e} for k, e in parts]}

    character = {"family": "round", "ears": "cat", "framing": "head"}
    info = {"sets": [
        {"noisy_labels": False, "character": character,
         "vocabulary": {"expression": ["😂", "😭"], "accent": ["❓"]},
         "stickers": [sticker("😂", ("expression", "😂"), ("accent", "❓")),
                      sticker("😂", ("expression", "😂")),
                      sticker("❓", ("expression", "😭"), ("accent", "❓"))]},
        {"noisy_labels": True, "character": dict(character, ears="none"),
         "vocabulary": {"expression": ["😴"], "accent": ["💤"], "prop": ["🍕"]},
         "stickers": [sticker("🍕", ("expression", "😴"), ("prop", "🍕"))]},
    ]}
    d = describe_sets(info)
    assert (d["sets"], d["stickers"]) == (2, 4)
    assert d["vocabulary"] == {"expression": 1.5, "accent": 1.0, "prop": 1.0}
    assert d["sets_with"] == {"expression": 2, "accent": 2, "prop": 1}
    assert d["with_part"] == {"accent": 0.5, "prop": 0.25}
    assert d["accent_twins"] == 0.5  # 😂+❓ and 😂 differ only in the accent
    assert d["label_kind"] == {"expression": 2 / 3, "accent": 1 / 3, "prop": 0.0}  # the noisy set aside
    assert d["characters"]["ears"] == {"cat": 1, "none": 1}


def test_accents_move_from_sticker_to_sticker_in_loose_sets(info):
    for s in info["sets"]:
        boxes = [p["box"] for t in s["stickers"] for p in t["parts"] if p["kind"] == "accent"]
        if s["style"]["self_similarity"] < 0.5 and len(boxes) >= 5:
            assert len({(b[0] // 8, b[1] // 8) for b in boxes}) >= 3, "an accent's place varies"
        assert set(s["style"]["accent_regions"]) <= set(REGIONS)


def test_face_features_drop_the_disc_and_keep_eyes_and_mouth():
    art = load_artwork("😀").astype(np.float32)
    features = face_features("😀")
    disc = np.all(np.abs(art[..., :3] - (255, 204, 77)) < 3, axis=-1) & (art[..., 3] == 255)
    mouth = np.all(np.abs(art[..., :3] - (102, 69, 0)) < 3, axis=-1) & (art[..., 3] == 255)
    assert disc.sum() > 1000 and mouth.sum() > 300
    assert features[..., 3][disc].max() == 0, "the yellow disc is gone"
    assert features[..., 3][mouth].min() > 250, "eyes and mouth stay"
    red = face_features("😡")  # a face of its own colour loses that colour too
    assert (red[..., 3] > 128).mean() < 0.25


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
    character = sample_character(rng)
    parts = [("expression", "😂"), ("accent", "❓")]
    a, placed = render_sticker(parts, character, loose, np.random.default_rng(7))
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    again, placed_again = render_sticker(parts, character, loose, np.random.default_rng(7))
    assert np.array_equal(a, again) and placed == placed_again
    assert [p["kind"] for p in placed] == ["expression", "accent"] and placed[0]["region"] == "face"
    assert loose.grain > tight.grain and loose.rotation > tight.rotation and loose.offset > tight.offset
    assert len(loose.accent_regions) > len(tight.accent_regions)


def test_cue_words_overlap_so_no_word_decides():
    lexicon = Lexicon(["😺", "😹", "🐱", "❤️", "💙"], language="en")
    cats = [lexicon.cue_words(e) for e in ("😺", "😹", "🐱")]
    assert set.intersection(*map(set, cats)), "cat emojis share cue words"
    assert lexicon.cue_words("❤️") & lexicon.cue_words("💙"), "hearts share cue words"
    rare = set(lexicon.rare)
    assert not rare & set().union(*lexicon.cue_table().values())
