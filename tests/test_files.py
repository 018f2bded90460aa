"""Atomic result files: a failed write leaves the old file whole and nothing behind."""
from __future__ import annotations

import json

import pytest

from srs_lib import files


def test_json_is_written_whole_and_readable(tmp_path):
    path = tmp_path / "metrics.json"
    files.write_json_atomically(path, {"emoji": "😀", "id": 2**62 + 1})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "😀" in text
    assert json.loads(text) == {"emoji": "😀", "id": 2**62 + 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_text("old\n")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        files.write_text_atomically(path, "new\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
