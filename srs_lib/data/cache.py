"""A packed, memory-mapped copy of every loadable sticker of a corpus.

Reading 174,695 small ``.npy`` files costs one open per sticker per epoch; the cache reads
them once and packs them into a single array that is memory-mapped afterwards:

* ``stickers-<fingerprint>-<nonce>.npy``: uint8 ``(N, 128, 128, 3)``, one row per loadable
  sticker, sets in increasing id order, each set's stickers in its mapping order;
* ``sticker_index.json``: the corpus fingerprint, the data file's name and shape, and for
  every row its ``[set_id, sticker_id, emoji]`` (ids are exact JSON integers), plus the
  stickers left out and why.

The fingerprint (:func:`corpus_fingerprint`) hashes the ids, sizes, modification and
status-change times of every sticker file the store reads and the content of every
``emoji_mapping.txt``: when any of them changes, :meth:`StickerCache.open` rebuilds the
cache. Every sticker file has the same size and a modification time can be set back, but
no one can set back a status-change time, so a same-size rewrite or bytes overwritten in
place are seen for the cost of one ``stat`` per file (about 5 µs warm: under a second at
the paper's 174,695 files). ``verify="full"`` (``--verify_cache full``) also compares a hash
of every byte, recorded when the cache was built (about 50 µs per file warm, and a read of
the whole 8.6 GB library cold), which sees bytes changed beneath the file system too.

A build never leaves a half-written cache: the data goes to a temporary file that is
renamed (``os.replace``) into place, and the index, which is the only entry point, is
written the same way, last. Until then the previous cache (or none) stays intact and is
what a reader gets. A build holds the folder's lock (``.lock``, ``flock``; the kernel drops
it when the holder dies), so concurrent opens of one cache wait for one build and share it
instead of each packing a copy; under the lock, every data file of the cache's scheme that
the index does not name and every temporary (left by a killed build) is removed.

The default location is ``BASE/.srs_cache/``; pass ``cache_dir`` where the corpus is
read-only. The folder also holds the encoded splits (:mod:`srs_lib.data.encoded`), under
the same lock and naming rules.

A cache folder may come with a copied corpus, so what its index says is data, not an
instruction: the cache only ever opens or removes files of its own naming scheme
(:data:`DATA_FILE_NAME`, and its ``*.tmp-<pid>`` temporaries) that are regular files directly
inside its folder; a ``data_file`` naming anything else (a path, ``../x``, a link) makes the
index stale, and the cache is rebuilt. A default ``BASE/.srs_cache`` that is a symbolic link
out of the corpus is refused (:class:`CacheError`).
"""
from __future__ import annotations

import contextlib
import fcntl
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

from srs_lib.data.stickers import (
    STICKER_SHAPE,
    StickerError,
    StickerStore,
    open_regular,
)
from srs_lib.files import write_text_atomically

CACHE_FOLDER = ".srs_cache"
INDEX_FILE = "sticker_index.json"
LOCK_FILE = ".lock"
FORMAT_VERSION = 2

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


VERIFY_MODES = ("stat", "full")
"""How :meth:`StickerCache.open` checks that the cache still matches the sticker files
(see :func:`corpus_fingerprint`)."""


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of every byte of a file (opened with ``open_regular``)."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus_fingerprint(store: StickerStore, mode: str = "stat", *, digests: dict | None = None) -> str:
    """SHA-256 (hex) over what the store reads: for every sticker file it accepted (links
    resolved; refused entries are never opened) its ids, size, modification time and
    status-change time, the content of every mapping it parsed, and its refusals.

    ``"stat"`` (the default) costs one ``stat`` per file, what the fingerprint has always
    cost. Every sticker file has the same size, and a file's modification time can be set
    back (``touch -d``, ``os.utime``), but its status-change time (``st_ctime``) cannot: any
    write, truncation, rename onto it or change of its times moves it to the present. So
    this catches every change made through the file system, whatever the file times say; it
    misses only bytes changed beneath it (a failing disk), and it also sees a copy of the
    corpus or a ``chmod`` as a change (one rebuild). ``"full"`` also hashes every byte of
    every sticker file (:func:`file_digest`: the whole library, 8.6 GB at the paper's size)
    and catches any change. ``digests`` supplies :func:`file_digest` values already
    computed, by ``(set_id, sticker_id)``.
    """
    if mode not in VERIFY_MODES:
        raise ValueError(f"unknown verification mode {mode!r}; choose from {', '.join(VERIFY_MODES)}")
    digests = digests or {}
    digest = hashlib.sha256(f"srs sticker cache v{FORMAT_VERSION} {STICKER_SHAPE} {mode}".encode())
    for set_id, sticker_id, path in store.files():
        try:
            info = os.stat(path)
            digest.update(f"\0{set_id}/{sticker_id}\0{info.st_size}\0{info.st_mtime_ns}"
                          f"\0{info.st_ctime_ns}\0".encode())
            if mode == "full":
                digest.update((digests.get((set_id, sticker_id)) or file_digest(path)).encode())
        except OSError as error:  # swapped or removed since the scan: a change
            digest.update(f"unreadable {error}".encode())
    for set_id in sorted(store.sets):
        digest.update(f"\0mapping {set_id}\0".encode())
        with open_regular(store.mapping_path(set_id)) as handle:
            digest.update(handle.read())
    for entry, reason in store.refused:
        digest.update(f"\0refused {entry}\0{reason}".encode())
    return digest.hexdigest()


def _remove_stale_files(cache_dir: Path, keep: str | None) -> None:
    """Under the build lock: delete every data file of our scheme but ``keep`` (the one
    the index names) and every temporary of our scheme (``stickers-….npy.tmp-<pid>``,
    ``.sticker_index.json.tmp-<pid>``). No other build runs while the lock is held, so all
    of them are leftovers; a reader that mapped an older data file keeps its mapping (a
    removed file lives on while it is mapped). Nothing else in the folder is touched."""
    for path in cache_dir.iterdir():
        if path.is_symlink() or not path.is_file():
            continue
        if (DATA_FILE_NAME.fullmatch(path.name) and path.name != keep) or _TEMPORARY_NAME.fullmatch(path.name):
            path.unlink(missing_ok=True)


def _current_data_file(directory: Path) -> str | None:
    """The data file the index names (if it is of our scheme), else ``None``."""
    try:
        with open_regular(directory / INDEX_FILE) as handle:
            name = json.loads(handle.read().decode("utf-8")).get("data_file")
    except (OSError, ValueError, AttributeError):
        return None
    return name if _own_file(directory, name) is not None else None


def _consistent(index: dict, store: StickerStore) -> bool:
    """Whether an index describes this store's stickers: its rows and excluded stickers
    are exactly the mappings' entries, in mapping order, with the mappings' emojis (a
    crafted or foreign index is stale, whatever fingerprint it claims)."""
    try:
        rows = iter(index["rows"])
        excluded = {(s, k) for s, k, _, _ in index["excluded"]}
        expected_rows = len(index["rows"])
        for set_id in sorted(store.sets):
            sticker_set = store.sets[set_id]
            for sticker_id, emoji in zip(sticker_set.sticker_ids, sticker_set.emojis):
                if (set_id, sticker_id) in excluded:
                    continue
                if next(rows) != [set_id, sticker_id, emoji]:
                    return False
                expected_rows -= 1
        listed = sum(len(sticker_set) for sticker_set in store.sets.values())
        return expected_rows == 0 and len(excluded) == len(index["excluded"]) \
            and len(index["rows"]) + len(excluded) == listed \
            and tuple(index["shape"]) == (len(index["rows"]),) + STICKER_SHAPE
    except (KeyError, TypeError, ValueError, StopIteration):
        return False


@contextlib.contextmanager
def locked(directory: Path, exclusive: bool, *, create: bool):
    """Hold ``directory/.lock`` (``flock``): shared to open the cache, exclusive to build it.

    The kernel releases a lock when its holder dies, so a killed build never leaves the
    cache locked. Without ``create`` and without a lock file (a read-only or new cache
    folder), nothing is locked: there is nothing a build could be doing there.
    """
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o644) \
            if create else os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        if create:
            raise
        yield
        return
    except OSError:
        if create:
            raise
        yield  # a read-only cache folder: no build can run in it
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


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
        verify: str = "stat",
    ) -> "StickerCache":
        """Open the cache of the corpus at ``base_path``, building it first if it is
        missing, stale (fingerprint changed) or unreadable, or if ``rebuild`` is true.

        ``cache_dir`` defaults to ``base_path/.srs_cache``; ``store`` reuses an opened
        :class:`StickerStore` of the same corpus; ``progress`` shows a tqdm bar (stderr)
        while building; ``verify`` is ``"stat"`` (the default fingerprint, see
        :func:`corpus_fingerprint`) or ``"full"`` (also compare a hash of every byte of every
        sticker file with the one recorded when the cache was built).

        Concurrent opens of one cache folder are safe: a build holds the folder's lock, and
        an open that finds a build in progress waits for it and uses its result.
        """
        if verify not in VERIFY_MODES:
            raise ValueError(f"unknown verification mode {verify!r}; choose from {', '.join(VERIFY_MODES)}")
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
        content = corpus_fingerprint(store, "full") if verify == "full" else None
        if not rebuild and directory.is_dir():
            with locked(directory, exclusive=False, create=False):
                cache = cls._reopen(directory, store, fingerprint, content)
            if cache is not None:
                return cache
        cls._make_folder(directory)
        with locked(directory, exclusive=True, create=True):
            if not rebuild:  # another process may have built it while we waited
                cache = cls._reopen(directory, store, fingerprint, content)
                if cache is not None:
                    return cache
            cls._build(store, directory, fingerprint, progress)
            cache = cls._reopen(directory, store, fingerprint, None, built=True)
        if cache is None:
            raise RuntimeError(f"the sticker cache just built in {directory} cannot be reopened")
        return cache

    @staticmethod
    def _make_folder(directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / f".write-test.tmp-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise CacheError(
                f"cannot write the sticker cache folder {directory} ({error.strerror}); "
                f"pass --cache_dir (cache_dir) a writable folder for the cache"
            ) from None

    @classmethod
    def _reopen(cls, directory: Path, store: StickerStore, fingerprint: str, content: str | None,
                built: bool = False) -> "StickerCache | None":
        try:
            with open_regular(directory / INDEX_FILE) as handle:
                index = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(index, dict) or index.get("format") != FORMAT_VERSION \
                or index.get("fingerprint") != fingerprint:
            return None
        if content is not None and index.get("content") != content:
            return None
        if not _consistent(index, store):
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
        """Pack the stickers and write the index; the caller holds the exclusive lock."""
        _remove_stale_files(directory, keep=_current_data_file(directory))
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
        digests = {}
        try:
            if rows:
                images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                bar = tqdm(rows, desc="packing stickers", unit=" stickers", disable=not progress)
                for row, (set_id, sticker_id, _) in enumerate(bar):
                    images[row] = store.load(set_id, sticker_id)
                    # the file was just read: hashing it again costs no disk read
                    digests[(set_id, sticker_id)] = file_digest(store.source(set_id, sticker_id))
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
        index = {
            "format": FORMAT_VERSION,
            "fingerprint": fingerprint,
            "content": corpus_fingerprint(store, "full", digests=digests),
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
        _remove_stale_files(directory, keep=data_name)

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
