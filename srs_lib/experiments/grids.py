"""Running the comparison grid of Tables 3 and 4: every model and ablation through one pipeline.

``python -m srs_lib experiments run comparison --profile {ci,cpu,paper}`` executes the
training chapter (``book/07_training``) with papermill once per grid entry
(:data:`srs_lib.analysis.comparison.GRID`), with the same seed, corpus, candidates and
training budget, into ``results/comparison/<profile>/<entry>/``:

``07_training.ipynb``        the executed chapter (its outputs are the run's log);
``metrics.json``             the trainer's final report (test metrics, configuration,
                             parameter count, skip counts);
``test_scores.npz``          compressed per-context scores, labels, sample lines and masks
                             (for the significance tests);
``history.json``, ``metric.txt``  losses and validation metrics during training;
``run.json``                 the exact chapter parameters, commit (when it started), machine,
                             torch threads, date, wall time.

An entry whose ``metrics.json`` exists is skipped (``--force`` re-runs it); a failed entry
is reported and the others still run. An entry's candidate protocol (``Entry.protocol``,
``random`` unless it says ``first9``) is chapter 07's ``candidate_protocol``: the
candidates it trains and is tested on. The ``random`` entry trains nothing: it scores the
same test candidates with seeded random numbers. :mod:`srs_lib.analysis.comparison` reads
the results back.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from srs_lib.analysis.comparison import GRID, GRID_SEED, RESULTS, Entry, grid_entries
from srs_lib.experiments.runner import BOOK, execute_chapter
from srs_lib.files import write_json_atomically
from srs_lib.provenance import ROOT, corpus_description, current_commit

CHAPTER = "07_training"
#: A grid's common training budget where it is not the profile's own (chapter 07's
#: parameters): the ``cpu`` grid trains every entry for one epoch of ``small`` (1,250
#: steps, 200 of them the emoji stage) so that the grid fits in about two hours on a
#: 2-core CPU; chapter 07 alone trains for the profile's two epochs.
GRID_BUDGET = {"cpu": {"epochs": 1}}
#: Files of a training run kept in the results (checkpoints are not).
KEPT = ("metrics.json", "test_scores.npz", "history.json", "metric.txt", "config.json")


class _RandomScorer:
    """Seeded uniform scores: the random baseline, through the same evaluation code."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, inputs, training=False):
        batch, candidates = inputs["stickers"].shape[:2]
        return {"scores": self.rng.random((batch, candidates)).astype("float32")}


def run_random(base_path, profile: str, out: Path, seed: int = GRID_SEED) -> dict:
    """Score the test candidates of ``profile`` at random; write metrics and scores to ``out``."""
    from srs_lib.analysis.metrics import ranking_metrics
    from srs_lib.layers.masking import MASK_VALUE
    from srs_lib.training.config import profile_config
    from srs_lib.training.pipeline import evaluation_batches
    from srs_lib.training.trainer import score_batches

    config = profile_config(profile, seed=seed)
    _, batches = evaluation_batches(base_path, config, "release_test.json")
    scores, labels, index = score_batches(_RandomScorer(seed), batches)
    np.savez_compressed(out / "test_scores.npz", scores=scores, labels=labels,
                        lines=batches.split.lines[index], mask=scores > MASK_VALUE)
    report = {"model": "random", "test": ranking_metrics(scores, labels),
              "test_contexts": int(len(labels)), "test_path": "release_test.json",
              "steps": 0, "parameters": 0, "config": config.to_dict()}
    write_json_atomically(out / "metrics.json", report)
    return report


def run_entry(entry: Entry, parameters: dict, out: Path, *, progress: bool = True) -> tuple[str, str]:
    """Run one grid entry into ``out``; ``(status, error)`` with status "ok" or "failed"."""
    out.mkdir(parents=True, exist_ok=True)
    base_path = Path(parameters["base_path"])
    base_path = base_path if base_path.is_absolute() else (BOOK / base_path).resolve()
    start, started, commit = time.monotonic(), time.strftime("%Y-%m-%d %H:%M"), current_commit()
    chapter_parameters = {}
    if entry.model is None:
        try:
            run_random(base_path, parameters["profile"], out)
            status, error = "ok", ""
        except Exception as err:  # reported, and the grid goes on
            status, error = "failed", f"{type(err).__name__}: {err}"
    else:
        logs = ROOT / "_build" / "comparison" / parameters["profile"]
        chapter_parameters = {**parameters, "model": entry.model, "ablation": list(entry.ablation),
                              "seed": GRID_SEED, "log_root": os.path.relpath(logs, BOOK),
                              "exp_name": entry.name, "fresh": True,
                              "candidate_protocol": entry.protocol,
                              **GRID_BUDGET.get(parameters["profile"], {}),
                              **dict(entry.parameters)}
        run = execute_chapter(CHAPTER, chapter_parameters, out / f"{CHAPTER}.ipynb",
                              stamp_dir=logs / "stamps" / entry.name, force=True,
                              progress=progress)
        status, error = run.status, run.error
        if status == "ok":
            for name in KEPT:
                if (logs / entry.name / name).exists():
                    shutil.copy2(logs / entry.name / name, out / name)
    write_json_atomically(out / "run.json", {
        "entry": entry.name, "label": entry.label, "model": entry.model,
        "ablation": list(entry.ablation), "protocol": entry.protocol, "status": status, "error": error,
        "parameters": chapter_parameters or {**parameters, "seed": GRID_SEED},
        "corpus": corpus_description(base_path),
        "commit": commit,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "python": platform.python_version(), "date": started,
        "wall_seconds": round(time.monotonic() - start, 1),
    })
    if status != "ok":
        (out / "metrics.json").unlink(missing_ok=True)
    return status, error


def run_grid(profile: str, parameters: dict, *, results: Path = RESULTS, names=None,
             force: bool = False) -> int:
    """Run a profile's grid; 0 when every entry is done, 1 when one failed."""
    entries, left_out = grid_entries(profile, names)
    for name, why in left_out.items():
        print(f"[comparison] {name}: left out ({why})", flush=True)
    failed = []
    for i, entry in enumerate(entries, 1):
        out = results / profile / entry.name
        tag = f"[comparison {i}/{len(entries)}] {entry.name}"
        if (out / "metrics.json").exists() and not force:
            print(f"{tag}: done before, skipped", flush=True)
            continue
        print(f"{tag} ...", flush=True)
        status, error = run_entry(entry, parameters, out)
        seconds = json.loads((out / "run.json").read_text())["wall_seconds"]
        if status == "ok":
            test = json.loads((out / "metrics.json").read_text())["test"]
            print(f"{tag}: done in {seconds:.0f} s, test MAP {test['MAP']:.3f}", flush=True)
        else:
            print(f"{tag}: FAILED after {seconds:.0f} s: {error}", flush=True)
            failed.append((entry.name, error))
    if failed:
        print(f"\n{len(failed)} of {len(entries)} entries failed:", file=sys.stderr)
        for name, error in failed:
            print(f"  {name}: {error}", file=sys.stderr)
    return 1 if failed else 0


def split_entries(entries: list[Entry], jobs: int, costs: dict[str, float]) -> list[list[Entry]]:
    """``entries`` dealt into at most ``jobs`` streams of about equal cost: the costliest
    first, each onto the stream with the least so far (``costs`` by entry name; an entry
    without one costs the mean of the known costs, or 1)."""
    default = float(np.mean(list(costs.values()))) if costs else 1.0
    streams: list[list[Entry]] = [[] for _ in range(max(1, jobs))]
    loads = [0.0] * len(streams)
    for entry in sorted(entries, key=lambda e: -costs.get(e.name, default)):
        i = loads.index(min(loads))
        streams[i].append(entry)
        loads[i] += costs.get(entry.name, default)
    return [stream for stream in streams if stream]


def entry_costs(profile: str, results: Path = RESULTS) -> dict[str, float]:
    """Wall seconds of each entry of a profile's grid that ran before (its ``run.json``)."""
    costs = {}
    for entry in GRID:
        run = results / profile / entry.name / "run.json"
        if run.exists():
            costs[entry.name] = float(json.loads(run.read_text())["wall_seconds"])
    return costs


def run_grid_in_parallel(profile: str, jobs: int, *, results: Path = RESULTS, names=None,
                         force: bool = False, base_path=None) -> int:
    """Run a profile's grid as ``jobs`` runner processes side by side, each on its own
    entries (:func:`split_entries`, with the costs of an earlier run of the grid where
    there is one) and with ``cpu_count // jobs`` torch threads; 0 when every entry is done."""
    import subprocess

    entries, _ = grid_entries(profile, names)
    todo = [e for e in entries if force or not (results / profile / e.name / "metrics.json").exists()]
    streams = split_entries(todo, jobs, entry_costs(profile, results))
    threads = max(1, (os.cpu_count() or 1) // max(1, len(streams)))
    processes = []
    for i, stream in enumerate(streams, 1):
        command = [sys.executable, "-m", "srs_lib", "experiments", "run", "comparison",
                   "--profile", profile, "--results_dir", str(results),
                   "--entries", *(e.name for e in stream)]
        command += ["--base_path", str(base_path)] if base_path else []
        command += ["--force"] if force else []
        print(f"[comparison] stream {i} of {len(streams)} ({threads} torch thread"
              f"{'s' if threads > 1 else ''}): {', '.join(e.name for e in stream)}", flush=True)
        processes.append(subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": str(threads)}))
    codes = [process.wait() for process in processes]
    if not streams:
        print(f"[comparison] every entry of the {profile} grid is done", flush=True)
    return 1 if any(codes) else 0

