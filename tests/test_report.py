"""Chapter results are recorded with provenance only under the runner, and read back."""
from __future__ import annotations

import json


from srs_lib import paper
from srs_lib.experiments import report


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
    # A grid's results carry the corpus its runs recorded, whatever the folder holds now.
    report.record("08_x", {"rows": rows}, base_path=tmp_path / "gone", profile="cpu",
                  corpus="embedded small (seed 0)")
    assert report.collect(tmp_path)["08_x"]["corpus"] == "embedded small (seed 0)"


def test_paper_rows_follow_the_metric_order():
    assert paper.row(paper.TABLE3, "SRS") == {"MAP": 0.709, "R10@1": 0.590, "R10@2": 0.703,
                                              "R10@5": 0.872}
    assert paper.TABLE4["SRS"] == paper.TABLE3["SRS"]


