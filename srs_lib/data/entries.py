"""Which entries of a corpus folder are read: regular files only, links only within the corpus.

A corpus is untrusted input. A FIFO or a device among its files would block a reader or
never end; a symbolic link could make us read (and pack into a cache, or train on) a file
from anywhere on the machine. So every entry is first classified without being opened
(:func:`classify_entry`):

* a regular file or a folder is read;
* a symbolic link whose resolved target lies inside the corpus (one of the resolved
  ``roots``: ``BASE`` and ``BASE/npy_stickers``) is followed, and the caller reports it;
* a link out of the corpus, a dangling link, a FIFO, a socket or a device is refused,
  with a reason that names the entry, and never opened.

Every file is then opened by :func:`open_regular`, which cannot block and checks the kind
again on the open file, so an entry swapped after the scan is refused too.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFDIR: "a folder"}


class RefusedEntry(OSError):
    """An entry that is not read: not a regular file, or a link that was not followed."""


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: str | os.PathLike):
    """Open ``path`` for binary reading, refusing anything but a regular file.

    The open cannot block (``O_NONBLOCK``: a FIFO without a writer would hang a plain
    ``open``) and does not follow a link in the last component (``O_NOFOLLOW``: callers
    resolve links with :func:`classify_entry` first); the kind is checked on the open file
    (``fstat``). Raises ``FileNotFoundError`` or :class:`RefusedEntry` naming ``path``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RefusedEntry(f"{path}: a symbolic link that was not resolved; refused") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise RefusedEntry(f"{path}: {_kind(mode)}, not a regular file; refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass(frozen=True, slots=True)
class Entry:
    """What :func:`classify_entry` found.

    ``kind`` is "file" or "folder" (``path``: where to read it, a followed link resolved;
    ``link``: the resolved target of a followed link, else ``None``) or "refused"
    (``reason`` says why, naming the entry; nothing is read).
    """

    kind: str
    path: Path
    link: Path | None = None
    reason: str | None = None


def inside(path: str | os.PathLike, roots: tuple[str, ...]) -> bool:
    """Whether a resolved ``path`` lies in (or is) one of the resolved folders ``roots``."""
    path = str(path)
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def corpus_roots(base_path: str | os.PathLike, *more: str | os.PathLike) -> tuple[str, ...]:
    """The resolved folders links may point into: ``base_path`` and ``more`` (resolved)."""
    return tuple(dict.fromkeys(os.path.realpath(p) for p in (base_path, *more)))


def classify_entry(path: str | os.PathLike, roots: tuple[str, ...]) -> Entry:
    """Classify one entry without opening it (``lstat``, and ``stat`` of a link's target)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return Entry("refused", path, reason=f"{path}: not found")
    except OSError as error:
        return Entry("refused", path, reason=f"{path}: cannot be read ({error.strerror})")
    link = None
    if stat.S_ISLNK(mode):
        target = os.path.realpath(path)
        try:
            mode = os.stat(target).st_mode
        except OSError:
            return Entry("refused", path, reason=f"{path}: a dangling symbolic link (to {os.readlink(path)}); refused")
        if not inside(target, roots):
            return Entry("refused", path,
                         reason=f"{path}: a symbolic link to {target}, outside the corpus; refused")
        link = Path(target)
    if stat.S_ISREG(mode):
        return Entry("file", link or path, link)
    if stat.S_ISDIR(mode):
        return Entry("folder", link or path, link)
    return Entry("refused", path, reason=f"{path}: {_kind(mode)}, not a regular file; refused")
