"""Approximate retrieval (srs_lib.recommend.approximate): HNSW against exact search."""
from __future__ import annotations

import numpy as np
import pytest

from srs_lib.recommend.approximate import HNSWSearch, compare_search, recall_at_k
from srs_lib.recommend.index import top_k


def _unit(rows, dim, seed):
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_recall_by_hand():
    assert recall_at_k(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[3, 2, 9], [7, 8, 9]])) == pytest.approx(1 / 3)


def test_hnsw_finds_the_exact_top_k_of_a_small_library():
    vectors, queries = _unit(2000, 16, 0), _unit(20, 16, 1)
    rows, scores = HNSWSearch(vectors, ef_search=256).search(queries, 10)
    exact, best = top_k(queries @ vectors.T, 10)
    assert recall_at_k(rows, exact) > 0.95
    np.testing.assert_allclose(scores[:, 0], best[:, 0], rtol=1e-5)  # the best one found
    with pytest.raises(ValueError):
        HNSWSearch(np.zeros((0, 4), np.float32))


def test_compare_search_records_each_setting():
    result = compare_search(_unit(500, 8, 2), _unit(5, 8, 3), k=5, ef_search=(8, 64))
    assert (result["rows"], result["dim"], result["queries"], result["k"]) == (500, 8, 5, 5)
    assert [r["ef_search"] for r in result["hnsw"]] == [8, 64]
    assert all(0 <= r["recall_at_k"] <= 1 for r in result["hnsw"])
    assert result["hnsw"][1]["recall_at_k"] >= result["hnsw"][0]["recall_at_k"]
