"""The HTML audit report, opened in a real browser with the network cut off: Debian's
headless Chromium (never mocked; a machine without it fails with the way to get it) renders
the page once to its DOM and once to a PNG, behind a proxy that does not exist, so any
request for a script or style from outside would fail — the page must draw offline.

The federation is tests/federation/audit_world.py (two forces, one round in files).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.federation.audit_world import FORCES, world_template
from tests.node.egress_nodes import run
from tests.scenario.test_networks_browser import run_chromium

OFFLINE = ("--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--virtual-time-budget=10000")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = world_template(tmp_path_factory)
    out = tmp_path_factory.mktemp("audit-report") / "report.html"
    run("audit", "report", "--federation", world, "--format", "html", "--out", out)
    return out


def test_the_page_loads_nothing_from_outside(page: Path) -> None:
    text = page.read_text()
    scripts = re.findall(r"<script[^>]*>", text)
    assert scripts and not [s for s in scripts if "src=" in s]  # inlined, none fetched
    markup = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "plotly.js" in text  # the library itself is in the page


def test_the_browser_draws_both_charts_and_the_verdict(page: Path, tmp_path: Path) -> None:
    dom = run_chromium(page, tmp_path / "profile", *OFFLINE, "--dump-dom")
    # plotly drew each figure into its div (an <svg class="main-svg"> per figure)
    for div in ("flows-over-time", "flow-diagram"):
        assert re.search(rf'id="{div}"[^>]*class="[^"]*js-plotly-plot', dom), div
    assert dom.count('class="main-svg"') >= 2
    # the Sankey has a node per force sent, the coordinator, and a node per force's hits
    labels = re.findall(r'class="node-label"[^>]*>([^<]+)<', dom)
    assert sorted(labels) == sorted([*(f"{f} (sent)" for f in FORCES), "coordinator",
                                     *(f"{f} (hits)" for f in FORCES)])
    assert re.search(r'id="verdict" class="ok">verified: 3 ledgers', dom)


def test_the_screenshot_shows_the_charts(page: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    run_chromium(page, tmp_path / "profile", *OFFLINE, f"--screenshot={png}",
                 "--window-size=1300,1400")
    pixels = np.asarray(Image.open(png).convert("RGB"))
    # plotly's default bar colours (#636efa, #EF553B): the flows-over-time bars are drawn
    for colour in ((0x63, 0x6E, 0xFA), (0xEF, 0x55, 0x3B)):
        assert int(np.all(pixels == colour, axis=-1).sum()) > 200, colour
