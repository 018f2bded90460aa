"""A packed, memory-mapped copy of every loadable sticker of a corpus.

Reading 174,695 small ``.npy`` files costs one open per sticker per epoch; the cache reads
them once and packs them into a single array that is memory-mapped afterwards:

* ``stickers-<fingerprint>-<nonce>.npy``: uint8 ``(N, 128, 128, 3)``, one row per loadable
  sticker, sets in increasing id order, each set's stickers in its mapping order;
* ``sticker_index.json``: the corpus fingerprint, the data file's name and shape, and for
  every row its ``[set_id, sticker_id, emoji]`` (ids are exact JSON integers), plus the
  stickers left out and why.

The fingerprint hashes the names, sizes and modification times of every sticker file the
store reads and the content of every ``emoji_mapping.txt``: when any of them changes,
:meth:`StickerCache.open` rebuilds the cache. A build never leaves a half-written cache:
the data goes to a temporary file that is renamed (``os.replace``) into place, and the
index, which is the only entry point, is written the same way, last. Until then the
previous cache (or none) stays intact and is what a reader gets. A build killed outright
leaves a ``*.tmp-<pid>`` file, removed by the next build.

The default location is ``BASE/.srs_cache/``; pass ``cache_dir`` where the corpus is
read-only.

A cache folder may come with a copied corpus, so what its index says is data, not an
instruction: the cache only ever opens or removes files of its own naming scheme
(:data:`DATA_FILE_NAME`, and its ``*.tmp-<pid>`` temporaries) that are regular files directly
inside its folder; a ``data_file`` naming anything else (a path, ``../x``, a link) makes the
index stale, and the cache is rebuilt. A default ``BASE/.srs_cache`` that is a symbolic link
out of the corpus is refused (:class:`CacheError`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from srs_lib.data.stickers import STICKER_SHAPE, StickerError, StickerStore, open_regular
from srs_lib.files import write_text_atomically

CACHE_FOLDER = ".srs_cache"
INDEX_FILE = "sticker_index.json"
FORMAT_VERSION = 1

DATA_FILE_NAME = re.compile(r"stickers-[0-9a-f]{12}-[0-9a-f]{8}\.npy")
"""The names the cache gives its data files; it never reads or removes any other file."""
_TEMPORARY_NAME = re.compile(
    r"(stickers-[0-9a-f]{12}-[0-9a-f]{8}\.npy|\." + re.escape(INDEX_FILE) + r")\.tmp-([0-9]+)")


class CacheError(Exception):
    """The sticker cache cannot be opened or built; the message is one line saying why and
    what to pass instead (usually ``cache_dir``)."""


def _own_file(directory: Path, name) -> Path | None:
    """``directory/name`` if ``name`` is a data file name of our scheme (a bare name, no
    folder part) and that entry is a regular file, not a link; otherwise ``None``.

    The index is read from disk and may have been shipped with a corpus: what it names is
    only ever opened or removed when it passes this test.
    """
    if not isinstance(name, str) or not DATA_FILE_NAME.fullmatch(name):
        return None
    path = directory / name
    try:
        return path if stat.S_ISREG(os.lstat(path).st_mode) else None
    except OSError:
        return None


def corpus_fingerprint(store: StickerStore) -> str:
    """SHA-256 (hex) over what the store reads: the name, size and modification time of
    every sticker file it accepted (links resolved; refused entries are never opened) and
    the content of every mapping it parsed, plus the store's refusals."""
    digest = hashlib.sha256(f"srs sticker cache v{FORMAT_VERSION} {STICKER_SHAPE}".encode())
    for set_id, sticker_id, path in store.files():
        info = os.stat(path)
        digest.update(f"\0{set_id}/{sticker_id}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    for set_id in sorted(store.sets):
        digest.update(f"\0mapping {set_id}\0".encode())
        with open_regular(store.mapping_path(set_id)) as handle:
            digest.update(handle.read())
    for entry, reason in store.refused:
        digest.update(f"\0refused {entry}\0{reason}".encode())
    return digest.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(cache_dir: Path) -> None:
    """Delete the temporary files of our own scheme (``stickers-….npy.tmp-<pid>``,
    ``.sticker_index.json.tmp-<pid>``) left by builds whose process no longer runs."""
    for path in cache_dir.iterdir():
        match = _TEMPORARY_NAME.fullmatch(path.name)
        if match is None or not path.is_file() or path.is_symlink():
            continue
        pid = int(match.group(2))
        if pid != os.getpid() and not _pid_alive(pid):
            path.unlink(missing_ok=True)


class StickerCache:
    """An opened cache: ``images`` is a read-only memory map ``(N, 128, 128, 3)`` uint8.

    Attributes: ``images``; ``keys`` (row → ``(set_id, sticker_id)``); ``emojis`` (row →
    the mapping's emoji); ``excluded`` (``Counter`` of left-out stickers by reason,
    ``"missing"`` or ``"unloadable"``); ``excluded_stickers`` (``[set_id, sticker_id,
    reason, message]`` each); ``conversions`` (grayscale / RGBA files converted when built);
    ``fingerprint``; ``directory``; ``built`` (whether this :meth:`open` built it).
    Use :meth:`open` rather than the constructor.
    """

    def __init__(self, directory: Path, index: dict, images: np.ndarray, built: bool):
        self.directory = directory
        self.fingerprint: str = index["fingerprint"]
        self.images = images
        self.keys: list[tuple[int, int]] = [(s, k) for s, k, _ in index["rows"]]
        self.emojis: list[str] = [emoji for _, _, emoji in index["rows"]]
        self.excluded: Counter[str] = Counter(reason for _, _, reason, _ in index["excluded"])
        self.excluded_stickers: list[list] = index["excluded"]
        self.conversions: Counter[str] = Counter(index["conversions"])
        self.built = built
        self._rows = {key: row for row, key in enumerate(self.keys)}
        self._set_rows: dict[int, list[int]] = {}
        for row, (set_id, _) in enumerate(self.keys):
            self._set_rows.setdefault(set_id, []).append(row)

    @classmethod
    def open(
        cls,
        base_path: str | os.PathLike,
        cache_dir: str | os.PathLike | None = None,
        *,
        store: StickerStore | None = None,
        rebuild: bool = False,
        progress: bool = True,
    ) -> "StickerCache":
        """Open the cache of the corpus at ``base_path``, building it first if it is
        missing, stale (fingerprint changed) or unreadable, or if ``rebuild`` is true.

        ``cache_dir`` defaults to ``base_path/.srs_cache``; ``store`` reuses an opened
        :class:`StickerStore` of the same corpus; ``progress`` shows a tqdm bar (stderr)
        while building.
        """
        base_path = Path(base_path)
        if cache_dir is not None:
            directory = Path(cache_dir)
        else:
            directory = base_path / CACHE_FOLDER
            if directory.is_symlink():
                # A corpus may be a copy from someone else: its own cache folder must not
                # send our writes and removals elsewhere.
                target = os.path.realpath(directory)
                if not Path(target).is_relative_to(os.path.realpath(base_path)):
                    raise CacheError(
                        f"{directory} is a symbolic link to {target}, outside the corpus; "
                        f"remove it, or pass cache_dir (--cache_dir) to choose the cache folder")
        store = store if store is not None else StickerStore(base_path)
        fingerprint = corpus_fingerprint(store)
        if not rebuild:
            cache = cls._reopen(directory, fingerprint)
            if cache is not None:
                return cache
        cls._build(store, directory, fingerprint, progress)
        cache = cls._reopen(directory, fingerprint, built=True)
        if cache is None:
            raise RuntimeError(f"the sticker cache just built in {directory} cannot be reopened")
        return cache

    @classmethod
    def _reopen(cls, directory: Path, fingerprint: str, built: bool = False) -> "StickerCache | None":
        try:
            with open(directory / INDEX_FILE, encoding="utf-8") as handle:
                index = json.load(handle)
        except (OSError, ValueError):
            return None
        if index.get("format") != FORMAT_VERSION or index.get("fingerprint") != fingerprint:
            return None
        data_file = _own_file(directory, index.get("data_file"))
        if data_file is None:
            return None
        try:
            images = np.load(data_file, mmap_mode="r", allow_pickle=False)
            if images.shape != tuple(index["shape"]) or images.dtype != np.uint8:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(directory, index, images, built)

    @staticmethod
    def _build(store: StickerStore, directory: Path, fingerprint: str, progress: bool) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(
                f"cannot create the sticker cache folder {directory} ({error.strerror}); "
                f"pass cache_dir to put the cache elsewhere"
            ) from None
        _remove_stale_temporaries(directory)
        rows, excluded = [], []
        conversions: Counter[str] = Counter()
        for set_id in sorted(store.sets):
            sticker_set = store.sets[set_id]
            for sticker_id, emoji in zip(sticker_set.sticker_ids, sticker_set.emojis):
                check = store.check(set_id, sticker_id)
                if check.usable:
                    rows.append([set_id, sticker_id, emoji])
                    if check.conversion is not None:
                        conversions[check.conversion] += 1
                else:
                    reason = "missing" if check.missing else "unloadable"
                    excluded.append([set_id, sticker_id, reason, check.error])
        data_name = f"stickers-{fingerprint[:12]}-{secrets.token_hex(4)}.npy"
        tmp = directory / f"{data_name}.tmp-{os.getpid()}"
        shape = (len(rows),) + STICKER_SHAPE
        try:
            if rows:
                images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                bar = tqdm(rows, desc="packing stickers", unit=" stickers", disable=not progress)
                for row, (set_id, sticker_id, _) in enumerate(bar):
                    images[row] = store.load(set_id, sticker_id)
                images.flush()
                del images
            else:
                with open(tmp, "wb") as handle:
                    np.save(handle, np.zeros(shape, dtype=np.uint8))
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, directory / data_name)
        except StickerError as error:
            raise StickerError(f"sticker cache not built: {error}") from None
        finally:
            tmp.unlink(missing_ok=True)
        previous = None
        try:
            with open(directory / INDEX_FILE, encoding="utf-8") as handle:
                previous = json.load(handle).get("data_file")
        except (OSError, ValueError):
            pass
        index = {
            "format": FORMAT_VERSION,
            "fingerprint": fingerprint,
            "data_file": data_name,
            "shape": list(shape),
            "rows": rows,
            "excluded": excluded,
            "conversions": dict(conversions),
        }
        try:
            write_text_atomically(directory / INDEX_FILE, json.dumps(index, ensure_ascii=False))
        except BaseException:
            (directory / data_name).unlink(missing_ok=True)
            raise
        previous = _own_file(directory, previous)
        if previous is not None and previous.name != data_name:
            previous.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def row(self, set_id: int, sticker_id: int) -> int:
        """Row of a sticker in :attr:`images`; ``KeyError`` if it is not cached."""
        return self._rows[(set_id, sticker_id)]

    def set_rows(self, set_id: int) -> np.ndarray:
        """Rows of a set's cached stickers in mapping order, int64 ``(k,)`` (empty if none)."""
        return np.asarray(self._set_rows.get(set_id, []), dtype=np.int64)

    def load(self, set_id: int, sticker_id: int) -> np.ndarray:
        """One sticker, ``(128, 128, 3)`` uint8 (a view into the memory map)."""
        return self.images[self.row(set_id, sticker_id)]

    def load_many(self, keys) -> np.ndarray:
        """Stickers for ``(set_id, sticker_id)`` keys, ``(n, 128, 128, 3)`` uint8 (a copy)."""
        rows = np.asarray([self.row(s, k) for s, k in keys], dtype=np.int64)
        return np.asarray(self.images[rows])
