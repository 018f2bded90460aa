"""Running the experiment grids: every entry through chapter 07, one pipeline for all.

``python -m srs_lib experiments run NAME --profile {ci,cpu,paper}`` executes the training
chapter (``book/07_training``) with papermill once per entry of grid ``NAME``
(:data:`GRIDS`: ``comparison``, the models and ablations of Tables 3 and 4,
:data:`srs_lib.analysis.comparison.GRID`; and the analyses of
:data:`srs_lib.analysis.analyses.GRIDS`: ``utterances``, ``hidden``, ``seeds`` and
``emoji_speedup``), with the same seed, corpus, candidates and training budget unless the
entry changes one, into ``results/<NAME>/<profile>/<entry>/``:

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
same test candidates with seeded random numbers.

An entry of an analysis grid that would train exactly what an entry of the comparison grid
trains (the same :func:`srs_lib.training.config.chapter_config`: k = 15 utterances in the
``paper`` profile, say, or seed 0) is not trained twice: its folder holds only a
``run.json`` saying ``"status": "reused"`` and which run it is (running the comparison
entry first where it has not run). :mod:`srs_lib.analysis.comparison` and
:mod:`srs_lib.analysis.analyses` read the results back.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srs_lib.analysis import analyses
from srs_lib.analysis.comparison import GRID, GRID_SEED, RESULTS, Entry, entry_done, grid_entries
from srs_lib.experiments.runner import BOOK, execute_chapter
from srs_lib.files import write_json_atomically
from srs_lib.provenance import ROOT, corpus_description, current_commit
from srs_lib.training.config import CHAPTER_OPTIONS, chapter_config

CHAPTER = "07_training"
#: A grid's common training budget where it is not the profile's own (chapter 07's
#: parameters). None now: every grid trains as chapter 07 does (``cpu``: two epochs of
#: ``small``, 2,500 steps). The ``cpu`` grids once trained one epoch each, which the
#: paper's sticker features outgrew: with them SRS leaves chance only after about 900
#: joint steps (``diagnose``, chapter 07), so in one epoch whether an ablation left chance
#: depended on when it happened to (w/o DIN and w/o Classify had not, w/o FR barely had).
GRID_BUDGET: dict[str, dict] = {}
#: Files of a training run kept in the results (checkpoints are not).
KEPT = ("metrics.json", "test_scores.npz", "history.json", "metric.txt", "config.json")


@dataclass(frozen=True)
class Grid:
    """An experiment grid: its entries and what it adds to the common budget per profile."""

    name: str
    what: str
    entries: tuple[Entry, ...]
    budget: dict = field(default_factory=dict)  # {profile: chapter parameters of every entry}
    reuses: bool = True  # an entry that is a comparison run is not trained twice


GRIDS: dict[str, Grid] = {
    "comparison": Grid("comparison", "Tables 3 and 4: every model and ablation", GRID, reuses=False),
    "utterances": Grid("utterances", "Figure 7 (RQ3): SRS reading the last k utterances",
                       analyses.GRIDS["utterances"]),
    "hidden": Grid("hidden", "Figure 11 (RQ6): SRS with hidden sizes 50 to 250",
                   analyses.GRIDS["hidden"]),
    "seeds": Grid("seeds", "SRS with training seeds 0, 1, 2: the spread of chance",
                  analyses.GRIDS["seeds"]),
    # Validated more often than the comparison grid does where its curve would have a few
    # points only (ci: 2 evaluations, cpu: 4); the paper's profile validates every 800 of
    # about 50,000 steps, often enough, so there both entries are the comparison's runs.
    "emoji_speedup": Grid("emoji_speedup", "Section 7.2: SRS and SRS w/o Classify, validation curves",
                          analyses.GRIDS["emoji_speedup"],
                          budget={"ci": {"auto_test_step": 3}, "cpu": {"auto_test_step": 100}}),
}
"""Every grid ``experiments run`` knows, by name."""


def grid_of(name: str) -> Grid:
    if name not in GRIDS:
        raise SystemExit(f"unknown grid {name!r}; choose from {', '.join(GRIDS)}")
    return GRIDS[name]


def entries_of(grid: Grid, profile: str, names=None) -> tuple[list[Entry], dict[str, str]]:
    """The entries a grid runs under a profile and ``{name: why}`` for those it leaves out
    (:func:`srs_lib.analysis.comparison.grid_entries` for the comparison grid)."""
    if grid.name == "comparison":
        return grid_entries(profile, names)
    known = {e.name: e for e in grid.entries}
    unknown = set(names or ()) - set(known)
    if unknown:
        raise SystemExit(f"unknown {grid.name} entries: {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(known)}")
    return ([known[n] for n in names] if names else list(grid.entries)), {}


def chapter_parameters(grid: Grid, entry: Entry, parameters: dict) -> dict:
    """The parameters chapter 07 runs an entry with: the profile's (``parameters``), the
    grid seed, the common budget of the profile (:data:`GRID_BUDGET`), the grid's own and
    the entry's, later ones winning."""
    profile = parameters["profile"]
    logs = ROOT / "_build" / grid.name / profile
    return {**parameters, "model": entry.model, "ablation": list(entry.ablation),
            "seed": GRID_SEED, "log_root": os.path.relpath(logs, BOOK),
            "exp_name": entry.name, "fresh": True, "candidate_protocol": entry.protocol,
            **GRID_BUDGET.get(profile, {}), **grid.budget.get(profile, {}),
            **dict(entry.parameters)}


def training_config(chapter: dict):
    """The training configuration chapter 07 builds from an entry's chapter parameters."""
    keys = ("model", "ablation", "candidate_protocol", "seed", *CHAPTER_OPTIONS)
    return chapter_config(chapter["profile"], **{k: chapter[k] for k in keys if k in chapter})


def twin_of(grid: Grid, entry: Entry, parameters: dict) -> Entry | None:
    """The comparison entry that trains exactly what ``entry`` of ``grid`` would (the same
    :func:`training_config` under the same profile), or None."""
    if not grid.reuses or entry.model is None:
        return None
    comparison = GRIDS["comparison"]
    config = training_config(chapter_parameters(grid, entry, parameters))
    for other in entries_of(comparison, parameters["profile"])[0]:
        if other.model is not None and training_config(
                chapter_parameters(comparison, other, parameters)) == config:
            return other
    return None


def write_reused(grid: Grid, entry: Entry, twin: Entry, parameters: dict, out: Path, source: Path) -> None:
    """Leave in ``out`` the ``run.json`` of an entry that reuses comparison entry ``twin``
    (whose folder is ``source``), and nothing else of an earlier run of its own."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (*KEPT, f"{CHAPTER}.ipynb"):
        (out / name).unlink(missing_ok=True)
    write_json_atomically(out / "run.json", {
        "grid": grid.name, "entry": entry.name, "label": entry.label, "status": "reused",
        "reused_from": f"comparison/{twin.name}",
        "reused_folder": os.path.relpath(source, out),
        "why": "the same training configuration as that entry (chapter_config)",
        "parameters": chapter_parameters(grid, entry, parameters),
        "commit": current_commit(), "date": time.strftime("%Y-%m-%d %H:%M"),
    })


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


def run_entry(entry: Entry, parameters: dict, out: Path, *, grid: str = "comparison",
              progress: bool = True) -> tuple[str, str]:
    """Run one entry of ``grid`` into ``out``; ``(status, error)`` with status "ok" or "failed"."""
    out.mkdir(parents=True, exist_ok=True)
    base_path = Path(parameters["base_path"])
    base_path = base_path if base_path.is_absolute() else (BOOK / base_path).resolve()
    start, started, commit = time.monotonic(), time.strftime("%Y-%m-%d %H:%M"), current_commit()
    chapter = {}
    if entry.model is None:
        try:
            run_random(base_path, parameters["profile"], out)
            status, error = "ok", ""
        except Exception as err:  # reported, and the grid goes on
            status, error = "failed", f"{type(err).__name__}: {err}"
    else:
        chapter = chapter_parameters(grid_of(grid), entry, parameters)
        logs = (BOOK / chapter["log_root"]).resolve()
        run = execute_chapter(CHAPTER, chapter, out / f"{CHAPTER}.ipynb",
                              stamp_dir=logs / "stamps" / entry.name, force=True,
                              progress=progress)
        status, error = run.status, run.error
        if status == "ok":
            for name in KEPT:
                if (logs / entry.name / name).exists():
                    shutil.copy2(logs / entry.name / name, out / name)
    write_json_atomically(out / "run.json", {
        "grid": grid, "entry": entry.name, "label": entry.label, "model": entry.model,
        "ablation": list(entry.ablation), "protocol": entry.protocol, "status": status, "error": error,
        "parameters": chapter or {**parameters, "seed": GRID_SEED},
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


def run_grid(profile: str, parameters: dict, *, grid: str = "comparison", results: Path | None = None,
             comparison_results: Path = RESULTS, names=None, force: bool = False) -> int:
    """Run a profile's grid into ``results`` (default ``results/<grid>``); 0 when every
    entry is done, 1 when one failed. An entry that is a comparison run (:func:`twin_of`)
    reuses it from ``comparison_results``, running it there first if it has not run."""
    spec = grid_of(grid)
    results = Path(results) if results is not None else analyses.RESULTS_ROOT / grid
    entries, left_out = entries_of(spec, profile, names)
    for name, why in left_out.items():
        print(f"[{grid}] {name}: left out ({why})", flush=True)
    failed = []
    for i, entry in enumerate(entries, 1):
        out = results / profile / entry.name
        tag = f"[{grid} {i}/{len(entries)}] {entry.name}"
        twin = twin_of(spec, entry, parameters)
        if twin is not None:
            source = Path(comparison_results) / profile / twin.name
            if not (source / "metrics.json").exists():
                print(f"{tag}: the same run as comparison/{twin.name}, not run yet: running it there ...",
                      flush=True)
                status, error = run_entry(twin, parameters, source, grid="comparison")
                if status != "ok":
                    print(f"{tag}: FAILED (comparison/{twin.name}): {error}", flush=True)
                    failed.append((entry.name, error))
                    continue
            write_reused(spec, entry, twin, parameters, out, source)
            print(f"{tag}: the same run as comparison/{twin.name}: reused", flush=True)
            continue
        if entry_done(out) and not force:
            print(f"{tag}: done before, skipped", flush=True)
            continue
        print(f"{tag} ...", flush=True)
        status, error = run_entry(entry, parameters, out, grid=grid)
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


def entry_costs(profile: str, results: Path = RESULTS, grid: str = "comparison") -> dict[str, float]:
    """Wall seconds of each entry of a profile's grid that ran before (its ``run.json``)."""
    costs = {}
    for entry in grid_of(grid).entries:
        run = results / profile / entry.name / "run.json"
        if run.exists() and "wall_seconds" in (recorded := json.loads(run.read_text())):
            costs[entry.name] = float(recorded["wall_seconds"])
    return costs


def visible_gpus() -> list[str]:
    """The GPUs a runner may be given: ``CUDA_VISIBLE_DEVICES``'s entries where it is set,
    else ``0 .. torch.cuda.device_count() - 1`` (none on a CPU machine)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def run_grid_in_parallel(profile: str, jobs: int, *, grid: str = "comparison", results: Path | None = None,
                         comparison_results: Path = RESULTS, names=None, force: bool = False,
                         base_path=None) -> int:
    """Run a profile's grid as ``jobs`` runner processes side by side, each on its own
    entries (:func:`split_entries`, with the costs of an earlier run of the grid where
    there is one) and with ``cpu_count // jobs`` torch threads; 0 when every entry is done.
    On a machine with GPUs the streams are dealt over them, one device per runner
    (``CUDA_VISIBLE_DEVICES``, stream i on GPU i mod the GPU count)."""
    import subprocess

    results = Path(results) if results is not None else analyses.RESULTS_ROOT / grid
    entries, _ = entries_of(grid_of(grid), profile, names)
    todo = [e for e in entries if force or not entry_done(results / profile / e.name)]
    streams = split_entries(todo, jobs, entry_costs(profile, results, grid))
    threads = max(1, (os.cpu_count() or 1) // max(1, len(streams)))
    gpus = visible_gpus()
    processes = []
    for i, stream in enumerate(streams, 1):
        command = [sys.executable, "-m", "srs_lib", "experiments", "run", grid,
                   "--profile", profile, "--results_dir", str(results),
                   "--comparison_dir", str(comparison_results),
                   "--entries", *(e.name for e in stream)]
        command += ["--base_path", str(base_path)] if base_path else []
        command += ["--force"] if force else []
        print(f"[{grid}] stream {i} of {len(streams)} ({threads} torch thread"
              f"{'s' if threads > 1 else ''}"
              f"{f', GPU {gpus[(i - 1) % len(gpus)]}' if gpus else ''}): "
              f"{', '.join(e.name for e in stream)}", flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(gpus[(i - 1) % len(gpus)])
        processes.append(subprocess.Popen(command, env=env))
    codes = [process.wait() for process in processes]
    if not streams:
        print(f"[{grid}] every entry of the {profile} grid is done", flush=True)
    return 1 if any(codes) else 0
