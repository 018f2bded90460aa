"""The sticker index: every sticker of a corpus encoded once by a model's sticker side.

A recommender answers from the whole library, so the sticker side of its models must not
run per request. :meth:`StickerIndex.open` encodes every sticker of the corpus's sticker
cache (:class:`~srs_lib.data.cache.StickerCache`, rows in its order) once and keeps the
result in a folder:

* ``<array>-<nonce>.npy``, one per array, read back memory-mapped
  (``mmap_mode="r"``, ``allow_pickle=False``): for a retriever (a model with
  ``sticker_vectors``, the :class:`~srs_lib.models.dual_encoder.DualEncoder`)
  ``vectors`` `(rows, hidden)`, unit vectors; for a re-ranker such as SRS the sticker
  encoder's outputs under the names of :data:`~srs_lib.models.base.ENCODED_STICKERS`
  (O, O_flat, emoji logits), which the model takes in place of the images;
* ``manifest.json``: the format, the model's fingerprint (:func:`model_fingerprint`: a
  hash of its class, configuration and every weight's bytes), the corpus's (the sticker
  cache's fingerprint, which covers every sticker file and mapping), the array files and
  their shapes, and ``rows``: row → ``[set_id, sticker_id, emoji]`` (exact JSON integers).

The manifest is the only entry point. When the model or the corpus no longer matches it,
the index is rebuilt: each array is written to a temporary file (``.NAME.tmp-<pid>``),
synced and renamed into place, then the manifest is replaced the same way, last. Until
then the previous manifest names the previous, complete files, so a build killed at any
moment never leaves a half-written index that a reader could open; the next build removes
what it left. Only files of this naming scheme directly in the folder are ever removed,
and a folder that is a symbolic link (or inside one) is refused. A manifest is data, not an
instruction: it is used only when its rows are exactly the cache's and it names array
files of our scheme that are regular files of the stated shapes; otherwise the index is
rebuilt. A build holds the folder's lock (as the sticker cache does).

Search is exact: scores are one matrix product of the query with the stored vectors (or
with those of a subset of rows: one set, a user's collection), top k by score, ties by row.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path

import numpy as np

from srs_lib.data.cache import StickerCache, locked
from srs_lib.files import replace_atomically, temporary_path, write_json_atomically

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ARRAY_FILE = re.compile(r"([a-z_]+)-[0-9a-f]{8}\.npy")
_TEMPORARY = re.compile(r"\.(([a-z_]+)-[0-9a-f]{8}\.npy|" + re.escape(MANIFEST) + r")\.tmp-[0-9]+")
#: The arrays a retriever's index holds.
RETRIEVAL_ARRAYS = ("vectors",)


class LibraryError(ValueError, LookupError):
    """A subset or a sticker that the index does not hold; the message says which."""


def model_fingerprint(model) -> str:
    """SHA-256 (hex) of the model's class, its configuration and every weight's bytes:
    another checkpoint, or the same one trained further, gets another fingerprint."""
    from keras import ops

    digest = hashlib.sha256()
    digest.update(f"{type(model).__module__}.{type(model).__qualname__}\0".encode())
    digest.update(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for weight in model.weights:
        value = np.ascontiguousarray(ops.convert_to_numpy(weight))
        digest.update(f"\0{weight.path}\0{value.dtype}\0{value.shape}\0".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def index_arrays(model) -> tuple[str, ...]:
    """The arrays an index of ``model`` holds: ``vectors`` for a retriever, else the
    sticker encoder's outputs (:data:`~srs_lib.models.base.ENCODED_STICKERS`)."""
    from srs_lib.models.base import ENCODED_STICKERS

    return RETRIEVAL_ARRAYS if hasattr(model, "sticker_vectors") else ENCODED_STICKERS


def encode_library(model, images, *, chunk: int = 256) -> dict[str, np.ndarray]:
    """The sticker side of ``model`` for every image of ``images`` `(rows, H, W, 3)`, in
    chunks, in inference mode: ``{array name: (rows, ...) float32}`` (see
    :func:`index_arrays`)."""
    import torch
    from keras import ops

    from srs_lib.models.base import ENCODED_STICKERS

    names = index_arrays(model)
    parts: dict[str, list] = {name: [] for name in names}
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            pixels = ops.convert_to_tensor(np.asarray(images[start:start + chunk]))
            outputs = dict(zip(ENCODED_STICKERS, model.sticker_encoder(pixels, training=False)))
            if names == RETRIEVAL_ARRAYS:
                outputs = {"vectors": model.sticker_vectors(outputs["sticker_vector"])}
            for name in names:
                parts[name].append(np.asarray(ops.convert_to_numpy(ops.cast(outputs[name], "float32"))))
    return {name: (np.concatenate(parts[name]) if parts[name] else np.zeros((0,), np.float32))
            for name in names}


class ModelStickerSide:
    """What an index needs of a Keras model: its fingerprint, the names of its arrays and
    their values for a sticker cache (:func:`model_fingerprint`, :func:`index_arrays`,
    :func:`encode_library`). :meth:`StickerIndex.open` accepts any object with these three
    (a scoring stand-in in a test, say) or a Keras model, which it wraps in this."""

    def __init__(self, model):
        self.model = model
        self.array_names = index_arrays(model)

    def fingerprint(self) -> str:
        return model_fingerprint(self.model)

    def library_arrays(self, cache: StickerCache, chunk: int = 256) -> dict[str, np.ndarray]:
        return encode_library(self.model, cache.images, chunk=chunk)


def _write_array(directory: Path, name: str, array: np.ndarray) -> str:
    """Write one array as ``NAME-<nonce>.npy`` through a synced temporary; its file name."""
    file_name = f"{name}-{secrets.token_hex(4)}.npy"
    target = directory / file_name
    tmp = temporary_path(target)
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        replace_atomically(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return file_name


def _own_file(directory: Path, name) -> Path | None:
    if not isinstance(name, str) or not _ARRAY_FILE.fullmatch(name):
        return None
    path = directory / name
    return path if path.is_file() and not path.is_symlink() else None


def _remove_unnamed(directory: Path, keep: set[str]) -> list[str]:
    """Under the lock: files of our scheme the manifest does not name, and temporaries."""
    removed = []
    for path in directory.iterdir():
        ours = _ARRAY_FILE.fullmatch(path.name) or _TEMPORARY.fullmatch(path.name)
        if ours and path.name not in keep and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


class StickerIndex:
    """An opened index: ``arrays`` (name → read-only memory map, one row per sticker),
    ``keys`` (row → ``(set_id, sticker_id)``), ``emojis`` (row → emoji), ``manifest``,
    ``directory`` and ``built`` (whether this :meth:`open` encoded the library).
    Use :meth:`open`."""

    def __init__(self, directory: Path, manifest: dict, arrays: dict[str, np.ndarray], built: bool):
        self.directory, self.manifest, self.arrays, self.built = directory, manifest, arrays, built
        self.keys = [(int(s), int(k)) for s, k, _ in manifest["rows"]]
        self.emojis = [e for _, _, e in manifest["rows"]]
        self._rows = {key: row for row, key in enumerate(self.keys)}
        self._set_rows: dict[int, list[int]] = {}
        for row, (set_id, _) in enumerate(self.keys):
            self._set_rows.setdefault(set_id, []).append(row)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def vectors(self) -> np.ndarray:
        """A retriever's unit sticker vectors `(rows, hidden)`."""
        return self.arrays["vectors"]

    @property
    def sets(self) -> list[int]:
        """The set ids of the library, increasing."""
        return sorted(self._set_rows)

    # -- opening and building ---------------------------------------------------------
    @classmethod
    def open(cls, model, cache: StickerCache, directory, *, rebuild: bool = False,
             chunk: int = 256) -> "StickerIndex":
        """The index of ``model`` (a Keras model or a :class:`ModelStickerSide`-like object)
        over ``cache``'s stickers in ``directory``: reopened when its manifest matches the
        model's and the corpus's fingerprints, else (or with ``rebuild``) encoded and
        written atomically (see the module docstring)."""
        side = model if hasattr(model, "library_arrays") else ModelStickerSide(model)
        directory = Path(directory)
        for folder in (directory, directory.parent):
            if folder.is_symlink():  # a folder shipped with a corpus could point anywhere
                raise LibraryError(f"{folder} is a symbolic link: the sticker index writes only "
                                   f"into real folders; pass another index folder")
        expected = {"format": FORMAT_VERSION, "model": side.fingerprint(),
                    "corpus": cache.fingerprint, "arrays": list(side.array_names)}
        if not rebuild and directory.is_dir():
            with locked(directory, exclusive=False, create=False):
                found = cls._reopen(directory, expected, cache)
            if found is not None:
                return found
        directory.mkdir(parents=True, exist_ok=True)
        with locked(directory, exclusive=True, create=True):
            found = None if rebuild else cls._reopen(directory, expected, cache)
            if found is not None:
                return found
            cls._build(directory, expected, side, cache, chunk)
            found = cls._reopen(directory, expected, cache)
        if found is None:
            raise RuntimeError(f"the sticker index just written in {directory} cannot be reopened")
        found.built = True
        return found

    @classmethod
    def _reopen(cls, directory: Path, expected: dict, cache: StickerCache) -> "StickerIndex | None":
        rows = len(cache)
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            if any(manifest.get(key) != value for key, value in expected.items()):
                return None
            if manifest["rows"] != [[s, k, e] for (s, k), e in zip(cache.keys, cache.emojis)]:
                return None  # the index describes other stickers than the cache holds
            arrays = {}
            for name in expected["arrays"]:
                path = _own_file(directory, manifest["files"][name])
                if path is None:
                    return None
                array = np.load(path, mmap_mode="r", allow_pickle=False)
                if list(array.shape) != manifest["shapes"][name] or array.shape[0] != rows:
                    return None
                arrays[name] = array
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(directory, manifest, arrays, built=False)

    @staticmethod
    def _build(directory: Path, expected: dict, side, cache: StickerCache, chunk: int) -> None:
        _remove_unnamed(directory, keep=set(_named_files(directory)))  # a killed build's leftovers
        arrays = side.library_arrays(cache, chunk=chunk)
        if set(arrays) != set(expected["arrays"]):
            raise ValueError(f"the model gave arrays {sorted(arrays)}, not {expected['arrays']}")
        files = {name: _write_array(directory, name, array) for name, array in arrays.items()}
        manifest = {**expected, "files": files,
                    "shapes": {name: list(array.shape) for name, array in arrays.items()},
                    "rows": [[s, k, e] for (s, k), e in zip(cache.keys, cache.emojis)]}
        write_json_atomically(directory / MANIFEST, manifest)
        _remove_unnamed(directory, keep=set(files.values()))

    # -- subsets ----------------------------------------------------------------------
    def set_rows(self, set_id: int) -> np.ndarray:
        """Rows of one sticker set, int64; :class:`LibraryError` for a set not in the library."""
        if int(set_id) not in self._set_rows:
            raise LibraryError(f"sticker set {set_id} is not in the library ({len(self._set_rows)} "
                              f"sets; e.g. {', '.join(map(str, self.sets[:3]))})")
        return np.asarray(self._set_rows[int(set_id)], dtype=np.int64)

    def rows_of(self, keys) -> np.ndarray:
        """Rows of ``(set_id, sticker_id)`` pairs (a user's collection), int64, in order."""
        rows = []
        for set_id, sticker_id in keys:
            key = (int(set_id), int(sticker_id))
            if key not in self._rows:
                raise LibraryError(f"sticker {sticker_id} of set {set_id} is not in the library")
            rows.append(self._rows[key])
        return np.asarray(rows, dtype=np.int64)

    def describe(self, row: int) -> dict:
        """``{"row", "set_id", "sticker_id", "emoji"}`` of one row (ids exact ints)."""
        set_id, sticker_id = self.keys[int(row)]
        return {"row": int(row), "set_id": set_id, "sticker_id": sticker_id,
                "emoji": self.emojis[int(row)]}

    # -- search -----------------------------------------------------------------------
    def search(self, queries, k: int, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` of a retriever's index for ``queries`` `(dim,)` or `(q, dim)`.

        Scores are ``queries @ vectors[rows].T`` (all rows when ``rows`` is None); returns
        ``(rows (q, k') int64, scores (q, k') float32)``, best first, ties broken by the
        lower row, ``k' = min(k, candidates)``. One query gives 1-d arrays.
        """
        queries = np.asarray(queries, dtype=np.float32)
        single = queries.ndim == 1
        queries = np.atleast_2d(queries)
        pool = None if rows is None else np.asarray(rows, dtype=np.int64)
        table = self.vectors if pool is None else self.vectors[pool]
        scores = queries @ np.asarray(table).T
        found, best = top_k(scores, k)
        found = found if pool is None else pool[found]
        return (found[0], best[0]) if single else (found, best)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and values of the ``k`` largest entries of each row of ``scores``
    `(q, n)`, best first, ties by the lower position: ``argpartition`` (linear) to find
    them, then a sort of those ``k`` only."""
    scores = np.asarray(scores)
    n = scores.shape[1]
    k = max(0, min(int(k), n))
    if k == 0:
        return np.zeros((len(scores), 0), np.int64), np.zeros((len(scores), 0), scores.dtype)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        threshold = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
        # entries tied with the k-th score may sit outside the partition: take the lowest
        # positions among the ties, so the result does not depend on the partition's order
        candidates = [np.flatnonzero(row >= t) for row, t in zip(scores, threshold[:, 0])]
    else:
        candidates = [np.arange(n)] * len(scores)
    found = np.zeros((len(scores), k), dtype=np.int64)
    for i, positions in enumerate(candidates):
        order = np.lexsort((positions, -scores[i, positions]))[:k]
        found[i] = positions[order]
    return found, np.take_along_axis(scores, found, axis=1)


def _named_files(directory: Path) -> list[str]:
    """The array files the current manifest names (none when it cannot be read)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return [name for name in manifest["files"].values() if isinstance(name, str)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
