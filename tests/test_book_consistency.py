"""Guards that keep the book's sources, notebooks and table of contents in step."""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from srs_lib.experiments import runner as experiments

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = sorted(p.stem for p in BOOK.glob("[0-9][0-9]_*.py"))
REGENERATE = "regenerate the notebooks from the .py sources with `make notebooks`"


def _cells(notebook):
    """(type, source) of every code and markdown cell, papermill's injected cell aside."""
    return [
        (cell.cell_type, cell.source.strip())
        for cell in notebook.cells
        if cell.cell_type in ("code", "markdown")
        and "injected-parameters" not in cell.metadata.get("tags", [])
    ]


def _toc_files() -> list[str]:
    files = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    files.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return files


def test_config_never_executes_notebooks():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"


def test_every_toc_entry_exists():
    for entry in _toc_files():
        candidates = [ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(p.exists() for p in candidates), f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_is_in_toc(chapter):
    assert f"book/{chapter}" in _toc_files(), f"book/{chapter}.py is missing from _toc.yml"


def test_runner_finds_every_chapter_in_toc_order():
    assert sorted(experiments.chapters_from_toc()) == CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_paired_notebook_matches_source(chapter):
    ipynb = BOOK / f"{chapter}.ipynb"
    assert ipynb.exists(), f"book/{chapter}.ipynb is missing: {REGENERATE}"
    source = _cells(jupytext.read(BOOK / f"{chapter}.py"))
    executed = _cells(nbformat.read(ipynb, as_version=4))
    assert len(source) == len(executed), (
        f"book/{chapter}.py has {len(source)} cells, the .ipynb {len(executed)}: {REGENERATE}")
    for i, (a, b) in enumerate(zip(source, executed)):
        assert a == b, f"cell {i} of book/{chapter} differs between .py and .ipynb: {REGENERATE}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_title_and_parameters(chapter):
    notebook = jupytext.read(BOOK / f"{chapter}.py")
    first = next(c for c in notebook.cells if c.cell_type in ("markdown", "code"))
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), (
        f"book/{chapter} must open with a '# Title' markdown cell")
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"book/{chapter} needs exactly one cell tagged 'parameters'"
    assert "base_path" in tagged[0].source, f"book/{chapter}: the parameters cell must set base_path"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_notebook_holds_ci_outputs(chapter):
    notebook = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, f"book/{chapter}.ipynb was not executed by the runner: {REGENERATE}"
    assert "profile = \"ci\"" in injected[0].source, (
        f"book/{chapter}.ipynb must hold the ci profile's outputs: {REGENERATE}")
    errors = [o for c in notebook.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"book/{chapter}.ipynb holds an error output"


def test_chapter_07_labels_its_test_metrics_by_the_run():
    """The committed results of chapter 07 name the model the chapter trained (its default
    parameters: SRS, random candidates), not a variable a later cell happened to reuse."""
    import json

    from srs_lib.analysis import comparison

    results = json.loads((BOOK / "07_training.results.json").read_text())["results"]
    tested = [row["quantity"] for row in results["rows"] if " test " in row["quantity"]]
    assert tested and all(q.startswith(comparison.label("srs") + " test ") for q in tested), tested
