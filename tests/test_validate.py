"""srs_lib.data.corpus (the usability rules) and ``python -m srs_lib validate``."""
from __future__ import annotations

import json
import shutil

import pytest
from corpus_fixtures import BIG_SET, BIG_STICKERS, SMALL_SET

from srs_lib.cli import main
from srs_lib.data.corpus import SKIP_REASONS, Corpus, CorpusError, load_split

TRAIN_SKIPS = {
    "malformed line": 3, "empty context": 2, "sticker set missing": 1, "sticker not in mapping": 1,
    "sticker file missing": 1, "sticker unloadable": 1, "emoji outside vocab": 1,
}


def _validate(base, capsys, *extra) -> tuple[int, str, str]:
    code = main(["validate", "--base_path", str(base), "--no_progress", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_load_split_applies_every_rule_once(corpus):
    dialogs, report = load_split(corpus, "train")
    assert [d.line for d in dialogs] == [1, 12, 13, 14]
    assert report.lines == 14 and report.usable == 4
    assert dict(report.skipped) == TRAIN_SKIPS
    assert report.usable + sum(report.skipped.values()) == report.lines
    assert [line for line, _ in report.examples["malformed line"]] == [2, 4, 15]
    assert report.examples["sticker set missing"] == [(7, "set 999")]
    assert report.small_set_samples == 1 and report.small_sets == {SMALL_SET}
    assert tuple(SKIP_REASONS) == tuple(TRAIN_SKIPS)  # the order the rules are checked in


def test_corpus_opens_everything_once(corpus):
    opened = Corpus(corpus)
    dialogs, report = opened.load_split("val")
    assert [d.current.sticker_id for d in dialogs] == [BIG_STICKERS[1], 702]
    assert dict(report.skipped) == {"emoji outside vocab": 1}
    assert len(opened.emoji_vocab) == 4 and opened.vocab.id("我") == 4
    assert sum(1 for _ in opened.iter_split("test")) == 3
    assert len(opened.sticker_cache(progress=False)) == 11
    with pytest.raises(ValueError, match="unknown split"):
        opened.split_path("dev")


@pytest.mark.parametrize("missing", ["release_val.json", "npy_stickers", "vocab", "emoji_vocab"])
def test_corpus_error_names_what_is_missing(corpus, missing):
    target = corpus / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(CorpusError, match=missing):
        Corpus(corpus)


def test_validate_json_report(corpus, capsys):
    code, out, err = _validate(corpus, capsys, "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["usable"] is True and report["reason"] is None
    train, val, test = (report["splits"][s] for s in ("train", "val", "test"))
    assert (train["lines"], train["usable"], train["skipped"]) == (14, 4, TRAIN_SKIPS)
    assert [e["line"] for e in train["examples"]["malformed line"]] == [2, 4, 15]
    assert train["small_set_samples"] == 1 and train["small_sets"] == [SMALL_SET]
    assert (val["lines"], val["usable"], val["skipped"]["emoji outside vocab"]) == (3, 2, 1)
    assert (test["lines"], test["usable"], sum(test["skipped"].values())) == (3, 3, 0)
    stickers = report["stickers"]
    assert (stickers["sets"], stickers["listed_stickers"]) == (2, 15)
    assert (stickers["ok"], stickers["converted"], stickers["refused"], stickers["missing_files"]) == (
        8, {"grayscale": 2, "rgba": 1}, 3, 1)
    assert {str(BIG_STICKERS[i]) + ".npy" for i in (6, 7, 8)} == {
        e.split(": ")[0].rsplit("/", 1)[1] for e in stickers["refused_examples"]}
    assert stickers["malformed_mapping_lines"] == 2
    assert [(m["set_id"], m["line"]) for m in stickers["mapping_examples"]] == [(BIG_SET, 4), (BIG_SET, 5)]
    assert stickers["small_sets"] == 1 and stickers["small_set_examples"] == [{"set_id": SMALL_SET, "stickers": 3}]
    assert report["vocab"]["size"] == 4 + 31 and report["emoji_vocab"]["size"] == 4


def test_validate_text_report(corpus, capsys):
    code, out, _ = _validate(corpus, capsys)
    assert code == 0 and out.rstrip().endswith("usable")
    assert "train: 14 lines read, 4 usable, 10 skipped" in out
    assert "line 4: current.sticker_id is a float" in out


def test_validate_refuses_a_split_without_usable_samples(corpus, capsys):
    (corpus / "release_test.json").write_text("{broken\n\n[1]\n", encoding="utf-8")
    code, out, err = _validate(corpus, capsys, "--json")
    assert code == 1 and json.loads(out)["splits"]["test"]["skipped"]["malformed line"] == 2
    assert err.strip().endswith("not usable: no usable samples in test") and err.count("\n") == 1


@pytest.mark.parametrize("missing", ["release_test.json", "npy_stickers", "emoji_vocab"])
def test_validate_missing_files(corpus, capsys, missing):
    target = corpus / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    code, out, err = _validate(corpus, capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and missing in err and err.startswith("srs_lib validate: ")


def test_validate_missing_folder(tmp_path, capsys):
    code, _, err = _validate(tmp_path / "nowhere", capsys)
    assert code == 1 and "no corpus folder" in err


def test_clean_corpus_has_nothing_to_report(clean_corpus, capsys):
    code, out, _ = _validate(clean_corpus, capsys, "--json")
    report = json.loads(out)
    assert code == 0
    assert [report["splits"][s]["usable"] for s in ("train", "val", "test")] == [4, 2, 3]
    assert all(sum(report["splits"][s]["skipped"].values()) == 0 for s in report["splits"])
    assert (report["stickers"]["ok"], report["stickers"]["refused"], report["stickers"]["malformed_mapping_lines"]) == (
        15, 0, 0)
