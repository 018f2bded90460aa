"""The analysis grids (utterances, hidden, seeds, emoji_speedup): their definitions, reuse of
the comparison grid's runs, skipping, and the analysis code computed by hand (steps to a
share of the best, cue shares, the spread over seeds); one real entry of each grid at the
end (chapter 07 through papermill on the tiny corpus, about 20 s each)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from srs_lib.analysis import analyses, comparison
from srs_lib.experiments import grids
from srs_lib.experiments.command import add_arguments
from grid_fixtures import scores_of, write_entry

CURVE = [{"step": 30, "MAP": 0.6}, {"step": 10, "MAP": 0.3}, {"step": 40, "MAP": 0.6},
         {"step": 20, "MAP": 0.5}]  # in no order; the best (0.6) tied at steps 30 and 40


# -- grid definitions ---------------------------------------------------------------------
def test_grid_values_are_the_papers():
    assert analyses.UTTERANCE_COUNTS == (3, 5, 8, 10, 15, 20)
    assert [analyses.value_of(e, "utterances") for e in analyses.GRIDS["utterances"]] == [3, 5, 8, 10, 15, 20]
    assert [analyses.value_of(e, "hidden") for e in analyses.GRIDS["hidden"]] == [50, 100, 150, 200, 250]
    assert [analyses.value_of(e, "seeds") for e in analyses.GRIDS["seeds"]] == [0, 1, 2]
    speedup = {e.name: e.ablation for e in analyses.GRIDS["emoji_speedup"]}
    assert speedup == {"srs": (), "srs_wo_classify": ("classify",)}
    assert all(e.model == "srs" for entries in analyses.GRIDS.values() for e in entries)


def test_the_command_knows_every_grid():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    choices = next(a.choices for a in parser._actions if a.dest == "grid")
    assert tuple(choices) == tuple(grids.GRIDS) == ("comparison", *analyses.GRIDS)


@pytest.mark.parametrize("grid,entry,profile,twin", [
    ("utterances", "k15", "cpu", "srs"), ("utterances", "k15", "paper", "srs"),
    ("utterances", "k8", "ci", "srs"), ("utterances", "k15", "ci", None), ("utterances", "k3", "cpu", None),
    ("hidden", "hidden100", "cpu", "srs"), ("hidden", "hidden100", "ci", None),  # ci trains hidden 16
    ("seeds", "seed0", "ci", "srs"), ("seeds", "seed1", "cpu", None),
    # validated every 3 (ci) or 100 (cpu) steps: other runs; paper validates often enough anyway
    ("emoji_speedup", "srs", "ci", None), ("emoji_speedup", "srs_wo_classify", "cpu", None),
    ("emoji_speedup", "srs", "paper", "srs"), ("emoji_speedup", "srs_wo_classify", "paper", "srs_wo_classify"),
])
def test_an_entry_is_a_comparison_run_exactly_when_it_trains_the_same(grid, entry, profile, twin):
    spec = grids.GRIDS[grid]
    found = grids.twin_of(spec, next(e for e in spec.entries if e.name == entry),
                          {"profile": profile, "base_path": "x"})
    assert (found.name if found else None) == twin


def test_entries_run_chapter_07_with_the_budget_and_their_value():
    spec = grids.GRIDS["emoji_speedup"]
    chapter = grids.chapter_parameters(spec, spec.entries[1], {"profile": "cpu", "base_path": "x"})
    assert "epochs" not in chapter  # chapter 07's own budget (GRID_BUDGET is empty)
    assert (chapter["auto_test_step"], chapter["ablation"]) == (100, ["classify"])
    assert chapter["log_root"].endswith("_build/emoji_speedup/cpu")
    config = grids.training_config(chapter)
    assert (config.classify, config.auto_test_step) == (False, 100)
    k3 = grids.chapter_parameters(grids.GRIDS["utterances"], analyses.GRIDS["utterances"][0],
                                  {"profile": "ci", "base_path": "x"})
    assert grids.training_config(k3).max_utterances == 3 and "epochs" not in k3


# -- running: reuse and skipping ---------------------------------------------------------
def test_run_grid_reuses_comparison_runs_and_skips_done_entries(tmp_path, monkeypatch, capsys, labels):
    compared, results = tmp_path / "comparison", tmp_path / "utterances"
    write_entry(compared, "ci", "srs", scores_of("good", labels), labels)
    ran = []

    def fake_run_entry(entry, parameters, out, *, grid="comparison", progress=True):
        ran.append((grid, entry.name))
        write_entry(out.parent.parent, "ci", entry.name, scores_of("random", labels), labels)
        return "ok", ""

    monkeypatch.setattr(grids, "run_entry", fake_run_entry)
    parameters = {"profile": "ci", "base_path": "x"}
    assert grids.run_grid("ci", parameters, grid="utterances", results=results,
                          comparison_results=compared, names=["k3", "k8"]) == 0
    assert ran == [("utterances", "k3")]  # k8 is the comparison's srs: not trained again
    marker = json.loads((results / "ci" / "k8" / "run.json").read_text())
    assert (marker["status"], marker["reused_from"]) == ("reused", "comparison/srs")
    assert sorted(p.name for p in (results / "ci" / "k8").iterdir()) == ["run.json"]
    assert comparison.entry_done(results / "ci" / "k8") and comparison.entry_done(results / "ci" / "k3")
    out = capsys.readouterr().out
    assert "k8: the same run as comparison/srs: reused" in out
    assert grids.run_grid("ci", parameters, grid="utterances", results=results,
                          comparison_results=compared, names=["k3", "k8"]) == 0
    assert ran == [("utterances", "k3")]
    assert "k3: done before, skipped" in capsys.readouterr().out
    loaded = analyses.load_grid("utterances", ["ci"], tmp_path)["ci"]
    assert list(loaded) == ["k3", "k8"]
    assert loaded["k8"].reused == "comparison/srs" and loaded["k3"].reused is None
    assert loaded["k8"].metrics["test"]["R10@1"] == 1.0  # the comparison's (good) scores
    assert loaded["k3"].metrics["test"]["R10@1"] < 1.0
    frame = analyses.curve_frame("utterances", loaded)
    assert frame["max_utterances"].tolist() == [3, 8] and frame["reused"].tolist() == ["", "comparison/srs"]


def test_a_reused_run_that_has_not_run_runs_in_the_comparison_grid(tmp_path, monkeypatch, labels):
    compared, results = tmp_path / "comparison", tmp_path / "seeds"
    ran = []

    def fake_run_entry(entry, parameters, out, *, grid="comparison", progress=True):
        ran.append((grid, entry.name, out))
        if entry.name == "srs":
            return "failed", "ValueError: srs fell over"
        write_entry(out.parent.parent, "ci", entry.name, scores_of("random", labels), labels)
        return "ok", ""

    monkeypatch.setattr(grids, "run_entry", fake_run_entry)
    assert grids.run_grid("ci", {"profile": "ci", "base_path": "x"}, grid="seeds", results=results,
                          comparison_results=compared) == 1  # the comparison's srs failed
    assert ran[0] == ("comparison", "srs", compared / "ci" / "srs")
    assert [name for _, name, _ in ran[1:]] == ["seed1", "seed2"]
    assert not (results / "ci" / "seed0").exists()


# -- analysis code, by hand ---------------------------------------------------------------
def test_steps_to_a_share_of_the_best():
    assert analyses.steps_to_fraction(CURVE, 0.9) == 30  # target 0.54: step 20 has 0.5
    assert analyses.steps_to_fraction(CURVE, 0.5) == 10  # target 0.3, reached exactly: counts
    assert analyses.steps_to_fraction(CURVE, 1.0) == 30  # the best tied at 30 and 40: the first
    assert analyses.steps_to_fraction(CURVE, 0.5, floor=0.3) == 20  # 0.3 + 0.5 * 0.3 = 0.45
    assert analyses.steps_to_fraction(CURVE, 0.9, best=0.9) is None  # 0.81: never reached
    assert analyses.steps_to_reach(CURVE, 0.61) is None
    assert analyses.steps_to_fraction([], 0.9) is None


def _run(name, label, curve=None, metrics=None, ablation=()):
    entry = comparison.Entry(name, label, "emoji_speedup", "srs", ablation)
    return SimpleNamespace(entry=entry, history={"eval": curve} if curve is not None else None,
                           metrics={"steps": 40, "test": metrics or {}})


def test_speedup_rows_and_verdict():
    slower = [{"step": 10, "MAP": 0.2}, {"step": 20, "MAP": 0.4}, {"step": 30, "MAP": 0.45},
              {"step": 40, "MAP": 0.5}]
    runs = {"srs": _run("srs", "SRS", CURVE), "srs_wo_classify": _run("srs_wo_classify", "w/o", slower)}
    rows = {row["entry"]: row for row in analyses.speedup_rows(runs, 0.9)}
    assert (rows["srs"]["best"], rows["srs"]["best_step"], rows["srs"]["own"], rows["srs"]["common"]) == (0.6, 30, 30, 30)
    # its own best 0.5: 0.45 at step 30; the common target 0.54 never
    assert (rows["srs_wo_classify"]["own"], rows["srs_wo_classify"]["common"]) == (30, None)
    verdict = analyses.speedup_verdict(list(rows.values()))
    assert verdict["holds"] is True and verdict["ratio"] is None
    rows = analyses.speedup_rows(runs, 0.5, floor=0.2)  # common target 0.4: steps 20 and 20
    assert [(r["own"], r["common"]) for r in rows] == [(20, 20), (20, 20)]
    verdict = analyses.speedup_verdict(rows)
    assert (verdict["holds"], verdict["ratio"]) == (False, 1.0)
    assert analyses.speedup_verdict(rows[:1])["verdict"] == "not run"
    # the better best (0.6) lies 0.3 above a chance of 0.3: told only when the noise is below 0.15
    assert analyses.speedup_verdict(rows, floor=0.3, noise=0.1)["holds"] is False
    assert analyses.speedup_verdict(rows, floor=0.3, noise=0.15)["holds"] is None


def test_cue_distances_and_shares_by_hand():
    utterances = [("a", "x"), (), ("b", "a"), ("c",)]  # the empty one is dropped: 3 utterances
    table = {"E": frozenset({"a", "b"}), "F": frozenset({"b"})}
    assert analyses.cue_distances_of(utterances, ["E"], table) == [2, 1, 1]
    assert analyses.cue_distances_of(utterances, ["E"], table, specific=True) == [2, 1]  # "b" is F's too
    assert analyses.cue_distances_of(utterances, ["E", "F"], table, specific=True) == [2, 1, 1]
    assert analyses.cue_distances_of(utterances, ["E"], table, max_words=1) == [2, 1]  # a second "a" cut
    shares = analyses.cue_shares([[2, 1, 1], [0], []], [1, 2, 3])
    assert shares[1] == {"cues": 0.25, "contexts": 0.5, "all_cues": 0.5}
    assert shares[2] == {"cues": 0.75, "contexts": 1.0, "all_cues": 0.5}
    assert shares[3] == {"cues": 1.0, "contexts": 1.0, "all_cues": 1.0}
    assert analyses.covering_k(shares, 0.7) == 2 and analyses.covering_k(shares, 0.7, "all_cues") == 3
    assert analyses.covering_k({1: {"cues": 0.5}}, 0.9) is None
    assert analyses.geometric_share(0.45, 3) == pytest.approx(1 - 0.55 ** 3)


def test_spread_over_seeds():
    runs = {f"seed{s}": SimpleNamespace(metrics={"test": {"MAP": v, "R10@1": v / 2, "R10@2": 0.5, "R10@5": 0.9}})
            for s, v in enumerate((0.3, 0.5, 0.4))}
    spread = analyses.spread_frame(runs)
    assert spread.loc["MAP", ["min", "max", "range", "mean"]].tolist() == pytest.approx([0.3, 0.5, 0.2, 0.4])
    assert spread.loc["MAP", "std"] == pytest.approx(0.1)  # ddof 1
    assert spread.loc["R10@1", "range"] == pytest.approx(0.1) and spread.loc["R10@2", "std"] == 0.0
    assert np.isnan(analyses.spread_frame({"seed0": runs["seed0"]}).loc["MAP", "std"])


def test_table3_differences_against_the_seeds_range(tmp_path, labels):
    for name, quality in (("srs", "good"), ("mrfn", "random"), ("dam", "bad")):
        write_entry(tmp_path, "ci", name, scores_of(quality, labels), labels)
    found = comparison.load_results("ci", tmp_path)
    spread = pd.DataFrame({"range": {m: 0.5 for m in ("MAP", "R10@1", "R10@2", "R10@5")}})
    frame = analyses.table3_differences(found, spread)
    assert set(frame["pair"]) == {"SRS > MRFN", "MRFN > DAM"}  # the pairs both of whose runs exist
    row = frame[(frame["pair"] == "SRS > MRFN") & (frame["metric"] == "R10@1")].iloc[0]
    assert row["ours"] == pytest.approx(1.0 - found["mrfn"].metrics["test"]["R10@1"])
    assert row["paper"] == pytest.approx(0.590 - 0.557)
    assert row["beyond the seeds' range"] == bool(row["ours"] > 0.5)


def _frame(means, width=0.02):
    ks = [3, 5, 8, 10, 15, 20]
    return pd.DataFrame({"max_utterances": ks, "MAP": means, "MAP ±": [width] * len(ks)})


def test_where_a_curve_peaks_and_levels():
    rising = analyses.utterances_verdict(_frame([0.30, 0.40, 0.50, 0.60, 0.70, 0.69]))
    assert (rising["best"], rising["level_from"], rising["holds"]) == (15, 15, True)
    early = analyses.utterances_verdict(_frame([0.30, 0.50, 0.70, 0.70, 0.69, 0.70]))
    assert (early["best"], early["level_from"], early["holds"]) == (8, 8, False)
    assert early["verdict"] == "rises, but is level from k = 8 on, before 15"
    flat = analyses.utterances_verdict(_frame([0.50, 0.51, 0.52, 0.50, 0.51, 0.50]))
    assert flat["overlaps_first"] and flat["holds"] is None  # cannot tell
    assert analyses.all_hold([rising, flat]) is None and analyses.all_hold([rising, early, flat]) is False
    assert analyses.all_hold([rising, rising]) is True
    assert analyses.flat_verdict(_frame([0.50, 0.51, 0.52, 0.50, 0.51, 0.50]), "max_utterances", "MAP")["flat"]
    hidden = pd.DataFrame({"hidden": [50, 100, 150, 200, 250], "MAP": [0.5, 0.52, 0.51, 0.5, 0.49],
                           "MAP ±": [0.02] * 5})
    assert analyses.hidden_verdict(hidden)["holds"] is True
    hidden["MAP"] = [0.5, 0.51, 0.52, 0.5, 0.49]  # best at 150, but every size within its interval
    assert analyses.hidden_verdict(hidden)["holds"] is None
    hidden["MAP"] = [0.5, 0.52, 0.6, 0.5, 0.49]
    found = analyses.hidden_verdict(hidden)
    assert (found["best"], found["holds"]) == (150, False)


# -- one real entry of each grid ----------------------------------------------------------
@pytest.mark.parametrize("grid,entry,check", [
    ("utterances", "k3", lambda config, history: config["max_utterances"] == 3),
    ("hidden", "hidden50", lambda config, history: config["hidden"] == 50),
    ("seeds", "seed1", lambda config, history: config["seed"] == 1 and config["eval_seed"] == 0),
    ("emoji_speedup", "srs_wo_classify",
     lambda config, history: not config["classify"] and len(history["eval"]) == 8),
])
def test_one_entry_of_each_grid_runs_chapter_07(tmp_path, grid, entry, check):
    from srs_lib.experiments.runner import ensure_corpus, profile_parameters

    ensure_corpus("ci")
    results = tmp_path / grid
    assert grids.run_grid("ci", profile_parameters("ci"), grid=grid, results=results,
                          comparison_results=tmp_path / "comparison", names=[entry]) == 0
    folder = results / "ci" / entry
    assert {"metrics.json", "test_scores.npz", "history.json", "run.json", "07_training.ipynb"} <= {
        p.name for p in folder.iterdir()}
    run = json.loads((folder / "run.json").read_text())
    assert (run["grid"], run["status"], run["entry"]) == (grid, "ok", entry)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert check(metrics["config"], json.loads((folder / "history.json").read_text()))
    loaded = analyses.load_grid(grid, ["ci"], tmp_path)["ci"]
    assert list(loaded) == [entry] and loaded[entry].metrics["test_contexts"] == 100


def test_an_analysis_grid_runs_in_parallel_streams_of_its_own_name(tmp_path, monkeypatch, labels):
    import subprocess

    write_entry(tmp_path / "hidden", "cpu", "hidden50", scores_of("random", labels), labels)  # done
    launched = []

    class FakeProcess:
        def __init__(self, command, env):
            launched.append(command)

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(grids.os, "cpu_count", lambda: 2)
    assert grids.run_grid_in_parallel("cpu", 2, grid="hidden", results=tmp_path / "hidden",
                                      comparison_results=tmp_path / "comparison") == 0
    assert all(c[c.index("run") + 1] == "hidden" for c in launched)
    assert all(c[c.index("--comparison_dir") + 1] == str(tmp_path / "comparison") for c in launched)
    streams = sorted(sum((c[c.index("--entries") + 1:] for c in launched), []))
    assert streams == ["hidden100", "hidden150", "hidden200", "hidden250"]  # hidden50 is done
