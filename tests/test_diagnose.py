"""The diagnose command: one change per run, recorded, resumable."""
from __future__ import annotations

import json

import pytest

from srs_lib import diagnose
from srs_lib.cli import main


def test_each_variant_is_a_valid_configuration_change():
    from srs_lib.training.config import profile_config

    base = profile_config("cpu")
    for what, changes in diagnose.VARIANTS.values():
        assert what and (profile_config("cpu", **changes) != base) == bool(changes)


def test_diagnosis_is_recorded_and_resumes(make_corpus, tmp_path, monkeypatch, capsys):
    corpus = make_corpus(extra_samples=30)
    out = tmp_path / "diagnostics" / "ci.json"
    argv = ["diagnose", "--base_path", str(corpus), "--profile", "ci", "--runs", "shared_adam",
            "--joint_steps", "4", "--eval_limit", "16", "--json", str(out)]
    assert main(argv) == 0
    record = json.loads(out.read_text())
    assert record["profile"] == "ci" and record["corpus"] == "StickerChat"
    assert list(record["runs"]) == ["shared_adam"]
    shared = record["runs"]["shared_adam"]
    assert shared["config"] == {"shared_adam": True} and shared["joint_steps"] == 4
    assert shared["steps"] == 6 + 4  # the ci profile's emoji stage, then the joint steps
    assert shared["validation"]["contexts"] == 16 and 0 <= shared["validation"]["R10@1"] <= 1
    frame = diagnose.diagnosis_frame(record)
    assert list(frame.index) == ["shared_adam"]
    assert "shared_adam" in capsys.readouterr().out

    def must_not_run(*args, **kwargs):
        raise AssertionError("a recorded run was trained again")

    monkeypatch.setattr(diagnose, "run_variant", must_not_run)
    assert main(argv) == 0  # recorded: skipped
    with pytest.raises(SystemExit, match="ci profile, not cpu"):
        diagnose.run_diagnosis(corpus, ["defaults"], profile="cpu", json_out=out)
    with pytest.raises(SystemExit, match="unknown runs: nope"):
        diagnose.run_diagnosis(corpus, ["nope"], profile="ci")
