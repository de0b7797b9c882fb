"""A force resolves its own duplicate person records before anything leaves.

The force below holds Robert Smith three times (once as "Bob", once with the day and month
of his birth swapped), his brother Daniel at the same address with the same phone, two
unrelated men who both go by "UNK UNK", and a namesake Robert Smith born 20 years later.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from coordinator.hits import HIT_SCHEMA, hits_arrow_bytes
from federation.keys import NodeKeys
from node.egress import egress
from node.store import install_coordinator_key

PERSONS = """person_id,given_names,family_name,dob
R1,Robert,Smith,1984-03-07
R2,Bob,Smith,1984-03-07
R3,Mr Robert,Smith,1984-07-03
D1,Daniel,Smith,1987-11-30
U1,UNK,UNK,
U2,UNK,UNK,
N1,Robert,Smith,2004-06-18
"""
CRIMES = """crime_id,ho_offence_code,date_from,flag_cse
C1,88A,2021-03-04,true
C2,88A,2022-05-01,true
C3,88A,2023-01-09,true
"""
ROLES = """crime_id,person_id,role
C1,R1,suspect
C2,R2,suspect
C3,R3,suspect
C1,D1,suspect
C2,U1,suspect
C3,U2,suspect
C3,N1,suspect
"""
IDENTIFIERS = """person_id,kind,value
R1,phone,07700 900123
R2,phone,+447700900123
D1,phone,07700 900123
"""
ADDRESSES = """person_id,address,town,postcode
R1,4 Mill Lane,Leeds,LS6 2AB
D1,4 Mill Lane,Leeds,LS6 2AB
"""


@pytest.fixture
def force(cli, node: Path, write, tmp_path: Path) -> Path:
    for name, text in (("persons.csv", PERSONS), ("crimes.csv", CRIMES),
                       ("roles.csv", ROLES), ("identifiers.csv", IDENTIFIERS),
                       ("addresses.csv", ADDRESSES)):
        write(name, text)
    assert cli("node", "ingest", "--dir", node, tmp_path / "in").code == 0
    secret = tmp_path / "secret.json"
    assert cli("node", "keys", "generate-secret", secret).code == 0
    assert cli("node", "keys", "import-secret", "--dir", node, secret).code == 0
    return node


def _persons(query, node: Path) -> dict[str, set[str]]:
    """local person -> its records"""
    out: dict[str, set[str]] = {}
    for pid, local in query(node, "SELECT person_id, local_person FROM person_resolution"):
        out.setdefault(local, set()).add(pid)
    return out


def test_duplicates_are_one_person_and_brothers_and_namesakes_are_not(cli, force: Path,
                                                                       query) -> None:
    r = cli("node", "resolve", "--dir", force, "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["records"] == 7
    groups = sorted(_persons(query, force).values(), key=sorted)
    assert {"R1", "R2", "R3"} in groups          # nickname, title, swapped day/month
    assert {"D1"} in groups                       # the brother: same phone and address
    assert {"N1"} in groups                       # the namesake born 20 years later
    assert {"U1"} in groups and {"U2"} in groups  # "UNK" is no name
    assert report["persons"] == 5 and report["persons_with_duplicates"] == 1
    # a run is a combination in the ledger, with counts only
    (action, counts), = query(force, "SELECT action, counts FROM ledger "
                                     "WHERE purpose = 'resolution'")
    assert action == "combination" and json.loads(counts)["persons"] == 5


def test_resolving_twice_gives_the_same_persons(cli, force: Path, query) -> None:
    assert cli("node", "resolve", "--dir", force).code == 0
    first = sorted(query(force, "SELECT * EXCLUDE (run_id) FROM person_resolution"))
    pairs = sorted(query(force, "SELECT * EXCLUDE (run_id) FROM resolution_pairs"))
    assert cli("node", "resolve", "--dir", force).code == 0
    assert sorted(query(force, "SELECT * EXCLUDE (run_id) FROM person_resolution")) == first
    assert sorted(query(force, "SELECT * EXCLUDE (run_id) FROM resolution_pairs")) == pairs


def test_the_analyst_decides_and_the_decision_wins(cli, force: Path, query) -> None:
    assert cli("node", "separate-person", "R3", "--dir", force,
               "--note", "custody photo differs").code == 0
    assert cli("node", "same-person", "D1", "N1", "--dir", force).code == 0
    assert cli("node", "resolve", "--dir", force).code == 0
    groups = sorted(_persons(query, force).values(), key=sorted)
    assert {"R1", "R2"} in groups and {"R3"} in groups
    assert {"D1", "N1"} in groups
    actions = [a for (a,) in query(force, "SELECT action FROM ledger "
                                          "WHERE purpose = 'resolution' ORDER BY seq")]
    assert actions == ["alteration", "alteration", "combination"]


def test_a_decision_on_an_unknown_record_is_refused(cli, force: Path) -> None:
    r = cli("node", "same-person", "R1", "NOPE", "--dir", force)
    assert r.code != 0 and "no person record 'NOPE'" in r.err


def test_review_lists_pairs_with_both_records(cli, force: Path) -> None:
    assert cli("node", "resolve", "--dir", force).code == 0
    r = cli("node", "review-duplicates", "--dir", force, "--from", "0.2", "--to", "1",
            "--json")
    assert r.code == 0, r
    rows = json.loads(r.out)
    assert {frozenset((x["person_id"], x["other_id"])) for x in rows} >= {
        frozenset(("R1", "R2"))}
    assert all({"name", "dob", "other_name", "other_dob", "same_person"} <= set(x)
               for x in rows)


def test_one_ref_per_person_carries_every_records_keys(force: Path, query) -> None:
    dry = egress(force, dry_run=True)
    # a dry run resolves in memory and stores nothing
    assert query(force, "SELECT count(*) FROM resolution_runs") == [(0,)]
    result = egress(force)
    assert query(force, "SELECT count(*) FROM resolution_runs") == [(1,)]
    share = result.share_set
    persons = share.items.filter(pc.equal(share.items.column("kind"), "person"))
    assert persons.num_rows == 5 == dry.share_set.items.filter(
        pc.equal(dry.share_set.items.column("kind"), "person")).num_rows
    (robert_ref,) = [r for (r,) in query(force, "SELECT ref FROM egress_refs "
                                                "WHERE kind = 'person' AND local_id = 'R1'")]
    tokens = share.tokens.filter(pc.equal(share.tokens.column("ref"), robert_ref))
    kinds = tokens.column("token_kind").to_pylist()
    # robert/1984-03-07 (R1), bob/1984-03-07 (R2), robert/1984-07-03 (R3): three fn+dob
    assert kinds.count("mk:fn+dob") == 3
    # no token is sent twice for one person
    assert len(set(zip(kinds, tokens.column("token").to_pylist(), strict=True))) == len(kinds)


def test_a_hit_on_a_person_comes_back_to_every_record(cli, force: Path,
                                                      tmp_path: Path) -> None:
    coordinator = NodeKeys.create(tmp_path / "coordinator-keys", "coordinator")
    install_coordinator_key(force, coordinator.keys_dir / "public.json")
    share = egress(force).share_set
    (robert,) = [r for r in share.items.to_pylist() if r["kind"] == "person"
                 and r["ref"] in _refs_of(force, "R1")]
    hits = pa.table({"ref": [robert["ref"]], "kind": ["person"], "entity_id": [7],
                     "network_id": [3], "other_forces": [["Northshire"]], "strength": [0.99],
                     "reason": ["entity"]}, schema=HIT_SCHEMA)
    path = tmp_path / "hits.arrow"  # as the coordinator sends it: signed
    path.write_bytes(hits_arrow_bytes("Testshire", hits, coordinator.signer))
    r = cli("node", "hits", "--dir", force, path, "--json")
    assert r.code == 0, r
    (row,) = json.loads(r.out)["rows"]
    assert row["local_id"] == "R1" and row["person_ids"] == ["R1", "R2", "R3"]


def _refs_of(node: Path, local_id: str) -> set[bytes]:
    import duckdb

    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return {r for (r,) in con.execute(
            "SELECT ref FROM egress_refs WHERE local_id = ?", [local_id]).fetchall()}
    finally:
        con.close()
