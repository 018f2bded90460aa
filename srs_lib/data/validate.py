"""``python -m srs_lib validate --base_path DIR [--json]``: check a whole corpus.

Reads every split and checks the header of every sticker listed in a mapping (no pixel is
read), then reports: lines read per split, malformed lines (the first few with their line
numbers, all counted), samples skipped per reason (the rules of :mod:`srs_lib.data.corpus`),
stickers converted (grayscale, RGBA) or refused (wrong shape or dtype, pickled, truncated),
missing sticker files, ignored mapping lines, symbolic links followed (inside the corpus) and
entries refused unread (links out of it, dangling links, FIFOs, devices: see
:mod:`srs_lib.data.entries`), and sets with fewer than 10 stickers.

Exit status 0 when the corpus is usable; 1 with a one-line reason on stderr when it is not
(a file or folder missing, or a split without a single usable sample).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from tqdm import tqdm

from srs_lib.data.corpus import (
    EXAMPLES_KEPT,
    MIN_SET_SIZE,
    SKIP_REASONS,
    SPLITS,
    Corpus,
    CorpusError,
    SplitReport,
)


def check_stickers(corpus: Corpus, *, progress: bool = False) -> dict:
    """Header check of every sticker listed in a mapping, and the library's other problems."""
    store = corpus.store
    converted: Counter[str] = Counter()
    ok = missing = 0
    refused: list[str] = []
    keys = [(set_id, sticker_id) for set_id, s in sorted(store.sets.items()) for sticker_id in s.sticker_ids]
    for set_id, sticker_id in tqdm(keys, desc="checking stickers", unit=" files", disable=not progress):
        check = store.check(set_id, sticker_id)
        if check.missing:
            missing += 1
        elif check.error is not None:
            refused.append(check.error)
        elif check.conversion is not None:
            converted[check.conversion] += 1
        else:
            ok += 1
    small = sorted((len(s), set_id) for set_id, s in store.sets.items() if len(s) < MIN_SET_SIZE)
    return {
        "sets": len(store.sets),
        "listed_stickers": len(keys),
        "ok": ok,
        "converted": dict(sorted(converted.items())),
        "refused": len(refused),
        "refused_examples": refused[:EXAMPLES_KEPT],
        "missing_files": missing,
        "unlisted_files": sum(len(ids) for ids in store.unlisted_files.values()),
        "sets_without_mapping": store.sets_without_mapping,
        "malformed_mapping_lines": len(store.mapping_issues),
        "mapping_examples": [
            {"set_id": issue.set_id, "file": issue.path, "line": issue.line, "reason": issue.reason}
            for issue in store.mapping_issues[:EXAMPLES_KEPT]
        ],
        "normalised_emojis": sum(corpus.emoji_vocab.respelled(emoji) for sticker_set in store.sets.values()
                                 for emoji in sticker_set.emojis),
        "unrecognised_entries": store.unrecognised,
        "links": len(store.links),
        "link_examples": [{"entry": entry, "target": target} for entry, target in store.links[:EXAMPLES_KEPT]],
        "refused_entries": [{"entry": entry, "reason": reason} for entry, reason in store.refused],
        "small_sets": len(small),
        "small_set_examples": [{"set_id": set_id, "stickers": size} for size, set_id in small[:EXAMPLES_KEPT]],
    }


def validate_corpus(base_path, *, progress: bool = False) -> dict:
    """The full validation report as a JSON-ready dict (raises :class:`CorpusError`).

    Keys: ``base_path``, ``usable`` (bool), ``reason`` (why not usable, else ``None``),
    ``splits`` (per split, :meth:`SplitReport.to_dict`), ``stickers``
    (:func:`check_stickers`), ``vocab`` and ``emoji_vocab`` (sizes and skipped lines).
    """
    corpus = Corpus(base_path)
    stickers = check_stickers(corpus, progress=progress)
    splits = {}
    for split in SPLITS:
        report = SplitReport(split, corpus.split_path(split))
        for _ in corpus.iter_split(split, report, progress=progress):
            pass
        splits[split] = report
    empty = [split for split, report in splits.items() if report.usable == 0]
    reason = f"no usable samples in {', '.join(empty)}" if empty else None
    return {
        "base_path": str(corpus.base_path),
        "usable": reason is None,
        "reason": reason,
        "splits": {split: report.to_dict() for split, report in splits.items()},
        "stickers": stickers,
        "vocab": {
            "size": len(corpus.vocab),
            "skipped_lines": corpus.vocab.skipped_lines,
            "duplicates": corpus.vocab.duplicates,
        },
        "emoji_vocab": {
            "size": len(corpus.emoji_vocab),
            "skipped_lines": corpus.emoji_vocab.skipped_lines,
            "duplicates": corpus.emoji_vocab.duplicates,
            "normalised": corpus.emoji_vocab.normalised,
        },
    }


def format_report(report: dict) -> str:
    """The validation report as text."""
    lines = [f"corpus {report['base_path']}"]
    for split, r in report["splits"].items():
        skipped = sum(r["skipped"].values())
        lines.append(f"{split}: {r['lines']:,} lines read, {r['usable']:,} usable, {skipped:,} skipped")
        for reason in SKIP_REASONS:
            if r["skipped"][reason]:
                lines.append(f"    {r['skipped'][reason]:,} {reason}")
                lines += [f"      line {e['line']}: {e['detail']}" for e in r["examples"].get(reason, [])]
        if r["small_set_samples"]:
            lines.append(
                f"    ({r['small_set_samples']:,} usable samples from {len(r['small_sets'])} "
                f"sets with fewer than {MIN_SET_SIZE} stickers)"
            )
    s = report["stickers"]
    converted = ", ".join(f"{n} {kind}" for kind, n in s["converted"].items()) or "none"
    lines += [
        f"stickers: {s['sets']:,} sets, {s['listed_stickers']:,} listed in mappings",
        f"    {s['ok']:,} ok, converted: {converted}",
        f"    {s['refused']:,} refused (wrong shape or dtype, pickled, truncated)",
    ]
    lines += [f"      {message}" for message in s["refused_examples"]]
    lines.append(f"    {s['missing_files']:,} listed but without a file")
    lines.append(f"    {s['malformed_mapping_lines']:,} emoji_mapping.txt lines ignored")
    lines += [f"      {m['file']} line {m['line']}: {m['reason']}" for m in s["mapping_examples"]]
    if s["sets_without_mapping"]:
        lines.append(f"    {len(s['sets_without_mapping']):,} set folders without emoji_mapping.txt (ignored)")
    if s["unlisted_files"]:
        lines.append(f"    {s['unlisted_files']:,} .npy files not listed in their mapping (unused)")
    if s["unrecognised_entries"]:
        lines.append(f"    {len(s['unrecognised_entries']):,} entries whose names are not ids (ignored)")
    if s["links"]:
        lines.append(f"    {s['links']:,} symbolic links inside the corpus, followed")
        lines += [f"      {e['entry']} -> {e['target']}" for e in s["link_examples"]]
    if s["refused_entries"]:
        lines.append(f"    {len(s['refused_entries']):,} entries refused and never read "
                     f"(links out of the corpus, dangling links, FIFOs, devices)")
        lines += [f"      {e['reason']}" for e in s["refused_entries"][:EXAMPLES_KEPT]]
    lines.append(f"    {s['small_sets']:,} sets with fewer than {MIN_SET_SIZE} stickers")
    lines += [f"      set {e['set_id']}: {e['stickers']}" for e in s["small_set_examples"]]
    for name in ("vocab", "emoji_vocab"):
        v = report[name]
        lines.append(
            f"{name}: {v['size']:,} entries, {v['skipped_lines']:,} ambiguous lines skipped, "
            f"{v['duplicates']:,} repeated"
        )
    alts = sum(r["normalised_sticker_alts"] for r in report["splits"].values())
    if s["normalised_emojis"] or alts:
        lines.append(
            f"emojis matched to emoji_vocab only without variation selectors (U+FE0E, U+FE0F): "
            f"{s['normalised_emojis']:,} mapping entries, {alts:,} usable samples' sticker_alt")
    lines.append("usable" if report["usable"] else f"NOT USABLE: {report['reason']}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base_path", required=True, help="corpus folder (release_*.json, npy_stickers, vocab, emoji_vocab)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        report = validate_corpus(args.base_path, progress=not args.no_progress)
    except CorpusError as error:
        print(f"srs_lib validate: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(format_report(report))
    if not report["usable"]:
        print(f"srs_lib validate: {args.base_path}: not usable: {report['reason']}", file=sys.stderr)
        return 1
    return 0

