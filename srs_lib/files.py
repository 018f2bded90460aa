"""Writing result files so that a reader never sees half of one.

Text goes to a hidden temporary file beside the target (named ``.NAME.tmp-<pid>``, so
that two processes never share one), synced to disk and then renamed over the target, and
the folder is synced so that the rename itself survives a power loss: an interrupted write
leaves the old file whole, and at most a temporary file behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def fsync_path(path) -> None:
    """Flush a file's or a folder's content (a folder: its entries, such as a rename) to disk."""
    flags = os.O_RDONLY
    if os.path.isdir(path):
        flags |= getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder) -> None:
    """:func:`fsync_path` every file directly in ``folder``, then ``folder`` itself."""
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            fsync_path(entry.path)
    fsync_path(folder)


def temporary_path(path) -> Path:
    """The temporary a write of ``path`` goes through: ``.NAME.tmp-<pid>`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace_atomically(tmp, path) -> None:
    """Sync ``tmp``, rename it over ``path`` and sync the folder (the rename)."""
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(Path(path).parent)


def write_bytes_atomically(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        replace_atomically(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomically(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a synced temporary file and a rename."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path, data) -> None:
    """``data`` as indented JSON (non-ASCII kept as it is), ending with a newline."""
    write_text_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
