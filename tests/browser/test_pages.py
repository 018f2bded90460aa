"""The built book opened in headless Chromium: pages load, figures are images, no tracebacks.

Runs after the book is built (``make test`` builds it first); a screenshot of every page is
kept under ``_build/screenshots/``.
"""
from __future__ import annotations

import html.parser
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from srs_lib.experiments import runner as experiments

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--window-size=1280,900", "--hide-scrollbars"]
ERROR_TEXT = ("Traceback (most recent call last)", "PapermillExecutionError", "ModuleNotFoundError")

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make browser installs it)"),
    pytest.mark.skipif(not (HTML / "book" / "intro.html").exists(), reason="the book is not built"),
]

PAGES = ["intro"] + experiments.chapters_from_toc()


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def _chromium(page: Path, *extra: str, tmp_path: Path) -> str:
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chromium failed on {page.name}: {done.stderr[-2000:]}"
    return done.stdout


def _image_outputs(chapter: str) -> int:
    path = ROOT / "book" / f"{chapter}.ipynb"
    if not path.exists():
        return 0
    notebook = nbformat.read(path, as_version=4)
    return sum("image/png" in output.get("data", {})
               for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_with_figures_and_no_errors(name, tmp_path):
    page = HTML / "book" / f"{name}.html"
    assert page.exists(), f"{page.relative_to(ROOT)} was not built"
    dom = _chromium(page, "--dump-dom", "--virtual-time-budget=5000", tmp_path=tmp_path)
    assert "<h1" in dom, f"{name}: the page has no title"
    for text in ERROR_TEXT:
        assert text not in dom, f"{name}: the page shows {text!r}"

    parser = _Images()
    parser.feed(dom)
    figures = [src for src in parser.sources if "_images/" in src or src.startswith("data:image")]
    assert len(figures) >= _image_outputs(name), (
        f"{name}: {len(figures)} images in the page, {_image_outputs(name)} figures in the notebook")
    for src in figures:
        if src.startswith("data:"):
            continue
        image_path = (page.parent / src).resolve()
        assert image_path.exists(), f"{name}: image {src} is missing"
        with Image.open(image_path) as image:
            assert image.width > 10 and image.height > 10

    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    _chromium(page, f"--screenshot={shot}", tmp_path=tmp_path)
    assert shot.exists() and shot.stat().st_size > 1000, f"{name}: no screenshot"
