"""A StickerChat corpus on disk, and the one set of rules that decides which samples are usable.

A corpus folder ``BASE`` holds ``release_{train,val,test}.json``, ``npy_stickers/``,
``vocab`` and ``emoji_vocab`` (see :mod:`srs_lib.data.dialogs`,
:mod:`srs_lib.data.stickers`, :mod:`srs_lib.data.vocab`).

The released reader silently drops some samples. Here every sample is checked against the
rules below, in this order, and the first rule it breaks is counted in a
:class:`SplitReport` (validation, statistics and training all read splits through
:func:`iter_split`, so they agree on what is usable):

1. ``"malformed line"``: not a valid JSON sample (see :func:`~srs_lib.data.dialogs.iter_dialogs`);
2. ``"empty context"``: no context utterance has a word;
3. ``"sticker set missing"``: no ``npy_stickers/<set>/emoji_mapping.txt`` for the set;
4. ``"sticker not in mapping"``: the sticker is not listed in its set's mapping;
5. ``"sticker file missing"``: no ``<sticker>.npy`` file;
6. ``"sticker unloadable"``: the file is refused (pickled, truncated, wrong shape or dtype;
   grayscale and RGBA files are converted, hence usable);
7. ``"emoji outside vocab"``: ``sticker_alt`` is not in ``emoji_vocab`` (emojis compared
   under :func:`~srs_lib.data.vocab.normalize_emoji`: without variation selectors).

Sets with fewer than :data:`MIN_SET_SIZE` stickers are reported, not skipped (the released
code fills the missing candidate slots with blank images).
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from srs_lib.data.cache import StickerCache
from srs_lib.data.dialogs import Dialog, MalformedLine, iter_dialogs
from srs_lib.data.entries import classify_entry, corpus_roots
from srs_lib.data.stickers import STICKER_FOLDER, StickerStore
from srs_lib.data.vocab import EmojiVocab, Vocab, VocabularyError

SPLITS = ("train", "val", "test")
MIN_SET_SIZE = 10
"""Candidates per context in the paper (1 positive + 9 negatives from the same set)."""
EXAMPLES_KEPT = 5
"""Examples (line number and detail) a report keeps per skip reason; all are counted."""

MALFORMED = "malformed line"
EMPTY_CONTEXT = "empty context"
SET_MISSING = "sticker set missing"
NOT_IN_MAPPING = "sticker not in mapping"
FILE_MISSING = "sticker file missing"
UNLOADABLE = "sticker unloadable"
EMOJI_OUTSIDE_VOCAB = "emoji outside vocab"
SKIP_REASONS = (
    MALFORMED, EMPTY_CONTEXT, SET_MISSING, NOT_IN_MAPPING, FILE_MISSING, UNLOADABLE, EMOJI_OUTSIDE_VOCAB,
)
"""Why a sample is skipped, in the order the rules are checked."""


class CorpusError(Exception):
    """The corpus cannot be used; the message is one line saying why."""


def split_path(base_path: str | os.PathLike, split: str) -> Path:
    """``BASE/release_<split>.json`` for ``split`` in :data:`SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return Path(base_path) / f"release_{split}.json"


@dataclass
class SplitReport:
    """What reading one split found.

    ``lines``: non-blank lines read; ``usable``: samples kept; ``skipped``: ``Counter`` of
    skipped samples by reason (keys from :data:`SKIP_REASONS`); ``examples``: per reason,
    the first :data:`EXAMPLES_KEPT` ``(line, detail)`` pairs; ``small_set_samples``: usable
    samples whose set has fewer than :data:`MIN_SET_SIZE` stickers, ``small_sets`` those sets;
    ``normalised_alts``: usable samples whose ``sticker_alt`` matches the emoji vocabulary
    only under :func:`~srs_lib.data.vocab.normalize_emoji` (spelled with a variation selector
    where the vocabulary has none, or the reverse).
    """

    split: str
    path: Path
    lines: int = 0
    usable: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    small_set_samples: int = 0
    small_sets: set[int] = field(default_factory=set)
    normalised_alts: int = 0

    def skip(self, reason: str, line: int, detail: str) -> None:
        """Count a skipped sample (and keep it as an example while there are few)."""
        self.skipped[reason] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append((line, detail))

    @classmethod
    def from_dict(cls, split: str, data: dict) -> "SplitReport":
        """The report :meth:`to_dict` wrote (for a cached encoding)."""
        return cls(
            split=split, path=Path(data["path"]), lines=int(data["lines"]), usable=int(data["usable"]),
            skipped=Counter({reason: int(n) for reason, n in data["skipped"].items() if n}),
            examples={reason: [(int(e["line"]), str(e["detail"])) for e in examples]
                      for reason, examples in data["examples"].items()},
            small_set_samples=int(data["small_set_samples"]), small_sets=set(data["small_sets"]),
            normalised_alts=int(data["normalised_sticker_alts"]),
        )

    def to_dict(self) -> dict:
        """JSON-ready form (ids stay exact integers)."""
        return {
            "path": str(self.path),
            "lines": self.lines,
            "usable": self.usable,
            "skipped": {reason: self.skipped[reason] for reason in SKIP_REASONS},
            "examples": {
                reason: [{"line": line, "detail": detail} for line, detail in examples]
                for reason, examples in self.examples.items()
            },
            "small_set_samples": self.small_set_samples,
            "small_sets": sorted(self.small_sets),
            "normalised_sticker_alts": self.normalised_alts,
        }


def sample_problem(dialog: Dialog, store: StickerStore, emoji_vocab: EmojiVocab) -> tuple[str, str] | None:
    """``(reason, detail)`` of the first usability rule a sample breaks, ``None`` if usable."""
    if not dialog.utterances:
        return EMPTY_CONTEXT, f"{len(dialog.context)} utterances, none with a word"
    set_id, sticker_id = dialog.sticker_key
    sticker_set = store.sets.get(set_id)
    if sticker_set is None:
        problem = store.set_problem(set_id)
        return SET_MISSING, f"set {set_id}" + (f" ({problem})" if problem else "")
    if sticker_id not in sticker_set:
        return NOT_IN_MAPPING, f"sticker {sticker_id} of set {set_id}"
    check = store.check(set_id, sticker_id)
    if check.missing:
        return FILE_MISSING, str(check.path)
    if check.error is not None:
        return UNLOADABLE, check.error
    if dialog.current.sticker_alt not in emoji_vocab:
        return EMOJI_OUTSIDE_VOCAB, f"sticker_alt {dialog.current.sticker_alt!r}"
    return None


def iter_split(
    path: str | os.PathLike,
    store: StickerStore,
    emoji_vocab: EmojiVocab,
    report: SplitReport,
    *,
    progress: bool = False,
) -> Iterator[Dialog]:
    """Stream the usable samples of a release file, counting everything in ``report``.

    ``progress`` shows a tqdm bar (lines read, on stderr).
    """
    items = iter_dialogs(path)
    if progress:
        items = tqdm(items, desc=f"reading {Path(path).name}", unit=" lines")
    for item in items:
        report.lines += 1
        if isinstance(item, MalformedLine):
            report.skip(MALFORMED, item.line, item.reason)
            continue
        problem = sample_problem(item, store, emoji_vocab)
        if problem is not None:
            report.skip(problem[0], item.line, problem[1])
            continue
        report.usable += 1
        if emoji_vocab.respelled(item.current.sticker_alt):
            report.normalised_alts += 1
        set_id = item.current.sticker_set_id
        if len(store.sets[set_id]) < MIN_SET_SIZE:
            report.small_set_samples += 1
            report.small_sets.add(set_id)
        yield item


def require_file(path: Path, what: str, base_path: str | os.PathLike | None = None) -> Path:
    """``path`` if it is a regular file (or a link to one inside the corpus ``base_path``,
    by default ``path``'s folder); :class:`CorpusError` otherwise (see
    :mod:`srs_lib.data.entries`)."""
    if not path.exists() and not path.is_symlink():
        raise CorpusError(f"missing {what}: {path}")
    entry = classify_entry(path, corpus_roots(base_path if base_path is not None else path.parent))
    if entry.kind == "refused":
        raise CorpusError(f"{what}: {entry.reason}")
    if entry.kind != "file":
        raise CorpusError(f"{what} {path} is a {entry.kind}, not a file")
    return path


def open_store(base_path: str | os.PathLike) -> StickerStore:
    """The corpus's :class:`StickerStore`; :class:`CorpusError` without ``npy_stickers``."""
    folder = Path(base_path) / STICKER_FOLDER
    if not folder.is_dir():
        raise CorpusError(f"missing sticker folder: {folder}" if not folder.exists()
                          else f"sticker folder {folder} is not a folder")
    return StickerStore(base_path)


def open_emoji_vocab(base_path: str | os.PathLike, max_size: int | None = None) -> EmojiVocab:
    """The corpus's emoji vocabulary (``max_size``: see :meth:`EmojiVocab.from_file`);
    :class:`CorpusError` if missing or empty."""
    try:
        vocab = EmojiVocab.from_file(require_file(Path(base_path) / "emoji_vocab", "emoji vocabulary"),
                                     max_size)
    except VocabularyError as error:
        raise CorpusError(str(error)) from None
    if not len(vocab):
        raise CorpusError(f"the emoji vocabulary {Path(base_path) / 'emoji_vocab'} lists no emoji")
    return vocab


def open_vocab(base_path: str | os.PathLike, max_size: int | None = None) -> Vocab:
    """The corpus's word vocabulary (``max_size`` includes the 4 reserved tokens)."""
    try:
        return Vocab.from_file(require_file(Path(base_path) / "vocab", "word vocabulary"), max_size)
    except VocabularyError as error:
        raise CorpusError(str(error)) from None


def load_split(
    base_path: str | os.PathLike,
    split: str,
    store: StickerStore | None = None,
    emoji_vocab: EmojiVocab | None = None,
    *,
    progress: bool = False,
) -> tuple[list[Dialog], SplitReport]:
    """All usable samples of a split (in file order) and the report of what was skipped.

    ``store`` and ``emoji_vocab`` are opened from ``base_path`` when not given.
    """
    path = require_file(split_path(base_path, split), f"{split} split")
    store = store if store is not None else open_store(base_path)
    emoji_vocab = emoji_vocab if emoji_vocab is not None else open_emoji_vocab(base_path)
    report = SplitReport(split, path)
    dialogs = list(iter_split(path, store, emoji_vocab, report, progress=progress))
    return dialogs, report


class Corpus:
    """A corpus folder opened once: its sticker store and both vocabularies.

    Raises :class:`CorpusError` (one line listing what is missing) unless ``base_path``
    holds the three split files, ``npy_stickers``, ``vocab`` and ``emoji_vocab``.
    ``vocab_size`` caps the word vocabulary and ``emoji_vocab_size`` the emoji vocabulary
    (reserved tokens included in both, as the released code counts them).
    """

    def __init__(self, base_path: str | os.PathLike, vocab_size: int | None = None,
                 emoji_vocab_size: int | None = None):
        self.base_path = Path(base_path)
        if not self.base_path.is_dir():
            raise CorpusError(f"no corpus folder at {self.base_path}: pass --base_path a folder in "
                              f"the StickerChat release format (python -m srs_lib synth --out DIR "
                              f"writes one)")
        needed = [split_path(self.base_path, s).name for s in SPLITS] + [STICKER_FOLDER, "vocab", "emoji_vocab"]
        missing = [name for name in needed if not (self.base_path / name).exists()]
        if missing:
            raise CorpusError(f"not a StickerChat corpus: {self.base_path} lacks {', '.join(missing)}")
        for split in SPLITS:
            require_file(split_path(self.base_path, split), f"{split} split")
        self.store = open_store(self.base_path)
        self.vocab = open_vocab(self.base_path, vocab_size)
        self.emoji_vocab = open_emoji_vocab(self.base_path, emoji_vocab_size)

    def split_path(self, split: str) -> Path:
        """``BASE/release_<split>.json``."""
        return split_path(self.base_path, split)

    def iter_split(self, split: str, report: SplitReport | None = None, *, progress: bool = False) -> Iterator[Dialog]:
        """Stream a split's usable samples; counts go to ``report`` when given."""
        report = report if report is not None else SplitReport(split, self.split_path(split))
        return iter_split(self.split_path(split), self.store, self.emoji_vocab, report, progress=progress)

    def load_split(self, split: str, *, progress: bool = False) -> tuple[list[Dialog], SplitReport]:
        """All usable samples of a split and its :class:`SplitReport`."""
        return load_split(self.base_path, split, self.store, self.emoji_vocab, progress=progress)

    def sticker_cache(
        self, cache_dir: str | os.PathLike | None = None, *, rebuild: bool = False, progress: bool = True,
        verify: str = "stat",
    ) -> StickerCache:
        """The corpus's :class:`~srs_lib.data.cache.StickerCache` (built on first use;
        ``verify``: see :meth:`~srs_lib.data.cache.StickerCache.open`)."""
        return StickerCache.open(self.base_path, cache_dir, store=self.store, rebuild=rebuild,
                                 progress=progress, verify=verify)

    def __repr__(self) -> str:
        return f"Corpus({str(self.base_path)!r})"
