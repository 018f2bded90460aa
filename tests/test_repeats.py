"""Candidate repeats within a training batch (srs_lib.training.repeats), by hand."""
from __future__ import annotations

import numpy as np
import pytest

from srs_lib.training.repeats import corpus_repeats, distinct_share, preset_repeats, summarise


def test_distinct_share_ignores_padding():
    rows = np.array([[3, 4, 5, -1], [3, 6, 4, -1], [7, -1, -1, -1]])
    assert distinct_share(rows) == (5, 7)


def test_summarise_by_hand():
    batches = [np.array([[1, 2], [1, 3]]), np.array([[4, 5], [6, 7]]), np.array([[-1, -1]])]
    result = summarise(batches)
    assert result["batches"] == 2  # the all-padding batch counts for nothing
    assert result["distinct_share"] == pytest.approx((3 / 4 + 1) / 2)
    assert result["lowest_distinct_share"] == pytest.approx(0.75)
    assert result["encodings_saved"] == pytest.approx(1 - 7 / 8)
    with pytest.raises(ValueError):
        summarise([np.array([[-1]])])


def test_first9_repeats_more_than_random_and_a_bigger_library_less():
    tiny = {p: preset_repeats("tiny", p, batch_size=16, n_batches=40) for p in ("random", "first9")}
    assert tiny["first9"]["encodings_saved"] > tiny["random"]["encodings_saved"] > 0
    paper = preset_repeats("paper", "random", batch_size=16, n_batches=40)
    assert paper["encodings_saved"] < tiny["random"]["encodings_saved"]
    assert paper["sets"] == 3516
    with pytest.raises(ValueError, match="protocol"):
        preset_repeats("tiny", "first10")


def test_corpus_repeats_reads_the_trainers_draws(corpus):
    result = corpus_repeats(corpus, "first9", batch_size=4, n_batches=3)
    assert result["source"] == "corpus" and 1 <= result["batches"] <= 3
    assert 0 < result["distinct_share"] <= 1
