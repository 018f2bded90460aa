"""Grid results written the way a finished grid entry leaves them, for the tests of the
comparison (reading) and of the grid runner."""
from __future__ import annotations

import json

import numpy as np

from srs_lib.analysis.metrics import ranking_metrics

CONTEXTS, CANDIDATES = 200, 10


def scores_of(quality: str, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scores whose positive ranks first ("good"), last ("bad"), or anywhere ("random")."""
    rng = np.random.default_rng(seed)
    scores = rng.random((len(labels), CANDIDATES)).astype("float32")
    rows = np.arange(len(labels))
    if quality == "good":
        scores[rows, labels] = 2.0
    elif quality == "bad":
        scores[rows, labels] = -1.0
    return scores


def write_entry(results, profile, name, scores, labels, *, lines=None, parameters=1000,
                rates=None, candidates=None):
    """A finished grid entry as ``run_entry`` leaves it: metrics.json, test_scores.npz,
    run.json and (with ``rates``, contexts per second of the joint stage) history.json."""
    folder = results / profile / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = np.arange(len(labels)) if lines is None else lines
    mask = np.ones(scores.shape, bool)
    if candidates is not None:
        mask[:, candidates:] = False
    np.savez_compressed(folder / "test_scores.npz", scores=scores, labels=labels, lines=lines,
                        mask=mask)
    (folder / "metrics.json").write_text(json.dumps({
        "model": name, "test": ranking_metrics(scores, labels), "test_contexts": len(labels),
        "steps": 24, "parameters": parameters, "config": {"batch_size": 8}}))
    (folder / "run.json").write_text(json.dumps({
        "entry": name, "status": "ok", "parameters": {"base_path": "/nowhere", "profile": profile},
        "corpus": "embedded test (seed 0)", "wall_seconds": 1.0}))
    if rates is not None:
        (folder / "history.json").write_text(json.dumps({"train": [
            {"step": 6 * (i + 1), "stage": "joint", "contexts_per_s": r} for i, r in enumerate(rates)]}))
