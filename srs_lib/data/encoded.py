"""The usable samples of a split, encoded once into a memory-mapped array and cached.

Training reads every split through the corpus rules (:mod:`srs_lib.data.corpus`) and turns
each usable sample's context into word ids. Keeping the parsed samples in memory to do so
cost about 1.1 GB at 128,000 lines (the paper's 320,168 would be about 2.8 GB); here the
samples are streamed, one at a time, and their ids written in blocks to a file in the
sticker cache's folder, which training then memory-maps. Memory no longer grows with the
corpus: the encoding holds one block, and the map is file-backed pages the kernel can drop.

Files, beside the sticker cache (``BASE/.srs_cache/`` or ``cache_dir``), per *slot* (a
split file, the vocabulary size and the context limits, hashed into 16 hex digits):

* ``encoded-<slot>-<nonce>.i32``: int32 ``(samples, utterances, words)``, C order, raw;
* ``encoded-<slot>-<nonce>.npz``: ``n_utterances``, ``lines``, ``set_index``,
  ``positive_rows`` (read with ``allow_pickle=False``);
* ``encoded-<slot>.json``: the key it was built for, the two file names, the shape, the
  distinct set ids (exact JSON integers) and the split's report (what was skipped, why).

The key hashes the size, modification and status-change times of the split file and both
vocabularies (as the sticker fingerprint does for sticker files), the vocabulary size, the
limits, and the sticker cache's fingerprint (which covers every mapping and sticker file,
hence every rule). With ``verify="full"`` the SHA-256 of the three files' bytes, recorded
at encoding, is compared too. Writing follows the sticker cache's rules: under its folder's
exclusive lock, through temporaries renamed into place, the index last; afterwards every
file of the slot that the index does not name is removed (and only files of our naming
scheme). A read-only cache folder falls back to encoding into memory (streamed, without
keeping the parsed samples).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srs_lib.data.cache import StickerCache, file_digest, locked
from srs_lib.data.corpus import Corpus, SplitReport, iter_split
from srs_lib.data.entries import open_regular
from srs_lib.data.vocab import encode_context
from srs_lib.files import (
    fsync_path,
    replace_atomically,
    write_bytes_atomically,
    write_text_atomically,
)

FORMAT_VERSION = 1
"""Raise it whenever the corpus rules or the encoding change: every slot is then stale."""
BLOCK = 1024
"""Samples encoded in memory before they are written out."""
_DATA_NAME = re.compile(r"encoded-([0-9a-f]{16})-[0-9a-f]{8}\.(i32|npz)")
_TEMPORARY = re.compile(r"encoded-([0-9a-f]{16})-[0-9a-f]{8}\.(i32|npz)\.tmp-[0-9]+")


@dataclass
class EncodedSplit:
    """The usable samples of one split, encoded once.

    ``contexts`` (samples, utterances, words) int32 word ids (PAD = 0, real utterances
    first), a read-only memory map when cached; ``n_utterances`` (samples,) int32;
    ``lines`` (samples,) int64 line numbers in the release file; ``sets`` the distinct
    sticker set ids of the samples (exact Python ints, increasing) and ``set_index``
    (samples,) int32 each sample's position in ``sets``: ids are never cast to a
    fixed-width integer (some corpora have ids above 2**63); ``positive_rows`` (samples,)
    int64 rows of the ground-truth stickers in the sticker cache; ``report`` what the corpus
    rules skipped; ``cached``: ``"built"``, ``"reused"`` or ``None`` (encoded in memory).
    """

    name: str
    contexts: np.ndarray
    n_utterances: np.ndarray
    lines: np.ndarray
    sets: tuple[int, ...]
    set_index: np.ndarray
    positive_rows: np.ndarray
    report: SplitReport
    cached: str | None = None

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def set_ids(self) -> np.ndarray:
        """Each sample's sticker set id, (samples,) object array of exact Python ints."""
        ids = np.empty(len(self.sets), dtype=object)
        ids[:] = self.sets
        return ids[self.set_index]


def _stat_key(path: Path) -> str:
    info = os.stat(path)
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def _sources(corpus: Corpus, path: Path) -> list[Path]:
    return [Path(os.path.realpath(p)) for p in (path, corpus.base_path / "vocab", corpus.base_path / "emoji_vocab")]


def _slot(path: Path, corpus: Corpus, max_utterances: int, max_words: int) -> str:
    name = os.path.relpath(os.path.realpath(path), os.path.realpath(corpus.base_path))
    text = f"{name}\0{len(corpus.vocab)}\0{len(corpus.emoji_vocab)}\0{max_utterances}\0{max_words}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _key(path: Path, corpus: Corpus, cache: StickerCache, max_utterances: int, max_words: int) -> str:
    parts = [f"srs encoded v{FORMAT_VERSION}", str(len(corpus.vocab)), str(len(corpus.emoji_vocab)),
             str(max_utterances),
             str(max_words), cache.fingerprint] + [_stat_key(p) for p in _sources(corpus, path)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _content(corpus: Corpus, path: Path) -> str:
    return hashlib.sha256("\0".join(file_digest(p) for p in _sources(corpus, path)).encode()).hexdigest()


def _own(directory: Path, name, slot: str, suffix: str) -> Path | None:
    match = _DATA_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None or match.group(1) != slot or match.group(2) != suffix:
        return None
    path = directory / name
    return path if path.is_file() and not path.is_symlink() else None


class _Encoder:
    """Streams usable samples into blocks of word ids (and the per-sample arrays)."""

    def __init__(self, corpus: Corpus, cache: StickerCache, path: Path, max_utterances: int, max_words: int):
        self.corpus, self.cache, self.path = corpus, cache, path
        self.shape = (max_utterances, max_words)
        self.counts, self.lines, self.rows, self.set_index = array("i"), array("q"), array("q"), array("i")
        self.sets: dict[int, int] = {}
        self.block = np.zeros((BLOCK, *self.shape), dtype=np.int32)
        self.filled = 0
        self.samples = 0

    def run(self, report: SplitReport, sink, progress: bool) -> None:
        """Encode every usable sample; ``sink(array)`` receives each full block."""
        for dialog in iter_split(self.path, self.corpus.store, self.corpus.emoji_vocab, report,
                                 progress=progress):
            key = dialog.sticker_key
            if key not in self.cache:
                raise RuntimeError(f"{self.path.name} line {dialog.line}: sticker {key} is usable but "
                                   f"not in the sticker cache at {self.cache.directory}; rebuild the cache")
            ids, n = encode_context(dialog, self.corpus.vocab, *self.shape)
            self.block[self.filled] = ids
            self.filled += 1
            self.samples += 1
            self.counts.append(n)
            self.lines.append(dialog.line)
            self.rows.append(self.cache.row(*key))
            self.set_index.append(self.sets.setdefault(dialog.current.sticker_set_id, len(self.sets)))
            if self.filled == BLOCK:
                sink(self.block)
                self.filled = 0
        if self.filled:
            sink(self.block[:self.filled])
            self.filled = 0

    def arrays(self) -> tuple[tuple[int, ...], dict[str, np.ndarray]]:
        """The distinct set ids in increasing order and the per-sample arrays."""
        sets = tuple(sorted(self.sets))
        renumber = np.zeros(len(sets), dtype=np.int32)
        for new, set_id in enumerate(sets):
            renumber[self.sets[set_id]] = new
        order = np.frombuffer(self.set_index, dtype=np.int32) if self.samples else np.zeros(0, np.int32)
        return sets, {
            "n_utterances": np.frombuffer(self.counts, dtype=np.int32).copy() if self.samples else np.zeros(0, np.int32),
            "lines": np.frombuffer(self.lines, dtype=np.int64).copy() if self.samples else np.zeros(0, np.int64),
            "set_index": renumber[order] if self.samples else np.zeros(0, np.int32),
            "positive_rows": np.frombuffer(self.rows, dtype=np.int64).copy() if self.samples else np.zeros(0, np.int64),
        }


def _in_memory(corpus, cache, name, path, max_utterances, max_words, progress) -> EncodedSplit:
    encoder = _Encoder(corpus, cache, path, max_utterances, max_words)
    report = SplitReport(name, path)
    blocks = []
    encoder.run(report, lambda block: blocks.append(block.copy()), progress)
    contexts = np.concatenate(blocks) if blocks else np.zeros((0, max_utterances, max_words), np.int32)
    sets, arrays = encoder.arrays()
    return EncodedSplit(name, contexts, arrays["n_utterances"], arrays["lines"], sets,
                        arrays["set_index"], arrays["positive_rows"], report)


def _reopen(directory: Path, slot: str, name: str, key: str, content: str | None) -> EncodedSplit | None:
    try:
        with open_regular(directory / f"encoded-{slot}.json") as handle:
            index = json.loads(handle.read().decode("utf-8"))
        if index["format"] != FORMAT_VERSION or index["key"] != key:
            return None
        if content is not None and index["content"] != content:
            return None
        data = _own(directory, index["data_file"], slot, "i32")
        extra = _own(directory, index["arrays_file"], slot, "npz")
        shape = tuple(int(n) for n in index["shape"])
        if data is None or extra is None or len(shape) != 3 or os.stat(data).st_size != 4 * int(np.prod(shape)):
            return None
        contexts = (np.memmap(data, dtype=np.int32, mode="r", shape=shape) if shape[0]
                    else np.zeros(shape, dtype=np.int32))
        with np.load(extra, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in ("n_utterances", "lines", "set_index", "positive_rows")}
        sets = tuple(index["sets"])
        if any(len(a) != shape[0] for a in arrays.values()) or not all(type(s) is int for s in sets):
            return None
        report = SplitReport.from_dict(name, index["report"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return EncodedSplit(name, contexts, arrays["n_utterances"], arrays["lines"], sets,
                        arrays["set_index"], arrays["positive_rows"], report, cached="reused")


def _remove_stale(directory: Path, slot: str, keep: tuple[str, ...]) -> None:
    """Under the lock: every file of this slot's scheme that the index does not name."""
    for path in directory.iterdir():
        match = _DATA_NAME.fullmatch(path.name) or _TEMPORARY.fullmatch(path.name)
        if match and match.group(1) == slot and path.name not in keep and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


def _build(directory, slot, corpus, cache, name, path, max_utterances, max_words, key, progress) -> EncodedSplit:
    nonce = secrets.token_hex(4)
    data_name, arrays_name = f"encoded-{slot}-{nonce}.i32", f"encoded-{slot}-{nonce}.npz"
    tmp = directory / f"{data_name}.tmp-{os.getpid()}"
    encoder = _Encoder(corpus, cache, path, max_utterances, max_words)
    report = SplitReport(name, path)
    try:
        with open(tmp, "wb") as handle:
            encoder.run(report, lambda block: handle.write(np.ascontiguousarray(block).tobytes()), progress)
        replace_atomically(tmp, directory / data_name)
    finally:
        tmp.unlink(missing_ok=True)
    sets, arrays = encoder.arrays()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomically(directory / arrays_name, buffer.getvalue())
    index = {"format": FORMAT_VERSION, "key": key, "content": _content(corpus, path),
             "split": name, "data_file": data_name, "arrays_file": arrays_name,
             "shape": [encoder.samples, max_utterances, max_words], "sets": list(sets),
             "report": report.to_dict()}
    write_text_atomically(directory / f"encoded-{slot}.json", json.dumps(index, ensure_ascii=False))
    _remove_stale(directory, slot, keep=(data_name, arrays_name))
    fsync_path(directory)
    encoded = _reopen(directory, slot, name, key, None)
    if encoded is None:
        raise RuntimeError(f"the encoded split just written in {directory} cannot be reopened")
    encoded.cached = "built"
    return encoded


def encode_split(corpus: Corpus, name: str, path: Path, cache: StickerCache, *,
                 max_utterances: int = 15, max_words: int = 30, progress: bool = False,
                 cached: bool = True, verify: str = "stat") -> EncodedSplit:
    """The usable samples of the release file ``path`` (called ``name``), encoded.

    Reused from the cache folder of ``cache`` when the key matches (``verify="full"``: and
    the files' bytes), else encoded (streamed) and written there; ``cached=False`` or a
    read-only cache folder encodes into memory. Raises ``RuntimeError`` when a usable
    sample's sticker is not in ``cache`` (a cache built from other files).
    """
    if not cached:
        return _in_memory(corpus, cache, name, path, max_utterances, max_words, progress)
    directory = Path(cache.directory)
    slot = _slot(path, corpus, max_utterances, max_words)
    key = _key(path, corpus, cache, max_utterances, max_words)
    content = _content(corpus, path) if verify == "full" else None
    with locked(directory, exclusive=False, create=False):
        encoded = _reopen(directory, slot, name, key, content)
    if encoded is not None:
        return encoded
    try:
        probe = directory / f".write-test.tmp-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:  # a read-only cache folder
        return _in_memory(corpus, cache, name, path, max_utterances, max_words, progress)
    with locked(directory, exclusive=True, create=True):
        encoded = _reopen(directory, slot, name, key, content)  # built while we waited?
        if encoded is not None:
            return encoded
        return _build(directory, slot, corpus, cache, name, path, max_utterances, max_words, key, progress)
