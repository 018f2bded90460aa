"""Writing result files so that a reader never sees half of one.

Text goes to a hidden temporary file beside the target (named ``.NAME.tmp-<pid>``, so
that two processes never share one), synced to disk and then renamed over the target: an
interrupted write leaves the old file whole, and at most a temporary file behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_text_atomically(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a synced temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomically(path, data) -> None:
    """``data`` as indented JSON (non-ASCII kept as it is), ending with a newline."""
    write_text_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
