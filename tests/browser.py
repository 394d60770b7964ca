"""Look at an HTML output the way a person does: Debian's headless Chromium, driven by playwright-core
(tests/js/look.mjs, pinned in tests/js/package-lock.json; no browser is downloaded).

:func:`look` opens one file at 1280 px and 390 px and returns what the page showed: its scroll width
against the window's, the images that did not load, what a click on a table header did, and the
screenshots it saved into :data:`SCREENSHOTS` (``output/screenshots/``, or ``$DOSING_SCREENSHOTS``;
CI keeps that folder). Any HTML output (report.html, a nurse's sheet, a diary) can use it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "tests" / "js"
CHROMIUM = Path(os.environ.get("DOSING_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("DOSING_SCREENSHOTS", ROOT / "output" / "screenshots"))
WIDTHS = (1280, 390)


@dataclass
class Seen:
    """What one width showed."""

    width: int
    scroll_width: int
    inner_width: int
    images: int
    broken_images: list[str]
    sort: dict[str, Any]
    screenshot: Path


def need_chromium() -> None:
    """Skip (with the reason) only when there is no Chromium; the rest must be installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium)")
    if shutil.which("node") is None:
        pytest.fail("Chromium is installed but node is not: install node and npm, then npm ci --prefix tests/js")
    if not (JS / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is missing: run npm ci --prefix tests/js")


def look(html: Path, name: str, widths: tuple[int, ...] = WIDTHS) -> tuple[dict[int, Seen], list[str]]:
    """Open ``html`` at each width; the screenshots are ``SCREENSHOTS/<name>-<width>.png``.
    Returns what each width showed, and every URL the page asked for beyond file: and data: ones."""
    need_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    prefix = SCREENSHOTS / re.sub(r"[^\w.-]+", "-", name)
    done = subprocess.run(
        ["node", str(JS / "look.mjs"), str(html.resolve()), str(prefix), *map(str, widths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    seen = {
        int(w): Seen(
            int(w),
            s["scrollWidth"],
            s["innerWidth"],
            s["images"],
            s["brokenImages"],
            s["sort"],
            Path(s["screenshot"]),
        )
        for w, s in found["widths"].items()
    }
    return seen, found["requests"]


def numbers(cells: list[str]) -> list[float]:
    """The numeric cells of a column as the page shows them (blanks left out)."""
    return [float(c) for c in cells if c != ""]
