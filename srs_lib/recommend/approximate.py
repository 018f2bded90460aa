"""Approximate nearest-neighbour search over a retriever's sticker vectors (faiss), and
the measurement that says when it is worth it.

:meth:`StickerIndex.search <srs_lib.recommend.index.StickerIndex.search>` is exact: one
matrix product with every stored vector and a partial sort. That is linear in the library;
an approximate index (here faiss's HNSW graph over inner products, a well-kept library)
answers in roughly logarithmic time but may miss some of the true top k. Whether it pays
depends on the library's size and width and on how much recall one gives up, so
:func:`compare_search` measures both on the same vectors and queries in one run: build
time, per-query latency (p50, p95) of each, and the approximate index's recall of the
exact top k. ``python -m srs_lib bench --approximate`` runs it on a library of the paper's
size (``benchmarks/cpu_approximate.json``).

Random unit vectors are the hard case for a graph index (no clusters to exploit); a
trained retriever's vectors are clustered by set and emoji, which is easier. The
measurement says which vectors it used.
"""
from __future__ import annotations

import time

import numpy as np

from srs_lib.recommend.index import top_k


class HNSWSearch:
    """faiss ``IndexHNSWFlat`` over inner products of ``vectors`` `(rows, dim)` float32.

    Args:
        vectors: the library's unit vectors (a retriever's :attr:`StickerIndex.vectors`).
        neighbours: the graph's links per node (faiss's M).
        ef_construction: candidates kept while building.
        ef_search: candidates kept while searching (more: higher recall, slower).
    """

    def __init__(self, vectors, *, neighbours: int = 32, ef_construction: int = 80,
                 ef_search: int = 128):
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or not len(vectors):
            raise ValueError(f"need a non-empty (rows, dim) array of vectors, got shape {vectors.shape}")
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], int(neighbours), faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = int(ef_construction)
        self.index.add(vectors)
        self.index.hnsw.efSearch = int(ef_search)
        self.ef_search = int(ef_search)

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows (q, k) int64, scores (q, k) float32)`` for ``queries`` `(q, dim)`, best
        first (rows -1 where the graph found fewer than k)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, rows = self.index.search(queries, int(k))
        return rows.astype(np.int64), scores


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """The mean share of each query's exact top k (rows of ``exact``) that ``found`` holds."""
    hits = [len(set(f.tolist()) & set(e.tolist())) / max(1, len(e)) for f, e in zip(found, exact)]
    return float(np.mean(hits)) if hits else float("nan")


def _percentiles(samples) -> dict:
    values = 1e3 * np.asarray(samples)
    return {"p50_ms": round(float(np.percentile(values, 50)), 3),
            "p95_ms": round(float(np.percentile(values, 95)), 3)}


def compare_search(vectors, queries, k: int = 50, *, ef_search=(32, 64, 128, 256),
                   neighbours: int = 32) -> dict:
    """Exact search against HNSW on the same ``vectors`` and ``queries``, one query at a
    time as a request would: latency of each, HNSW's build time, and its recall of the
    exact top ``k`` for each ``ef_search``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    exact_rows, samples = [], []
    for query in queries:
        start = time.perf_counter()
        rows, _ = top_k(query[None] @ vectors.T, k)
        samples.append(time.perf_counter() - start)
        exact_rows.append(rows[0])
    exact_rows = np.asarray(exact_rows)
    start = time.perf_counter()
    hnsw = HNSWSearch(vectors, neighbours=neighbours)
    build = time.perf_counter() - start
    settings = []
    for ef in ef_search:
        hnsw.index.hnsw.efSearch = int(ef)
        found, times = [], []
        for query in queries:
            start = time.perf_counter()
            rows, _ = hnsw.search(query[None], k)
            times.append(time.perf_counter() - start)
            found.append(rows[0])
        settings.append({"ef_search": int(ef), **_percentiles(times),
                         "recall_at_k": recall_at_k(np.asarray(found), exact_rows)})
    return {"rows": int(len(vectors)), "dim": int(vectors.shape[1]), "queries": int(len(queries)),
            "k": int(k), "exact": _percentiles(samples), "hnsw_neighbours": int(neighbours),
            "hnsw_build_seconds": round(build, 2), "hnsw": settings}
