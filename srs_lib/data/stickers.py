"""The sticker library of a StickerChat corpus: ``BASE/npy_stickers``.

Layout::

    npy_stickers/<sticker_set_id>/<sticker_id>.npy    one 128×128×3 uint8 image per sticker
    npy_stickers/<sticker_set_id>/emoji_mapping.txt   "<sticker_id>\\t<emoji>" per line,
                                                      in the set's order

Set and sticker ids are parsed from the folder and file names as exact Python ints (only
canonical decimal names, such as ``556029562811580420``, are recognised; other names are
listed in :attr:`StickerStore.unrecognised`).

Every ``.npy`` is read with ``allow_pickle=False``: a pickled (object) array is refused.
An image is expected as ``(128, 128, 3)`` uint8 (height, width, RGB). Two unambiguous
deviations are converted, and counted in :attr:`StickerStore.conversions` (once per file):

* ``"grayscale"``: ``(128, 128)`` or ``(128, 128, 1)`` uint8 → the gray level copied to R, G, B;
* ``"rgba"``: ``(128, 128, 4)`` uint8 → composited over a white background.

Anything else (another shape, another dtype, a truncated or non-``.npy`` file) raises a
:class:`StickerError` that names the file and what was found.

Only regular files are ever opened (a FIFO or a device would block or never end): every
entry is classified by :func:`~srs_lib.data.entries.classify_entry` when the store is opened,
and every file is opened by :func:`~srs_lib.data.entries.open_regular`. A symbolic link
(to a set folder, a mapping or a sticker) is followed when its target lies inside the
corpus (``BASE`` or ``BASE/npy_stickers``, both resolved) and is listed in
:attr:`StickerStore.links`; a link out of the corpus, a dangling link and any entry that is
neither a regular file nor a folder are refused, listed in :attr:`StickerStore.refused`
with the reason, and never read. A refused sticker file is "unloadable" for the corpus
rules, a refused set folder or mapping leaves its set out: ``validate``, ``stats``, ``ssim``
and training all see the same store, so what ``validate`` accepts, training accepts.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srs_lib.data.entries import (
    Entry,
    RefusedEntry,
    classify_entry,
    corpus_roots,
    open_regular,
)

STICKER_SHAPE = (128, 128, 3)
"""Shape of one sticker image: (height, width, RGB channels), dtype uint8."""
STICKER_FOLDER = "npy_stickers"
MAPPING_FILE = "emoji_mapping.txt"

_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]*")

# .npy format versions 1.0 and 2.0 differ in the width of the header length; 3.0 is 2.0
# with a UTF-8 header, which only matters for structured dtypes with non-ASCII names.
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
    (3, 0): np.lib.format.read_array_header_2_0,
}


class StickerError(Exception):
    """A sticker file that cannot be used: missing, pickled, truncated, wrong shape or dtype."""


def _parse_id(name: str) -> int | None:
    """The int a file or folder name spells, or ``None`` unless it is a canonical decimal."""
    return int(name) if _CANONICAL_INT.fullmatch(name) else None


def _describe(shape: tuple[int, ...], dtype: np.dtype) -> str:
    return f"shape {tuple(shape)} dtype {dtype}"


def conversion_for(path: str | os.PathLike, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """How an array of this shape and dtype becomes a sticker.

    Returns ``None`` (usable as is), ``"grayscale"`` or ``"rgba"``; raises
    :class:`StickerError` naming ``path`` for anything else.
    """
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if dtype.hasobject:
        raise StickerError(f"{path}: holds pickled Python objects (dtype {dtype}); refused")
    if dtype != np.uint8:
        raise StickerError(
            f"{path}: {_describe(shape, dtype)}, expected {STICKER_SHAPE} uint8 "
            f"(other dtypes have no unambiguous pixel scale); refused"
        )
    if shape == STICKER_SHAPE:
        return None
    if shape in (STICKER_SHAPE[:2], STICKER_SHAPE[:2] + (1,)):
        return "grayscale"
    if shape == STICKER_SHAPE[:2] + (4,):
        return "rgba"
    raise StickerError(f"{path}: {_describe(shape, dtype)}, expected {STICKER_SHAPE} uint8; refused")


def read_npy_header(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` of an ``.npy`` file, from its header alone (no pixel is read).

    Raises :class:`StickerError` when the file is missing, is not an ``.npy`` file, holds
    pickled objects, or is shorter than its header says (truncated).
    """
    try:
        with open_regular(path) as handle:
            try:
                version = np.lib.format.read_magic(handle)
                reader = _HEADER_READERS.get(version)
                if reader is None:
                    raise StickerError(f"{path}: unsupported .npy format version {version}")
                shape, _fortran_order, dtype = reader(handle)
            except ValueError as error:
                raise StickerError(f"{path}: not a valid .npy file ({error})") from None
            data_offset = handle.tell()
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise StickerError(f"{path}: file not found") from None
    except RefusedEntry as error:
        raise StickerError(str(error)) from None
    if dtype.hasobject:
        raise StickerError(f"{path}: holds pickled Python objects (dtype {dtype}); refused")
    expected = data_offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < expected:
        raise StickerError(
            f"{path}: truncated ({size} bytes, its header ({_describe(shape, dtype)}) "
            f"needs {expected})"
        )
    return tuple(shape), dtype


def to_rgb(image: np.ndarray, conversion: str | None) -> np.ndarray:
    """Apply a conversion named by :func:`conversion_for`; returns ``(128, 128, 3)`` uint8."""
    if conversion is None:
        return image
    if conversion == "grayscale":
        gray = image.reshape(STICKER_SHAPE[:2])
        return np.repeat(gray[:, :, None], 3, axis=2)
    if conversion == "rgba":
        rgb = image[:, :, :3].astype(np.float32)
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        over_white = rgb * alpha + 255.0 * (1.0 - alpha)
        return np.rint(over_white).astype(np.uint8)
    raise ValueError(f"unknown conversion {conversion!r}")


@dataclass(frozen=True, slots=True)
class StickerSet:
    """One sticker set: its stickers and their emojis, in ``emoji_mapping.txt`` order."""

    set_id: int
    sticker_ids: tuple[int, ...]
    emojis: tuple[str, ...]
    _positions: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.sticker_ids) != len(self.emojis):
            raise ValueError("sticker_ids and emojis must have the same length")
        positions = {sticker_id: i for i, sticker_id in enumerate(self.sticker_ids)}
        if len(positions) != len(self.sticker_ids):
            raise ValueError(f"set {self.set_id}: duplicate sticker ids")
        object.__setattr__(self, "_positions", positions)

    def __len__(self) -> int:
        return len(self.sticker_ids)

    def __contains__(self, sticker_id: object) -> bool:
        return sticker_id in self._positions

    def position(self, sticker_id: int) -> int:
        """0-based position of a sticker in the mapping; ``KeyError`` if it is not listed."""
        return self._positions[sticker_id]

    def emoji(self, sticker_id: int) -> str:
        """The emoji the mapping gives to a sticker; ``KeyError`` if it is not listed."""
        return self.emojis[self._positions[sticker_id]]


@dataclass(frozen=True, slots=True)
class MappingIssue:
    """A line of an ``emoji_mapping.txt`` that was ignored: set, 1-based line, reason, and
    the file (relative to the corpus when read by a :class:`StickerStore`)."""

    set_id: int
    line: int
    reason: str
    path: str = ""


@dataclass(frozen=True, slots=True)
class StickerCheck:
    """What the header of one sticker file says, without reading its pixels.

    ``missing``: no file on disk; ``error``: why the file is refused (``None`` if usable);
    ``conversion``: ``None``, ``"grayscale"`` or ``"rgba"`` for a usable file.
    """

    path: Path
    missing: bool = False
    error: str | None = None
    conversion: str | None = None

    @property
    def usable(self) -> bool:
        return not self.missing and self.error is None


def read_mapping(path: Path, set_id: int, name: str | None = None) -> tuple[StickerSet, list[MappingIssue]]:
    """Parse an ``emoji_mapping.txt``: the set in file order and the lines it ignored.

    A line is ``<sticker_id>`` and ``<emoji>`` separated by a tab (or other whitespace).
    Blank lines are skipped; a line that is not valid UTF-8, a line without both fields,
    with a non-integer sticker id, or repeating a sticker id already listed is ignored and
    reported with its number (the first listing wins). Emojis are kept as written; they
    are compared under :func:`~srs_lib.data.vocab.normalize_emoji`. ``name`` is how issues
    name the file (default: ``path``).
    """
    name = str(path) if name is None else name
    sticker_ids: list[int] = []
    emojis: list[str] = []
    issues: list[MappingIssue] = []
    seen: set[int] = set()

    def issue(number: int, reason: str) -> None:
        issues.append(MappingIssue(set_id, number, reason, name))

    with open_regular(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                issue(number, f"{name} line {number}: invalid UTF-8 at byte {error.start}; line ignored")
                continue
            if not line:
                continue
            fields = line.split(None, 1)
            if len(fields) != 2:
                issue(number, f"expected '<sticker_id>\\t<emoji>', got {line!r}")
                continue
            sticker_id = _parse_id(fields[0])
            if sticker_id is None:
                issue(number, f"sticker id {fields[0]!r} is not an integer")
                continue
            if sticker_id in seen:
                issue(number, f"sticker {sticker_id} listed twice")
                continue
            seen.add(sticker_id)
            sticker_ids.append(sticker_id)
            emojis.append(fields[1].strip())
    return StickerSet(set_id, tuple(sticker_ids), tuple(emojis)), issues


class StickerStore:
    """Read access to ``BASE/npy_stickers``.

    Opening scans the folder once: every set folder's mapping is parsed and its file names
    are listed (no image is read). Attributes:

    * ``sets``: ``{set_id: StickerSet}`` for every set folder with an ``emoji_mapping.txt``;
    * ``mapping_issues``: the ignored mapping lines (:class:`MappingIssue`);
    * ``sets_without_mapping``: set ids whose folder has no ``emoji_mapping.txt``;
    * ``unrecognised``: entries (relative paths) whose names are not ids;
    * ``unlisted_files``: ``{set_id: [sticker_id, ...]}`` of ``.npy`` files absent from the mapping;
    * ``links``: ``[(entry, target), ...]`` (relative to ``BASE``) of symbolic links followed,
      all inside the corpus;
    * ``refused``: ``[(entry, reason), ...]`` (relative to ``BASE``) of entries never read:
      links out of the corpus, dangling links, FIFOs, sockets, devices;
    * ``conversions``: ``Counter`` of files converted by :meth:`load` (once per file).

    Raises ``FileNotFoundError`` when ``BASE/npy_stickers`` is not a folder.
    """

    def __init__(self, base_path: str | os.PathLike):
        self.base_path = Path(base_path)
        self.root = self.base_path / STICKER_FOLDER
        if not self.root.is_dir():
            raise FileNotFoundError(f"no sticker folder {self.root}")
        self.roots = corpus_roots(self.base_path, self.root)
        """The resolved folders a symbolic link may point into."""
        self.sets: dict[int, StickerSet] = {}
        self.mapping_issues: list[MappingIssue] = []
        self.sets_without_mapping: list[int] = []
        self.unrecognised: list[str] = []
        self.unlisted_files: dict[int, list[int]] = {}
        self.links: list[tuple[str, str]] = []
        self.refused: list[tuple[str, str]] = []
        self.conversions: Counter[str] = Counter()
        self._folders: dict[int, str] = {}
        self._files: dict[int, dict[int, Path]] = {}
        self._refused_files: dict[tuple[int, int], str] = {}
        self._refused_sets: dict[int, str] = {}
        self._checks: dict[tuple[int, int], StickerCheck] = {}
        self._converted: set[tuple[int, int]] = set()
        self._scan()

    def _relative(self, path: str | os.PathLike) -> str:
        path = Path(path)
        try:
            return str(path.relative_to(self.base_path))
        except ValueError:
            return os.path.relpath(path, os.path.realpath(self.base_path)) if path.is_absolute() else str(path)

    def _classify(self, path: Path) -> Entry:
        entry = classify_entry(path, self.roots)
        if entry.kind == "refused":
            self.refused.append((self._relative(path), entry.reason))
        elif entry.link is not None:
            self.links.append((self._relative(path), self._relative(entry.link)))
        return entry

    def _scan(self) -> None:
        for item in sorted(os.scandir(self.root), key=lambda e: e.name):
            set_id = _parse_id(item.name)
            if set_id is None:
                self.unrecognised.append(item.name)
                continue
            folder = self._classify(Path(item.path))
            if folder.kind == "refused":
                self._refused_sets[set_id] = folder.reason
                continue
            if folder.kind != "folder":
                self.unrecognised.append(item.name)
                continue
            self._folders[set_id] = item.name
            files: dict[int, Path] = {}
            mapping = None
            for child in sorted(os.scandir(folder.path), key=lambda e: e.name):
                stem, dot_npy = child.name[:-4], child.name[-4:]
                sticker_id = _parse_id(stem) if dot_npy == ".npy" else None
                if sticker_id is None and child.name != MAPPING_FILE:
                    self.unrecognised.append(f"{item.name}/{child.name}")
                    continue
                entry = self._classify(Path(self.root, item.name, child.name))
                if child.name == MAPPING_FILE:
                    mapping = entry
                elif entry.kind == "file":
                    files[sticker_id] = entry.path
                elif entry.kind == "refused":
                    self._refused_files[(set_id, sticker_id)] = entry.reason
                else:
                    self.unrecognised.append(f"{item.name}/{child.name}")
            self._files[set_id] = files
            if mapping is None or mapping.kind != "file":
                if mapping is not None and mapping.kind == "refused":
                    self._refused_sets[set_id] = mapping.reason
                self.sets_without_mapping.append(set_id)
                continue
            try:
                sticker_set, issues = read_mapping(
                    mapping.path, set_id, f"{STICKER_FOLDER}/{item.name}/{MAPPING_FILE}")
            except OSError as error:  # swapped for a FIFO or a link since the scan
                self.refused.append((self._relative(mapping.path), str(error)))
                self._refused_sets[set_id] = str(error)
                self.sets_without_mapping.append(set_id)
                continue
            self.sets[set_id] = sticker_set
            self.mapping_issues.extend(issues)
            unlisted = sorted(set(files).difference(sticker_set.sticker_ids))
            if unlisted:
                self.unlisted_files[set_id] = unlisted

    def path(self, set_id: int, sticker_id: int) -> Path:
        """Where the sticker's ``.npy`` entry is (or would be), as listed in the corpus."""
        return self.root / self._folders.get(set_id, str(set_id)) / f"{sticker_id}.npy"

    def source(self, set_id: int, sticker_id: int) -> Path | None:
        """The regular file the sticker is read from (a followed link resolved), or
        ``None`` when it has none (missing or refused)."""
        return self._files.get(set_id, {}).get(sticker_id)

    def files(self):
        """``(set_id, sticker_id, path)`` of every sticker file the store would read (the
        regular files of the recognised sets, links resolved), by set then sticker id."""
        for set_id in sorted(self._files):
            for sticker_id, path in sorted(self._files[set_id].items()):
                yield set_id, sticker_id, path

    def mapping_path(self, set_id: int) -> Path | None:
        """The mapping file a set was read from (links resolved), ``None`` for no set."""
        if set_id not in self.sets:
            return None
        return Path(os.path.realpath(self.root / self._folders[set_id] / MAPPING_FILE))

    def set_problem(self, set_id: int) -> str | None:
        """Why a set folder (or its mapping) was refused, ``None`` if it was not."""
        return self._refused_sets.get(set_id)

    def has_file(self, set_id: int, sticker_id: int) -> bool:
        """Whether the sticker has a regular file (when the store was opened)."""
        return sticker_id in self._files.get(set_id, ())

    def check(self, set_id: int, sticker_id: int) -> StickerCheck:
        """Header-only check of one sticker file (memoised; no pixel is read)."""
        key = (set_id, sticker_id)
        if key not in self._checks:
            path = self.path(set_id, sticker_id)
            source = self.source(set_id, sticker_id)
            if key in self._refused_files:
                result = StickerCheck(path, error=self._refused_files[key])
            elif source is None:
                result = StickerCheck(path, missing=True, error=f"{path}: file not found")
            else:
                try:
                    shape, dtype = read_npy_header(source)
                    result = StickerCheck(path, conversion=conversion_for(path, shape, dtype))
                except (StickerError, OSError) as error:
                    result = StickerCheck(path, error=str(error).replace(str(source), str(path)))
            self._checks[key] = result
        return self._checks[key]

    def load(self, set_id: int, sticker_id: int) -> np.ndarray:
        """The sticker image, ``(128, 128, 3)`` uint8 RGB; :class:`StickerError` if unusable."""
        path = self.path(set_id, sticker_id)
        if (set_id, sticker_id) in self._refused_files:
            raise StickerError(self._refused_files[(set_id, sticker_id)])
        source = self.source(set_id, sticker_id)
        if source is None:
            raise StickerError(f"{path}: file not found")
        try:
            with open_regular(source) as handle:
                image = np.load(handle, allow_pickle=False)
        except FileNotFoundError:
            raise StickerError(f"{path}: file not found") from None
        except RefusedEntry as error:
            raise StickerError(str(error)) from None
        except (ValueError, OSError, EOFError) as error:
            raise StickerError(f"{path}: not a loadable .npy without unpickling ({error}); refused") from None
        conversion = conversion_for(path, image.shape, image.dtype)
        if conversion is not None and (set_id, sticker_id) not in self._converted:
            self._converted.add((set_id, sticker_id))
            self.conversions[conversion] += 1
        return to_rgb(image, conversion)

    def load_many(self, keys: Iterable[tuple[int, int]]) -> np.ndarray:
        """Stack of stickers, ``(n, 128, 128, 3)`` uint8, for ``(set_id, sticker_id)`` keys."""
        keys = list(keys)
        out = np.empty((len(keys),) + STICKER_SHAPE, dtype=np.uint8)
        for i, (set_id, sticker_id) in enumerate(keys):
            out[i] = self.load(set_id, sticker_id)
        return out

    def __repr__(self) -> str:
        return f"StickerStore({str(self.base_path)!r}: {len(self.sets)} sets)"
