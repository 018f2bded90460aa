"""The serving benchmark's timing helpers and its command-line contract."""
from __future__ import annotations

import numpy as np
import pytest

from srs_lib import cli
from srs_lib.recommend import serving_bench


def test_timed_reports_percentiles_of_the_calls(monkeypatch):
    ticks = iter(np.cumsum([0.0] + [0.001, 0.0, 0.003, 0.0, 0.002, 0.0, 0.010]).tolist())
    monkeypatch.setattr(serving_bench.time, "perf_counter", lambda: next(ticks))
    calls = []
    result = serving_bench.timed(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6  # the warm-up calls are not timed
    # the four timed calls took 1, 3, 2 and 10 ms (one pair of clock readings each)
    assert result == {"p50_ms": 2.5, "p95_ms": 8.95, "calls": 4}


def test_random_library_vectors_are_unit_and_seeded():
    a = serving_bench._random_unit(50, 7, seed=3)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, serving_bench._random_unit(50, 7, seed=3))
    rows, scores = serving_bench._search(a, a[4], 3)
    assert rows[0, 0] == 4 and scores[0, 0] == pytest.approx(1.0)


def test_bench_needs_a_corpus_unless_serving(capsys):
    assert cli.main(["bench"]) == 1
    assert "bench needs --base_path" in capsys.readouterr().err


def test_serving_needs_both_checkpoints_or_neither(tmp_path, clean_corpus, capsys):
    assert cli.main(["bench", "--serving", "--base_path", str(clean_corpus), "--library",
                     str(clean_corpus), "--checkpoint", str(tmp_path / "srs.keras")]) == 1
    assert "pass both --checkpoint and --retriever" in capsys.readouterr().err
