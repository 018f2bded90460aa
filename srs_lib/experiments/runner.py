"""Chapters as parameterised experiments: jupytext sources executed with papermill.

The chapters of the book are jupytext percent scripts, ``book/NN_topic.py``. This module
converts a script to a notebook one way (never the reverse: executed notebooks are never
synced back into the sources), injects the parameters of a named *profile* with papermill,
executes it, writes the executed notebook where it is needed (:func:`run_chapters`), and
builds the HTML book (:func:`stage_book`, :func:`build_html`). The command line around it
is :mod:`srs_lib.experiments.command`.

A chapter that fails is reported with its name and the cell that failed; the others still
run. Re-running skips a chapter whose source, parameters, library code and corpus are
unchanged since its last successful run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from srs_lib.experiments.report import RESULTS_SUFFIX
from srs_lib.provenance import ROOT
from srs_lib.training.config import DEFAULT_CORPUS, PROFILES

BOOK = ROOT / "book"
BUILD = ROOT / "_build"

@dataclass
class ChapterRun:
    """The outcome of executing one chapter."""

    chapter: str
    status: str  # "ok", "skipped" or "failed"
    seconds: float = 0.0
    error: str = ""
    output: Path | None = None
    parameters: dict = field(default_factory=dict)


def chapters_from_toc(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """Chapter names (``NN_topic``) in table-of-contents order."""
    import yaml

    names: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                value = node.get(key)
                if isinstance(value, str):
                    name = Path(value).name
                    if (BOOK / f"{name}.py").exists():
                        names.append(name)
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(toc.read_text()))
    return names


def profile_parameters(profile: str, base_path: str | None = None) -> dict:
    """The parameters a profile injects into every chapter: its name and the corpus
    (``base_path``: the profile's embedded corpus under data/, relative to book/ where
    papermill runs the chapters, unless the caller names one)."""
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    params = {"profile": profile}
    if base_path:
        params["base_path"] = str(Path(base_path).resolve())
    elif DEFAULT_CORPUS[profile] is not None:
        params["base_path"] = f"../data/{DEFAULT_CORPUS[profile][0]}"
    else:
        raise SystemExit(f"profile {profile!r} runs on the real corpus: give --base_path DIR")
    return params


def ensure_corpus(profile: str) -> Path | None:
    """Generate the profile's default corpus under data/ when it is missing, or when it was
    written by another version of the generator (its ``synth_info.json`` says which)."""
    from srs_lib.synth.writer import SYNTH_VERSION

    spec = DEFAULT_CORPUS[profile]
    if spec is None:
        return None
    preset, seed = spec
    out = ROOT / "data" / preset
    info = out / "synth_info.json"
    why = None
    if not (out / "release_train.json").exists():
        why = "missing"
    elif not info.exists() or json.loads(info.read_text()).get("synth_version") != SYNTH_VERSION:
        why = f"written by another version of the generator (now {SYNTH_VERSION})"
    if why:
        print(f"[corpus] data/{preset} is {why}: generating the {preset!r} corpus (seed {seed})",
              flush=True)
        subprocess.run([sys.executable, "-m", "srs_lib", "synth", "--out", str(out),
                        "--preset", preset, "--seed", str(seed), "--overwrite"], check=True)
    return out


def _fingerprint_files(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _corpus_fingerprint(base_path: Path) -> str:
    """Names, sizes and modification times of a corpus's top-level files."""
    digest = hashlib.sha256()
    for name in ("release_train.json", "release_val.json", "release_test.json", "vocab",
                 "emoji_vocab", "synth_info.json", "npy_stickers"):
        path = base_path / name
        if path.exists():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def chapter_stamp(chapter: str, parameters: dict) -> str:
    """What a chapter's result depends on: its source, parameters, srs_lib and the corpus."""
    base = Path(parameters.get("base_path", ""))
    base = base if base.is_absolute() else (BOOK / base).resolve()
    parts = {
        "source": _fingerprint_files([BOOK / f"{chapter}.py"]),
        "library": _fingerprint_files((ROOT / "srs_lib").rglob("*.py")),
        "parameters": parameters,
        "corpus": _corpus_fingerprint(base),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def to_notebook(chapter: str):
    """Read ``book/<chapter>.py`` (jupytext percent) as an nbformat notebook, one way."""
    import jupytext

    notebook = jupytext.read(BOOK / f"{chapter}.py")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def _declared_parameters(notebook_path: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(notebook_path)))


def _relative_papermill_paths(notebook_path: Path) -> None:
    """Papermill records where it read and wrote a notebook; keep those paths relative to
    the repository, so that an executed notebook carries no path of the machine."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    recorded = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if recorded.get(key) and Path(recorded[key]).is_absolute():
            recorded[key] = os.path.relpath(recorded[key], ROOT)
    nbformat.write(notebook, notebook_path)


def execute_chapter(chapter: str, parameters: dict, output: Path, *, stamp_dir: Path,
                    force: bool = False, progress: bool = True) -> ChapterRun:
    """Execute one chapter with papermill into ``output``; skip it when nothing changed.

    With ``progress``, what the chapter's cells print is streamed to this process's
    standard output and error while it runs."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    stamp_dir.mkdir(parents=True, exist_ok=True)
    stamp_file = stamp_dir / f"{chapter}.stamp"
    stamp = chapter_stamp(chapter, parameters)
    if not force and output.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return ChapterRun(chapter, "skipped", output=output, parameters=parameters)

    source = stamp_dir / f"{chapter}.source.ipynb"
    nbformat.write(to_notebook(chapter), source)
    declared = _declared_parameters(source)
    injected = {k: v for k, v in parameters.items() if k in declared}
    env_results = os.environ.get("SRS_RESULTS_DIR")
    os.environ["SRS_RESULTS_DIR"] = str(output.parent)
    start = time.monotonic()
    try:
        papermill.execute_notebook(str(source), str(output), parameters=injected,
                                   kernel_name="python3", cwd=str(BOOK),
                                   progress_bar=False,
                                   # The chapter's own output (a training log, say) goes to
                                   # the terminal as it is written: a long chapter shows how
                                   # far it is.
                                   stdout_file=sys.stdout if progress else None,
                                   stderr_file=sys.stderr if progress else None)
    except PapermillExecutionError as err:
        first_line = (err.source or "").strip().splitlines()[:1]
        message = (f"cell {err.cell_index} of the executed notebook (execution count "
                   f"{err.exec_count}, starting {first_line[0][:60]!r}): {err.ename}: {err.evalue}"
                   if first_line else f"cell {err.cell_index}: {err.ename}: {err.evalue}")
        stamp_file.unlink(missing_ok=True)
        return ChapterRun(chapter, "failed", time.monotonic() - start, message, output, injected)
    finally:
        if env_results is None:
            os.environ.pop("SRS_RESULTS_DIR", None)
        else:
            os.environ["SRS_RESULTS_DIR"] = env_results
        source.unlink(missing_ok=True)
    _relative_papermill_paths(output)
    stamp_file.write_text(stamp)
    return ChapterRun(chapter, "ok", time.monotonic() - start, output=output, parameters=injected)


def run_chapters(chapters: list[str], parameters: dict, out_dir: Path, *, stamp_dir: Path,
                 force: bool = False) -> list[ChapterRun]:
    """Execute chapters in order, reporting progress; failures do not stop the others."""
    runs = []
    for i, chapter in enumerate(chapters, 1):
        print(f"[{i}/{len(chapters)}] {chapter} ...", flush=True)
        run = execute_chapter(chapter, parameters, out_dir / f"{chapter}.ipynb",
                              stamp_dir=stamp_dir, force=force)
        detail = {"ok": f"done in {run.seconds:.0f} s", "skipped": "unchanged, skipped",
                  "failed": f"FAILED in {run.error}"}[run.status]
        print(f"[{i}/{len(chapters)}] {chapter}: {detail}", flush=True)
        runs.append(run)
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        print(f"\n{len(failed)} of {len(runs)} chapters failed:", file=sys.stderr)
        for run in failed:
            print(f"  {run.chapter}: {run.error}", file=sys.stderr)
    return runs


def stage_book(executed: Path, stage: Path) -> None:
    """Copy the book's sources into ``stage`` with the executed notebooks in place."""
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, stage / name)
    for path in BOOK.iterdir():
        # Sources and the committed ci notebooks and results stay behind.
        if path.suffix in (".py", ".ipynb") or path.name.endswith(RESULTS_SUFFIX):
            continue
        if path.is_file():
            shutil.copy2(path, stage / "book" / path.name)
        elif path.is_dir() and not path.name.startswith((".", "_")):
            shutil.copytree(path, stage / "book" / path.name)
    for notebook in executed.glob("*.ipynb"):
        shutil.copy2(notebook, stage / "book" / notebook.name)
    # The chapters show the library's code with `literalinclude` (paths from the book's root).
    shutil.copytree(ROOT / "srs_lib", stage / "srs_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build_html(source: Path) -> int:
    """``jupyter-book build -W -n --keep-going`` into ``_build/html``."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    html = BUILD / "html"
    if html.exists():
        shutil.rmtree(html)
    command = [str(jupyter_book), "build", "-W", "-n", "--keep-going", "--all", str(source),
               "--path-output", str(ROOT)]
    print("[book] " + " ".join(command[1:]), flush=True)
    return subprocess.run(command).returncode
