"""networks.html, opened in a real browser: Debian's headless Chromium draws what the
coordinator sees.

The store is real (`tests/coordinator/two_networks.py`: four forces' signed payloads,
submitted and linked through the public commands): a northern network (Lancashire + West
Yorkshire, with Amy, a victim, hidden) and a southern one (Cumbria + Greater Manchester).
Chromium renders the page once to its DOM (`--dump-dom`) and once to a PNG (`--screenshot`);
the test reads both. Chromium is never mocked, and a machine without it fails the test with
the way to get it — it does not skip.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from scenario.drawing import SHARED_EDGE, force_colours, write_networks_html
from tests.coordinator.coordinator_payloads import federation_template  # noqa: F401
from tests.coordinator.two_networks import TwoNetworks, build

CHROMIUM = Path(os.environ.get("CROSSFORCE_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")
WINDOW = (1400, 1000)
#: a node's fill is at least this many pixels of exactly its force's colour
MIN_BLOB = 40


def chromium(path: Path = CHROMIUM) -> Path:
    """The browser, or a failure saying how to get it (never a silent skip)."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} not found: the browser test needs Debian's chromium. "
                    "`make test` installs it (apt-get install chromium), or set "
                    "CROSSFORCE_CHROMIUM to a Chromium binary", pytrace=False)
    return path


def run_chromium(page: Path, profile: Path, *extra: str) -> str:
    done = subprocess.run(
        [str(chromium()), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@dataclass
class Panel:
    """One network's <svg>, as the browser's DOM holds it."""

    network: int
    members: dict[int, dict[str, str]] = field(default_factory=dict)
    shapes: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # (tag, fill)
    edges: dict[tuple[int, int], dict[str, str]] = field(default_factory=dict)
    svgs: int = 0


class Dom(HTMLParser):
    """Panels (figure.network), their members (g.member), shapes and edges (line.edge)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.panels: list[Panel] = []
        self.svgs = 0
        self.member: int | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "figure" and "network" in classes:
            self.panels.append(Panel(int(a["data-network"])))
        elif tag == "svg":
            self.svgs += 1
            if self.panels:
                self.panels[-1].svgs += 1
        elif tag == "g" and "member" in classes:
            self.member = int(a["data-entity"])
            self.panels[-1].members[self.member] = a
            self.panels[-1].shapes[self.member] = []
        elif tag in ("circle", "rect") and self.member is not None:
            self.panels[-1].shapes[self.member].append((tag, a.get("fill", "")))
        elif tag == "line" and "edge" in classes:
            self.panels[-1].edges[(int(a["data-a"]), int(a["data-b"]))] = a

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self.member = None


@dataclass(frozen=True)
class Rendered:
    two: TwoNetworks
    colour: dict[str, str]
    dom: Dom
    png: Path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory,
             federation_template: Path) -> Rendered:  # noqa: F811
    root = tmp_path_factory.mktemp("browser")
    two = build(federation_template, root / "federation")
    page = write_networks_html(root / "networks.html", two.networks)
    dom = Dom(run_chromium(page, root / "profile", "--dump-dom"))
    png = root / "networks.png"
    run_chromium(page, root / "profile", f"--screenshot={png}",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}")
    return Rendered(two, force_colours(two.networks), dom, png)


def by_id(r: Rendered) -> dict[int, dict]:
    return {n["network_id"]: n for n in r.two.networks}


def test_one_svg_panel_per_network(rendered: Rendered) -> None:
    assert len(rendered.two.networks) == 2
    assert rendered.dom.svgs == 2
    assert sorted(p.network for p in rendered.dom.panels) == sorted(by_id(rendered))
    assert all(p.svgs == 1 for p in rendered.dom.panels)


def test_every_visible_member_is_drawn_once_in_its_forces_colours(rendered: Rendered) -> None:
    for panel in rendered.dom.panels:
        network = by_id(rendered)[panel.network]
        members = {m["entity_id"]: m for m in network["members"]}
        assert set(panel.members) == set(members)
        for entity, member in members.items():
            drawn = panel.members[entity]
            assert drawn["data-forces"].split(";") == member["forces"]
            shape = "circle" if member["kind"] == "person" else "rect"
            assert {tag for tag, _ in panel.shapes[entity]} == {shape}
            fills = [fill for _, fill in panel.shapes[entity]]
            assert {rendered.colour[f] for f in member["forces"]} <= set(fills)


def test_kyle_held_by_two_forces_wears_both_colours(rendered: Rendered) -> None:
    north = next(p for p in rendered.dom.panels if len(p.members) == 6)
    two_forces = [e for e, m in north.members.items() if ";" in m["data-forces"]]
    assert len(two_forces) == 2  # Kyle and his phone
    for entity in two_forces:
        fills = [fill for _, fill in north.shapes[entity]]
        assert rendered.colour["Lancashire"] in fills and rendered.colour["West Yorkshire"] in fills


def test_one_line_per_edge_in_the_colour_of_the_force_that_linked_it(rendered: Rendered
                                                                    ) -> None:
    for panel in rendered.dom.panels:
        network = by_id(rendered)[panel.network]
        edges = {(e["entity_a"], e["entity_b"]): e for e in network["edges"]}
        assert set(panel.edges) == set(edges)
        for pair, edge in edges.items():
            line = panel.edges[pair]
            assert line["data-forces"].split(";") == edge["forces"]
            expected = (rendered.colour[edge["forces"][0]] if len(edge["forces"]) == 1
                        else SHARED_EDGE)
            assert line["stroke"] == expected
    shared = [e for p in rendered.dom.panels for e in p.edges.values()
              if e["stroke"] == SHARED_EDGE]
    assert len(shared) == 2  # Kyle–his phone (north), Jordan–his phone (south)


def test_brokers_are_marked(rendered: Rendered) -> None:
    for panel in rendered.dom.panels:
        network = by_id(rendered)[panel.network]
        marked = {e for e, m in panel.members.items() if "broker" in m["class"].split()}
        assert marked == set(network["brokers"]) and marked


def test_the_victim_is_nowhere_on_the_page(rendered: Rendered) -> None:
    drawn = {e for p in rendered.dom.panels for e in p.members}
    ends = {x for p in rendered.dom.panels for pair in p.edges for x in pair}
    assert rendered.two.amy and not (drawn | ends) & rendered.two.amy


def test_the_screenshot_shows_each_forces_nodes_in_its_colour(rendered: Rendered) -> None:
    """Count solid blobs of each force's exact colour: its legend swatch, plus one per
    node the force holds (a node two forces hold is a ring around a dot)."""
    pixels = np.asarray(Image.open(rendered.png).convert("RGB"))
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    held = Counter(f for n in rendered.two.networks for m in n["members"]
                   for f in m["forces"])
    assert len(held) == 4 and max(len(m["forces"]) for n in rendered.two.networks
                                  for m in n["members"]) == 2
    for force, hex_colour in rendered.colour.items():
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        labels, n = ndimage.label(np.all(pixels == rgb, axis=-1))
        sizes = np.bincount(labels.ravel())[1:]
        blobs = int((sizes >= MIN_BLOB).sum())
        assert blobs == 1 + held[force], (force, n, sorted(sizes.tolist()))


def test_a_machine_without_chromium_is_told_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="`make test` installs it"):
        chromium(tmp_path / "no-chromium")


def test_the_same_networks_give_the_same_page(rendered: Rendered, tmp_path: Path) -> None:
    first = write_networks_html(tmp_path / "a.html", rendered.two.networks).read_bytes()
    again = write_networks_html(tmp_path / "b.html", rendered.two.networks).read_bytes()
    assert first == again
    assert b"<script" not in first and b"<svg" in first


def test_no_network_gives_a_page_that_says_so(tmp_path: Path) -> None:
    page = write_networks_html(tmp_path / "none.html", []).read_text()
    assert "No cross-force network was found." in page and "<svg" not in page
