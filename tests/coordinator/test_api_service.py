"""The coordinator service over real HTTP: `crossforce coordinator serve` on a loopback
port, httpx as the client, the two-network store of `two_networks.py` behind it.

The story: North — Lancashire and West Yorkshire both know Kyle; Lancashire has Dean with
him (and Amy, a child it records as a victim), West Yorkshire has Marcus (and Amy, as a
witness). South — Cumbria and Greater Manchester both know Jordan; Cumbria has Liam and
Tyler, Greater Manchester has Ryan. Co-suspect links join each force's suspects in a chain,
and every person has one phone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from federation.normalise import normalise_phone
from federation.tokens import Tokeniser
from tests.coordinator.coordinator_payloads import (  # noqa: F401  (fixture)
    AMY,
    DEAN,
    KYLE,
    LANCS,
    MARCUS,
    TOKEN_KEY,
    WYP,
    federation_template,
)
from tests.coordinator.served_api import Api, add_user, serving
from tests.coordinator.two_networks import (
    CUMBRIA,
    GMP,
    JORDAN,
    LIAM,
    RYAN,
    TYLER,
    TwoNetworks,
    build,
)

ROLES = {"ana": "analyst", "lan": f"liaison:{LANCS}", "wyl": f"liaison:{WYP}",
         "aud": "auditor", "adm": "admin", "cum": f"liaison:{CUMBRIA}"}


class Service:
    def __init__(self, two: TwoNetworks, url: str, keys: dict[str, str]) -> None:
        self.two, self.url, self.keys = two, url, keys

    def as_(self, name: str, **kwargs: object) -> Api:
        return Api(self.url, self.keys[name], **kwargs)  # type: ignore[arg-type]

    def network_of(self, force: str, person: object) -> int:
        entity = self.two.entity(force, person)  # type: ignore[arg-type]
        return next(n["network_id"] for n in self.two.networks
                    if entity in {m["entity_id"] for m in n["members"]})


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, federation_template: Path  # noqa: F811
            ) -> Service:
    two = build(federation_template, tmp_path_factory.mktemp("api") / "fed")
    keys = {name: add_user(two.dir, name, role) for name, role in ROLES.items()}
    keys["old"] = add_user(two.dir, "old", "analyst")
    from scenario.demo import crossforce

    crossforce("coordinator", "users", "revoke", "old", "--dir", two.dir)
    with serving(two.dir, "--lookups-per-minute", 5) as url:
        yield Service(two, url, keys)


def phone_token(person: object) -> str:
    """What `node lookup-tokens --phone` makes: the keyed token of the normalised number."""
    number = normalise_phone(person.phone)  # type: ignore[attr-defined]
    return bytes(Tokeniser(TOKEN_KEY).tokens("phone", [number])[0]).hex()


def lookup(api: Api, *people: object) -> dict:
    reply = api.post("/v1/lookups", {"tokens": [{"kind": "phone", "token": phone_token(p)}
                                                for p in people]})
    assert reply.status_code == 200, reply.text
    return reply.json()


# --------------------------------------------------------------------------- analyst


def test_an_analyst_asks_which_networks_span_two_forces_and_who_brokers_them(
        service: Service) -> None:
    page = service.as_("ana").get("/v1/networks", min_forces=2).json()
    assert page["total"] == 2
    by_forces = {tuple(n["forces"]): n for n in page["items"]}
    south, north = by_forces[(CUMBRIA, GMP)], by_forces[(LANCS, WYP)]
    # South: Jordan, Liam, Tyler, Ryan and their four phones (Jordan's is one entity)
    assert (south["n_persons"], south["n_identifiers"]) == (4, 4)
    # the chain Ryan–Jordan–Liam–Tyler, a phone hanging off each: Jordan and Liam each sit
    # on 14 of the 21 shortest paths between the 7 others (normalised 14 / 21 = 0.667)
    two = service.two
    top = {b["entity_id"] for b in south["brokers"][:2]}
    assert top == {two.entity(CUMBRIA, JORDAN), two.entity(CUMBRIA, LIAM)}
    assert south["brokers"][0]["betweenness"] == pytest.approx(2 / 3, abs=1e-6)
    # North: Kyle, Dean, Marcus — Amy, a victim in Lancashire, is never counted
    assert (north["n_persons"], north["n_identifiers"]) == (3, 3)
    assert north["brokers"][0]["entity_id"] == two.entity(LANCS, KYLE)
    assert north["brokers"][0]["forces"] == [LANCS, WYP]
    # nothing spans three forces
    assert service.as_("ana").get("/v1/networks", min_forces=3).json() == {
        "items": [], "total": 0, "limit": 50, "offset": 0}


def test_networks_filter_by_force_size_and_link_kind(service: Service) -> None:
    ana = service.as_("ana")
    assert [n["forces"] for n in ana.get("/v1/networks", force=GMP).json()["items"]] == [
        [CUMBRIA, GMP]]
    assert ana.get("/v1/networks", min_persons=4).json()["total"] == 1
    assert ana.get("/v1/networks", max_persons=3).json()["total"] == 1
    # the only communication link runs to Amy's phone, a victim's: it joins nothing shown
    assert ana.get("/v1/networks", link_kind="communication").json()["total"] == 0
    assert ana.get("/v1/networks", link_kind="co_suspect").json()["total"] == 2
    assert ana.get("/v1/networks", limit=1, offset=1).json()["total"] == 2


def test_one_network_comes_as_cytoscape_elements_without_its_victim(service: Service
                                                                    ) -> None:
    north_id = service.network_of(LANCS, KYLE)
    north = service.as_("ana").get(f"/v1/networks/{north_id}").json()
    two = service.two
    people = {two.entity(LANCS, KYLE), two.entity(LANCS, DEAN), two.entity(WYP, MARCUS)}
    phones = {two.entity(LANCS, KYLE, phone=True), two.entity(LANCS, DEAN, phone=True),
              two.entity(WYP, MARCUS, phone=True)}
    assert {m["entity_id"] for m in north["members"]} == people | phones
    # Kyle–Dean (Lancashire), Kyle–Marcus (West Yorkshire) and each person to their phone;
    # Marcus–Amy and Kyle's phone–Amy's phone end at a victim and are not drawn
    assert len(north["edges"]) == 5
    nodes = {n["data"]["id"] for n in north["elements"]["nodes"]}
    assert nodes == {f"e{e}" for e in people | phones}
    for edge in north["elements"]["edges"]:
        assert {edge["data"]["source"], edge["data"]["target"]} <= nodes
    assert not two.amy & {m["entity_id"] for m in north["members"]}


def test_an_entity_shows_the_forces_holding_it_and_a_victim_is_never_found(
        service: Service) -> None:
    ana = service.as_("ana")
    kyle = service.two.entity(LANCS, KYLE)
    assert ana.get(f"/v1/entities/{kyle}/forces").json() == {"entity_id": kyle,
                                                             "forces": [LANCS, WYP]}
    detail = ana.get(f"/v1/entities/{kyle}").json()
    # Kyle's links: his phone, Dean (co-suspect in Lancashire), Marcus (in West Yorkshire)
    assert {link["entity_id"] for link in detail["links"]} == {
        service.two.entity(LANCS, KYLE, phone=True), service.two.entity(LANCS, DEAN),
        service.two.entity(WYP, MARCUS)}
    for amy in service.two.amy:
        reply = ana.get(f"/v1/entities/{amy}")
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "not_found"


def test_force_pairs_count_what_two_forces_both_hold(service: Service) -> None:
    pairs = service.as_("ana").get("/v1/force-pairs").json()
    # each pair shares one person and that person's phone, and one network; Amy's phone,
    # held by Lancashire only as a victim's, is not counted as shared
    assert pairs == [
        {"force_a": CUMBRIA, "force_b": GMP, "shared_entities": 2, "shared_persons": 1,
         "shared_networks": 1},
        {"force_a": LANCS, "force_b": WYP, "shared_entities": 2, "shared_persons": 1,
         "shared_networks": 1}]


def test_data_is_answered_only_under_a_purpose_it_was_shared_for(service: Service) -> None:
    reply = service.as_("ana", purpose="TOEX-CSE").get("/v1/networks")
    assert reply.status_code == 404
    assert "op-test" in reply.json()["error"]["message"]


# --------------------------------------------------------------------------- liaison


def test_a_liaison_learns_only_hit_or_no_hit_and_the_other_forces_names(
        service: Service) -> None:
    two = service.two
    answer = lookup(service.as_("lan"), KYLE, JORDAN, RYAN)
    kyle, jordan, ryan = answer["results"]
    assert answer["force"] == LANCS
    assert (kyle["hit"], kyle["other_forces"]) == (True, [WYP])
    assert kyle["entity_id"] == two.entity(LANCS, KYLE, phone=True)
    assert kyle["network_id"] == service.network_of(LANCS, KYLE)
    # Jordan's phone: held by Cumbria and Greater Manchester, in the south network
    assert (jordan["hit"], jordan["other_forces"]) == (True, [CUMBRIA, GMP])
    # Ryan's phone is Greater Manchester's only, but sits in the south network
    assert (ryan["hit"], ryan["other_forces"]) == (True, [CUMBRIA, GMP])
    assert set(kyle) == {"kind", "token", "hit", "entity_id", "network_id", "other_forces"}


def test_a_number_nobody_else_holds_is_a_bare_no_hit(service: Service) -> None:
    nobody = type("P", (), {"phone": "07700 900999"})()
    (result,) = lookup(service.as_("cum"), nobody)["results"]
    assert result == {"kind": "phone", "token": phone_token(nobody), "hit": False,
                      "entity_id": None, "network_id": None, "other_forces": []}


def test_a_victims_number_never_names_the_force_holding_it_only_as_a_victims(
        service: Service) -> None:
    # West Yorkshire holds Amy's phone openly (a witness); Lancashire only as a victim's
    (wyp_view,) = lookup(service.as_("wyl"), AMY)["results"]
    assert (wyp_view["hit"], wyp_view["other_forces"]) == (False, [])
    (lancs_view,) = lookup(service.as_("lan"), AMY)["results"]  # it may safeguard her
    assert (lancs_view["hit"], lancs_view["other_forces"]) == (True, [WYP])


def test_a_liaisons_answers_carry_no_other_forces_reference_or_token(
        service: Service) -> None:
    lan = service.as_("lan")
    text = json.dumps(lookup(lan, KYLE, MARCUS, AMY)) + lan.get("/v1/hits").text
    others = [ref for force, refs in service.two.own.items() if force != LANCS
              for ref in refs]
    assert others and not [r for r in others if r in text]
    sent = {phone_token(p) for p in (KYLE, MARCUS, AMY)}
    assert not [t for t in (phone_token(p) for p in (JORDAN, TYLER, RYAN)) if t in text]
    assert sent  # the tokens it sent come back, and nothing else of anyone's


def test_a_liaison_sees_its_own_hits_only(service: Service) -> None:
    hits = service.as_("lan").get("/v1/hits").json()
    own = service.two.own[LANCS]
    assert hits and {h["ref"] for h in hits} <= set(own)
    assert {tuple(h["other_forces"]) for h in hits} == {(WYP,)}


def test_lookups_are_rate_limited_per_user(service: Service) -> None:
    admin = service.as_("adm")  # the service holds the store: users are added through it
    key = admin.post("/v1/users", {"name": "busy", "role": f"liaison:{GMP}"}).json()["key"]
    rl = Api(service.url, key)
    body = {"tokens": [{"kind": "phone", "token": phone_token(KYLE)}]}
    codes = [rl.post("/v1/lookups", body).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]  # started with --lookups-per-minute 5
    refused = rl.post("/v1/lookups", body)
    assert int(refused.headers["retry-after"]) >= 1


# --------------------------------------------------------------------------- the matrix

def endpoints(service: Service) -> list[tuple[str, str, object, set[str]]]:
    kyle = service.two.entity(LANCS, KYLE)
    body = {"tokens": [{"kind": "phone", "token": phone_token(KYLE)}]}
    return [
        ("GET", "/v1/me", None, {"analyst", "liaison", "auditor", "admin"}),
        ("GET", "/v1/networks", None, {"analyst"}),
        ("GET", f"/v1/networks/{service.network_of(LANCS, KYLE)}", None, {"analyst"}),
        ("GET", f"/v1/entities/{kyle}", None, {"analyst"}),
        ("GET", f"/v1/entities/{kyle}/forces", None, {"analyst"}),
        ("GET", "/v1/force-pairs", None, {"analyst"}),
        ("GET", "/v1/aggregates", None, {"analyst", "auditor"}),
        ("GET", "/v1/recording", None, {"analyst", "auditor"}),
        ("GET", "/v1/flows", None, {"auditor"}),
        ("POST", "/v1/lookups", body, {"liaison"}),
        ("GET", "/v1/hits", None, {"liaison"}),
        ("GET", "/v1/submissions", None, {"auditor"}),
        ("GET", "/v1/ledger", None, {"auditor"}),
        ("GET", "/v1/ledger/verify", None, {"auditor"}),
        ("GET", "/v1/consultations", None, {"auditor"}),
        ("GET", "/v1/users", None, {"admin"}),
    ]


def test_every_role_on_every_endpoint_is_allowed_or_refused_and_every_ask_is_logged(
        service: Service) -> None:
    users = {"analyst": "ana", "liaison": "wyl", "auditor": "aud", "admin": "adm"}
    before = service.as_("aud").get("/v1/consultations").json()["total"]
    asked = 0
    for method, path, body, allowed in endpoints(service):
        for role, name in users.items():
            api = service.as_(name)
            reply = api.post(path, body) if method == "POST" else api.get(path)
            asked += 1
            expected = 200 if role in allowed else 403
            assert reply.status_code == expected, (role, path, reply.text)
            if expected == 403:
                assert reply.json()["error"]["code"] == "forbidden"
        for key in (None, service.keys["old"], "cf_000000000000_" + "x" * 43):
            api = Api(service.url, key)
            reply = api.post(path, body) if method == "POST" else api.get(path)
            asked += 1
            assert reply.status_code == 401, (key, path)
            assert reply.headers["www-authenticate"] == "Bearer"
    after = service.as_("aud").get("/v1/consultations", limit=500).json()
    # one entry per request, refused ones included (+1: the first consultations call)
    assert after["total"] == before + 1 + asked
    refused = [c for c in after["items"] if c["status"] == 403]
    assert {c["user"] for c in refused} == set(users.values())
    assert {200, 401, 403} <= {c["status"] for c in after["items"]}


def test_an_auditor_lists_who_asked_what_when_and_why(service: Service) -> None:
    service.as_("ana", justification="Operation Nightjar: brokers of the north network"
                ).get("/v1/networks", min_forces=2)
    (last,) = service.as_("aud").get("/v1/consultations", user="ana", limit=1).json()["items"]
    assert (last["user"], last["role"], last["purpose"], last["endpoint"]) == (
        "ana", "analyst", "op-test", "GET /v1/networks")
    assert last["justification"] == "Operation Nightjar: brokers of the north network"
    assert (last["status"], last["results"]) == (200, 2)
    assert len(last["query_fingerprint"]) == 16 and last["at"].endswith("Z")
    check = service.as_("aud").get("/v1/ledger/verify").json()
    assert check["ok"] and check["problems"] == []


def test_an_auditor_sees_per_force_and_day_what_each_node_sent_and_what_arrived(
        service: Service) -> None:
    import datetime as dt

    flows = service.as_("aud").get("/v1/flows", days=2).json()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert flows["last"] == today
    rows = {(r["force"], r["flow"]): r for r in flows["daily"] if r["day"] == today}
    # each of the four forces sealed one payload today and the coordinator accepted it:
    # what left and what arrived are the same counts; no hits were sent back yet
    for force in (LANCS, WYP, CUMBRIA, GMP):
        sent, got = rows[(force, "sent by node")], rows[(force, "received by coordinator")]
        assert sent["payloads"] == got["payloads"] == 1
        assert (sent["items"], sent["links"]) == (got["items"], got["links"])
        assert sent["items"] > 0
    assert len(rows) == 8
    # consultations by actor and purpose: this very question is among them
    assert {"api:aud (auditor)"} <= {c["actor"] for c in flows["consultations"]}
    # counts only: no token, reference or entity anywhere in the answer
    text = json.dumps(flows)
    for own in service.two.own.values():
        assert not any(ref in text for ref in own)


def test_an_admin_adds_and_revokes_a_user_and_the_revoked_key_stops_at_once(
        service: Service) -> None:
    admin = service.as_("adm")
    made = admin.post("/v1/users", {"name": "temp", "role": "analyst", "days": 1}).json()
    temp = Api(service.url, made["key"])
    assert temp.get("/v1/me").json()["name"] == "temp"
    assert admin.delete("/v1/users/temp").json() == {"name": "temp", "revoked": 1}
    assert temp.get("/v1/me").status_code == 401
    users = {u["name"]: u for u in admin.get("/v1/users").json()}
    assert users["temp"]["state"] == "revoked" and "key" not in users["temp"]
    bad = admin.post("/v1/users", {"name": "x1", "role": "liaison:Atlantis"})
    assert bad.status_code == 400 and "registered force" in bad.json()["error"]["message"]


# --------------------------------------------------------------------------- robustness

def test_a_request_without_purpose_or_justification_is_refused_and_logged(
        service: Service) -> None:
    for kwargs, names in (({"purpose": None}, "purpose"),
                          ({"justification": None}, "justification"),
                          ({"justification": "short"}, "justification")):
        reply = Api(service.url, service.keys["ana"], **kwargs).get("/v1/networks")
        assert reply.status_code == 400
        assert names in reply.json()["error"]["message"].lower()
    (last,) = service.as_("aud").get("/v1/consultations", user="ana", limit=1).json()["items"]
    assert last["status"] == 400


def test_bad_input_gets_one_error_shape_and_never_a_trace(service: Service) -> None:
    lan = service.as_("lan")
    replies = [
        lan.client.post("/v1/lookups", content=b"{not json", headers={
            "content-type": "application/json"}),
        lan.post("/v1/lookups", {"tokens": [{"kind": "phone", "token": "zz"}]}),
        lan.post("/v1/lookups", {"tokens": [], "extra": 1}),
        lan.client.post("/v1/lookups", content=b"x" * 70_000),
        service.as_("ana").get("/v1/networks", limit=10_000),
        service.as_("ana").get("/v1/nowhere"),
    ]
    assert [r.status_code for r in replies] == [400, 400, 400, 413, 400, 404]
    for r in replies:
        assert set(r.json()) == {"error"}
        assert set(r.json()["error"]) == {"status", "code", "message", "request_id"}
        assert "Traceback" not in r.text and "File \"" not in r.text


def test_answers_carry_security_headers_and_no_cors(service: Service) -> None:
    reply = service.as_("ana").client.get("/v1/me", headers={"Origin": "https://evil.example"})
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in reply.headers
    assert reply.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_openapi_schema_is_served_at_docs(service: Service) -> None:
    api = Api(service.url, None)
    schema = api.get("/openapi.json").json()
    assert "/v1/networks" in schema["paths"] and "/v1/lookups" in schema["paths"]
    assert not [p for p in schema["paths"] if p.startswith("/internal")]
    assert api.get("/docs").status_code == 200
