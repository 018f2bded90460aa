"""The papermill chapter runner: one-way conversion, parameters, skipping, failure reports."""
from __future__ import annotations

import json

import nbformat
import pytest

from srs_lib.experiments import runner as experiments

GOOD = '''# %% [markdown]
# # A chapter

# %% tags=["parameters"]
base_path = "../data/small"
profile = "cpu"

# %%
import json, os
print(f"running {profile} on {base_path}")
with open(os.path.join(os.environ["SRS_RESULTS_DIR"], "good.results.json"), "w") as f:
    json.dump({"profile": profile}, f)
'''

BAD = '''# %% [markdown]
# # A failing chapter

# %% tags=["parameters"]
base_path = "../data/small"

# %%
x = 1

# %%
raise ValueError("the corpus is upside down")
'''


@pytest.fixture
def book(tmp_path, monkeypatch):
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "good.py").write_text(GOOD)
    (folder / "bad.py").write_text(BAD)
    monkeypatch.setattr(experiments, "BOOK", folder)
    return folder


def test_runs_with_parameters_without_touching_the_source(book, tmp_path):
    out = tmp_path / "out"
    params = {"base_path": "../data/tiny", "profile": "ci", "unused": 3}
    run = experiments.execute_chapter("good", params, out / "good.ipynb", stamp_dir=out,
                                      progress=False)
    assert run.status == "ok", run.error
    assert run.parameters == {"base_path": "../data/tiny", "profile": "ci"}
    notebook = nbformat.read(out / "good.ipynb", as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert 'profile = "ci"' in injected[0].source
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "running ci on ../data/tiny" in printed
    assert json.loads((out / "good.results.json").read_text()) == {"profile": "ci"}
    assert (book / "good.py").read_text() == GOOD
    assert sorted(p.name for p in book.iterdir()) == ["bad.py", "good.py"]


def test_skips_unchanged_and_reruns_changed(book, tmp_path):
    out = tmp_path / "out"
    params = {"base_path": "../data/tiny", "profile": "ci"}
    first = experiments.execute_chapter("good", params, out / "good.ipynb", stamp_dir=out,
                                        progress=False)
    again = experiments.execute_chapter("good", params, out / "good.ipynb", stamp_dir=out,
                                        progress=False)
    assert (first.status, again.status) == ("ok", "skipped")
    changed = experiments.execute_chapter("good", {**params, "profile": "cpu"}, out / "good.ipynb",
                                          stamp_dir=out, progress=False)
    assert changed.status == "ok"
    (book / "good.py").write_text(GOOD + "\nprint('edited')\n")
    edited = experiments.execute_chapter("good", {**params, "profile": "cpu"}, out / "good.ipynb",
                                         stamp_dir=out, progress=False)
    assert edited.status == "ok"


def test_failure_names_chapter_and_cell_and_others_still_run(book, tmp_path, capsys):
    out = tmp_path / "out"
    runs = experiments.run_chapters(["bad", "good"], {"base_path": "x", "profile": "ci"}, out,
                                    stamp_dir=out)
    assert [r.status for r in runs] == ["failed", "ok"]
    assert "ValueError: the corpus is upside down" in runs[0].error
    # Cell 4 of the executed notebook: papermill inserts its parameters cell after cell 1.
    assert "cell 4 of the executed notebook" in runs[0].error
    assert "starting 'raise ValueError" in runs[0].error
    err = capsys.readouterr().err
    assert "1 of 2 chapters failed" in err and "bad: cell 4" in err
    # A failed chapter is never skipped on the next run.
    again = experiments.execute_chapter("bad", {"base_path": "x"}, out / "bad.ipynb",
                                        stamp_dir=out, progress=False)
    assert again.status == "failed"


def test_paper_profile_needs_a_corpus():
    with pytest.raises(SystemExit, match="--base_path"):
        experiments.profile_parameters("paper")
    assert experiments.profile_parameters("paper", "/data/sc")["base_path"] == "/data/sc"


def test_stage_holds_the_executed_notebooks_not_the_committed_ones(book, tmp_path, monkeypatch):
    (book / "intro.md").write_text("# Intro\n")
    (book / "good.ipynb").write_text("committed ci notebook")
    (book / "good.results.json").write_text("{}")
    executed = tmp_path / "executed"
    executed.mkdir()
    (executed / "good.ipynb").write_text("executed cpu notebook")
    root = tmp_path / "root"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        (root / name).write_text("")
    (root / "srs_lib" / "layers").mkdir(parents=True)
    (root / "srs_lib" / "layers" / "gru.py").write_text("class MaskedGRU: ...\n")
    (root / "srs_lib" / "__pycache__").mkdir()
    monkeypatch.setattr(experiments, "ROOT", root)
    stage = tmp_path / "stage"
    experiments.stage_book(executed, stage)
    assert sorted(p.name for p in (stage / "book").iterdir()) == ["good.ipynb", "intro.md"]
    assert (stage / "book" / "good.ipynb").read_text() == "executed cpu notebook"
    assert (stage / "_toc.yml").exists()
    # the library's sources travel along, for the chapters' literalinclude directives
    assert (stage / "srs_lib" / "layers" / "gru.py").exists()
    assert not (stage / "srs_lib" / "__pycache__").exists()


def test_a_default_corpus_of_another_generator_version_is_regenerated(tmp_path, monkeypatch):
    from srs_lib.synth.writer import SYNTH_VERSION

    monkeypatch.setattr(experiments, "ROOT", tmp_path)
    calls = []
    monkeypatch.setattr(experiments.subprocess, "run", lambda command, check: calls.append(command))
    folder = tmp_path / "data" / "tiny"
    assert experiments.ensure_corpus("ci") == folder and "--overwrite" in calls[-1]  # missing
    folder.mkdir(parents=True)
    (folder / "release_train.json").write_text("")
    (folder / "synth_info.json").write_text(json.dumps({"synth_version": SYNTH_VERSION}))
    experiments.ensure_corpus("ci")
    assert len(calls) == 1  # the current version: kept
    (folder / "synth_info.json").write_text(json.dumps({"synth_version": "0.9"}))
    experiments.ensure_corpus("ci")
    assert len(calls) == 2 and calls[-1][calls[-1].index("--preset") + 1] == "tiny"
    assert experiments.ensure_corpus("paper") is None
