"""The gate: every outgoing share set passes it; it refuses what the policy does not name."""

from __future__ import annotations

import copy
import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from federation.payload import ShareSet
from federation.tokens import Tokeniser
from policies.gate import MATCH_ONLY, PolicyViolation, describe, gate
from policies.model import SharePolicy, default_policy, parse_policy
from policies.privacy_budget import BudgetExceeded, PrivacyBudget

REF = pa.binary(16)
RNG = np.random.default_rng(20260101)
TOKENISER = Tokeniser(bytes(range(32)))


def new_ref() -> bytes:
    return RNG.bytes(16)


class Node:
    """A small force's share set, built the way egress will build it."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.tokens: list[dict] = []
        self.links: list[dict] = []

    def item(self, kind: str, role: str | None, value: str | None = None,
             **attributes: str | None) -> bytes:
        ref = new_ref()
        self.items.append({"ref": ref, "kind": kind, "role": role, **attributes})
        token_kind = "mk:fn+dob" if kind == "person" else kind
        if value is not None:
            self.tokens.append({"ref": ref, "token_kind": token_kind,
                                "token": TOKENISER.token(token_kind, value)})
        return ref

    def link(self, a: bytes, b: bytes, kind: str, weight: int = 1) -> None:
        self.links.append({"ref_a": a, "ref_b": b, "kind": kind, "weight": weight})

    def share(self, policy: SharePolicy, aggregates: pa.Table | None = None) -> ShareSet:
        attributes = sorted({k for row in self.items for k in row} - {"ref", "kind", "role"})
        items = pa.table({
            "ref": pa.array([r["ref"] for r in self.items], REF),
            "kind": [r["kind"] for r in self.items],
            "role": pa.array([r["role"] for r in self.items], pa.string()),
            **{a: pa.array([r.get(a) for r in self.items], pa.string()) for a in attributes},
        })
        tokens = pa.table({
            "ref": pa.array([t["ref"] for t in self.tokens], REF),
            "token_kind": [t["token_kind"] for t in self.tokens],
            "token": pa.array([t["token"] for t in self.tokens], REF),
        })
        links = pa.table({
            "ref_a": pa.array([x["ref_a"] for x in self.links], REF),
            "ref_b": pa.array([x["ref_b"] for x in self.links], REF),
            "kind": pa.array([x["kind"] for x in self.links], pa.string()),
            "weight": pa.array([x["weight"] for x in self.links], pa.int32()),
        })
        return ShareSet(force="West Yorkshire", purpose=policy.purpose.code, epoch=3,
                        policy_hash=policy.version, items=items, tokens=tokens, links=links,
                        aggregates=aggregates if aggregates is not None else AGGREGATES)


def aggregates(rows: list[tuple[str, dict, int | None]]) -> pa.Table:
    return pa.table({"name": [r[0] for r in rows],
                     "cell": [json.dumps(r[1], separators=(",", ":")) for r in rows],
                     "count": pa.array([r[2] for r in rows], pa.int64())})


AGGREGATES = aggregates([
    ("crimes_by_category_year", {"offence_category": "cse", "year": "2023"}, 3),
    ("crimes_by_category_year", {"offence_category": "cse", "year": "2024"}, 40),
    ("crimes_by_category_year", {"offence_category": "group", "year": "2023"}, 55),
    ("crimes_by_category_year", {"offence_category": "group", "year": "2024"}, 61),
    ("persons_by_role_ethnicity", {"role": "suspect", "ethnicity": "A1"}, 31),
    ("persons_by_role_ethnicity", {"role": "suspect", "ethnicity": "W1"}, 118),
    ("persons_by_role_ethnicity", {"role": "suspect", "ethnicity": "NS"}, 201),
])

CSE = default_policy("cse-national")


def cse_network(n_contacts: int = 0) -> Node:
    """Three suspects who phone each other, one victim (match-only)."""
    node = Node()
    p1 = node.item("person", "suspect", "ali|1990-05-17", offence_category="cse")
    p2 = node.item("person", "offender", "smith|1985-01-02", offence_category="group")
    p3 = node.item("person", "facilitator", "jones|1979-11-30", offence_category="cse")
    ph1 = node.item("phone", "suspect", "+447700900123")
    ph2 = node.item("phone", "offender", "+447700900456")
    em3 = node.item("email", "facilitator", "someone@example.com")
    v1 = node.item("person", "victim", "doe|2009-03-04")
    vph = node.item("phone", "victim", "+447700900999")
    node.link(p1, ph1, "person_identifier")
    node.link(p2, ph2, "person_identifier")
    node.link(p3, em3, "person_identifier")
    node.link(p1, p2, "co_suspect")
    node.link(ph1, ph2, "communication", weight=37)
    node.link(v1, vph, "person_identifier")
    for _ in range(n_contacts):  # e.g. a takeaway's number everyone calls
        node.link(ph1, node.item("phone", None, f"+4477009{RNG.integers(10**5):05d}"),
                  "communication")
    return node


def tampered(share: ShareSet, **fields) -> ShareSet:
    """A share set changed behind the constructor's back, as a buggy egress might."""
    changed = copy.copy(share)
    for name, value in fields.items():
        object.__setattr__(changed, name, value)
    return changed


def refusal(policy: SharePolicy, share: ShareSet) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as refused:
        gate(policy, share)
    return refused.value


def whats(policy: SharePolicy, share: ShareSet) -> list[str]:
    return [v.what for v in refusal(policy, share).violations]


# --------------------------------------------------------------------------- pass-through


def test_a_compliant_share_set_passes_and_is_marked_bucketed_and_controlled() -> None:
    share = cse_network().share(CSE)
    out = gate(CSE, share)
    assert type(out) is type(share)
    assert (out.force, out.purpose, out.epoch, out.policy_hash) == (
        share.force, share.purpose, share.epoch, share.policy_hash)
    assert out.items.column("ref").to_pylist() == share.items.column("ref").to_pylist()
    assert out.tokens.equals(share.tokens)
    # victims (and their phone) are marked so the coordinator matches but never displays
    roles = out.items.column("role").to_pylist()
    assert out.items.column(MATCH_ONLY).to_pylist() == [r == "victim" for r in roles]
    # the communication count 37 is bucketed to its bucket's lower edge
    assert out.links.column("weight").to_pylist() == [1, 1, 1, 1, 20, 1]
    # disclosure control: 3 suppressed, its row and column protected, the rest rounded
    assert out.aggregates.column("count").to_pylist() == [None, None, None, None, 30, 120, 200]


def test_the_gate_is_idempotent() -> None:
    once = gate(CSE, cse_network().share(CSE))
    twice = gate(CSE, once)
    for table in ("items", "tokens", "links", "aggregates"):
        assert getattr(twice, table).equals(getattr(once, table)), table


def test_describe_counts_what_would_leave() -> None:
    summary = describe(gate(CSE, cse_network().share(CSE)))
    assert summary["items_by_kind"] == {"person": 4, "phone": 3, "email": 1}
    assert summary["match_only"] == 2
    assert summary["links_by_kind"] == {"person_identifier": 4, "co_suspect": 1,
                                        "communication": 1}
    assert summary["aggregates_suppressed"] == 4


def test_a_node_may_mark_more_items_match_only_but_never_fewer() -> None:
    node = cse_network()
    node.item("phone", "suspect", "+447700900777")  # a suspect's number, in no link
    share = node.share(CSE)
    n = share.items.num_rows
    claimed = [False] * (n - 1) + [True]  # marks that number, "forgets" the victims
    out = gate(CSE, tampered(share, items=share.items.append_column(MATCH_ONLY,
                                                                    pa.array(claimed))))
    roles = out.items.column("role").to_pylist()
    assert out.items.column(MATCH_ONLY).to_pylist() == [
        i == n - 1 or r == "victim" for i, r in enumerate(roles)]


# --------------------------------------------------------------------------- refusals


def test_a_refusal_names_what_and_why() -> None:
    share = cse_network().share(CSE)
    items = share.items.set_column(2, "role", pa.array(
        ["witness"] + share.items.column("role").to_pylist()[1:], pa.string()))
    refused = refusal(CSE, tampered(share, items=items))
    assert str(refused) == (
        "policy gate refused the share set for TOEX-CSE:\n"
        "  - items.role: roles out of scope: 'witness' (1 rows); in scope: facilitator, "
        "offender, suspect")


def test_wrong_purpose_or_policy_version() -> None:
    share = cse_network().share(CSE)
    assert whats(CSE, tampered(share, purpose="TOEX-COUNTY-LINES")) == ["purpose"]
    assert whats(CSE, tampered(share, policy_hash="0" * 64)) == ["policy_hash"]


def test_item_and_token_kinds_the_policy_does_not_share() -> None:
    lines = default_policy("county-lines")  # no email, no victims
    node = Node()
    p = node.item("person", "suspect", "a|1990-01-01")
    e = node.item("email", "suspect", "x@example.com")
    node.link(p, e, "person_identifier")
    assert whats(lines, node.share(lines, AGGREGATES.slice(0, 0))) == [
        "items.kind", "tokens.token_kind"]


def test_victims_are_refused_unless_the_policy_opts_in() -> None:
    lines = default_policy("county-lines")
    node = Node()
    node.item("person", "victim", "doe|2009-03-04")
    refused = refusal(lines, node.share(lines, AGGREGATES.slice(0, 0)))
    assert refused.violations[0].what == "items.role"
    assert 'victims are shared only with victims = "match-only"' in str(refused)


def test_victims_carry_tokens_only_and_never_join_a_network() -> None:
    node = cse_network()
    victim = node.items[6]["ref"]
    node.items[6]["offence_category"] = "cse"
    node.link(node.items[0]["ref"], victim, "co_suspect")
    assert whats(CSE, node.share(CSE)) == ["items.offence_category", "items.match_only"]


def test_a_person_without_a_role_is_refused() -> None:
    node = cse_network()
    node.items[0]["role"] = None
    assert whats(CSE, node.share(CSE)) == ["items.role"]


def test_link_kinds_the_policy_does_not_share() -> None:
    policy = default_policy("matching-only")  # person_identifier only
    node = Node()
    a = node.item("person", "suspect", "a|1990-01-01")
    b = node.item("person", "offender", "b|1991-01-01")
    node.link(a, b, "co_suspect")
    assert whats(policy, node.share(policy, AGGREGATES.slice(0, 0))) == ["links.kind"]


def test_attribute_columns_the_policy_does_not_allow() -> None:
    share = cse_network().share(CSE)
    n = share.items.num_rows
    items = share.items.append_column("ethnicity", pa.array(["W1"] * n))
    refused = refusal(CSE, tampered(share, items=items))
    assert [str(v) for v in refused.violations] == [
        "items.ethnicity: column is not an attribute the policy allows (allowed: "
        "offence_category)"]


def test_extra_columns_in_tokens_links_or_aggregates() -> None:
    share = cse_network().share(CSE)
    tokens = share.tokens.append_column("value", pa.array(["x"] * share.tokens.num_rows))
    assert whats(CSE, tampered(share, tokens=tokens)) == ["tokens.value"]


def test_tokens_must_be_exactly_16_bytes() -> None:
    share = cse_network().share(CSE)
    short = pa.array([t[:15] for t in share.tokens.column("token").to_pylist()], pa.binary())
    refused = refusal(CSE, tampered(share, tokens=share.tokens.set_column(2, "token", short)))
    assert [v.what for v in refused.violations] == ["tokens.token"]
    assert "are not exactly 16 bytes (lengths [15])" in str(refused)


def test_variable_binary_tokens_of_16_bytes_are_accepted_and_fixed() -> None:
    share = cse_network().share(CSE)
    loose = share.tokens.column("token").cast(pa.binary())
    out = gate(CSE, tampered(share, tokens=share.tokens.set_column(2, "token", loose)))
    assert out.tokens.schema.field("token").type == REF


def test_a_raw_number_stuffed_into_a_token_is_refused() -> None:
    share = cse_network().share(CSE)
    values = share.tokens.column("token").to_pylist()
    values[0] = b"+447700900123\x00\x00\x00"
    tokens = share.tokens.set_column(2, "token", pa.array(values, REF))
    refused = refusal(CSE, tampered(share, tokens=tokens))
    assert "do not look like keyed tokens" in str(refused)


def test_tokens_and_links_must_belong_to_items() -> None:
    node = cse_network()
    node.tokens.append({"ref": new_ref(), "token_kind": "phone", "token": new_ref()})
    node.links.append({"ref_a": node.items[0]["ref"], "ref_b": new_ref(),
                       "kind": "co_suspect", "weight": 1})
    assert whats(CSE, node.share(CSE)) == ["tokens.ref", "links.ref"]


def test_tokens_and_links_must_fit_their_items() -> None:
    node = cse_network()
    node.tokens.append({"ref": node.items[0]["ref"], "token_kind": "phone",
                        "token": new_ref()})  # a phone token on a person
    node.link(node.items[0]["ref"], node.items[1]["ref"], "communication")  # persons
    node.link(node.items[3]["ref"], node.items[3]["ref"], "communication")  # itself
    assert whats(CSE, node.share(CSE)) == ["tokens.token_kind", "links.ref_a", "links.kind"]


def test_duplicate_refs_are_refused() -> None:
    node = cse_network()
    node.items[1]["ref"] = node.items[0]["ref"]
    assert "items.ref" in whats(CSE, node.share(CSE))


def test_high_degree_identifiers_are_stop_listed() -> None:
    # the suspect's phone is linked to its owner, the co-offender's phone and n contacts
    assert gate(CSE, cse_network(n_contacts=48).share(CSE))  # 50 others: at the limit
    refused = refusal(CSE, cse_network(n_contacts=49).share(CSE))
    assert [v.what for v in refused.violations] == ["links"]
    assert "1 identifiers are linked to more than 50 others (up to 51)" in str(refused)


def test_link_weights_must_be_counts() -> None:
    node = cse_network()
    node.links[0]["weight"] = 0
    assert whats(CSE, node.share(CSE)) == ["links.weight"]


def test_offence_categories_outside_the_scope() -> None:
    node = cse_network()
    node.items[0]["offence_category"] = "cce"
    assert whats(CSE, node.share(CSE)) == ["items.offence_category"]


def test_aggregates_only_by_allowed_dimensions() -> None:
    share = cse_network().share(CSE, aggregates([("by_town", {"town": "leeds"}, 40)]))
    assert whats(CSE, share) == ["aggregates.cell"]
    not_json = cse_network().share(CSE, aggregates([("x", {}, 40)]).set_column(
        1, "cell", pa.array(["year=2024"])))
    assert whats(CSE, not_json) == ["aggregates.cell"]


def test_no_aggregates_under_a_policy_that_names_no_dimensions() -> None:
    policy = default_policy("matching-only")
    node = Node()
    node.item("person", "suspect", "a|1990-01-01")
    refused = refusal(policy, node.share(policy, AGGREGATES))
    assert "the policy lets no aggregates leave" in str(refused)


# --------------------------------------------------------------------------- the canary


@pytest.mark.parametrize(("planted", "why"), [
    ("07700 900123", "phone number"),
    ("+447700900123", "phone number"),
    ("jane.doe@example.com", "email address"),
    ("LS1 4DY", "postcode"),
    ("YX19 KHD", "vehicle registration"),
    ("2009-03-04", "date"),
    ("Jane Doe", "free text or a full name"),
    ("Smith", "personal name"),
])
def test_canary_raw_values_in_an_attribute_column_are_refused(planted: str, why: str) -> None:
    node = cse_network()
    node.items[1]["offence_category"] = planted
    policy = parse_policy(CSE.canonical_json() and _permissive(), "permissive.toml")
    refused = refusal(policy, node.share(policy))
    assert [v.what for v in refused.violations] == ["items.offence_category"]
    assert why in str(refused)
    assert planted not in str(refused)  # the error itself never repeats the raw value


@pytest.mark.parametrize("where", ["name", "value", "key"])
def test_canary_raw_values_in_aggregates_are_refused(where: str) -> None:
    planted = "07700 900123"
    name, cell = "suspects", {"role": "suspect"}
    if where == "name":
        name = planted
    elif where == "value":
        cell = {"role": planted}
    else:
        cell = {planted: "suspect"}
    share = cse_network().share(CSE, aggregates([(name, cell, 40)]))
    refused = refusal(CSE, share)
    assert "looks like a phone number" in str(refused)
    assert planted not in str(refused)


def test_canary_raw_value_as_a_token_kind_is_refused() -> None:
    node = cse_network()
    node.tokens[0]["token_kind"] = "mk:jane.doe@example.com"
    assert "tokens.token_kind" in whats(CSE, node.share(CSE))


def _permissive() -> str:
    """A policy letting everything the schema allows leave (scope: any category)."""
    return """
[purpose]
code = "PERMISSIVE-TEST"
lawful_basis = "test only: the widest policy the schema allows"
[share]
identifiers = ["phone", "email", "handle", "vrm", "imei"]
roles = ["suspect", "offender", "facilitator", "witness", "associate", "reporting_person"]
victims = "match-only"
attributes = ["offence_category", "ho_offence_code", "crime_year", "sex", "age_band",
              "ethnicity", "nationality"]
[links]
kinds = ["person_identifier", "co_suspect", "communication", "shared_address",
         "shared_vehicle"]
[aggregates]
dimensions = ["offence_category", "year", "role", "ethnicity"]
[stop_list]
max_distinct_contacts = 1000
"""


# --------------------------------------------------------------------------- privacy


DP_POLICY = _permissive() + "[privacy]\nepsilon = 0.5\nbudget = 1.0\n"


def test_differential_privacy_spends_epsilon_per_aggregate_table() -> None:
    policy = parse_policy(DP_POLICY)
    con = duckdb.connect()
    budget = PrivacyBudget.for_policy(con, policy)
    out = gate(policy, cse_network().share(policy), budget=budget)
    assert budget.spent() == pytest.approx(1.0)  # two tables x 0.5
    assert sorted(r[0] for r in con.execute("SELECT query FROM privacy_budget").fetchall()) \
        == ["aggregate:crimes_by_category_year", "aggregate:persons_by_role_ethnicity"]
    counts = out.aggregates.column("count").to_pylist()
    assert all(c is None or c % 5 == 0 for c in counts)  # SDC still applies after noise
    with pytest.raises(BudgetExceeded, match="privacy budget for purpose PERMISSIVE-TEST"):
        gate(policy, cse_network().share(policy), budget=budget)
    assert budget.spent() == pytest.approx(1.0)  # the refused release spent nothing


def test_a_dry_run_checks_the_budget_but_spends_nothing() -> None:
    policy = parse_policy(DP_POLICY)
    budget = PrivacyBudget.for_policy(duckdb.connect(), policy)
    gate(policy, cse_network().share(policy), budget=budget, dry_run=True)
    assert budget.spent() == 0


def test_differential_privacy_needs_a_budget() -> None:
    policy = parse_policy(DP_POLICY)
    refused = refusal(policy, cse_network().share(policy))
    assert "no privacy budget" in str(refused)


def test_what_the_gate_returns_can_be_sealed_and_opened_with_its_marks() -> None:
    from federation.keys import Signer
    from federation.payload import Submission

    out = gate(CSE, cse_network().share(CSE))
    sealed = Submission.seal(out, Signer.generate())
    opened = Submission.from_bytes(sealed.to_bytes()).open()
    assert opened.items.column(MATCH_ONLY).equals(out.items.column(MATCH_ONLY))
    assert opened.aggregates.equals(out.aggregates)
    assert b"+447700900123" not in sealed.to_bytes()  # the raw numbers never left
