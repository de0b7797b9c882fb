"""The web consoles in a real browser: Debian's Chromium driven by Playwright (its Python
package carries the driver; no browser is downloaded — `executable_path` is Debian's).

Shared by the national console test (tests/coordinator) and the force console test
(tests/node): launch, log in, read what a chart drew, and keep screenshots as CI
artefacts in the test's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path(os.environ.get("CROSSFORCE_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def browser() -> Iterator[object]:
    """Headless Chromium, or a failure saying how to get it (never a silent skip)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} not found: the console tests need Debian's chromium "
                    "(`make test` installs it), or set CROSSFORCE_CHROMIUM", pytrace=False)
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def log_in(page, url: str, key: str, justification: str = "checking the console shows "
           "what the role allows", purpose: str | None = None) -> None:
    """Fill the login form as a person would and wait for the first page of the role."""
    page.goto(f"{url}/console/login")
    page.fill("#key", key)
    if purpose is not None:
        page.fill("#purpose", purpose)
    page.fill("#justification", justification)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: not u.endswith("/console/login"))


def error_text(page) -> str:
    """The page's error banner ('' when hidden)."""
    box = page.locator("#error")
    return box.inner_text() if box.is_visible() else ""


def drawn_pixels(png: Path) -> tuple[int, int]:
    """(pixels that are not the white background, distinct colours among them) of a chart
    screenshot: an empty canvas gives (0, 0)."""
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    ink = pixels[np.any(pixels < 245, axis=1)]
    return len(ink), len({tuple(p) for p in ink[:: max(1, len(ink) // 20000)]})


def click_entity(page, entity: str) -> None:
    """Click an entity of the link chart where Cytoscape.js drew it."""
    box = page.locator("#cy").bounding_box()
    at = page.evaluate("(id) => window.linkChart.getElementById(id).renderedPosition()",
                       entity)
    page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
