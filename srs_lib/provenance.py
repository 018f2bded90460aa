"""Where a result comes from: the corpus, the code's commit and the machine.

Every recorded result (a grid entry's ``run.json``, a diagnosis, a chapter's results, a
benchmark, pretrained weights) names these three, through the functions here.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def corpus_description(base_path) -> str:
    """"embedded <preset> (seed N, generator V)" for a generated corpus (the generator's
    version, since the same preset and seed give another corpus under another version;
    older corpora without one: "(seed N)"; the second generator's: "embedded <preset>,
    shapes style (...)"), "StickerChat" otherwise."""
    info = Path(base_path) / "synth_info.json"
    if info.exists():
        meta = json.loads(info.read_text())
        version = f", generator {meta['synth_version']}" if meta.get("synth_version") else ""
        style = meta.get("style", "characters")
        styled = "" if style == "characters" else f", {style} style"
        return f"embedded {meta.get('preset', '?')}{styled} (seed {meta.get('seed', '?')}{version})"
    return "StickerChat"


def current_commit(root: Path = ROOT) -> str | None:
    """The short commit of HEAD, with "+changes" when the library or a chapter source differs."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=root, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                  "srs_lib", "book/*.py"], capture_output=True, text=True,
                                 cwd=root, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not head:
        return None
    return f"{head}+changes" if changed else head


def machine_description() -> dict:
    """Platform, processor, CPU count and the versions of Python, torch and Keras (and the
    GPU, where torch sees one)."""
    import keras
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "keras": keras.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
