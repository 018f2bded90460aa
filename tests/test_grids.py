"""Running the comparison grid: skipping done entries, going on after a failure, the files
an entry leaves, the chapter parameters of each entry and the parallel streams (nothing
heavy is trained)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from srs_lib.analysis import comparison
from srs_lib.analysis.metrics import ranking_metrics
from srs_lib.experiments import grids
from srs_lib.experiments.runner import ChapterRun
from srs_lib.layers.masking import MASK_VALUE
from grid_fixtures import scores_of, write_entry


def test_run_grid_skips_done_entries_and_goes_on_after_a_failure(tmp_path, monkeypatch, capsys, labels):
    write_entry(tmp_path, "ci", "synergistic", scores_of("random", labels), labels)
    ran = []

    def fake_run_entry(entry, parameters, out, *, grid="comparison", progress=True):
        ran.append(entry.name)
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps({"wall_seconds": 2.0}))
        if entry.name == "psac":
            return "failed", "ValueError: psac fell over"
        (out / "metrics.json").write_text(json.dumps({"test": {"MAP": 0.5}}))
        return "ok", ""

    monkeypatch.setattr(grids, "run_entry", fake_run_entry)
    status = grids.run_grid("ci", {"base_path": "x", "profile": "ci"}, results=tmp_path,
                                 names=["synergistic", "psac", "smn"])
    assert status == 1
    assert ran == ["psac", "smn"]
    out, err = capsys.readouterr()
    assert "synergistic: done before, skipped" in out
    assert "psac: FAILED after 2 s: ValueError: psac fell over" in out
    assert "smn: done in 2 s, test MAP 0.500" in out
    assert "1 of 3 entries failed" in err and "psac: ValueError" in err
    assert grids.run_grid("ci", {}, results=tmp_path, names=["smn"]) == 0  # done: skipped
    assert ran == ["psac", "smn"]
    grids.run_grid("ci", {}, results=tmp_path, names=["smn"], force=True)
    assert ran == ["psac", "smn", "smn"]


def test_random_entry_end_to_end(make_corpus, tmp_path):
    corpus = make_corpus(extra_samples=30)
    parameters = {"base_path": str(corpus), "profile": "ci"}
    results = tmp_path / "results"
    assert grids.run_grid("ci", parameters, results=results, names=["random"]) == 0
    folder = results / "ci" / "random"
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "run.json", "test_scores.npz"]
    metrics = json.loads((folder / "metrics.json").read_text())
    run = json.loads((folder / "run.json").read_text())
    saved = np.load(folder / "test_scores.npz")
    assert (run["status"], run["entry"], run["parameters"]["seed"]) == ("ok", "random", grids.GRID_SEED)
    assert run["corpus"] == "StickerChat"  # a corpus without synth_info.json
    assert (metrics["model"], metrics["steps"], metrics["parameters"]) == ("random", 0, 0)
    n = metrics["test_contexts"]
    assert n == 33 and saved["scores"].shape == (n, 10) and saved["lines"].shape == (n,)
    assert metrics["test"] == pytest.approx(ranking_metrics(saved["scores"], saved["labels"]))
    # Sets with fewer than 10 stickers give fewer real candidates; the positive is always one.
    assert saved["mask"][np.arange(n), saved["labels"]].all()
    assert (saved["mask"].sum(axis=1) < 10).any()
    assert (saved["scores"][~saved["mask"]] == MASK_VALUE).all()
    first = saved["scores"].copy()
    assert grids.run_grid("ci", parameters, results=results, names=["random"], force=True) == 0
    np.testing.assert_array_equal(np.load(folder / "test_scores.npz")["scores"], first)  # seeded
    loaded = comparison.load_results("ci", results)
    assert list(loaded) == ["random"] and loaded["random"].seconds_per_step is None


@pytest.mark.parametrize("profile,entry,expected", [
    ("cpu", "srs_first9", {"model": "srs", "candidate_protocol": "first9"}),
    ("cpu", "srs_wo_din", {"ablation": ["din"]}),
    ("ci", "srs", {"ablation": [], "candidate_protocol": "random"}),
    ("ci", "context_blind_first9", {"model": "context_blind", "candidate_protocol": "first9"}),
])
def test_entries_run_the_chapter_with_the_grid_budget_and_their_parameters(
        tmp_path, monkeypatch, profile, entry, expected):
    seen = {}

    def fake_execute_chapter(chapter, parameters, output, **kwargs):
        seen.update(parameters)
        return ChapterRun(chapter, "failed", error="not run in this test")

    monkeypatch.setattr(grids, "execute_chapter", fake_execute_chapter)
    status, _ = grids.run_entry(comparison.ENTRIES[entry],
                                {"base_path": str(tmp_path), "profile": profile},
                                tmp_path / entry, progress=False)
    assert status == "failed"
    assert {k: seen.get(k) for k in expected} == expected
    assert "epochs" not in seen  # every profile trains as chapter 07 does (GRID_BUDGET is empty)
    assert seen["seed"] == grids.GRID_SEED and seen["exp_name"] == entry


def test_entries_are_split_into_streams_of_about_equal_cost():
    entries = [comparison.ENTRIES[n] for n in ("srs", "dam", "smn", "mrfn", "psac", "random")]
    costs = {"dam": 100.0, "mrfn": 50.0, "srs": 10.0, "smn": 8.0, "psac": 10.0}  # random: unknown
    streams = grids.split_entries(entries, 2, costs)
    names = [[e.name for e in stream] for stream in streams]
    # random costs the mean of the known costs (35.6), so it comes right after mrfn.
    assert names == [["dam", "smn"], ["mrfn", "random", "srs", "psac"]]
    assert grids.split_entries(entries[:1], 4, costs) == [[comparison.ENTRIES["srs"]]]
    assert grids.split_entries([], 2, costs) == []


def test_parallel_grid_runs_disjoint_streams_with_their_threads(tmp_path, monkeypatch, labels):
    write_entry(tmp_path, "cpu", "srs", scores_of("good", labels), labels)  # done: not re-run
    (tmp_path / "cpu" / "srs" / "run.json").write_text(json.dumps({"wall_seconds": 5.0}))
    launched = []

    class FakeProcess:
        def __init__(self, command, env):
            self.command = command
            launched.append((command, env["OMP_NUM_THREADS"]))
            environments.append(env)

        def wait(self):
            return 1 if "dam" in self.command else 0

    import subprocess

    environments = []
    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(grids.os, "cpu_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    code = grids.run_grid_in_parallel("cpu", 2, results=tmp_path,
                                           names=["srs", "smn", "dam", "mrfn"])
    assert len(launched) == 2 and {threads for _, threads in launched} == {"2"}
    streams = [command[command.index("--entries") + 1:] for command, _ in launched]
    assert sorted(sum(streams, [])) == ["dam", "mrfn", "smn"]
    assert all(command[command.index("--results_dir") + 1] == str(tmp_path)
               for command, _ in launched)
    assert "--force" not in launched[0][0] and "--base_path" not in launched[0][0]
    assert code == 1  # the stream with dam failed
    assert all("CUDA_VISIBLE_DEVICES" not in env for env in environments)  # no GPU here
    launched.clear()
    assert grids.run_grid_in_parallel("cpu", 2, results=tmp_path, names=["srs"]) == 0
    assert launched == []  # nothing left to run
    # On a machine with two GPUs (only GPU 1 and 3 visible), one stream per GPU.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    environments.clear()
    grids.run_grid_in_parallel("cpu", 2, results=tmp_path, names=["smn", "dam"])
    assert sorted(env["CUDA_VISIBLE_DEVICES"] for env in environments) == ["1", "3"]
