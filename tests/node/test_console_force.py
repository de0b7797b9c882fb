# ruff: noqa: F811  (cse_node is a fixture imported from cse_cases)
"""The force console in a real browser (issue #17): `crossforce node serve-console` over a
node holding the hand-built CSE cases (tests/node/cse_cases.py, with its hits batch:
S2 and X1 in national network 7) and a planted handover.

The handover: seized phones HD1 (person H1) and HD2 (person H2) call 07700 900801 every
day from 1 to 10 January 2023 at 10:00 and 11:00, then 07700 900802 every day from 13 to
22 January; HD1 saved them as "Ali" and "Ali new". So 900801 stopped and 900802 started
on 2023-01-13 with the same two contacts (test_analyses_handovers works the numbers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
from analysis_nodes import calls, days
from cse_cases import add_hits, cse_node  # noqa: F401  (a fixture)

from tests.console_browser import browser, click_entity, drawn_pixels, error_text, log_in
from tests.spawned import start, stop_all

pytestmark = pytest.mark.slow
OLD, NEW = "07700 900801", "07700 900802"
WHY = "op ELM-7: reviewing HD1 after the January switch"


def _plant(node: Path, folder: Path) -> None:
    from federation.cli import main

    folder.mkdir()
    rows = []
    for dev, hour in (("HD1", 10), ("HD2", 11)):
        rows += [(dev, t, "outgoing", OLD) for t in days(1, 10, hour)]
        rows += [(dev, t, "outgoing", NEW) for t in days(13, 22, hour)]
    (folder / "persons.csv").write_text("person_id,given_names,family_name\n"
                                        "H1,Harun,Ellwood\nH2,Idris,Penhale\n")
    (folder / "devices.csv").write_text(
        "device_id,person_id,imei,owner_number,timezone,region\n"
        "HD1,H1,,07700 900811,Europe/London,GB\nHD2,H2,,07700 900812,Europe/London,GB\n")
    (folder / "calls.csv").write_text(calls(rows))
    (folder / "contacts.csv").write_text("device_id,contact_id,name,number\n"
                                         f"HD1,K1,Ali,{OLD}\nHD1,K2,Ali new,{NEW}\n")
    assert main(["node", "ingest", "--dir", str(node), str(folder)]) == 0
    add_hits(node)


@pytest.fixture(scope="module")
def console(cse_node: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("force-console")
    _plant(cse_node, root / "handover")
    process = start([sys.executable, "-m", "federation.cli"], "node", "serve-console",
                    "--dir", cse_node, "--port", 0, "--json")
    try:
        line = process.stdout.readline()
        ready = json.loads(line)
        with browser() as chromium:
            yield {"url": ready["url"].removesuffix("/console/login"), "key": ready["key"],
                   "node": cse_node, "shots": root, "chromium": chromium}
    finally:
        stop_all([process])


def _page(console: dict):  # noqa: ANN202
    page = console["chromium"].new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, console["url"], console["key"], justification=WHY)
    return page


def test_without_the_console_key_nothing_is_answered(console: dict) -> None:
    url = console["url"]
    assert httpx.get(f"{url}/api/subjects").status_code == 401
    wrong = httpx.get(f"{url}/api/subjects", headers={
        "Authorization": "Bearer cfc_guess", "X-Justification": WHY})
    assert wrong.status_code == 401 and "console-key" in wrong.json()["error"]["message"]
    # a page elsewhere reaching the port through another host name (DNS rebinding)
    rebound = httpx.get(f"{url}/api/subjects", headers={
        "Host": "evil.example", "Authorization": f"Bearer {console['key']}",
        "X-Justification": WHY})
    assert rebound.status_code == 421
    key_file = console["node"] / "console" / "console-key"
    assert key_file.stat().st_mode & 0o077 == 0


def test_a_devices_timeline_shows_the_planted_handover_date(console: dict) -> None:
    page = _page(console)
    assert page.url.endswith("/console/subjects")
    page.click("table.devices a:text-is('HD1')")
    page.wait_for_selector(".vis-item.vis-box.handover")
    handover = page.locator(".vis-item.vis-box.handover").inner_text()
    assert handover == "⇄ 2023-01-13 +447700900801 → +447700900802"
    # HD1 made 20 calls: one theme line for the device, one for the handovers
    assert page.get_attribute("#timeline", "data-items") == "21"
    groups = page.locator(".vis-label").all_inner_texts()
    assert [g.strip() for g in groups] == ["HD1", "handovers"]
    page.wait_for_selector("table.handovers")
    row = page.locator("table.handovers tbody tr").first.inner_text()
    assert "+447700900801\t+447700900802\t2023-01-13" in row
    page.wait_for_selector("table.heat")
    shot = console["shots"] / "force-timeline.png"
    page.locator("#timeline").screenshot(path=str(shot))
    ink, colours = drawn_pixels(shot)
    assert ink > 2000 and colours > 3, (ink, colours)
    assert not error_text(page)


def test_the_review_list_shows_each_line_of_new_evidence(console: dict) -> None:
    page = _page(console)
    page.click("nav a[href='/console/review']")
    page.wait_for_selector("#result table")
    text = page.inner_text("#result")
    # the two eligible cases, GCOSUS first (score 23), and its three lines with weights
    assert "eligible: 2" in text
    for line in ("S2: cross-force hit (network 7) with Northshire, Westshire",
                 "S1: phone DS1 extracted 2024-02-01, after the closure",
                 "national network 7: 1 other person(s) of this force in it"):
        assert line in text


def test_the_local_link_chart_finds_the_path_between_the_two_phones(console: dict) -> None:
    page = _page(console)
    page.goto(f"{console['url']}/console/chart?around=HD1&hops=2")
    page.wait_for_selector("#cy[data-nodes]")
    # around the device HD1, drawn as its own number 900811 (2 links): its person H1, the
    # two numbers it called, and HD2's number 900812 that called them too (H2 is 3 away)
    ids = page.evaluate("window.linkChart.nodes().map((n) => n.id())")
    assert set(ids) == {"person:H1", "phone:+447700900811", "phone:+447700900801",
                        "phone:+447700900802", "phone:+447700900812"}
    page.fill("#path-a", "phone:+447700900811")
    page.fill("#path-b", "phone:+447700900812")
    page.click("#find-path")
    path = page.inner_text("#path-result")
    assert path.endswith("(2 link(s))"), path
    click_entity(page, "phone:+447700900801")
    page.wait_for_selector("#details h3")
    shot = console["shots"] / "force-chart.png"
    page.locator("#cy").screenshot(path=str(shot))
    assert drawn_pixels(shot)[0] > 1000


def test_hits_and_cse_pages_and_every_look_is_a_ledger_entry(console: dict) -> None:
    page = _page(console)
    page.click("nav a[href='/console/hits']")
    page.wait_for_selector("#result table")
    assert "Northshire, Westshire" in page.inner_text("#result")
    page.click("nav a[href='/console/cse']")
    page.wait_for_selector("#result table")
    assert "recording accuracy" in page.inner_text("#result")
    con = duckdb.connect(str(console["node"] / "node.duckdb"), read_only=True)
    try:
        entries = con.execute("SELECT purpose, justification FROM ledger WHERE action = "
                              "'consultation' AND purpose LIKE 'analysis:console-%'"
                              ).fetchall()
    finally:
        con.close()
    assert {"analysis:console-cse", "analysis:console-timeline"} <= {p for p, _ in entries}
    assert all(WHY in j for _, j in entries)
