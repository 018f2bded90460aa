"""``python -m srs_lib stats --base_path DIR [--json]``: Table 1 and section 3.2 of the paper.

Over the usable samples of each split (the rules of :mod:`srs_lib.data.corpus`):

* ``pairs``: usable (context, sticker) pairs (``lines``: non-blank lines, usable or not);
* ``avg_words_per_utterance``: whitespace tokens per non-empty context utterance, pooled
  over the split (total words / total non-empty utterances);
* ``avg_utterances``: non-empty context utterances per pair;
* ``avg_users``: distinct ``from_id`` per pair among all context utterances (empty ones
  included: their authors take part) and the responder.

Over the sticker library: ``sticker_sets`` (sets with an ``emoji_mapping.txt``),
``stickers`` (mapping entries whose ``.npy`` file exists; its content is not checked, see
``validate``), ``avg_stickers_per_set``. An average over nothing is ``None``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

import numpy as np

from srs_lib.data.corpus import SPLITS, Corpus, CorpusError, SplitReport
from srs_lib.data.dialogs import Dialog
from srs_lib.data.stickers import StickerStore
from srs_lib.paper import TABLE1


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def split_stats(dialogs: Iterable[Dialog]) -> dict:
    """``pairs``, ``avg_words_per_utterance``, ``avg_utterances``, ``avg_users`` of samples."""
    pairs = utterances = words = users = 0
    for dialog in dialogs:
        pairs += 1
        for utterance in dialog.utterances:
            utterances += 1
            words += len(utterance.tokens)
        users += len({u.from_id for u in dialog.context} | {dialog.current.from_id})
    return {
        "pairs": pairs,
        "avg_words_per_utterance": _mean(words, utterances),
        "avg_utterances": _mean(utterances, pairs),
        "avg_users": _mean(users, pairs),
    }


def library_stats(store: StickerStore) -> dict:
    """``sticker_sets``, ``stickers`` and ``avg_stickers_per_set`` of a sticker library."""
    stickers = sum(
        sum(1 for sticker_id in s.sticker_ids if store.has_file(set_id, sticker_id))
        for set_id, s in store.sets.items()
    )
    return {
        "sticker_sets": len(store.sets),
        "stickers": stickers,
        "avg_stickers_per_set": _mean(stickers, len(store.sets)),
    }


def corpus_stats(base_path, *, progress: bool = False) -> dict:
    """Statistics of a corpus: ``{"train": {...}, "val": {...}, "test": {...}, "library": {...}}``.

    Each split's dict holds :func:`split_stats` and ``lines``; ``library`` holds
    :func:`library_stats`. Raises :class:`~srs_lib.data.corpus.CorpusError`.
    """
    corpus = Corpus(base_path)
    result = {}
    for split in SPLITS:
        report = SplitReport(split, corpus.split_path(split))
        stats = split_stats(corpus.iter_split(split, report, progress=progress))
        result[split] = {**stats, "lines": report.lines}
    result["library"] = library_stats(corpus.store)
    return result


def table1_rows(stats: dict) -> list[dict]:
    """Table 1 and section 3.2 as rows, ours (:func:`~srs_lib.data.stats.corpus_stats`) beside the paper's.

    The paper gives the utterances per context once, over all splits: ours is pooled over
    the splits the same way (total utterances / total pairs).
    """
    rows = []
    names = {"pairs": "context-sticker pairs", "avg_words_per_utterance": "avg words per context utterance",
             "avg_users": "avg users taking part"}
    for key, name in names.items():
        for split in SPLITS:
            rows.append({"quantity": f"{name} ({split})", "ours": stats[split][key],
                         "paper": TABLE1[split][key]})
    pairs = sum(stats[s]["pairs"] for s in SPLITS)
    utterances = sum(stats[s]["pairs"] * (stats[s]["avg_utterances"] or 0.0) for s in SPLITS)
    rows.append({"quantity": "avg utterances per context (all splits)",
                 "ours": utterances / pairs if pairs else None, "paper": TABLE1["avg_utterances"]})
    library = {"sticker_sets": "sticker sets", "stickers": "stickers",
               "avg_stickers_per_set": "avg stickers per set"}
    for key, name in library.items():
        rows.append({"quantity": name, "ours": stats["library"][key], "paper": TABLE1["library"][key]})
    return rows



def dialog_distributions(dialogs: Iterable[Dialog]) -> dict[str, np.ndarray]:
    """Per-sample counts whose means are :func:`~srs_lib.data.stats.split_stats`'s averages.

    ``utterances``: non-empty context utterances per sample; ``words``: words per non-empty
    utterance (pooled over the samples); ``users``: distinct authors per sample, the context's
    (empty utterances included) and the responder.
    """
    utterances, words, users = [], [], []
    for dialog in dialogs:
        kept = dialog.utterances
        utterances.append(len(kept))
        words.extend(len(u.tokens) for u in kept)
        users.append(len({u.from_id for u in dialog.context} | {dialog.current.from_id}))
    return {name: np.asarray(values, dtype=np.int64)
            for name, values in (("utterances", utterances), ("words", words), ("users", users))}


def _cell(value, decimals: int) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{decimals}f}"


def format_stats(stats: dict) -> str:
    """A text table with the paper's figure beside each of the corpus's."""
    rows = [("", "corpus", "paper")]
    for split in SPLITS:
        ours, paper = stats[split], TABLE1[split]
        rows += [
            (f"{split} pairs (usable / lines {ours['lines']:,})", _cell(ours["pairs"], 0), _cell(paper["pairs"], 0)),
            (f"{split} avg words per utterance", _cell(ours["avg_words_per_utterance"], 2),
             _cell(paper["avg_words_per_utterance"], 2)),
            (f"{split} avg utterances per context", _cell(ours["avg_utterances"], 2),
             f"{TABLE1['avg_utterances']} (all splits)"),
            (f"{split} avg users per context", _cell(ours["avg_users"], 2), _cell(paper["avg_users"], 2)),
        ]
    ours, paper = stats["library"], TABLE1["library"]
    rows += [
        ("sticker sets", _cell(ours["sticker_sets"], 0), _cell(paper["sticker_sets"], 0)),
        ("stickers", _cell(ours["stickers"], 0), _cell(paper["stickers"], 0)),
        ("avg stickers per set", _cell(ours["avg_stickers_per_set"], 2), _cell(paper["avg_stickers_per_set"], 2)),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}".rstrip() for a, b, c in rows
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base_path", required=True, help="corpus folder (release_*.json, npy_stickers, vocab, emoji_vocab)"
    )
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON on stdout")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        stats = corpus_stats(args.base_path, progress=not args.no_progress)
    except CorpusError as error:
        print(f"srs_lib stats: {error}", file=sys.stderr)
        return 1
    print(json.dumps(stats, indent=1) if args.json else format_stats(stats))
    return 0
