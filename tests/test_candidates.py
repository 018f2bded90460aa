"""The candidates of a sample: the released code's first-9 rule and the paper's random 9."""
import numpy as np
import pytest

from srs_lib.data.candidates import context_rng, draw_candidates, first_in_set_candidates


def test_draw_candidates_rules():
    members = list(range(100, 130))
    candidates = draw_candidates(members, 117, 10, context_rng(0, 5))
    assert candidates[0] == 117 and len(candidates) == 10
    assert len(set(candidates)) == 10 and set(candidates) <= set(members)
    assert candidates == draw_candidates(members, 117, 10, context_rng(0, 5))
    assert candidates != draw_candidates(members, 117, 10, context_rng(0, 6))
    small = [1, 2, 3, 4]
    assert sorted(draw_candidates(small, 3, 10, context_rng(0, 1))) == small
    assert draw_candidates([7], 7, 10, context_rng(0, 1)) == [7]
    with pytest.raises(ValueError):
        draw_candidates(small, 99, 10, context_rng(0, 1))
    with pytest.raises(ValueError):
        context_rng(-1, 0)
    assert first_in_set_candidates(members, 105, 4) == [105, 100, 101, 102]


def test_negatives_are_uniform_over_the_set():
    members = list(range(20))
    counts = np.zeros(20)
    for line in range(3000):
        for c in draw_candidates(members, 0, 10, context_rng(1, line))[1:]:
            counts[c] += 1
    assert counts[0] == 0
    expected = 3000 * 9 / 19
    assert np.all(np.abs(counts[1:] - expected) < 0.1 * expected)


# --------------------------------------------------------------------------------------
# the analysis on a corpus
# --------------------------------------------------------------------------------------
