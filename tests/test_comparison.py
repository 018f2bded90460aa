"""The comparison grid of Tables 3 and 4: entries, labels, significance markers, tables,
and the runner's skipping, failure handling and files (nothing heavy is trained)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from srs_lib import comparison, paper
from srs_lib.metrics import ranking_metrics
from srs_lib.training.trainer import MASKED_SCORE

CONTEXTS, CANDIDATES = 200, 10


def _scores(quality: str, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scores whose positive ranks first ("good"), last ("bad"), or anywhere ("random")."""
    rng = np.random.default_rng(seed)
    scores = rng.random((len(labels), CANDIDATES)).astype("float32")
    rows = np.arange(len(labels))
    if quality == "good":
        scores[rows, labels] = 2.0
    elif quality == "bad":
        scores[rows, labels] = -1.0
    return scores


def write_entry(results, profile, name, scores, labels, *, lines=None, parameters=1000,
                rates=None, candidates=None):
    """A finished grid entry as ``run_entry`` leaves it: metrics.json, test_scores.npz,
    run.json and (with ``rates``, contexts per second of the joint stage) history.json."""
    folder = results / profile / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = np.arange(len(labels)) if lines is None else lines
    mask = np.ones(scores.shape, bool)
    if candidates is not None:
        mask[:, candidates:] = False
    np.savez_compressed(folder / "test_scores.npz", scores=scores, labels=labels, lines=lines,
                        mask=mask)
    (folder / "metrics.json").write_text(json.dumps({
        "model": name, "test": ranking_metrics(scores, labels), "test_contexts": len(labels),
        "steps": 24, "parameters": parameters, "config": {"batch_size": 8}}))
    (folder / "run.json").write_text(json.dumps({
        "entry": name, "status": "ok", "parameters": {"base_path": "/nowhere", "profile": profile},
        "corpus": "embedded test (seed 0)", "wall_seconds": 1.0}))
    if rates is not None:
        (folder / "history.json").write_text(json.dumps({"train": [
            {"step": 6 * (i + 1), "stage": "joint", "contexts_per_s": r} for i, r in enumerate(rates)]}))


@pytest.fixture
def labels():
    return np.random.default_rng(1).integers(0, CANDIDATES, CONTEXTS)


@pytest.fixture
def grid(tmp_path, labels):
    """SRS ranks every positive first, MRFN last, DAM exactly as MRFN, random at random."""
    write_entry(tmp_path, "ci", "srs", _scores("good", labels), labels, parameters=2000, rates=[80, 100, 120])
    write_entry(tmp_path, "ci", "mrfn", _scores("bad", labels), labels, parameters=1000, rates=[200])
    write_entry(tmp_path, "ci", "dam", _scores("bad", labels), labels, parameters=4000, rates=[50])
    write_entry(tmp_path, "ci", "srs_wo_din", _scores("random", labels), labels)
    write_entry(tmp_path, "ci", "random", _scores("random", labels, seed=5), labels, parameters=0)
    return comparison.load_results("ci", tmp_path)


# -- the grid ------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["ci", "cpu"])
def test_pretrain_ablation_left_out_where_the_backbone_is_not_pretrained(profile):
    entries, left_out = comparison.grid_entries(profile)
    names = [e.name for e in entries]
    assert "srs_wo_pretrain" not in names and set(left_out) == {"srs_wo_pretrain"}
    assert "not pretrained" in left_out["srs_wo_pretrain"]
    assert names == [e.name for e in comparison.GRID if e.name != "srs_wo_pretrain"]


def test_paper_profile_leaves_out_only_the_paper_features_variant():
    """The paper profile's SRS already has the paper's sticker features and is pretrained."""
    entries, left_out = comparison.grid_entries("paper")
    assert set(left_out) == {"srs_features"} and "paper's features" in left_out["srs_features"]
    assert entries == [e for e in comparison.GRID if e.name != "srs_features"]


def test_chosen_entries_keep_their_order_and_unknown_ones_are_rejected():
    entries, _ = comparison.grid_entries("paper", ["random", "srs"])
    assert [e.name for e in entries] == ["random", "srs"]
    with pytest.raises(SystemExit, match="unknown grid entries: nope.*choose from"):
        comparison.grid_entries("ci", ["srs", "nope"])


def test_labels_are_the_papers_row_names():
    assert comparison.label("srs") == "SRS"
    assert comparison.label("mrfn") == "MRFN"
    assert comparison.label("srs", ["din"]) == "SRS w/o DIN"
    assert comparison.label("srs", ("pretrain",)) == "SRS w/o pretrain"
    assert comparison.label("context_blind") == "context-blind"
    # A combination the paper has no row for is named from its parts.
    assert comparison.label("srs", ("din", "fr")) == "srs+w/o din+w/o fr"
    assert comparison.label("srs", (), {"sticker_code": "features"}) == (
        "SRS, the paper's sticker features")
    assert comparison.label("srs", (), {"sticker_code": "emoji"}) == "srs+sticker_code=emoji"
    assert {e.label for e in comparison.GRID if e.table in ("table3", "table4")} == (
        set(paper.TABLE3) | set(paper.TABLE4))


# -- reading results back ------------------------------------------------------------------
def test_load_results_in_grid_order_with_cost_and_candidates(grid, labels):
    assert list(grid) == ["dam", "mrfn", "srs", "srs_wo_din", "random"]
    srs = grid["srs"]
    assert srs.metrics["test"]["R10@1"] == 1.0
    np.testing.assert_array_equal(srs.per_context["rank"], np.ones(CONTEXTS))
    assert srs.seconds_per_step == pytest.approx(8 / 100)  # batch / median contexts per s
    assert grid["srs_wo_din"].seconds_per_step is None  # no history
    np.testing.assert_array_equal(srs.candidates, np.full(CONTEXTS, CANDIDATES))


def test_markers_clear_win_and_loss_and_no_difference(grid):
    vs_mrfn = comparison.significance_markers(grid, "mrfn", "R10@1")
    assert vs_mrfn["srs"] == "▲"
    assert vs_mrfn["dam"] == ""  # identical scores
    assert vs_mrfn["mrfn"] == ""  # the reference itself
    vs_srs = comparison.significance_markers(grid, "srs", "MAP")
    assert vs_srs["mrfn"] == vs_srs["srs_wo_din"] == vs_srs["random"] == "▼"
    # Two random scorers are not told apart.
    assert comparison.significance_markers(grid, "random", "MAP")["srs_wo_din"] == ""


def test_markers_without_the_reference_are_empty(grid):
    del grid["mrfn"]
    assert set(comparison.significance_markers(grid, "mrfn", "MAP").values()) == {""}


def test_markers_refuse_different_test_contexts(tmp_path, labels):
    write_entry(tmp_path, "ci", "mrfn", _scores("bad", labels), labels)
    write_entry(tmp_path, "ci", "smn", _scores("good", labels), labels, lines=np.arange(CONTEXTS) + 1)
    results = comparison.load_results("ci", tmp_path)
    with pytest.raises(ValueError, match="smn and mrfn were not tested on the same contexts"):
        comparison.significance_markers(results, "mrfn", "MAP")


def test_frames_for_the_chapters(grid):
    table3 = comparison.comparison_frame(grid, "table3")
    assert list(table3.index) == ["DAM", "MRFN", "SRS", "random"]
    ours = "ours (embedded test (seed 0))"
    assert list(table3.columns.get_level_values(0).unique()) == [
        ours, "▲/▼ vs MRFN", "▲/▼ vs SRS", "paper (StickerChat)"]
    assert table3.loc["SRS", (ours, "R10@1")] == 1.0
    assert table3.loc["SRS", ("▲/▼ vs MRFN", "R10@1")] == "▲"
    assert table3.loc["MRFN", ("▲/▼ vs MRFN", "MAP")] == "ref"
    assert table3.loc["MRFN", ("paper (StickerChat)", "R10@2")] == paper.TABLE3["MRFN"][2]
    assert list(table3.loc["SRS", "paper (StickerChat)"]) == list(paper.TABLE3["SRS"])
    assert list(table3.loc["SRS", "▲/▼ vs SRS"]) == ["ref"] * len(paper.METRICS)
    assert table3.loc["random", "paper (StickerChat)"].isna().all()
    table4 = comparison.comparison_frame(grid, "table4")
    assert list(table4.index) == ["SRS", "SRS w/o DIN"]
    assert table4.loc["SRS w/o DIN", ("▲/▼ vs SRS", "MAP")] == "▼"
    assert table4.loc["SRS w/o DIN", ("paper (StickerChat)", "MAP")] == paper.TABLE4["SRS w/o DIN"][0]
    html = comparison.to_html(table3)
    assert "<table" in html and "1.000" in html and "–" in html and "nan" not in html.lower()
    del grid["mrfn"]
    assert comparison.comparison_frame(grid, "table3").loc["SRS", ("▲/▼ vs MRFN", "MAP")] == "n/a"
    with pytest.raises(ValueError, match="unknown table"):
        comparison.comparison_frame(grid, "table5")


def test_cost_relative_to_srs(grid):
    cost = comparison.cost_frame(grid)
    assert cost.loc["DAM", "parameters"] == 4000
    assert cost.loc["DAM", "parameters / SRS"] == pytest.approx(2.0)
    assert cost.loc["MRFN", "time / SRS"] == pytest.approx((8 / 200) / (8 / 100))
    assert cost.loc["SRS", "time / SRS"] == pytest.approx(1.0)
    assert cost.loc["random", "s per step"] is None
    html = comparison.to_html(cost, digits=2)
    assert "4,000" in html and "2.00" in html


def test_ordering_checks_follow_the_papers_pairs(grid):
    checks = {c["claim"]: c for c in comparison.ordering_checks(grid, "R10@1")}
    assert list(checks) == ["SRS > MRFN", "MRFN > DAM", "DAM > SMN", "SRS > SRS w/o pretrain",
                            "SRS > SRS w/o Classify", "SRS > SRS w/o DIN", "SRS > SRS w/o FR"]
    assert (checks["SRS > MRFN"]["verdict"], checks["SRS > MRFN"]["marker"]) == ("holds", "▲")
    assert checks["SRS > MRFN"]["paper"] == (0.590, 0.557)
    assert checks["MRFN > DAM"]["verdict"] == "tied" and checks["MRFN > DAM"]["marker"] == ""
    assert checks["DAM > SMN"]["verdict"] == "not run" and checks["DAM > SMN"]["ours"] is None
    assert checks["SRS > SRS w/o DIN"]["verdict"] == "holds"
    assert checks["SRS > SRS w/o pretrain"]["verdict"] == "not run"
    # A grid that leaves an entry out by design says so, and why, instead of "not run".
    checks = {c["claim"]: c for c in comparison.ordering_checks(grid, "R10@1", profile="cpu")}
    left_out = checks["SRS > SRS w/o pretrain"]
    assert left_out["verdict"] == "left out" and "not pretrained" in left_out["why"]
    assert checks["DAM > SMN"]["verdict"] == "not run" and "why" not in checks["DAM > SMN"]


def test_interval_and_chance(tmp_path, labels):
    write_entry(tmp_path, "ci", "srs", _scores("random", labels), labels % 5, candidates=5)
    results = comparison.load_results("ci", tmp_path)
    mean, half = comparison.interval(results["srs"], "R10@1")
    assert mean == results["srs"].metrics["test"]["R10@1"]
    assert half == pytest.approx(1.96 * np.sqrt(mean * (1 - mean) / CONTEXTS))
    assert comparison.chance_at_1(results) == pytest.approx(1 / 5)
    assert comparison.corpus_of(results) == "embedded test (seed 0)"
    assert comparison.load_profiles(["paper", "ci"], tmp_path).keys() == {"ci"}


# -- running a grid ------------------------------------------------------------------------
def test_run_grid_skips_done_entries_and_goes_on_after_a_failure(tmp_path, monkeypatch, capsys, labels):
    write_entry(tmp_path, "ci", "synergistic", _scores("random", labels), labels)
    ran = []

    def fake_run_entry(entry, parameters, out, *, progress=True):
        ran.append(entry.name)
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps({"wall_seconds": 2.0}))
        if entry.name == "psac":
            return "failed", "ValueError: psac fell over"
        (out / "metrics.json").write_text(json.dumps({"test": {"MAP": 0.5}}))
        return "ok", ""

    monkeypatch.setattr(comparison, "run_entry", fake_run_entry)
    status = comparison.run_grid("ci", {"base_path": "x", "profile": "ci"}, results=tmp_path,
                                 names=["synergistic", "psac", "smn"])
    assert status == 1
    assert ran == ["psac", "smn"]
    out, err = capsys.readouterr()
    assert "synergistic: done before, skipped" in out
    assert "psac: FAILED after 2 s: ValueError: psac fell over" in out
    assert "smn: done in 2 s, test MAP 0.500" in out
    assert "1 of 3 entries failed" in err and "psac: ValueError" in err
    assert comparison.run_grid("ci", {}, results=tmp_path, names=["smn"]) == 0  # done: skipped
    assert ran == ["psac", "smn"]
    comparison.run_grid("ci", {}, results=tmp_path, names=["smn"], force=True)
    assert ran == ["psac", "smn", "smn"]


def test_random_entry_end_to_end(make_corpus, tmp_path):
    corpus = make_corpus(extra_samples=30)
    parameters = {"base_path": str(corpus), "profile": "ci"}
    results = tmp_path / "results"
    assert comparison.run_grid("ci", parameters, results=results, names=["random"]) == 0
    folder = results / "ci" / "random"
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "run.json", "test_scores.npz"]
    metrics = json.loads((folder / "metrics.json").read_text())
    run = json.loads((folder / "run.json").read_text())
    saved = np.load(folder / "test_scores.npz")
    assert (run["status"], run["entry"], run["parameters"]["seed"]) == ("ok", "random", comparison.GRID_SEED)
    assert run["corpus"] == "StickerChat"  # a corpus without synth_info.json
    assert (metrics["model"], metrics["steps"], metrics["parameters"]) == ("random", 0, 0)
    n = metrics["test_contexts"]
    assert n == 33 and saved["scores"].shape == (n, 10) and saved["lines"].shape == (n,)
    assert metrics["test"] == pytest.approx(ranking_metrics(saved["scores"], saved["labels"]))
    # Sets with fewer than 10 stickers give fewer real candidates; the positive is always one.
    assert saved["mask"][np.arange(n), saved["labels"]].all()
    assert (saved["mask"].sum(axis=1) < 10).any()
    assert (saved["scores"][~saved["mask"]] == MASKED_SCORE).all()
    first = saved["scores"].copy()
    assert comparison.run_grid("ci", parameters, results=results, names=["random"], force=True) == 0
    np.testing.assert_array_equal(np.load(folder / "test_scores.npz")["scores"], first)  # seeded
    loaded = comparison.load_results("ci", results)
    assert list(loaded) == ["random"] and loaded["random"].seconds_per_step is None


@pytest.mark.parametrize("profile,entry,expected", [
    ("cpu", "srs_features", {"epochs": 1, "sticker_code": "features"}),
    ("cpu", "srs_wo_din", {"epochs": 1, "ablation": ["din"]}),
    ("ci", "srs", {"ablation": []}),
])
def test_entries_run_the_chapter_with_the_grid_budget_and_their_parameters(
        tmp_path, monkeypatch, profile, entry, expected):
    from srs_lib import experiments

    seen = {}

    def fake_execute_chapter(chapter, parameters, output, **kwargs):
        seen.update(parameters)
        return experiments.ChapterRun(chapter, "failed", error="not run in this test")

    monkeypatch.setattr(experiments, "execute_chapter", fake_execute_chapter)
    status, _ = comparison.run_entry(comparison.ENTRIES[entry],
                                     {"base_path": str(tmp_path), "profile": profile},
                                     tmp_path / entry, progress=False)
    assert status == "failed"
    assert {k: seen.get(k) for k in expected} == expected
    assert "epochs" in seen if profile == "cpu" else "epochs" not in seen
    assert seen["seed"] == comparison.GRID_SEED and seen["exp_name"] == entry


def test_entries_are_split_into_streams_of_about_equal_cost():
    entries = [comparison.ENTRIES[n] for n in ("srs", "dam", "smn", "mrfn", "psac", "random")]
    costs = {"dam": 100.0, "mrfn": 50.0, "srs": 10.0, "smn": 8.0, "psac": 10.0}  # random: unknown
    streams = comparison.split_entries(entries, 2, costs)
    names = [[e.name for e in stream] for stream in streams]
    # random costs the mean of the known costs (35.6), so it comes right after mrfn.
    assert names == [["dam", "smn"], ["mrfn", "random", "srs", "psac"]]
    assert comparison.split_entries(entries[:1], 4, costs) == [[comparison.ENTRIES["srs"]]]
    assert comparison.split_entries([], 2, costs) == []


def test_parallel_grid_runs_disjoint_streams_with_their_threads(tmp_path, monkeypatch, labels):
    write_entry(tmp_path, "cpu", "srs", _scores("good", labels), labels)  # done: not re-run
    (tmp_path / "cpu" / "srs" / "run.json").write_text(json.dumps({"wall_seconds": 5.0}))
    launched = []

    class FakeProcess:
        def __init__(self, command, env):
            self.command = command
            launched.append((command, env["OMP_NUM_THREADS"]))

        def wait(self):
            return 1 if "dam" in self.command else 0

    import subprocess

    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(comparison.os, "cpu_count", lambda: 4)
    code = comparison.run_grid_in_parallel("cpu", 2, results=tmp_path,
                                           names=["srs", "smn", "dam", "mrfn"])
    assert len(launched) == 2 and {threads for _, threads in launched} == {"2"}
    streams = [command[command.index("--entries") + 1:] for command, _ in launched]
    assert sorted(sum(streams, [])) == ["dam", "mrfn", "smn"]
    assert all(command[command.index("--results_dir") + 1] == str(tmp_path)
               for command, _ in launched)
    assert "--force" not in launched[0][0] and "--base_path" not in launched[0][0]
    assert code == 1  # the stream with dam failed
    launched.clear()
    assert comparison.run_grid_in_parallel("cpu", 2, results=tmp_path, names=["srs"]) == 0
    assert launched == []  # nothing left to run
