"""The candidate-protocol audit: the share of answers outside their set's first n, the
position scorer and the no-dialog ceiling, checked by hand on the fixture corpus.

The fixture's test split (see ``tests/corpus_fixtures.py``) holds three contexts of the big
set, whose answers are ``BIG_STICKERS[0]``, ``[4]`` and ``[9]`` in its mapping. With
``quirks=True`` stickers 5-8 of the mapping cannot be cached, so among the set's 8 cached
stickers (mapping positions 0-4 and 9-11) the answers lie at positions 0, 4 and 5.
"""
from __future__ import annotations

import numpy as np
import pytest

from srs_lib.analysis import comparison, protocol
from srs_lib.analysis.metrics import binomial_half_width
from srs_lib.layers.masking import MASK_VALUE


def _harmonic_chance(k: int) -> float:
    return sum(1 / r for r in range(1, k + 1)) / k


@pytest.mark.parametrize("n,outside", [(4, 2), (5, 1), (6, 0), (10, 0)])
def test_share_outside_counts_cached_positions_by_hand(corpus, n, outside):
    # cached positions 0, 4, 5: outside the first n when >= n. In mapping order the third
    # answer would be at 9 and count as outside for n = 6; the pipeline's candidates are
    # drawn among cached stickers only, and so is the audit.
    result = protocol.audit(corpus, "ci", "test", n_candidates=n)
    assert result["contexts"] == 3 and result["n_candidates"] == n
    assert result["outside"] == outside
    assert result["share_outside"] == pytest.approx(outside / 3)
    # the big set has 8 cached stickers: lists are short only for n = 10
    assert result["short_lists"] == (3 if n > 8 else 0)


def test_ceiling_by_hand_and_the_position_scorer_reaches_it(corpus):
    n = 5
    result = protocol.audit(corpus, "ci", "test", n_candidates=n)
    # one answer outside (cached position 5), two inside with 5 candidates each
    assert result["ceiling"]["R5@1"] == pytest.approx(1 / 3 + 2 / 3 * 1 / 5)
    assert result["ceiling"]["MAP"] == pytest.approx(1 / 3 + 2 / 3 * _harmonic_chance(5))
    assert result["chance"]["R5@1"] == pytest.approx(1 / 5)
    first9 = result["position"]["first9"]
    assert first9["expected R5@1"] == pytest.approx(result["ceiling"]["R5@1"])
    # tie-broken: the outside answer is always first; each inside one is first or not
    hits = first9["R5@1"] * 3
    assert hits == pytest.approx(round(hits)) and round(hits) >= 1


def test_first9_candidates_of_an_outside_answer_are_the_first_n_minus_1(corpus):
    from srs_lib.training.config import profile_config
    from srs_lib.training.pipeline import evaluation_batches

    _, batches = evaluation_batches(corpus, profile_config("ci", protocol="first9", n_candidates=5), "test")
    index = np.arange(len(batches.split))
    rows, labels = batches.candidates(index)
    positions = protocol.set_positions(batches, rows, index)
    by_answer = {int(positions[i, labels[i]]): sorted(positions[i]) for i in index}
    assert by_answer == {0: [0, 1, 2, 3, 4], 4: [0, 1, 2, 3, 4], 5: [0, 1, 2, 3, 5]}
    scores = protocol.position_scores(positions, 5)
    assert (scores[positions == 5] == 1).all() and (scores[(positions >= 0) & (positions < 5)] == 0).all()


def test_position_scores_and_expected_hits_by_hand():
    positions = np.array([[0, 1, 12, -1], [3, 0, 1, 2], [11, 10, 0, -1]])
    scores = protocol.position_scores(positions, 3)
    np.testing.assert_array_equal(scores, [[0, 0, 1, MASK_VALUE], [1, 0, 0, 0], [1, 1, 0, MASK_VALUE]])
    labels = np.array([2, 1, 0])
    # alone at the top: 1; below the top: 0; tied with one other at the top: 1/2
    np.testing.assert_allclose(protocol.expected_hits_at_1(scores, labels), [1.0, 0.0, 0.5])
    all_tied = protocol.position_scores(np.array([[0, 1, 2, -1]]), 3)
    np.testing.assert_allclose(protocol.expected_hits_at_1(all_tied, np.array([1])), [1 / 3])


def test_position_scorer_is_at_chance_under_random_and_at_the_ceiling_under_first9(make_corpus):
    corpus = make_corpus(quirks=False, extra_samples=600, seed=3)
    result = protocol.audit(corpus, "ci", "test", n_candidates=4)
    contexts, r1 = result["contexts"], "R4@1"
    assert contexts == 603 and 0 < result["share_outside"] < 1
    chance = result["chance"][r1]
    width = binomial_half_width(chance, contexts)
    for metric in (r1, f"expected {r1}"):
        assert abs(result["position"]["random"][metric] - chance) < width
    first9 = result["position"]["first9"]
    assert first9[f"expected {r1}"] == pytest.approx(result["ceiling"][r1])
    assert abs(first9[r1] - result["ceiling"][r1]) < binomial_half_width(result["ceiling"][r1], contexts)
    assert result["ceiling"][r1] > chance + 2 * width  # the leak is far above chance


def test_audit_rows_and_text(corpus):
    result = protocol.audit(corpus, "ci", "test", n_candidates=5)
    rows = {row["quantity"]: row for row in protocol.audit_rows(result)}
    assert rows["share of contexts whose answer lies outside its set's first 5"]["value"] == pytest.approx(1 / 3)
    assert rows["no-dialog ceiling under first9, R5@1"]["chance"] == pytest.approx(1 / 5)
    assert rows["position scorer under first9, expected R5@1"]["value"] == pytest.approx(1 / 3 + 2 / 15)
    text = protocol.format_audit(result)
    assert "3 contexts" in text and "position scorer under random, R5@1" in text


def test_the_protocol_entries_of_the_grid():
    first9 = [e for e in comparison.GRID if e.protocol == "first9"]
    assert {e.name: e.model for e in first9} == {"context_blind_first9": "context_blind",
                                                   "srs_first9": "srs"}
    assert all(e.table == "protocol" for e in first9)
    assert all(e.protocol == "random" for e in comparison.GRID if e.table != "protocol")
    assert comparison.label("context_blind", protocol="first9") == "context-blind, first9"
    assert comparison.label("context_blind") == "context-blind"
    assert comparison.label("smn", protocol="first9") == "smn+protocol=first9"


def test_protocol_frame_pairs_each_first9_run_with_its_random_twin(tmp_path, labels):
    from grid_fixtures import scores_of, write_entry

    for name, quality in (("context_blind", "random"), ("context_blind_first9", "good"),
                          ("srs", "bad"), ("smn", "good")):
        write_entry(tmp_path, "ci", name, scores_of(quality, labels), labels)
    results = comparison.load_results("ci", tmp_path)
    assert comparison.protocol_twins(results) == [("context_blind", "context_blind_first9")]
    assert set(comparison.under_protocol(results)) == {"context_blind", "srs", "smn"}
    assert list(comparison.under_protocol(results, "first9")) == ["context_blind_first9"]
    frame = comparison.protocol_frame(results)
    assert list(frame.index) == ["context-blind"]  # srs has no first9 run here
    row = frame.loc["context-blind"]
    blind = results["context_blind"].metrics["test"]["R10@1"]
    assert row[("first9", "R10@1")] == pytest.approx(1.0)
    assert row[("random", "R10@1")] == pytest.approx(blind)
    assert row[("first9 − random", "R10@1")] == pytest.approx(1.0 - blind)
    assert comparison.protocol_frame(comparison.under_protocol(results)).empty
    # Tables 3 and 4 keep to the paper's protocol
    assert "context-blind, first9" not in comparison.comparison_frame(results, "table3").index


@pytest.mark.parametrize("rate,verdict", [(0.9, "clearly above the no-dialog ceiling"),
                                          (0.4, "clearly above chance but not above"),
                                          (0.12, "not clearly above chance")])
def test_first9_verdict_against_chance_and_the_ceiling(rate, verdict):
    # 1,000 contexts: the half-widths are at most 0.031
    assert protocol.first9_verdict(rate, 1000, chance=0.1, ceiling=0.45).startswith(verdict)


def test_chance_verdict():
    # 100 contexts at chance 0.1: the half-width is 0.0588
    assert protocol.chance_verdict(0.05, 100, 0.1).startswith("at chance")
    assert protocol.chance_verdict(0.17, 100, 0.1).startswith("away from chance")
