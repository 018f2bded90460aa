"""``python -m srs_lib stats``: Table 1 and section 3.2 numbers, checked against the fixture by hand."""
from __future__ import annotations

import json

import pytest

from srs_lib.cli import main
from srs_lib.data.stats import corpus_stats

# Computed by hand from the samples listed in tests/corpus_fixtures.py.
EXPECTED = {
    "train": {"pairs": 4, "lines": 14, "avg_words_per_utterance": 30 / 9, "avg_utterances": 9 / 4, "avg_users": 12 / 4},
    "val": {"pairs": 2, "lines": 3, "avg_words_per_utterance": 6 / 3, "avg_utterances": 3 / 2, "avg_users": 4 / 2},
    "test": {"pairs": 3, "lines": 3, "avg_words_per_utterance": 10 / 5, "avg_utterances": 5 / 3, "avg_users": 7 / 3},
}


def _stats(base, capsys, *extra) -> tuple[int, str, str]:
    code = main(["stats", "--base_path", str(base), "--no_progress", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_split(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-12), key


def test_stats_json_matches_hand_computed_values(corpus, capsys):
    code, out, _ = _stats(corpus, capsys, "--json")
    assert code == 0
    stats = json.loads(out)
    for split, expected in EXPECTED.items():
        _assert_split(stats[split], expected)
    # 2**53 and 2**53 + 1 answer in train line 14: 5 users there, 4 if ids went through floats
    assert stats["train"]["avg_users"] == 3.0
    assert stats["library"] == {"sticker_sets": 2, "stickers": 14, "avg_stickers_per_set": 7.0}


def test_clean_corpus_counts_every_sticker(clean_corpus):
    stats = corpus_stats(clean_corpus)
    for split, expected in EXPECTED.items():
        _assert_split(stats[split], {**expected, "lines": expected["pairs"]})
    assert stats["library"] == {"sticker_sets": 2, "stickers": 15, "avg_stickers_per_set": 7.5}


def test_extra_samples_are_usable(make_corpus):
    stats = corpus_stats(make_corpus(extra_samples=5))
    assert [stats[s]["pairs"] for s in ("train", "val", "test")] == [9, 7, 8]
    assert stats["train"]["lines"] == 19


def test_text_output_puts_the_paper_beside(corpus, capsys):
    code, out, _ = _stats(corpus, capsys)
    assert code == 0
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines()}
    assert rows["train avg words per utterance"][-2:] == ["3.33", "7.54"]
    assert rows["test avg users per context"][-2:] == ["2.33", "5.79"]
    assert rows["stickers"][-2:] == ["14", "174,695"]
    assert rows["avg stickers per set"][-2:] == ["7.00", "49.64"]
    assert "15.5 (all splits)" in out and "320,168" in out


def test_empty_split_gives_no_average(corpus):
    (corpus / "release_val.json").write_text("\n", encoding="utf-8")
    stats = corpus_stats(corpus)
    assert stats["val"] == {"pairs": 0, "avg_words_per_utterance": None, "avg_utterances": None,
                            "avg_users": None, "lines": 0}


def test_stats_on_a_missing_corpus(tmp_path, capsys):
    code, out, err = _stats(tmp_path, capsys)
    assert code == 1 and out == "" and "release_train.json" in err and err.count("\n") == 1
