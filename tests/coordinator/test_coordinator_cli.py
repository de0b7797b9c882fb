"""`crossforce coordinator`, used the way a national analyst would.

Lancashire knows Kyle and Dean (co-suspects) and Amy, a child it records as a victim.
West Yorkshire knows Kyle (the same man) with Marcus, and has Amy's details as a witness.
The coordinator links Kyle across the border, finds the network Dean–Kyle–Marcus, and
never shows Amy to anyone but Lancashire.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from coordinator_payloads import (
    AMY,
    DEAN,
    KYLE,
    LANCS,
    MARCUS,
    WYP,
    Federation,
    Person,
    federation,  # noqa: F401  (fixture)
    federation_template,  # noqa: F401  (fixture)
    ref,
)

from coordinator.hits import read_hits
from federation.ledger import verify_ledger

AMY_AS_WITNESS = Person("W7", AMY.given_names, AMY.family_name, AMY.dob, AMY.postcode,
                        AMY.phone, "witness")


@pytest.fixture(scope="module")
def linked_template(federation_template: Path,  # noqa: F811
                    tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both forces' payloads submitted and linked, once per module; tests get copies."""
    from coordinator.consult import link_store
    from coordinator.submit import submit_payload

    root = tmp_path_factory.mktemp("linked") / "federation"
    shutil.copytree(federation_template, root)
    f = Federation.at(root)
    with f.store() as store:
        submit_payload(store, f.lancs.payload([KYLE, DEAN, AMY]))
        submit_payload(store, f.wyp.payload([KYLE, MARCUS, AMY_AS_WITNESS]))
        link_store(store, actor="test", justification="test")
    return root


@pytest.fixture
def linked(linked_template: Path, tmp_path: Path) -> Federation:
    root = tmp_path / "federation"
    shutil.copytree(linked_template, root)
    return Federation.at(root)


def entity_of(rows: list[dict], force: str, key: str) -> int | None:
    wanted = ref(force, "op-test", key).hex()
    return next((int(r["entity_id"]) for r in rows if r["ref"] == wanted), None)


def test_every_command_explains_itself(cli) -> None:
    for command in ("init", "register", "submit", "link", "entities", "networks", "hits",
                    "status", "aggregates"):
        result = cli("coordinator", command, "--help")
        assert result.code == 0 and "--dir" in result.out, command


def test_submit_says_what_it_took(federation: Federation, cli) -> None:  # noqa: F811
    path = federation.write("lancs.cfsub", federation.lancs.payload([KYLE, DEAN]))
    result = cli("coordinator", "submit", "--dir", federation.dir, path)
    assert result.code == 0
    assert f"{path}: accepted payload " in result.out
    assert "from Lancashire (purpose op-test, epoch 1): 4 items," in result.out
    again = cli("coordinator", "submit", "--dir", federation.dir, path)
    assert again.code == 0 and "nothing changed" in again.out


def test_link_reports_entities_and_networks(federation: Federation, cli) -> None:  # noqa: F811
    for name, force, people in (("l", federation.lancs, [KYLE, DEAN]),
                                ("w", federation.wyp, [KYLE, MARCUS])):
        cli("coordinator", "submit", "--dir", federation.dir,
            federation.write(f"{name}.cfsub", force.payload(people)))
    result = cli("coordinator", "link", "--dir", federation.dir, "--json")
    assert result.code == 0
    summary = json.loads(result.out)
    assert summary["person_links"] == 1 and summary["networks"] == 1
    with federation.store() as store:
        entry = store.ledger.entries()[-1]
    assert entry.action == "combination" and entry.counts["networks"] == 1


def test_link_with_nothing_submitted_says_so(federation: Federation, cli) -> None:  # noqa: F811
    result = cli("coordinator", "link", "--dir", federation.dir)
    assert result.code == 2
    assert "nothing to link yet; submit payloads first" in result.err


def test_entities_link_kyle_across_forces_and_hide_the_victim(linked: Federation, cli) -> None:
    result = cli("coordinator", "entities", "--dir", linked.dir, "--format", "csv")
    assert result.code == 0
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert list(rows[0]) == ["force", "ref", "kind", "entity_id", "score"]
    assert entity_of(rows, LANCS, "P1") == entity_of(rows, WYP, "P1") is not None
    assert entity_of(rows, LANCS, "P3") != entity_of(rows, WYP, "P2")
    # Amy: a victim in Lancashire, so nobody's national view shows her, in any force
    assert entity_of(rows, LANCS, "P4") is None
    assert entity_of(rows, WYP, "W7") is None


def test_a_force_sees_its_own_victim_records(linked: Federation, cli) -> None:
    result = cli("coordinator", "entities", "--dir", linked.dir, "--format", "json",
                 "--force", LANCS)
    rows = json.loads(result.out)
    assert {r["force"] for r in rows} == {LANCS}
    assert entity_of(rows, LANCS, "P4") is not None


def test_networks_show_the_cross_force_network(linked: Federation, cli) -> None:
    table = cli("coordinator", "networks", "--dir", linked.dir)
    assert table.code == 0
    assert "1 cross-force network(s)" in table.out and "Lancashire" in table.out
    found = json.loads(cli("coordinator", "networks", "--dir", linked.dir, "--json").out)
    assert len(found) == 1
    assert found[0]["forces"] == [LANCS, WYP]
    assert found[0]["n_persons"] == 3  # Dean, Kyle, Marcus — never Amy
    assert found[0]["brokers"]


def test_networks_before_any_link_say_what_to_do(federation: Federation, cli) -> None:  # noqa: F811
    result = cli("coordinator", "networks", "--dir", federation.dir)
    assert result.code == 2 and "no networks stored yet" in result.err


def test_hits_name_only_the_forces_own_references(linked: Federation, cli) -> None:
    doc = json.loads(cli("coordinator", "hits", "--dir", linked.dir, "--force", WYP,
                         "--json").out)
    assert doc["force"] == WYP
    own = {ref(WYP, "op-test", k).hex() for k in ("P1", "P1/phone", "P2", "P2/phone",
                                                   "W7", "W7/phone")}
    assert {h["ref"] for h in doc["hits"]} <= own
    assert ref(WYP, "op-test", "W7").hex() not in {h["ref"] for h in doc["hits"]}
    assert all(h["other_forces"] == [LANCS] for h in doc["hits"])


def test_hits_file_is_what_the_node_reads(linked: Federation, cli) -> None:
    out = linked.root / "out" / "hits-lancs.arrow"
    result = cli("coordinator", "hits", "--dir", linked.dir, "--force", LANCS, "--out", out)
    assert result.code == 0 and f"to {out}" in result.out
    force, table = read_hits(out)
    assert force == LANCS
    assert ref(LANCS, "op-test", "P1") in table.column("ref").to_pylist()


def test_hits_for_an_unknown_force_is_refused(linked: Federation, cli) -> None:
    result = cli("coordinator", "hits", "--dir", linked.dir, "--force", "Atlantis")
    assert result.code == 2 and "unknown force 'Atlantis'" in result.err


def test_every_look_is_a_consultation_in_the_ledger(linked: Federation, cli) -> None:
    d = linked.dir
    cli("coordinator", "entities", "--dir", d)
    cli("coordinator", "networks", "--dir", d, "--justification", "Op Lantern briefing")
    cli("coordinator", "hits", "--dir", d, "--force", LANCS)
    with linked.store() as store:
        entries = store.ledger.entries()[-3:]
        assert verify_ledger(store.con, store.keys.signer.public_key).ok
    assert [e.action for e in entries] == ["consultation"] * 3
    assert "`crossforce coordinator entities` run by" in entries[0].justification
    assert entries[1].justification == "Op Lantern briefing"
    assert entries[2].force == LANCS and "hits --force Lancashire" in entries[2].justification
    assert entries[0].purpose == "op-test"


def test_status_counts_submissions_tables_and_the_last_link(linked: Federation, cli) -> None:
    info = json.loads(cli("coordinator", "status", "--dir", linked.dir, "--json").out)
    assert [f["force"] for f in info["forces"]] == [LANCS, WYP]
    assert all(f["current_submissions"] == 1 and f["items"] == 6 for f in info["forces"])
    assert info["tables"]["items"] == 12 and info["tables"]["submissions"] == 2
    assert info["last_link"]["networks"] == 1
    table = cli("coordinator", "status", "--dir", linked.dir)
    assert table.code == 0 and "West Yorkshire" in table.out and "last link:" in table.out


def test_register_refuses_another_forces_key_file(federation: Federation, cli) -> None:  # noqa: F811
    key = federation.root / "West_Yorkshire" / "keys" / "public.json"
    result = cli("coordinator", "register", "--dir", federation.dir, "--force", "Cumbria",
                 "--public-key", key)
    assert result.code == 2
    assert result.err.strip() == f"error: {key} is the key of 'West Yorkshire', not 'Cumbria'"


def test_a_new_key_needs_replace_key_and_old_payloads_then_fail(federation: Federation,  # noqa: F811
                                                                cli) -> None:
    from federation.keys import Signer

    new = Signer.generate()
    args = ("coordinator", "register", "--dir", federation.dir, "--force", LANCS,
            "--public-key", new.public_key.hex())
    refused = cli(*args)
    assert refused.code == 2 and "pass --replace-key" in refused.err
    assert cli(*args, "--replace-key", "--epoch", "1", "--epoch", "2").code == 0
    old = federation.write("old.cfsub", federation.lancs.payload([KYLE]))
    result = cli("coordinator", "submit", "--dir", federation.dir, old)
    assert result.code == 2 and "rejected (bad_signature)" in result.err
    federation.lancs.signer = new
    fresh = federation.write("new.cfsub", federation.lancs.payload([KYLE], epoch=2))
    assert cli("coordinator", "submit", "--dir", federation.dir, fresh).code == 0


def test_entities_can_keep_only_what_crosses_a_border(linked: Federation, cli) -> None:
    rows = json.loads(cli("coordinator", "entities", "--dir", linked.dir, "--format", "json",
                          "--cross-force").out)
    assert rows and {r["force"] for r in rows} == {LANCS, WYP}
    by_entity: dict[int, set[str]] = {}
    for r in rows:
        by_entity.setdefault(r["entity_id"], set()).add(r["force"])
    assert all(len(forces) == 2 for forces in by_entity.values())
    assert entity_of(rows, LANCS, "P3") is None  # Dean: Lancashire only
