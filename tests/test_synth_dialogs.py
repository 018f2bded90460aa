"""Dialogs of the embedded corpus (``srs_lib.synth.dialogs``): the context speaks of the
ground truth's parts, mostly in its last turns, with cues of the set's other parts earlier.

The writer is driven with settings that switch one behaviour on at a time, on a hand-made
set with a lexicon in which every emoji has one cue word of its own (so a mention is
unambiguous), and then checked on a generated corpus with its real lexicon."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from srs_lib.synth import generate_corpus
from srs_lib.synth.art import sample_style
from srs_lib.synth.character import sample_character
from srs_lib.synth.dialogs import DialogSettings, DialogWriter, make_groups
from srs_lib.synth.language import Lexicon
from srs_lib.synth.sets import StickerSet

EMOJIS = ["😂", "😭", "❓", "💤", "🍕", "☕"]
PARTS = [
    (("expression", "😂"), ("accent", "❓")),
    (("expression", "😂"), ("accent", "💤")),
    (("expression", "😭"), ("accent", "❓"), ("prop", "🍕")),
    (("expression", "😭"),),
    (("expression", "😂"), ("prop", "☕")),
]


class TokenLexicon(Lexicon):
    """The real filler and rare words, but one cue word per emoji: ``cue0``, ``cue1``, ..."""

    def cue_words(self, e):
        return frozenset({f"cue{EMOJIS.index(e)}"})

    def sample_cue(self, e, rng):
        return [f"cue{EMOJIS.index(e)}"]


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return TokenLexicon(EMOJIS, {"faces": EMOJIS}, "en", rng=np.random.default_rng(0), n_rare=50)


@pytest.fixture(scope="module")
def sticker_set() -> StickerSet:
    rng = np.random.default_rng(0)
    return StickerSet(
        index=0, set_id=2**60, theme="faces", sticker_ids=[2**60 + 1 + k for k in range(len(PARTS))],
        parts=list(PARTS), labels=[p[0][1] for p in PARTS], noisy=False,
        style=sample_style(rng, 0.5), character=sample_character(rng),
        vocabulary={"expression": ["😂", "😭"], "accent": ["❓", "💤"], "prop": ["🍕", "☕"]},
    )


def _own_words(lexicon: Lexicon) -> dict[str, set[str]]:
    return {e: set(lexicon.cue_words(e)) for e in EMOJIS}


def _samples(lexicon, sticker_set, settings, k, n=200, seed=0):
    writer = DialogWriter(lexicon, settings)
    rng = np.random.default_rng(seed)
    group = make_groups(1, np.random.default_rng(1), set())[0]
    return [writer.sample(rng, group, sticker_set, k) for _ in range(n)]


def _mentions(record, words) -> list[int]:
    """Distances from the end of the utterances that use one of ``words``."""
    texts = [m["text"].split() for m in record["context"]]
    return [len(texts) - 1 - i for i, t in enumerate(texts) if words & set(t)]


QUIET = dict(p_topic=0.0, p_stray_cue=0.0, distractors=(1.0,))


def test_every_part_of_the_answer_is_cued_mostly_at_the_end(lexicon, sticker_set):
    own = _own_words(lexicon)
    settings = DialogSettings(p_no_target=0.0, expression_cues=(0, 1), accent_cues=(0, 1), prop_cues=(0, 1), **QUIET)
    records = _samples(lexicon, sticker_set, settings, k=2)
    assert all(r["current"]["sticker_id"] == sticker_set.sticker_ids[2] for r in records)
    for emoji in ("😭", "❓", "🍕"):  # the three parts of sticker 2
        assert own[emoji], emoji
        distances = [min(_mentions(r, own[emoji]) or [99]) for r in records]
        assert np.mean([d < 99 for d in distances]) > 0.95, f"{emoji} is always cued"
        assert np.mean([d <= 2 for d in distances]) > 0.7, f"{emoji} is cued in the last turns"
    for emoji in ("😂", "💤", "☕"):  # parts the answer does not have: never, without distractors
        assert not any(_mentions(r, own[emoji]) for r in records), emoji


def test_a_part_can_go_uncued_and_some_dialogs_cue_nothing(lexicon, sticker_set):
    own = _own_words(lexicon)
    settings = DialogSettings(p_no_target=0.0, expression_cues=(0, 1), accent_cues=(1, 0), **QUIET)
    records = _samples(lexicon, sticker_set, settings, k=0)
    assert all(_mentions(r, own["😂"]) for r in records)
    assert not any(_mentions(r, own["❓"]) for r in records), "an accent with no cue is not mentioned"
    silent = DialogSettings(p_no_target=1.0, **QUIET)
    records = _samples(lexicon, sticker_set, silent, k=0)
    assert not any(_mentions(r, own["😂"] | own["❓"]) for r in records)


def test_distractors_are_other_parts_of_the_set_said_earlier(lexicon, sticker_set):
    own = _own_words(lexicon)
    settings = DialogSettings(p_no_target=1.0, p_topic=0.0, p_stray_cue=0.0, distractors=(0, 0, 0, 0, 1.0),
                              p_recent_distractor=0.2)
    records = _samples(lexicon, sticker_set, settings, k=0)  # answer 😂 ❓: the others are 😭 💤 🍕 ☕
    for emoji in ("😭", "💤", "🍕", "☕"):
        distances = [d for r in records for d in _mentions(r, own[emoji])]
        assert len(distances) > 0.8 * len(records), f"{emoji} is a distractor"
        assert np.mean([d >= 2 for d in distances]) > 0.65, f"{emoji} is said mostly earlier"
    for emoji in ("😂", "❓"):
        assert not any(_mentions(r, own[emoji]) for r in records)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dialogs") / "tiny"
    generate_corpus(str(out), "tiny", seed=0, progress=False)
    return out


def test_in_the_corpus_the_answers_parts_are_cued_in_the_last_turns_more_than_others(tiny):
    info = json.loads((tiny / "synth_info.json").read_text(encoding="utf-8"))
    cues = {e: set(words) for e, words in info["cue_words"].items()}
    parts = {(s["set_id"], t["sticker_id"]): [p["emoji"] for p in t["parts"]]
             for s in info["sets"] for t in s["stickers"]}
    vocabulary = {s["set_id"]: [e for kind in s["vocabulary"].values() for e in kind] for s in info["sets"]}
    own_hits, own_total, other_hits, other_total = 0, 0, 0, 0
    for line in (tiny / "release_train.json").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        current = record["current"]
        shown = parts[(current["sticker_set_id"], current["sticker_id"])]
        last = set().union(*(m["text"].split() for m in record["context"][-3:]))
        for emoji in vocabulary[current["sticker_set_id"]]:
            words = cues[emoji] - set().union(*(cues[o] for o in vocabulary[current["sticker_set_id"]] if o != emoji))
            if not words:
                continue
            hit = bool(words & last)
            if emoji in shown:
                own_hits, own_total = own_hits + hit, own_total + 1
            else:
                other_hits, other_total = other_hits + hit, other_total + 1
    own_rate, other_rate = own_hits / own_total, other_hits / other_total
    assert own_total > 300 and other_total > 1000
    assert own_rate > 0.4 and own_rate > 4 * other_rate, (own_rate, other_rate)
