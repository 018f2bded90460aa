"""Provenance of results: the corpus's name, the commit (marked when sources differ), the machine."""
from __future__ import annotations

import json
import subprocess

from srs_lib import provenance


def test_real_corpus_is_named_as_such(tmp_path):
    assert provenance.corpus_description(tmp_path) == "StickerChat"


def test_a_generated_corpus_is_named_with_its_preset_seed_and_generator(tmp_path):
    (tmp_path / "synth_info.json").write_text(json.dumps(
        {"preset": "small", "seed": 0, "synth_version": "2.0"}))
    assert provenance.corpus_description(tmp_path) == "embedded small (seed 0, generator 2.0)"
    (tmp_path / "synth_info.json").write_text(json.dumps({"preset": "small", "seed": 0}))
    assert provenance.corpus_description(tmp_path) == "embedded small (seed 0)"
    # the second generator's corpus of the same preset and seed is another corpus
    (tmp_path / "synth_info.json").write_text(json.dumps(
        {"preset": "small", "seed": 0, "synth_version": "2.0", "style": "shapes"}))
    assert provenance.corpus_description(tmp_path) == (
        "embedded small, shapes style (seed 0, generator 2.0)")


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
    assert provenance.current_commit(tmp_path) == head
    (tmp_path / "results.json").write_text("{\"a\": 1}\n")  # an output, not a source
    assert provenance.current_commit(tmp_path) == head
    (tmp_path / "srs_lib" / "a.py").write_text("x = 2\n")
    assert provenance.current_commit(tmp_path) == f"{head}+changes"


def test_machine_is_described_with_the_library_versions():
    import keras
    import torch

    machine = provenance.machine_description()
    assert machine["torch"] == torch.__version__ and machine["keras"] == keras.__version__
    assert machine["cpu_count"] >= 1 and machine["python"].count(".") == 2
