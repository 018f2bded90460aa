"""Key results of each executed chapter, recorded for the reproduction report.

A chapter ends with ``record("01_dataset", {...}, base_path=..., profile=...)``. When the
chapter runs under the experiments runner, ``SRS_RESULTS_DIR`` names the folder of the
executed notebook and the results land beside it as ``<chapter>.results.json``, with their
provenance: the corpus (the generator's preset and seed, or the real StickerChat), the
profile, the seed, the date and the code's commit. Run by hand (or by nbval), ``record``
writes nothing. :func:`collect` reads them back.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from srs_lib.files import write_json_atomically
from srs_lib.provenance import corpus_description, current_commit

RESULTS_SUFFIX = ".results.json"


def record(chapter: str, results: dict, *, base_path, profile: str, seed: int | None = None,
           corpus: str | None = None) -> None:
    """Record a chapter's key results (JSON-ready) with their provenance.

    ``corpus`` names the corpus the results come from where the chapter knows it better
    than the folder at ``base_path`` does today (a grid's runs record the corpus they ran
    on, which may since have been regenerated or not be on this machine); by default the
    folder's :func:`srs_lib.provenance.corpus_description`.

    Returns nothing, so that the recording cell shows no output (its commit and date
    would differ between runs of the same notebook)."""
    entry = {
        "chapter": chapter,
        "results": results,
        "corpus": corpus or corpus_description(base_path),
        "profile": profile,
        "seed": seed,
        "date": time.strftime("%Y-%m-%d"),
        "commit": current_commit(),
    }
    folder = os.environ.get("SRS_RESULTS_DIR")
    if folder:
        write_json_atomically(Path(folder) / f"{chapter}{RESULTS_SUFFIX}", entry)


def collect(folder) -> dict[str, dict]:
    """Every recorded chapter in ``folder``, by chapter name."""
    return {path.name[: -len(RESULTS_SUFFIX)]: json.loads(path.read_text())
            for path in sorted(Path(folder).glob(f"*{RESULTS_SUFFIX}"))}
