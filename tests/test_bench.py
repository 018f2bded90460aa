"""The benchmark command: one run measures the loader, training and evaluation together."""
from __future__ import annotations

import json

import pytest

from srs_lib import cli
from srs_lib.training.bench import run_benchmark


@pytest.fixture
def corpus_path(make_corpus):
    return make_corpus(extra_samples=30)


def test_benchmark_measures_every_stage_on_the_requested_options(corpus_path):
    result = run_benchmark(corpus_path, "ci", steps=2, warmup=1, batches=3, batch_size=4,
                           hidden=8)
    assert result["config"]["batch_size"] == 4 and result["config"]["hidden"] == 8
    assert result["config"]["steps"] == 3  # the warm-up and the timed steps
    for key in ("pipeline_contexts_per_s", "train_contexts_per_s", "eval_contexts_per_s",
                "train_seconds_per_step", "peak_rss_mib"):
        assert result[key] > 0, key
    assert result["loader_headroom"] == pytest.approx(
        result["pipeline_contexts_per_s"] / result["train_contexts_per_s"])
    assert result["device"] == "cpu" and result["machine"]["cpu_count"] >= 1
    flops = result["flops_per_context"]
    assert 0 < flops["forward"] < flops["train"]
    assert flops["sticker"] > 0 and flops["text"] > 0
    assert flops["sticker"] + flops["text"] == pytest.approx(flops["train"])
    assert result["achieved_tflops"] == pytest.approx(
        flops["train"] * result["train_contexts_per_s"] / 1e12)
    assert result["peak_tflops"] is None and result["peak_fraction"] is None  # a CPU


def test_peaks_are_known_by_device_name_and_precision():
    from srs_lib.training.bench import peak_tflops

    assert peak_tflops("NVIDIA H100 80GB HBM3", True) == 989.0
    assert peak_tflops("NVIDIA H100 80GB HBM3", False) == 67.0
    assert peak_tflops("NVIDIA GeForce RTX 4090", True) is None and peak_tflops(None, True) is None


def test_command_writes_the_json_it_prints(corpus_path, tmp_path, capsys):
    out = tmp_path / "bench" / "ci.json"
    assert cli.main(["bench", "--base_path", str(corpus_path), "--profile", "ci", "--steps", "1",
                     "--warmup", "1", "--batches", "2", "--batch_size", "4",
                     "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert f"{saved['train_contexts_per_s']:.1f}" in printed and saved["profile"] == "ci"
    assert saved["config"]["model"] == "srs"  # the profile's model unless --model names one
    assert cli.main(["bench", "--base_path", str(corpus_path), "--profile", "ci", "--steps", "1",
                     "--warmup", "1", "--batches", "2", "--batch_size", "4", "--model", "smn",
                     "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["model"] == "smn"


def test_evaluation_benchmark_compares_both_scorers_on_one_split(corpus_path, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert cli.main(["bench", "--base_path", str(corpus_path), "--profile", "ci", "--evaluation",
                     "--split", "release_val.json", "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert f"{result['eval_speedup']:.1f}" in capsys.readouterr().out
    assert result["split"] == "release_val.json" and result["contexts"] > 0
    assert 0 < result["distinct_stickers"] < result["candidates"] <= 10 * result["contexts"]
    assert result["eval_speedup"] == pytest.approx(
        result["eval_contexts_per_s_after"] / result["eval_contexts_per_s_before"])
    assert len(result["seconds_before"]) == len(result["seconds_after"]) == 1
    assert result["max_abs_score_difference"] < 1e-5
