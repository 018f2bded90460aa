"""The second generator (``srs_lib.synth.shapes``, ``synth --style shapes``): the same
release format and determinism as the embedded corpus, labels by the fixed mark→emoji
mapping (random in noisy sets), the mark where ``synth_info.json`` says, and a dialog
that speaks of the mark."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from srs_lib.analysis.reference import evaluate
from srs_lib.synth import PRESETS, generate_corpus
from srs_lib.synth.shapes import COLOURS, MARKS, render_shape_sticker, sample_shape_style, shape_mask
from srs_lib.synth.writer import redraw_sticker


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shapes") / "tiny"
    generate_corpus(str(out), "tiny", seed=0, progress=False, style="shapes")
    return out


@pytest.fixture(scope="module")
def info(shapes) -> dict:
    return json.loads((shapes / "synth_info.json").read_text(encoding="utf-8"))


def test_same_seed_same_bytes_with_workers_and_validate_accepts_it(shapes, tmp_path):
    again = tmp_path / "again"
    generate_corpus(str(again), "tiny", seed=0, progress=False, style="shapes", workers=2)
    assert _digest(shapes) == _digest(again)
    from srs_lib.cli import main

    assert main(["validate", "--base_path", str(shapes), "--no_progress"]) == 0


def test_it_has_the_presets_sizes_and_records_its_style(info):
    preset = PRESETS["tiny"]
    assert info["style"] == "shapes" and info["pairs"] == preset.splits
    assert (info["n_sets"], info["n_stickers"]) == (preset.n_sets, preset.n_stickers)
    assert sum(s["noisy_labels"] for s in info["sets"]) == preset.n_noisy_sets


def test_labels_are_the_marks_emoji_except_in_noisy_sets(shapes, info):
    for s in info["sets"]:
        lines = (shapes / "npy_stickers" / str(s["set_id"]) / "emoji_mapping.txt").read_text(encoding="utf-8")
        labels = [line.split("\t")[1] for line in lines.splitlines()]
        marks = [t["parts"][0]["emoji"] for t in s["stickers"]]
        assert all(m in MARKS and m in s["vocabulary"]["mark"] for m in marks)
        agree = np.mean([a == b for a, b in zip(labels, marks)])
        assert agree < 0.5 if s["noisy_labels"] else agree == 1.0


def test_the_mark_lies_in_its_box_in_its_colour(shapes, info):
    for s in info["sets"][:4]:
        for t in s["stickers"][:3]:
            image, placed = redraw_sticker(info, s["set_id"], t["sticker_id"])
            assert np.array_equal(image, np.load(shapes / "npy_stickers" / str(s["set_id"]) / f"{t['sticker_id']}.npy"))
            assert placed == t["parts"]
            without, _ = redraw_sticker(info, s["set_id"], t["sticker_id"], omit=["mark"])
            changed = np.any(image != without, axis=-1)
            x0, y0, x1, y1 = placed[0]["box"]
            inside = np.zeros_like(changed)
            inside[y0:y1, x0:x1] = True
            assert changed.any() and not (changed & ~inside).any()
            colour = np.asarray(COLOURS[MARKS[placed[0]["emoji"]][1]])
            centre = image[(y0 + y1) // 2, (x0 + x1) // 2].astype(int)
            if MARKS[placed[0]["emoji"]][0] != "ring":  # a ring's centre is its hole
                assert np.abs(centre - colour).max() <= 2


def test_the_mark_moves_and_the_set_shape_stays_in_a_tight_set():
    style = sample_shape_style(np.random.default_rng(0), 0.99)
    style = dataclasses.replace(style, background="plain")
    images, boxes = [], []
    for k in range(6):
        image, placed = render_shape_sticker([("mark", "🔴")], style, np.random.default_rng(k))
        without, _ = render_shape_sticker([("mark", "🔴")], style, np.random.default_rng(k), omit=["mark"])
        images.append(without)
        boxes.append(tuple(placed[0]["box"]))
    assert len(set(boxes)) == 6, "the mark goes somewhere else each time"
    assert max(np.abs(a.astype(int) - images[0]).mean() for a in images) < 3, "the base barely changes"
    circle = shape_mask("circle", 20, 20, 10, 40)
    assert circle.sum() == pytest.approx(np.pi * 100, rel=0.03)


def test_cue_words_of_the_mark_carry_the_signal(shapes):
    result = evaluate(str(shapes), "test", seed=0)
    scorers = result["scorers"]
    assert scorers["cue_words"]["R10@1"] > result["chance"]["R10@1"] + 0.1
    assert scorers["parts_oracle"]["R10@1"] > scorers["cue_words"]["R10@1"]
