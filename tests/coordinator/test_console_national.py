"""The national console in a real browser (issue #17), over the two-network store of
tests/coordinator/two_networks.py served by `crossforce coordinator serve`.

North: Kyle (held by Lancashire and West Yorkshire) links Dean (Lancashire) and Marcus
(West Yorkshire); with their three phones the network has 6 members and 5 links (Amy, a
victim, is never shown). South: Ryan–Jordan–Liam–Tyler, a phone each: 8 members.
Each role logs in with its own key and sees only what the API lets it see.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.console_browser import browser, click_entity, drawn_pixels, error_text, log_in
from tests.coordinator.coordinator_payloads import (  # noqa: F401  (fixture)
    DEAN,
    KYLE,
    LANCS,
    MARCUS,
    PURPOSE,
    WYP,
    federation_template,
)
from tests.coordinator.served_api import Api, add_user, serving
from tests.coordinator.two_networks import CUMBRIA, GMP, TwoNetworks, build

pytestmark = pytest.mark.slow
ROLES = {"ana": "analyst", "lan": f"liaison:{LANCS}", "aud": "auditor", "adm": "admin"}


class Console:
    def __init__(self, two: TwoNetworks, url: str, keys: dict[str, str], shots: Path,
                 chromium: object) -> None:
        self.two, self.url, self.keys, self.shots = two, url, keys, shots
        self.chromium = chromium

    def page(self, who: str):  # noqa: ANN201
        page = self.chromium.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, self.url, self.keys[who], purpose=PURPOSE)
        return page

    def network_of(self, force: str, person: object) -> int:
        entity = self.two.entity(force, person)  # type: ignore[arg-type]
        return next(n["network_id"] for n in self.two.networks
                    if entity in {m["entity_id"] for m in n["members"]})


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, federation_template: Path  # noqa: F811
            ) -> Console:
    root = tmp_path_factory.mktemp("console")
    two = build(federation_template, root / "fed")
    keys = {name: add_user(two.dir, name, role) for name, role in ROLES.items()}
    with serving(two.dir) as url, browser() as chromium:
        yield Console(two, url, keys, root, chromium)


def test_an_analyst_opens_a_network_and_the_page_counts_its_members_as_the_api_does(
        console: Console) -> None:
    page = console.page("ana")
    assert page.url.endswith("/console/networks")
    # two networks, each a link to its chart
    page.wait_for_selector("table.networks a")
    links = page.locator("table.networks a")
    assert links.count() == 2
    north = console.network_of(LANCS, KYLE)
    page.click(f"table.networks a[href='/console/network?id={north}']")
    page.wait_for_selector("#cy[data-nodes]")
    api = Api(console.url, console.keys["ana"], purpose=PURPOSE).get(f"/v1/networks/{north}")
    assert int(page.inner_text("#member-count")) == len(api.json()["members"]) == 6
    assert int(page.inner_text("#edge-count")) == 5
    assert page.inner_text("#forces") == f"{LANCS}, {WYP}"
    # Kyle, held by both forces, is the broker: drawn with the broker's ring
    kyle = console.two.entity(LANCS, KYLE)
    assert page.evaluate(f"window.linkChart.getElementById('e{kyle}').data('broker')")
    shot = console.shots / "national-network.png"
    page.locator("#cy").screenshot(path=str(shot))
    ink, colours = drawn_pixels(shot)
    assert ink > 2000 and colours > 3, (ink, colours)  # drawn, not an empty canvas


def test_clicking_an_entity_shows_the_forces_holding_it(console: Console) -> None:
    page = console.page("ana")
    north = console.network_of(LANCS, KYLE)
    page.goto(f"{console.url}/console/network?id={north}")
    page.wait_for_selector("#cy[data-nodes]")
    kyle = console.two.entity(LANCS, KYLE)
    click_entity(page, f"e{kyle}")
    page.wait_for_selector("#details h3")
    text = page.inner_text("#details")
    assert f"person {kyle}" in text and f"held by: {LANCS}, {WYP}" in text
    assert "3 link(s)" in text  # his phone, Dean and Marcus


def test_find_path_between_two_named_members_shows_the_path(console: Console) -> None:
    page = console.page("ana")
    north = console.network_of(LANCS, KYLE)
    page.goto(f"{console.url}/console/network?id={north}")
    page.wait_for_selector("#cy[data-nodes]")
    dean, kyle, marcus = (console.two.entity(f, p) for f, p in
                          ((LANCS, DEAN), (LANCS, KYLE), (WYP, MARCUS)))
    page.fill("#path-a", str(dean))
    page.fill("#path-b", str(marcus))
    page.click("#find-path")
    # Dean and Marcus never met: Kyle links them, two links
    assert page.inner_text("#path-result") == (f"person {dean} → person {kyle} → person "
                                               f"{marcus} (2 link(s))")
    shot = console.shots / "national-path.png"
    page.locator("#cy").screenshot(path=str(shot))
    assert drawn_pixels(shot)[0] > 1000


def test_the_force_pair_matrix_counts_shared_networks(console: Console) -> None:
    page = console.page("ana")
    page.click("nav a[href='/console/pairs']")
    page.wait_for_selector("table.matrix")
    cells = page.locator("table.matrix tr").all_inner_texts()
    # Lancashire and West Yorkshire share one network (and Kyle), Cumbria and GM another
    row = next(c for c in cells if c.startswith(LANCS))
    assert "1 (" in row
    assert any(c.startswith(CUMBRIA) and "1 (" in c for c in cells)
    assert any(c.startswith(GMP) for c in cells)


def test_a_liaison_sees_its_own_hits_and_nothing_else_even_by_typing_the_url(
        console: Console) -> None:
    page = console.page("lan")
    assert page.url.endswith("/console/hits")
    page.wait_for_selector("#hits table")
    own = console.two.own[LANCS]
    refs = page.locator("#hits td:first-child").all_inner_texts()
    assert refs and set(refs) <= set(own)
    # another force's hits by URL: refused
    page.goto(f"{console.url}/console/hits?force={WYP}")
    assert f"sees {LANCS}'s hits only" in error_text(page)
    # a network by URL: the page refuses, and so does the API behind it
    north = console.network_of(LANCS, KYLE)
    page.goto(f"{console.url}/console/network?id={north}")
    assert "may not open this page" in error_text(page)
    status = page.evaluate(f"""async () => (await fetch('/v1/networks/{north}', {{headers: {{
        'Authorization': 'Bearer {console.keys['lan']}', 'X-Purpose': '{PURPOSE}',
        'X-Justification': 'typing the url of a network'}}}})).status""")
    assert status == 403
    assert page.locator("#cy canvas").count() == 0


def test_an_auditor_sees_the_days_flows_and_the_ledger_check_but_no_graph(
        console: Console) -> None:
    page = console.page("aud")
    assert page.url.endswith("/console/flows")
    page.wait_for_selector("table.day-flows")
    assert "coordinator ledger OK" in page.inner_text("#verify")
    rows = [r.split("\t") for r in page.locator("table.day-flows tbody tr").all_inner_texts()]
    # today each of the four forces sealed one payload and the coordinator received it
    per = {(r[0], r[1]): int(r[2]) for r in rows}
    for force in (LANCS, WYP, CUMBRIA, GMP):
        assert per[(force, "sent by node")] == per[(force, "received by coordinator")] == 1
    assert page.locator("#chart-received rect").count() >= 4
    consulted = page.inner_text("#consultations")
    assert "api:aud (auditor)" in consulted
    shot = console.shots / "national-flows.png"
    page.screenshot(path=str(shot), full_page=True)
    # the graph is not the auditor's: the page refuses and no chart is drawn
    page.goto(f"{console.url}/console/network?id={console.network_of(LANCS, KYLE)}")
    assert "may not open this page" in error_text(page)
    assert page.locator("#cy canvas").count() == 0
    assert page.locator("nav a[href='/console/networks']").count() == 0


def test_every_console_page_is_served_without_a_key_but_holds_no_data(
        console: Console) -> None:
    anonymous = Api(console.url, None, purpose=None, justification=None)
    page = anonymous.get("/console/network")
    assert page.status_code == 200 and "<script src=\"/console/static/console.js\"" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert anonymous.get("/console/vendor/cytoscape.min.js").status_code == 200
    assert anonymous.get("/console/static/../__init__.py").status_code == 404
    assert anonymous.get("/v1/networks").status_code == 401


def test_the_auditor_page_says_whether_both_ends_were_verified(
        console: Console) -> None:
    """No `audit verify --record` yet: the page says the nodes' ledgers are unchecked (it
    never implies more than the coordinator's own check)."""
    page = console.page("aud")
    page.wait_for_selector("#verify-federation")
    assert "have not been checked against this one yet" in page.inner_text(
        "#verify-federation")


def test_a_recorded_federation_check_is_served_to_the_auditor(
        cli, federation_template: Path, tmp_path: Path) -> None:  # noqa: F811
    """`audit verify --record` keeps the whole-federation result in the coordinator folder;
    the service shows it with its own ledger check (to the auditor only)."""
    two = build(federation_template, tmp_path / "fed")
    r = cli("audit", "verify", "--coordinator", two.dir, "--record")
    assert r.code == 0 and "result kept in" in r.out, r
    kept = two.dir / "audit" / "verified.json"
    assert kept.exists()
    key = add_user(two.dir, "aud2", "auditor")
    with serving(two.dir) as url:
        check = Api(url, key, purpose=PURPOSE).get("/v1/ledger/verify").json()
    assert check["ok"] and check["federation"]["ok"]
    assert check["federation"]["nodes"] == [] and check["federation"]["findings"] == []
    assert check["federation"]["checks"]["chains"] > 0  # the coordinator ledger's entries
