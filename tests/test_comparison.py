"""The comparison grid of Tables 3 and 4 read back: entries, labels, significance markers,
tables, intervals and ordering checks (on grids written by the tests, nothing trained)."""
from __future__ import annotations


import json

import numpy as np
import pytest

from srs_lib import paper
from srs_lib.analysis import comparison
from grid_fixtures import CANDIDATES, CONTEXTS, scores_of, write_entry

@pytest.fixture
def grid(tmp_path, labels):
    """SRS ranks every positive first, MRFN last, DAM exactly as MRFN, random at random."""
    write_entry(tmp_path, "ci", "srs", scores_of("good", labels), labels, parameters=2000, rates=[80, 100, 120])
    write_entry(tmp_path, "ci", "mrfn", scores_of("bad", labels), labels, parameters=1000, rates=[200])
    write_entry(tmp_path, "ci", "dam", scores_of("bad", labels), labels, parameters=4000, rates=[50])
    write_entry(tmp_path, "ci", "srs_wo_din", scores_of("random", labels), labels)
    write_entry(tmp_path, "ci", "random", scores_of("random", labels, seed=5), labels, parameters=0)
    return comparison.load_results("ci", tmp_path)


# -- the grid ------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["ci", "cpu"])
def test_every_profile_runs_the_pretrain_ablation(profile):
    """The cpu and ci backbones are pretrained (OpenMoji), so "w/o pretrain" is a run of its
    own: the same backbone from random weights, as in the paper."""
    entries, left_out = comparison.grid_entries(profile)
    assert "srs_wo_pretrain" in [e.name for e in entries] and "srs_wo_pretrain" not in left_out


def test_every_profile_runs_every_entry():
    """Every profile's SRS is pretrained and reads the paper's sticker features: no entry
    would repeat the SRS run, so none is left out."""
    for profile in ("paper", "cpu", "ci"):
        entries, left_out = comparison.grid_entries(profile)
        assert left_out == {} and entries == list(comparison.GRID)


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
    assert comparison.label("srs", (), {"sticker_code": "emoji"}) == "srs+sticker_code=emoji"
    assert comparison.label("srs", protocol="first9") == "SRS, first9"
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
    write_entry(tmp_path, "ci", "mrfn", scores_of("bad", labels), labels)
    write_entry(tmp_path, "ci", "smn", scores_of("good", labels), labels, lines=np.arange(CONTEXTS) + 1)
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


def test_ordering_checks_follow_the_papers_pairs(grid, monkeypatch):
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
    monkeypatch.setattr(comparison, "grid_entries",
                        lambda profile: ([], {"srs_wo_pretrain": "its backbone is not pretrained"}))
    checks = {c["claim"]: c for c in comparison.ordering_checks(grid, "R10@1", profile="cpu")}
    left_out = checks["SRS > SRS w/o pretrain"]
    assert left_out["verdict"] == "left out" and "not pretrained" in left_out["why"]
    assert checks["DAM > SMN"]["verdict"] == "not run" and "why" not in checks["DAM > SMN"]


def test_interval_and_chance(tmp_path, labels):
    write_entry(tmp_path, "ci", "srs", scores_of("random", labels), labels % 5, candidates=5)
    results = comparison.load_results("ci", tmp_path)
    mean, half = comparison.interval(results["srs"], "R10@1")
    assert mean == results["srs"].metrics["test"]["R10@1"]
    assert half == pytest.approx(1.96 * np.sqrt(mean * (1 - mean) / CONTEXTS))
    assert comparison.chance_at_1(results) == pytest.approx(1 / 5)
    assert comparison.corpus_of(results) == "embedded test (seed 0)"
    assert comparison.load_profiles(["paper", "ci"], tmp_path).keys() == {"ci"}


def test_above_chance_and_the_ordering_summary(grid):
    assert comparison.above_chance(grid) == ["srs"]  # ranks every positive first
    checks = comparison.ordering_checks(grid, "R10@1")
    summary = comparison.ordering_summary(checks)
    srs_mrfn = next(c for c in checks if c["claim"] == "SRS > MRFN")
    assert srs_mrfn["verdict"] == "holds" and srs_mrfn["marker"] == "▲"
    assert summary["ran"] == sum(c["ours"] is not None for c in checks)
    assert summary["held"] >= summary["significant"] >= 1
    line = comparison.check_line(srs_mrfn)
    assert line.startswith("SRS > MRFN") and "holds (significantly at α = 0.01)" in line
    assert comparison.check_line({"claim": "A > B", "ours": None, "verdict": "not run"}).endswith("not run")


def test_the_corpus_a_profile_runs_on_today(tmp_path, monkeypatch):
    """The preset, seed and generator version a run would use, generated yet or not (so
    chapter 08 says the same on every machine)."""
    from srs_lib.synth.writer import SYNTH_VERSION

    monkeypatch.setattr(comparison, "ROOT", tmp_path)  # nothing generated under data/
    assert comparison.profile_corpus("ci") == f"embedded tiny (seed 0, generator {SYNTH_VERSION})"
    assert comparison.profile_corpus("cpu") == f"embedded small (seed 0, generator {SYNTH_VERSION})"
    assert comparison.profile_corpus("paper") is None


def test_a_grid_on_an_earlier_corpus_is_noted(grid):
    assert comparison.stale_corpus_note("ci", grid).startswith(
        "the ci profile's corpus is now embedded tiny")
    assert comparison.stale_corpus_note("paper", grid) is None
    lines = comparison.grid_overview("ci", grid)
    assert lines[0].startswith(f"ci: {len(grid)} entries on embedded test (seed 0), {CONTEXTS} test contexts")
    assert any(line.startswith("  not run yet in this grid: Synergistic, PSAC, SMN") for line in lines)
    assert lines[-1].startswith("  NOTE: the ci profile's corpus is now")


def test_a_grid_without_results_says_how_to_run_it():
    for results in (None, {}):
        assert comparison.grid_overview("cpu", results) == [
            "cpu: no results (run `python -m srs_lib experiments run comparison --profile cpu`)"]
