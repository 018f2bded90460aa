"""srs_lib.analysis.metrics: hand-computed rankings, pessimistic ties, significance."""
from __future__ import annotations

import math

import numpy as np
import pytest

from srs_lib.analysis.metrics import paired_significance, per_context_metrics, ranking_metrics

# Three contexts, ten candidates. Context 0: positive (column 0) on top, rank 1. Context 1:
# positive (column 3, 0.5) below 0.8 and 0.6 and tied with column 0: rank 4. Context 2:
# positive (column 9) lowest: rank 10.
SCORES = np.array([
    [0.9, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.5, 0.8, 0.6, 0.5, 0.1, 0.2, 0.3, 0.0, 0.4, 0.45],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 0],
])
LABELS = np.array([0, 3, 9])


def test_hand_computed_case():
    per_context = per_context_metrics(SCORES, LABELS)
    assert per_context["rank"].tolist() == [1, 4, 10]
    assert per_context["reciprocal_rank"].tolist() == [1.0, 0.25, 0.1]
    assert per_context["hits@5"].tolist() == [1.0, 1.0, 0.0]
    # R2@1 against the first non-positive column: 0.9 > 0.1 (col 1); 0.5 ties 0.5 (col 0); 0 < 1
    assert per_context["pair_hit"].tolist() == [1.0, 0.0, 0.0]
    metrics = ranking_metrics(SCORES, LABELS)
    assert metrics == pytest.approx({
        "MAP": 1.35 / 3, "MRR": 1.35 / 3, "R10@1": 1 / 3, "R10@2": 1 / 3, "R10@5": 2 / 3,
        "R2@1": 1 / 3, "P@1": 1 / 3,
    })


def test_constant_scorer_earns_no_credit():
    metrics = ranking_metrics(np.zeros((4, 10)), np.array([0, 3, 5, 9]))
    assert metrics == {"MAP": 0.1, "MRR": 0.1, "R10@1": 0.0, "R10@2": 0.0, "R10@5": 0.0, "R2@1": 0.0, "P@1": 0.0}


def test_perfect_scorer_and_infinite_scores():
    labels = np.array([2, 0, 7])
    scores = np.zeros((3, 10))
    scores[np.arange(3), labels] = 1.0
    assert set(ranking_metrics(scores, labels).values()) == {1.0}
    scores[0, 2] = scores[0, 5] = np.inf  # positive tied with a negative at +inf
    assert per_context_metrics(scores, labels)["rank"].tolist() == [2, 1, 1]


def test_keys_follow_the_number_of_candidates():
    assert list(ranking_metrics(np.array([[1.0, 0.0]]), np.array([0]))) == ["MAP", "MRR", "R2@1", "P@1"]
    five = ranking_metrics(np.array([[0.0, 1, 2, 3, 4]]), np.array([3]))
    assert five == {"MAP": 0.5, "MRR": 0.5, "R5@1": 0.0, "R5@2": 1.0, "R2@1": 1.0, "P@1": 0.0}


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        ([[0.1, np.nan, 0.3]], [0], "NaN"),
        ([[0.1, 0.2]], [2], r"labels must lie in \[0, 2\)"),
        ([[0.1, 0.2]], [0.0], "integer"),
        ([[0.1], [0.2]], [0, 0], "at least 2 candidates"),
        ([0.1, 0.2], [0], r"\(contexts, candidates\)"),
        ([[0.1, 0.2]], [0, 1], "one positive index per context"),
    ],
)
def test_invalid_inputs(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        ranking_metrics(np.array(scores), np.array(labels))


def _t3_two_tailed_p(t: float) -> float:
    """Two-tailed p of Student's t with 3 degrees of freedom (closed form)."""
    theta = math.atan(abs(t) / math.sqrt(3))
    return 1 - (2 / math.pi) * (theta + math.sin(theta) * math.cos(theta))


def test_paired_t_by_hand():
    a, b = np.array([2.0, 3, 5, 4]), np.array([1.0, 1, 2, 0])  # differences 1, 2, 3, 4
    t = 2.5 / (math.sqrt(5 / 3) / 2)  # mean / (sd / sqrt(n)) = sqrt(15)
    result = paired_significance(a, b)
    assert result.statistic == pytest.approx(t) and result.n == 4 and result.mean_difference == 2.5
    assert result.p_value == pytest.approx(_t3_two_tailed_p(t))  # 0.0305
    assert result.marker == ""  # not significant at 0.01
    assert paired_significance(a, b, alpha=0.05).marker == "▲"
    worse = paired_significance(b, a, alpha=0.05)
    assert worse.marker == "▼" and worse.statistic == pytest.approx(-t)


def test_zero_variance_cases():
    a = np.array([0.2, 0.5, 1.0])
    same = paired_significance(a, a.copy())
    assert (same.statistic, same.p_value, same.marker) == (0.0, 1.0, "")
    shifted = paired_significance(a + 0.5, a)
    assert (shifted.statistic, shifted.p_value, shifted.marker) == (math.inf, 0.0, "▲")
    assert paired_significance(a - 0.5, a).marker == "▼"


def test_a_real_scorer_beats_a_constant_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=300)
    noisy = rng.normal(size=(300, 10))
    noisy[np.arange(300), labels] += 2.0
    good = per_context_metrics(noisy, labels)["reciprocal_rank"]
    constant = per_context_metrics(np.zeros((300, 10)), labels)["reciprocal_rank"]
    result = paired_significance(good, constant)
    assert result.marker == "▲" and result.p_value < 1e-10
    assert paired_significance(constant, good).marker == "▼"


@pytest.mark.parametrize(
    "a, b, message",
    [([1.0], [0.0], "at least 2 pairs"), ([1.0, 2.0], [0.0], "same length"), ([1.0, np.nan], [0.0, 1.0], "NaN")],
)
def test_significance_invalid_inputs(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_significance(a, b)


def test_chance_interval_and_verdict_by_hand():
    from srs_lib.analysis.metrics import binomial_half_width, chance_at_1, clearly_above

    assert chance_at_1([10, 10, 5]) == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    with pytest.raises(ValueError):
        chance_at_1([10, 0])
    assert binomial_half_width(0.5, 100) == pytest.approx(1.96 * 0.05)
    verdict = clearly_above(0.3, 100, {"chance": 0.1, "popularity": 0.12})
    assert verdict.above and verdict.half_width == pytest.approx(1.96 * np.sqrt(0.21 / 100))
    assert "clearly above chance and popularity" in verdict.text
    # 0.2 ± 0.078 reaches down to 0.122: not clearly above a floor of 0.13
    assert not clearly_above(0.2, 100, {"chance": 0.13}).above
