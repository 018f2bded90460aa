"""Chapter results are recorded with provenance only under the runner, and read back."""
from __future__ import annotations

import json
import subprocess

from srs_lib import paper, report


def test_record_writes_only_under_the_runner(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "synth_info.json").write_text(json.dumps({"preset": "tiny", "seed": 3}))
    monkeypatch.delenv("SRS_RESULTS_DIR", raising=False)
    assert report.record("01_x", {"rows": []}, base_path=corpus, profile="ci") is None
    assert report.collect(tmp_path) == {}

    monkeypatch.setenv("SRS_RESULTS_DIR", str(tmp_path))
    rows = [{"quantity": "q", "ours": 0.5, "paper": 0.7}]
    report.record("01_x", {"rows": rows}, base_path=corpus, profile="ci", seed=3)
    collected = report.collect(tmp_path)
    assert list(collected) == ["01_x"]
    entry = collected["01_x"]
    assert entry["results"]["rows"] == rows
    assert entry["corpus"] == "embedded tiny (seed 3)"
    assert (entry["profile"], entry["seed"]) == ("ci", 3)
    assert len(entry["date"]) == 10


def test_real_corpus_is_named_as_such(tmp_path):
    assert report.corpus_description(tmp_path) == "StickerChat"


def test_paper_rows_follow_the_metric_order():
    assert paper.row(paper.TABLE3, "SRS") == {"MAP": 0.709, "R10@1": 0.590, "R10@2": 0.703,
                                              "R10@5": 0.872}
    assert paper.TABLE4["SRS"] == paper.TABLE3["SRS"]


def test_commit_is_marked_when_the_sources_differ(tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    (tmp_path / "srs_lib").mkdir()
    (tmp_path / "srs_lib" / "a.py").write_text("x = 1\n")
    (tmp_path / "results.json").write_text("{}\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert report.current_commit(tmp_path) == head
    (tmp_path / "results.json").write_text("{\"a\": 1}\n")  # an output, not a source
    assert report.current_commit(tmp_path) == head
    (tmp_path / "srs_lib" / "a.py").write_text("x = 2\n")
    assert report.current_commit(tmp_path) == f"{head}+changes"
