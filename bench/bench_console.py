"""Bench: the national console's link chart of a 2,000-entity network, in Debian's
headless Chromium on this machine (issue #17: open and interactive within 3 s, 2 cores).

The console's real pages and scripts are served (federation/console); the API answers
(`/v1/me`, `/v1/networks/1`, `/v1/entities/…`) are a synthetic network in the API's exact
shape, answered by the browser's request routing, so the figure is the browser's work:
fetch, Cytoscape.js with the fcose layout, the first click and a find-path. Measured
with the browser's performance API (the `chart-ready` mark, from navigation start).

Baseline, measured in the same run and page: Cytoscape.js adding the same elements with
the trivial grid layout — what drawing them costs without placing them well.
"""

from __future__ import annotations

import json
import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import load_avg, report, runs_arg  # noqa: E402

PERSONS = 1000  # plus one phone each: 2,000 entities
FORCES = ("Lancashire", "West Yorkshire", "Cumbria")


def network(seed: int = 7) -> dict:
    """A network in /v1/networks/{id}'s shape: persons in a random tree plus extra links,
    a phone hanging off each person."""
    rng = random.Random(seed)
    members, edges = [], []
    for i in range(PERSONS):
        forces = [FORCES[i % 3]] + ([FORCES[(i + 1) % 3]] if i % 50 == 0 else [])
        for eid, kind in ((2 * i, "person"), (2 * i + 1, "phone")):
            members.append({"entity_id": eid, "kind": kind, "betweenness": 0.0, "degree": 1,
                            "is_broker": kind == "person" and i % 97 == 0,
                            "is_key_player": False, "forces": forces})
        edges.append((2 * i, 2 * i + 1))
        if i:
            edges.append((2 * rng.randrange(i), 2 * i))
    for _ in range(PERSONS // 2):
        a, b = rng.sample(range(PERSONS), 2)
        edges.append((2 * min(a, b), 2 * max(a, b)))
    edges = sorted(set(edges))
    return {"network_id": 1, "purpose": "TOEX-CSE", "forces": list(FORCES),
            "n_persons": PERSONS, "n_identifiers": PERSONS, "counts_by_kind": {},
            "first_activity": None, "last_activity": None, "brokers": [], "key_players": [],
            "members": members,
            "edges": [{"entity_a": a, "entity_b": b, "kinds": ["co_suspect"],
                       "forces": [FORCES[0]], "n_links": 1 + (a + b) % 5} for a, b in edges],
            "elements": {"nodes": [], "edges": []}}


def serve_pages() -> str:
    import uvicorn
    from fastapi import FastAPI

    from federation.console import add_console

    app = FastAPI()
    add_console(app, "national")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.console_browser import ARGS, CHROMIUM

    runs = runs_arg()
    body = network()
    url = serve_pages()
    session = {"key": "cf_bench", "purpose": "TOEX-CSE", "justification": "bench of the "
               "console", "role": "analyst", "role_spec": "analyst", "name": "bench",
               "force": None}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        samples = [measure(browser, url, session, body) for _ in range(runs)]
        browser.close()
    med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    ready_ms, layout_ms, path_ms, grid_ms = (med[k] for k in ("ready", "layout", "path",
                                                                "grid"))
    nodes, edges = int(samples[-1]["nodes"]), int(samples[-1]["edges"])
    report("bench_console", {"entities": nodes, "links": edges, "runs": runs,
                             "open_to_chart_ready_ms": ready_ms,
                             "layout_and_draw_ms": layout_ms, "find_path_ms": path_ms,
                             "grid_baseline_ms": grid_ms,
                             "ready_runs_ms": "/".join(f"{s['ready']:.0f}" for s in samples),
                             "load_avg_1m": load_avg()},
           ready_ms / max(grid_ms, 1.0),
           "navigation start → link chart drawn and interactive / Cytoscape.js adding the "
           "same elements with a grid layout, medians of fresh pages",
           "a 2,000-entity network interactive within 3,000 ms on 2 cores")


def measure(browser, url: str, session: dict, body: dict) -> dict[str, float]:  # noqa: ANN001
    """One fresh page: open the network, time the chart, a path search, the baseline."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})

    def answer(route) -> None:  # noqa: ANN001
        path = route.request.url.split("/v1", 1)[1].split("?")[0]
        if path == "/networks/1":
            data = body
        else:
            eid = int(path.rsplit("/", 1)[1])
            data = {"entity_id": eid, "kind": "person", "purpose": "TOEX-CSE",
                    "forces": [FORCES[0]], "stop_listed": False, "network_id": 1,
                    "links": []}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(data))

    page.route("**/v1/**", answer)
    page.goto(f"{url}/console/login")
    page.evaluate("(s) => sessionStorage.setItem('crossforce-national', "
                  "JSON.stringify(s))", session)
    page.goto(f"{url}/console/network?id=1")
    page.wait_for_selector("#cy[data-nodes]", timeout=60_000)
    ready_ms = page.evaluate("performance.getEntriesByName('chart-ready')[0].startTime")
    layout_ms = page.evaluate("window.chartReadyMs")
    t0 = time.perf_counter()
    page.fill("#path-a", "0")
    page.fill("#path-b", str(2 * (PERSONS - 1)))
    page.click("#find-path")
    page.wait_for_function("document.getElementById('path-result').textContent !== ''")
    path_ms = (time.perf_counter() - t0) * 1000
    grid_ms = page.evaluate("""() => {
        const c = document.createElement('div');
        c.style.width = '1200px'; c.style.height = '800px';
        document.body.append(c);
        const els = window.linkChart.elements().jsons();
        const t0 = performance.now();
        cytoscape({container: c, elements: els, layout: {name: 'grid'}});
        return performance.now() - t0; }""")
    nodes = int(page.get_attribute("#cy", "data-nodes"))
    edges = int(page.get_attribute("#cy", "data-edges"))
    page.close()
    return {"ready": ready_ms, "layout": layout_ms, "path": path_ms, "grid": grid_ms,
            "nodes": nodes, "edges": edges}


if __name__ == "__main__":
    main()
