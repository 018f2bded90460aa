"""SSIM analysis (``srs_lib.analysis.ssim``) and the candidate rule (``srs_lib.data.candidates``).

The vectorised SSIM must equal scikit-image's ``structural_similarity`` (to 1e-6) on the
same pairs; the analysis must give, per test sample, the mean SSIM of the ground truth with
exactly the negatives ``draw_candidates`` draws; and in the synthetic corpus stickers of a
set must be more alike than stickers of different sets.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from srs_lib.analysis import ssim
from srs_lib.data.candidates import context_rng, draw_candidates
from srs_lib.synth import generate_corpus


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ssim") / "tiny"
    generate_corpus(str(out), "tiny", seed=0, progress=False)
    return out


def _stickers(base: Path, limit: int = 40) -> tuple[np.ndarray, list[int]]:
    """Up to ``limit`` stickers of the corpus and the index of each one's set."""
    images, owners = [], []
    for k, folder in enumerate(sorted((base / "npy_stickers").iterdir())):
        for path in sorted(folder.glob("*.npy"))[:5]:
            images.append(np.load(path, allow_pickle=False))
            owners.append(k)
    return np.stack(images[:limit]), owners[:limit]


# --------------------------------------------------------------------------------------
# SSIM equals scikit-image
# --------------------------------------------------------------------------------------
def test_batch_ssim_equals_scikit_image_on_random_and_structured_pairs():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 40, 50, 3), dtype=np.uint8)
    y = np.clip(x * 0.6 + rng.normal(40, 30, size=x.shape), 0, 255).astype(np.uint8)
    y[0] = x[0]  # identical pair
    y[1] = 255 - x[1]  # inverted: SSIM can go negative
    ours = ssim.structural_similarity_batch(x, y, channel_axis=-1)
    ref = [structural_similarity(a, b, channel_axis=-1) for a, b in zip(x, y)]
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
    assert ours[0] == pytest.approx(1.0) and ours[1] < 0

    gx, gy = ssim.to_gray(x), ssim.to_gray(y)
    np.testing.assert_allclose(gx[2], rgb2gray(x[2]) * 255, atol=1e-9)
    ours = ssim.structural_similarity_batch(gx, gy)
    ref = [structural_similarity(a, b, data_range=255) for a, b in zip(gx, gy)]
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


def test_precomputed_moments_equal_scikit_image_on_real_stickers(tiny):
    images, _ = _stickers(tiny, limit=12)
    for mode in ssim.MODES:
        group = ssim.SSIMImages(ssim.prepare(images, mode), channels=mode == "rgb")
        first, second = np.triu_indices(len(images), 1)
        ours = group.pairs(first, second, chunk=7)
        if mode == "gray":
            gray = ssim.to_gray(images)
            ref = [structural_similarity(gray[i], gray[j], data_range=255) for i, j in zip(first, second)]
        else:
            ref = [structural_similarity(images[i], images[j], channel_axis=-1) for i, j in zip(first, second)]
        np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


def test_flat_identical_images_have_ssim_one_and_shapes_are_checked():
    flat = np.full((2, 16, 16), 77.0)
    np.testing.assert_allclose(ssim.structural_similarity_batch(flat, flat), 1.0)
    with pytest.raises(ValueError):
        ssim.structural_similarity_batch(flat, flat[:, :8])
    with pytest.raises(ValueError):
        ssim.SSIMImages(np.zeros((2, 5, 5)))  # smaller than the 7x7 window


# --------------------------------------------------------------------------------------
# histogram
# --------------------------------------------------------------------------------------
def test_histogram_bins_are_right_closed_and_nonpositive_values_are_apart():
    h = ssim.histogram([0.2, 0.2000001, 0.4, 0.59, 1.0, 0.0, -0.1, 0.05])
    assert h["bins"] == ["(0.0,0.2]", "(0.2,0.4]", "(0.4,0.6]", "(0.6,0.8]", "(0.8,1.0]"]
    assert h["counts"] == [2, 2, 1, 0, 1]
    assert h["nonpositive"] == 2
    assert sum(h["fractions"]) == pytest.approx(6 / 8)


# --------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------
def test_per_sample_similarity_is_the_mean_over_the_drawn_negatives(tiny):
    report = ssim.candidate_similarities(str(tiny), "test", seed=3, progress=False)
    assert len(report.samples) == 100
    assert [s.line for s in report.samples] == sorted(s.line for s in report.samples)
    lines = (tiny / "release_test.json").read_text(encoding="utf-8").splitlines()
    for sample in report.samples[:3]:
        current = json.loads(lines[sample.line - 1])["current"]
        assert (current["sticker_set_id"], current["sticker_id"]) == (sample.sticker_set_id, sample.sticker_id)
        folder = tiny / "npy_stickers" / str(sample.sticker_set_id)
        members = [int(line.split("\t")[0]) for line in (folder / "emoji_mapping.txt").read_text().splitlines()]
        candidates = draw_candidates(members, sample.sticker_id, 10, context_rng(3, sample.line))
        assert sample.n_candidates == len(candidates)
        gray = {c: rgb2gray(np.load(folder / f"{c}.npy")) * 255 for c in candidates}
        expected = np.mean([structural_similarity(gray[candidates[0]], gray[c], data_range=255)
                            for c in candidates[1:]])
        assert sample.mean_ssim == pytest.approx(expected, abs=1e-6)
    summary = report.summary()
    assert sum(summary["histogram"]["counts"]) + summary["histogram"]["nonpositive"] == 100
    assert summary["paper_mean"] == 0.258


def test_stickers_of_a_set_are_more_alike_than_stickers_of_different_sets(tiny):
    images, owners = _stickers(tiny)
    group = ssim.SSIMImages(ssim.prepare(images))
    first, second = np.triu_indices(len(images), 1)
    values = group.pairs(first, second)
    same = np.array([owners[i] == owners[j] for i, j in zip(first, second)])
    assert values[same].mean() > values[~same].mean() + 0.1


def test_within_set_pairs_are_more_alike_than_across_set_pairs(tiny):
    result = ssim.within_across_similarity(str(tiny), seed=0, per_set=6)
    assert result.sets == 8 and result.within_pairs == result.across_pairs > 0
    assert result.within > result.across + 0.05
    again = ssim.within_across_similarity(str(tiny), seed=0, per_set=6)
    assert again == result, "deterministic given the seed"
    capped = ssim.within_across_similarity(str(tiny), seed=1, per_set=3, max_sets=4)
    assert capped.sets == 4 and capped.within_pairs <= 4 * 3
    with pytest.raises(ValueError):
        ssim.within_across_similarity(str(tiny), mode="hsv")


def test_set_style_self_similarity_drives_measured_similarity(tiny):
    info = json.loads((tiny / "synth_info.json").read_text(encoding="utf-8"))
    knob, measured = [], []
    for s in info["sets"]:
        folder = tiny / "npy_stickers" / str(s["set_id"])
        images = np.stack([np.load(p) for p in sorted(folder.glob("*.npy"))[:8]])
        first, second = np.triu_indices(len(images), 1)
        measured.append(ssim.SSIMImages(ssim.prepare(images)).pairs(first, second).mean())
        knob.append(s["style"]["self_similarity"])
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    assert np.corrcoef(rank(knob), rank(measured))[0, 1] > 0.6


def test_command_writes_per_sample_file_and_json(tiny, tmp_path, capsys):
    out = tmp_path / "similarity.tsv"
    parser = argparse.ArgumentParser()
    ssim.add_arguments(parser)
    args = parser.parse_args(["--base_path", str(tiny), "--split", "val", "--json", "--quiet", "--out", str(out),
                              "--within_across"])
    assert ssim.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["within_across"] == ssim.within_across_similarity(str(tiny)).to_dict()
    rows = ssim.read_similarities(str(out))
    assert summary["samples"] == len(rows) == 100
    assert summary["mean"] == pytest.approx(np.mean([r.mean_ssim for r in rows]), abs=1e-5)
    args = parser.parse_args(["--base_path", str(tmp_path / "nowhere")])
    assert ssim.run(args) == 2
