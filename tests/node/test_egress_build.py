"""Egress builds the share set the policy allows, from the store, and changes nothing when
it is only a dry run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pytest
from egress_nodes import (
    PERMISSIVE_POLICY,
    canary_template,
    copy_node,
    scenario_template,
)

from federation.errors import CrossforceError
from federation.keys import NodeKeys
from federation.ledger import verify_ledger
from federation.payload import Submission
from federation.tokens import Tokeniser
from node.egress import egress
from policies.model import default_names, parse_policy


@pytest.fixture
def scenario(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_node(scenario_template(tmp_path_factory), tmp_path / "scenario-node")


@pytest.fixture
def canary(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    node = copy_node(canary_template(tmp_path_factory), tmp_path / "canary-node")
    (tmp_path / "permissive.toml").write_text(PERMISSIVE_POLICY)
    return node


def _rows(node: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _snapshot(node: Path) -> tuple:
    tables = {r[0] for r in _rows(node, "SELECT table_name FROM duckdb_tables()")}
    return tuple(_rows(node, f"SELECT count(*) FROM {t}")[0][0] for t in sorted(tables)), \
        sorted(tables)


def test_dry_run_and_real_egress_agree_exactly(scenario: Path, canary: Path) -> None:
    for node in (scenario, canary):
        for policy in default_names():
            dry = egress(node, policy=policy, dry_run=True)
            real = egress(node, policy=policy, out=node.parent / f"{policy}.cfsub")
            assert dry.summary == real.summary, policy
            assert dry.samples == real.samples, policy


def test_dry_run_changes_nothing(canary: Path) -> None:
    before = _snapshot(canary)
    result = egress(canary, dry_run=True)
    assert result.summary["items"] > 0 and result.payload is None
    assert _snapshot(canary) == before  # no refs, no ledger entry, not even a new table


def test_real_egress_is_one_ledger_entry_with_the_payload_hash(canary: Path) -> None:
    result = egress(canary, out=canary.parent / "p.cfsub")
    assert result.submission is not None and result.ledger_entry is not None
    entry = result.ledger_entry
    assert entry.action == "disclosure" and entry.recipients == ("coordinator",)
    assert entry.payload_hash == result.submission.content_hash
    assert entry.policy_hash == result.policy_version
    assert entry.counts["items:person"] == result.summary["items_by_kind"]["person"]
    assert entry.counts["links:co_suspect"] == result.summary["links_by_kind"]["co_suspect"]
    on_disk = (canary.parent / "p.cfsub").read_bytes()
    assert on_disk == result.payload
    assert Submission.from_bytes(on_disk).open().counts() == result.share_set.counts()
    keys = NodeKeys.load(canary / "keys")
    assert verify_ledger_ok(canary, keys.signer.public_key)


def verify_ledger_ok(node: Path, public_key: bytes) -> bool:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return verify_ledger(con, public_key).ok
    finally:
        con.close()


def test_refs_are_random_private_and_stable_per_purpose_and_epoch(canary: Path) -> None:
    first = egress(canary, out=canary.parent / "1.cfsub").share_set
    again = egress(canary, out=canary.parent / "2.cfsub").share_set
    other = egress(canary, policy="matching-only", out=canary.parent / "3.cfsub").share_set
    refs = set(first.items.column("ref").to_pylist())
    assert refs == set(again.items.column("ref").to_pylist())
    assert not refs & set(other.items.column("ref").to_pylist())
    # the private map holds every ref sent, with the local record, and is never sent
    mapped = _rows(canary, "SELECT ref, kind, local_id FROM egress_refs "
                           "WHERE purpose = 'TOEX-CSE'")
    assert {bytes(r[0]) for r in mapped} == refs
    assert ("person", "S1") in {(r[1], r[2]) for r in mapped}
    assert ("phone", "+447700900417") in {(r[1], r[2]) for r in mapped}


def test_tokens_are_keyed_tokens_of_normalised_values(canary: Path) -> None:
    result = egress(canary, dry_run=True)
    keys = NodeKeys.load(canary / "keys")
    assert keys.linkage_secret is not None
    tok = Tokeniser(keys.linkage_secret.derive("TOEX-CSE", 1))
    sent = set(result.share_set.tokens.column("token").to_pylist())
    for kind, value in (("phone", "+447700900417"), ("phone", "+447700900421"),
                        ("email", "zeb.canary@example.org"),
                        ("handle", "instagram:zq.canary.gram"), ("vrm", "CN51ARY"),
                        ("imei", "490154203237518")):
        assert tok.token(kind, value) in sent, (kind, value)
    assert tok.token("phone", "07700 900417") not in sent  # raw forms are never tokenised


def test_links_follow_the_policy_and_communication_counts_are_bucketed(canary: Path) -> None:
    full = egress(canary, policy=str(canary.parent / "permissive.toml"), dry_run=True)
    assert full.summary["links_by_kind"] == {"person_identifier": 15, "co_suspect": 3,
                                             "communication": 2, "shared_address": 1,
                                             "shared_vehicle": 1}
    links = full.share_set.links
    comm = links.filter(pc.equal(links.column("kind"), "communication"))
    # S1's handset called S2 twice and messaged once: 3 contacts, bucketed down to 1
    assert sorted(comm.column("weight").to_pylist()) == [1, 1]
    narrow = egress(canary, policy="matching-only", dry_run=True)
    assert set(narrow.summary["links_by_kind"]) == {"person_identifier"}
    assert set(narrow.summary["items_by_kind"]) == {"person", "phone"}


def test_the_stop_list_keeps_hubs_out_of_communication_links(canary: Path) -> None:
    text = PERMISSIVE_POLICY + "\n[stop_list]\nmax_distinct_contacts = 2\n"
    policy = parse_policy(text)
    result = egress(canary, policy=policy, dry_run=True)
    # S1's handset number talks to three others: a hub at limit 2, so no communication
    assert "communication" not in result.summary["links_by_kind"]
    assert result.summary["links_by_kind"]["person_identifier"] > 0


def test_aggregates_leave_only_through_disclosure_control(scenario: Path) -> None:
    result = egress(scenario, dry_run=True)
    aggregates = result.share_set.aggregates
    assert aggregates.num_rows > 0
    counts = [c for c in aggregates.column("count").to_pylist() if c is not None]
    assert all(c >= 10 and c % 5 == 0 for c in counts)
    assert set(result.summary["aggregates_by_table"]) <= {
        "crimes_by_category_year", "crimes_by_outcome_year", "persons_by_role_year",
        "persons_by_role_ethnicity", "persons_by_role_nationality", "cse_recording",
        "cse_completeness"}


def test_no_key_service_credential_and_no_legacy_secret_no_egress(canary: Path) -> None:
    (canary / "keys" / "linkage_secret.json").unlink()
    with pytest.raises(CrossforceError, match="no key service credential"):
        egress(canary, dry_run=True)
    with pytest.raises(CrossforceError, match="no legacy linkage secret"):
        egress(canary, dry_run=True, tokens="secret")


def test_wrong_purpose_or_epoch_is_refused(canary: Path) -> None:
    with pytest.raises(CrossforceError, match="not this node's policy purpose"):
        egress(canary, purpose="TOEX-COUNTY-LINES", dry_run=True)
    with pytest.raises(CrossforceError, match="epoch 1"):
        egress(canary, epoch=2, dry_run=True)


def test_a_failed_egress_leaves_no_trace(canary: Path, tmp_path: Path) -> None:
    """Refs, ledger entry and payload commit together: a failure at the last step (here the
    payload cannot be written: --out is a folder) rolls all of it back."""
    before = _snapshot(canary)
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(CrossforceError, match="is a folder"):
        egress(canary, out=tmp_path / "a-folder")
    assert _snapshot(canary) == before
    assert list((tmp_path / "a-folder").iterdir()) == []


def test_identifiers_that_do_not_normalise_never_leave(canary: Path, tmp_path: Path) -> None:
    before = egress(canary, dry_run=True).summary["items_by_kind"]
    extra = tmp_path / "identifiers-extra.csv"
    extra.write_text("person_id,kind,value\nS2,phone,ring me on the usual 55\n"
                     "S2,email,not-an-email\n")
    from federation.cli import main

    assert main(["node", "ingest", "--dir", str(canary), str(extra)]) == 0
    assert _rows(canary, "SELECT count(*) FROM identifiers WHERE NOT normalised")[0][0] == 2
    assert egress(canary, dry_run=True).summary["items_by_kind"] == before


def test_differential_privacy_spends_the_budget_in_the_same_transaction(
        canary: Path) -> None:
    from policies.privacy_budget import BudgetExceeded

    rich = parse_policy(PERMISSIVE_POLICY + "\n[privacy]\nepsilon = 1.0\nbudget = 100.0\n")
    dry = egress(canary, policy=rich, dry_run=True)
    tables = len(dry.summary["aggregates_by_table"])
    assert tables > 1
    egress(canary, policy=rich, out=canary.parent / "dp.cfsub")
    spent = _rows(canary, "SELECT count(*), sum(epsilon) FROM privacy_budget")[0]
    assert spent == (tables, pytest.approx(float(tables)))

    poor = parse_policy(PERMISSIVE_POLICY.replace("TEST-PERMISSIVE", "TEST-POOR")
                        + "\n[privacy]\nepsilon = 1.0\nbudget = 2.0\n")
    before = _snapshot(canary)
    with pytest.raises(BudgetExceeded):
        egress(canary, policy=poor, out=canary.parent / "poor.cfsub")
    assert _snapshot(canary) == before and not (canary.parent / "poor.cfsub").exists()
