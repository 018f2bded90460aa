"""A tiny StickerChat corpus in the release format, written by the tests themselves.

:func:`write_corpus` writes ``release_{train,val,test}.json``, ``npy_stickers/``,
``vocab`` and ``emoji_vocab`` under a folder. The pytest fixtures ``corpus``,
``clean_corpus`` and ``make_corpus`` in ``tests/conftest.py`` wrap it.

The sticker library has two sets:

* ``BIG_SET`` = 556029562811580420 (> 2**53), 12 stickers ``BIG_STICKERS`` (ids > 2**53,
  consecutive, so that a float round trip would merge neighbours), emojis cycling through
  ``EMOJIS``. With ``quirks=True`` (the default) some of them are odd, by position
  (``BIG_QUIRKS``): 2 RGBA, 3 grayscale ``(128, 128)``, 4 grayscale ``(128, 128, 1)``,
  5 listed but no file, 6 a pickled object ``.npy``, 7 float32, 8 shape ``(64, 64, 3)``;
  and its ``emoji_mapping.txt`` has 2 malformed lines. So: 8 loadable stickers (3 of them
  converted), 3 refused, 1 missing.
* ``SMALL_SET`` = 7, 3 stickers 701, 702, 703 (emojis 😀, 😂, 🦄): a set with fewer than 10.

``EMOJIS`` (😀 😂 😭 👍) form the emoji vocabulary; 🦄 is outside it. Text is Chinese,
pre-segmented. Users include ``USER_2_53`` = 2**53 and ``USER_BIG`` = 2**53 + 1 (equal as
floats). The samples (with ``quirks=True``; physical line numbers; U = usable):

train (15 lines, one blank: 14 read, 4 usable)
  1 U  3 utterances (9, 6, 2 words), users A, A, USER_BIG, responder C; sticker BIG[0]
  2    truncated JSON                                   -> malformed line
  3    blank (not counted)
  4    sticker_id written as a float                   -> malformed line
  5    context []                                       -> empty context
  6    only whitespace utterances                       -> empty context
  7    set 999                                          -> sticker set missing
  8    BIG set, sticker 123                             -> sticker not in mapping
  9    BIG[5]                                           -> sticker file missing
 10    BIG[6] (pickled)                                 -> sticker unloadable
 11    703 with sticker_alt 🦄                          -> emoji outside vocab
 12 U  ids written as digit strings; 1 empty + 1 one-word utterance; users A, C, responder
       USER_BIG; sticker BIG[2] (RGBA)
 13 U  1 utterance (2 words), user A, responder A; BIG[3] (grayscale)
 14 U  4 utterances (3, 2, 1, 4 words), users A, C, USER_2_53, USER_BIG, responder 5;
       sticker 701 (small set)
 15    no "current"                                     -> malformed line
  => pairs 4, avg words 30/9, avg utterances 9/4, avg users (3+3+1+5)/4 = 3.
val (3 lines, 2 usable): 1 U (2, 1 words; users A, C + U_BIG: 3; BIG[1]);
  2 U (3 words; user C, responder C: 1; sticker 702); 3 BIG[10] with 🦄 -> emoji outside
  vocab.  => pairs 2, avg words 6/3, avg utterances 3/2, avg users 4/2.
test (3 lines, 3 usable): 1 (1 word; A + C: 2; BIG[0]); 2 (2 and 4 words; A only: 1;
  BIG[4]); 3 (1 and 2 words plus a whitespace-only utterance; C, USER_BIG, A + 5: 4; BIG[9]).
  => pairs 3, avg words 10/5, avg utterances 5/3, avg users 7/3.

Library statistics: 2 sets; 14 stickers with a file (11 + 3); 7.0 per set.

With ``quirks=False`` every sticker is a plain 128×128×3 uint8 file, the mapping has no
malformed line, and the splits hold only the usable lines above (train 4, val 2, test 3;
same numbers). ``extra_samples=n`` appends n more usable samples to every split (random
contexts of 1-20 utterances over the loadable stickers, seeded by ``seed``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
BIG_SET = 556029562811580420
BIG_STICKERS = tuple(556029562811581404 + i for i in range(12))
SMALL_SET = 7
SMALL_STICKERS = (701, 702, 703)
EMOJIS = ("😀", "😂", "😭", "👍")
OUTSIDE_EMOJI = "🦄"
SMALL_EMOJIS = ("😀", "😂", OUTSIDE_EMOJI)
USER_A, USER_C, USER_D = 284336329, 271484871, 5
USER_2_53, USER_BIG = 2**53, 2**53 + 1
BIG_QUIRKS = {2: "rgba", 3: "grayscale", 4: "grayscale1", 5: "missing", 6: "pickled", 7: "float32", 8: "small"}
"""Odd stickers of the big set with ``quirks=True``, by position in its mapping."""
LOADABLE_BIG = tuple(i for i in range(12) if BIG_QUIRKS.get(i) in (None, "rgba", "grayscale", "grayscale1"))
MALFORMED_MAPPING_LINES = ("not-a-number\t😀", "12345")
WORDS = (
    "我 正在 用 大 套子 ， 好久 没用 了 没 想到 还 能 上 TG 哈哈 你好 早上 好 "
    "一 二 三 四 五 六 七 八 九 十 世界 是 的 呀"
).split()
OOV_WORDS = ("TG", "十")
"""Words of the samples that the vocabulary files leave out."""


def big_emoji(position: int) -> str:
    """The mapping's emoji of ``BIG_STICKERS[position]``."""
    return EMOJIS[position % len(EMOJIS)]


def _utt(text: str, msg_id, from_id, reply=None) -> dict:
    return {"text": text, "reply_to_msg_id": reply, "id": msg_id, "from_id": from_id}


def _current(from_id, set_id, sticker_id, alt: str, reply=None) -> dict:
    return {"from_id": from_id, "reply_to_msg_id": reply, "sticker_set_id": set_id,
            "sticker_id": sticker_id, "sticker_alt": alt}


def _line(context: list, current: dict) -> str:
    return json.dumps({"context": context, "current": current}, ensure_ascii=False)


def _sample_lines(quirks: bool) -> dict[str, list[str]]:
    """Lines of each split, ``""`` for a blank line (see the module docstring)."""
    big = BIG_STICKERS
    train_1 = _line(
        [_utt("我 正在 用 大 套子 ， 好久 没用 了", 52000, USER_A),
         _utt("没 想到 还 能 上 TG", 52002, USER_A, 52000),
         _utt("哈哈 哈哈", 9007199254740995, USER_BIG)],
        _current(USER_C, BIG_SET, big[0], big_emoji(0), 9007199254740995),
    )
    train_12 = _line(
        [_utt("", "52010", str(USER_A)), _utt("你好", "52011", str(USER_C), "52010")],
        _current(str(USER_BIG), str(BIG_SET), str(big[2]), big_emoji(2), None),
    )
    train_13 = _line([_utt("早上 好", 52020, USER_A)], _current(USER_A, BIG_SET, big[3], big_emoji(3)))
    train_14 = _line(
        [_utt("一 二 三", 52030, USER_A), _utt("四 五", 52031, USER_C),
         _utt("六", 52032, USER_2_53), _utt("七 八 九 十", 52033, USER_BIG)],
        _current(USER_D, SMALL_SET, 701, "😀"),
    )
    ok = [_utt("你好", 1, USER_A)]
    train_quirks = [
        '{"context": [{"text": "坏 的',
        "",
        _line(ok, _current(USER_C, BIG_SET, 5.560295628115814e17, "😀")),
        _line([], _current(USER_C, BIG_SET, big[0], "😀")),
        _line([_utt("   ", 2, USER_A), _utt("", 3, USER_C)], _current(USER_C, BIG_SET, big[0], "😀")),
        _line(ok, _current(USER_C, 999, 1, "😀")),
        _line(ok, _current(USER_C, BIG_SET, 123, "😀")),
        _line(ok, _current(USER_C, BIG_SET, big[5], big_emoji(5))),
        _line(ok, _current(USER_C, BIG_SET, big[6], big_emoji(6))),
        _line(ok, _current(USER_C, SMALL_SET, 703, OUTSIDE_EMOJI)),
    ]
    val = [
        _line([_utt("你好 世界", 60000, USER_A), _utt("好", 60001, USER_C)],
              _current(USER_BIG, BIG_SET, big[1], big_emoji(1))),
        _line([_utt("是 的 呀", 60010, USER_C)], _current(USER_C, SMALL_SET, 702, "😂")),
    ]
    test = [
        _line([_utt("一", 70000, USER_A)], _current(USER_C, BIG_SET, big[0], big_emoji(0))),
        _line([_utt("一 二", 70010, USER_A), _utt("三 四 五 六", 70011, USER_A)],
              _current(USER_A, BIG_SET, big[4], big_emoji(4))),
        _line([_utt("好", 70020, USER_C), _utt("好 好", 70021, USER_BIG), _utt(" \t ", 70022, USER_A)],
              _current(USER_D, BIG_SET, big[9], big_emoji(9))),
    ]
    if not quirks:
        return {"train": [train_1, train_12, train_13, train_14], "val": val, "test": test}
    return {
        "train": [train_1, *train_quirks, train_12, train_13, train_14,
                  json.dumps({"context": [_utt("好", 4, USER_A)]}, ensure_ascii=False)],
        "val": [*val, _line(ok, _current(USER_C, BIG_SET, big[10], OUTSIDE_EMOJI))],
        "test": test,
    }


def _extra_lines(count: int, rng: np.random.Generator, quirks: bool) -> list[str]:
    positions = LOADABLE_BIG if quirks else range(len(BIG_STICKERS))
    choices = [(BIG_SET, BIG_STICKERS[i], big_emoji(i)) for i in positions]
    choices += [(SMALL_SET, SMALL_STICKERS[i], SMALL_EMOJIS[i]) for i in (0, 1)]
    users = (USER_A, USER_C, USER_D, USER_2_53, USER_BIG)
    lines = []
    for n in range(count):
        context = [
            _utt(" ".join(rng.choice(WORDS, size=rng.integers(1, 12))), 80000 + 100 * n + i,
                 int(rng.choice(users)))
            for i in range(rng.integers(1, 21))
        ]
        set_id, sticker_id, emoji = choices[rng.integers(len(choices))]
        lines.append(_line(context, _current(int(rng.choice(users)), set_id, sticker_id, emoji)))
    return lines


def _sticker(kind: str | None, rng: np.random.Generator) -> np.ndarray:
    if kind == "rgba":
        image = rng.integers(0, 256, (128, 128, 4), dtype=np.uint8)
        image[:, :, 3] = 0  # columns 0-31 transparent
        image[:, 32:96, 3] = 255  # opaque
        image[:, 96:, 3] = 128  # half
        return image
    if kind == "grayscale":
        return np.tile(np.arange(128, dtype=np.uint8)[None, :], (128, 1))
    if kind == "grayscale1":
        return np.tile(np.arange(128, dtype=np.uint8)[:, None, None], (1, 128, 1))
    if kind == "float32":
        return rng.random((128, 128, 3), dtype=np.float32)
    if kind == "small":
        return rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)


def _write_set(folder: Path, stickers: dict[int, str | None], emojis: list[str], extra_lines, rng) -> None:
    folder.mkdir(parents=True)
    mapping = [f"{sticker_id}\t{emoji}" for sticker_id, emoji in zip(stickers, emojis)]
    mapping[3:3] = list(extra_lines)
    (folder / "emoji_mapping.txt").write_text("\n".join(mapping) + "\n", encoding="utf-8")
    for sticker_id, kind in stickers.items():
        path = folder / f"{sticker_id}.npy"
        if kind == "missing":
            continue
        if kind == "pickled":
            np.save(path, np.array([{"not": "an image"}], dtype=object), allow_pickle=True)
        else:
            np.save(path, _sticker(kind, rng))


def _vocab_text(tokens, fmt: str) -> str:
    if fmt == "plain":
        return "".join(f"{t}\n" for t in tokens)
    if fmt == "counts":
        return "".join(f"{t} {1000 - 10 * i}\n" for i, t in enumerate(tokens))
    raise ValueError(f"vocabulary format must be 'plain' or 'counts', got {fmt!r}")


def write_corpus(
    root: str | Path,
    *,
    quirks: bool = True,
    vocab_format: str = "counts",
    emoji_vocab_format: str = "plain",
    splits: tuple[str, ...] = SPLITS,
    extra_samples: int = 0,
    seed: int = 0,
) -> Path:
    """Write the tiny corpus described in the module docstring under ``root``; return ``root``.

    ``quirks``: include the odd samples and stickers (default) or write a clean corpus;
    ``vocab_format`` / ``emoji_vocab_format``: ``"plain"`` (one token per line) or
    ``"counts"`` (``token count``); ``splits``: which ``release_*.json`` files to write (leave
    one out to test a missing split); ``extra_samples``: usable samples appended to every
    split; ``seed``: for pixels and extra samples.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = _sample_lines(quirks)
    for split in splits:
        text = [*lines[split], *_extra_lines(extra_samples, rng, quirks)]
        (root / f"release_{split}.json").write_text("\n".join(text) + "\n", encoding="utf-8")
    stickers = root / "npy_stickers"
    big_kinds = {sid: (BIG_QUIRKS.get(i) if quirks else None) for i, sid in enumerate(BIG_STICKERS)}
    _write_set(stickers / str(BIG_SET), big_kinds, [big_emoji(i) for i in range(len(BIG_STICKERS))],
               MALFORMED_MAPPING_LINES if quirks else (), rng)
    _write_set(stickers / str(SMALL_SET), dict.fromkeys(SMALL_STICKERS), list(SMALL_EMOJIS), (), rng)
    words = [w for w in WORDS if w not in OOV_WORDS]
    (root / "vocab").write_text(_vocab_text(words, vocab_format), encoding="utf-8")
    (root / "emoji_vocab").write_text(_vocab_text(EMOJIS, emoji_vocab_format), encoding="utf-8")
    return root
