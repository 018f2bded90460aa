"""A run folder ``LOG_ROOT/NAME``: who may write it, and what is checked before anything is.

Researchers rerun experiments under the same name and runs get killed, so the trainer
holds to three rules (see :class:`~srs_lib.training.trainer.Trainer`):

* **Checks first.** A rerun is compared with the run already in the folder
  (:meth:`RunFolder.check_config`) before anything of the run is written: a rerun with
  other options is refused and leaves every file as it was.
* **One training per folder.** :meth:`RunFolder.lock` holds ``NAME/.lock`` (``flock``) for
  the lifetime of a training; a second one is refused with :class:`RunLocked`, which names
  the holder (process id, host, start time, command). The kernel drops the lock when its
  holder dies, so a killed run never leaves its folder locked.
* **Own leftovers only.** Under the lock, :meth:`RunFolder.remove_temporaries` deletes the
  temporaries a killed run of ours can leave (``train/.ckpt-<step>.tmp-<pid>/``,
  ``train/.best.tmp-<pid>.keras``, ``.<file>.tmp-<pid>``), and nothing else.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import shutil
import socket
import sys
from pathlib import Path

LOCK_FILE = ".lock"
CONFIG_FILE = "config.json"
_TEMPORARIES = re.compile(r"\.ckpt-[0-9]+\.tmp-[0-9]+|\.best\.tmp-[0-9]+\.keras|\..+\.tmp-[0-9]+")


class RunError(Exception):
    """The run folder cannot be used as asked; the message is one line saying why and what
    to do instead."""


class RunLocked(RunError):
    """Another training holds the run folder."""


class RunConfigMismatch(RunError, ValueError):
    """The folder holds a run with other training options."""


class RunFolder:
    """``LOG_ROOT/NAME``: ``root``; ``train_dir`` (``root/train``) holds the checkpoints."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.train_dir = self.root / "train"

    # -- checks (read only) -----------------------------------------------------------
    def saved_config(self) -> dict | None:
        """The options the folder's run was trained with (``config.json``), ``None`` if none."""
        path = self.root / CONFIG_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise RunError(f"cannot read {path} ({error}); choose another --exp_name") from None
        try:
            saved = json.loads(text)
        except ValueError:
            raise RunError(f"{path} is not valid JSON; choose another --exp_name or remove "
                           f"the folder {self.root}") from None
        if not isinstance(saved, dict):
            raise RunError(f"{path} is not a training configuration; choose another --exp_name")
        return saved

    def check_config(self, config: dict) -> None:
        """Raise :class:`RunConfigMismatch` when the folder holds a run with other options."""
        saved = self.saved_config()
        if saved is None or saved == config:
            return
        keys = sorted(set(saved) | set(config), key=lambda k: (k not in config, k))
        changed = [k for k in keys if saved.get(k, "(unset)") != config.get(k, "(unset)")]
        shown = "; ".join(f"{k}: {saved.get(k, '(unset)')!r} there, {config.get(k, '(unset)')!r} now"
                          for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise RunConfigMismatch(
            f"{self.root} holds a run trained with other options ({shown}{more}); rerun with "
            f"the same options to resume it, or choose another --exp_name")

    def check_writable(self) -> None:
        """Raise :class:`RunError` early (before hours of cache building) when the run folder
        cannot be created or written: its nearest existing folder is not writable."""
        folder = self.root
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise RunError(f"cannot write the run folder {self.root} ({folder} is not a writable "
                           f"folder); pass --log_root a writable folder")

    # -- the lock ---------------------------------------------------------------------
    def _holder(self, fd: int) -> str:
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
            return (f"pid {holder['pid']} on {holder['host']}, since {holder['since']}: "
                    f"{holder['command']}")
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that is just starting"

    @contextlib.contextmanager
    def lock(self):
        """Hold the folder for one training (creating it); :class:`RunLocked` if another holds it."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise RunError(f"cannot write the run folder {self.root} ({error.strerror}); pass "
                           f"--log_root a writable folder") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLocked(f"{self.root} is in use by another training ({self._holder(fd)}); "
                                f"wait for it to end or choose another --exp_name") from None
            holder = {"pid": os.getpid(), "host": socket.gethostname(),
                      "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                      "command": " ".join(sys.argv)[:1000]}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
            yield self
        finally:
            os.close(fd)  # releases the lock; the file stays (removing it would race)

    # -- leftovers ----------------------------------------------------------------------
    def remove_temporaries(self) -> list[str]:
        """Delete our temporaries left in the folder by a killed run (call under the lock);
        returns their names."""
        removed = []
        for folder in (self.root, self.train_dir):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if not _TEMPORARIES.fullmatch(path.name):
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
                removed.append(str(path.relative_to(self.root)))
        return removed
