"""The reference scorers (``srs_lib.analysis.reference``): each scorer by hand, ties broken
at random, chance levels, and their order on the generated ``tiny`` corpus: popularity at
chance, below the bag of cue words, below the parts oracle (at most 1); the emoji oracle
well above chance and below 1; the cue words of a candidate's parts above those of its
label alone."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from srs_lib.analysis.reference import (chance_levels, cue_word_scores, emoji_oracle_scores,
                                        evaluate, format_evaluation, parts_oracle_scores,
                                        popularity_scores, read_parts_table, reference_rows,
                                        tie_broken)
from srs_lib.synth import generate_corpus


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate_corpus(str(out), "tiny", seed=0, progress=False)
    return out


def test_scorers_by_hand():
    cues = {"😂": frozenset({"lol", "funny"}), "😭": frozenset({"sad", "crying"})}
    context = [["so", "sad"], ["lol", "that", "was", "funny"]]
    assert cue_word_scores(context, ["😂", "😭"], cues, decay=0.5).tolist() == [2.0, 0.5]
    assert cue_word_scores(context, ["😂", "😭"], cues, decay=0.0).tolist() == [2.0, 0.0]
    assert emoji_oracle_scores("😂", ["😂", "😭", "😂"]).tolist() == [1.0, 0.0, 1.0]
    popularity = Counter({(1, 10): 5, (1, 11): 0})
    assert popularity_scores(popularity, 1, [10, 11]).tolist() == [np.log(6), 0.0]
    # a candidate's parts: the union of their cue words, each context word counted once
    cues["❓"] = frozenset({"why", "funny"})
    assert cue_word_scores(context, [["😂", "❓"], ["😭", "❓"], "😭"], cues, decay=0.5).tolist() == [
        2.0, 1.5, 0.5]
    truth = [("expression", "😂"), ("accent", "❓")]
    candidates = [truth, [("expression", "😂")], [("expression", "😂"), ("accent", "💤")], [("expression", "😭")]]
    assert parts_oracle_scores(truth, candidates).tolist() == [1.0, 0.5, 1 / 3, 0.0]


def test_cue_word_scores_sum_in_a_fixed_order():
    """Float sums depend on their order, and a set's order on the hash seed: the scores are
    summed over the cue words in sorted order, so that they (and the ties they break) are
    the same in every process."""
    for prefix in "abcdef":  # six word sets: a lucky order cannot pass for all of them
        words = [f"{prefix}{i:03d}" for i in range(120)]
        score = cue_word_scores([[w] for w in words], ["x"], {"x": frozenset(words)}, decay=0.83)[0]
        expected = 0.0
        for i in range(len(words)):  # sorted order is the utterances' order here
            expected += 1.0 if i == len(words) - 1 else 0.83 ** (len(words) - 1 - i)
        assert score == expected  # exactly, not approximately


def test_ties_are_broken_at_random_and_the_order_is_kept():
    rng = np.random.default_rng(0)
    first = [tie_broken(np.zeros(10), rng)[0] for _ in range(4000)]
    assert abs(np.mean(np.array(first) == 10) - 0.1) < 0.02, "ties are broken at random"
    ranked = tie_broken(np.array([0.5, 2.0, 0.5, -1.0]), rng)
    assert ranked[1] == 4 and ranked[3] == 1 and {ranked[0], ranked[2]} == {2, 3}


def test_chance_levels_by_hand():
    chance = chance_levels([10, 10, 5])
    assert chance["R10@1"] == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    h10, h5 = sum(1 / r for r in range(1, 11)) / 10, sum(1 / r for r in range(1, 6)) / 5
    assert chance["MAP"] == pytest.approx((2 * h10 + h5) / 3)


@pytest.fixture(scope="module")
def result(tiny) -> dict:
    return evaluate(str(tiny), "test", seed=0)


def test_evaluation_uses_the_paper_metrics_and_reports_every_row(result):
    assert set(result["scorers"]["popularity"]) >= {"MAP", "R10@1", "R10@2", "R10@5"}
    rows = reference_rows(result)
    assert [r["scorer"] for r in rows][:2] == ["chance", "popularity"]
    assert rows[0]["R10@1"] == result["chance"]["R10@1"] and rows[0]["R10@2"] is None
    assert "emoji_oracle" in format_evaluation(result)


@pytest.fixture(scope="module")
def reference(tiny) -> dict:
    """Reference metrics pooled over val and test (200 samples) for steadier numbers."""
    results = [evaluate(str(tiny), split, seed=0) for split in ("val", "test")]
    pooled = {}
    for name in results[0]["scorers"]:
        pooled[name] = {k: np.mean([r["scorers"][name][k] for r in results]) for k in results[0]["scorers"][name]}
    pooled["chance"] = {k: np.mean([r["chance"][k] for r in results]) for k in results[0]["chance"]}
    return pooled


def test_popularity_scorer_is_at_chance(reference):
    blind, chance = reference["popularity"], reference["chance"]
    assert abs(blind["R10@1"] - chance["R10@1"]) < 0.07
    assert abs(blind["MAP"] - chance["MAP"]) < 0.07


def test_emoji_oracle_is_well_above_chance_and_below_one(reference):
    assert reference["chance"]["R10@1"] + 0.3 < reference["emoji_oracle"]["R10@1"] < 0.97


def test_parts_oracle_tells_the_answer_apart_almost_always(reference):
    parts = reference["parts_oracle"]["R10@1"]
    assert reference["emoji_oracle"]["R10@1"] + 0.15 < parts <= 1.0
    assert parts > 0.9  # below 1 only where two stickers of a set have the same parts


def test_cue_words_are_learnable_but_not_trivial_and_recency_matters(reference):
    cue = reference["cue_words"]
    assert reference["chance"]["R10@1"] + 0.15 < cue["R10@1"] < reference["emoji_oracle"]["R10@1"]
    assert cue["R10@1"] < reference["parts_oracle"]["R10@1"] - 0.3
    assert cue["R10@1"] > reference["cue_words_no_recency"]["R10@1"] + 0.05
    assert cue["R10@1"] > reference["cue_words_last_utterance"]["R10@1"]


def test_reading_the_parts_beats_reading_the_label(reference):
    assert reference["cue_words"]["R10@1"] > reference["cue_words_label"]["R10@1"] + 0.05


def test_parts_table_lists_every_sticker_of_the_corpus(tiny):
    table = read_parts_table(str(tiny))
    assert len(table) == 160
    assert all(parts and parts[0][0] == "expression" for parts in table.values())
