"""Hits: each force hears about its OWN records only, plus the names of the other forces.

The story (see test_networks.py for the helpers):
- Kyle is known to Lancashire and West Yorkshire: both get a hit on their own Kyle record.
- Dean (Lancashire only) sits in the cross-force network with Kyle and Marcus: Lancashire
  gets a network hit for Dean, though no other force has heard of Dean.
- Amy is a child victim in Lancashire and in Cumbria. Neither is told of the other: a force
  holding a person only as a victim is never named (else any force could mark a number as
  its victim's and learn who else holds it). West Yorkshire holds Amy's number as a contact
  of Marcus — openly — so Lancashire's victim record of that number gets a hit naming West
  Yorkshire; West Yorkshire gets no hit for it, and Amy appears in nobody's view as a
  network member.
- Star Cars, the taxi firm, is stop-listed once networks have run: no hits for it.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from test_networks import CUMBRIA, GMP, LANCS, STORY, WYP, Store, ref

from coordinator.hits import HIT_SCHEMA, hits_for_force, read_hits, write_hits
from coordinator.networks import find_networks
from federation.errors import CrossforceError

FORCES = (CUMBRIA, GMP, LANCS, WYP)


@pytest.fixture
def store() -> Store:
    s = Store()
    s.owns(LANCS, "Dean")
    s.owns(LANCS, "Kyle")
    s.owns(LANCS, "Amy", victim=True)
    s.link(LANCS, "person:Dean", "person:Kyle", "co_suspect")
    s.link(LANCS, "phone:Dean", "phone:Amy", weight=50)
    s.owns(WYP, "Kyle")
    s.owns(WYP, "Marcus")
    s.hold(WYP, "phone:Amy")                      # in Marcus's contacts, not flagged victim
    s.link(WYP, "person:Kyle", "person:Marcus", "co_suspect")
    s.link(WYP, "phone:Marcus", "phone:Amy", weight=5)
    s.owns(CUMBRIA, "Amy", victim=True)
    s.owns(GMP, "Ryan")
    for force, callers in {LANCS: ["Dean", "Kyle", "Amy"], WYP: ["Kyle", "Marcus", "Amy"],
                           CUMBRIA: ["Amy", "Fare1", "Fare2"],
                           GMP: ["Ryan", "Fare3", "Fare4"]}.items():
        s.hold(force, "phone:StarCars")
        for caller in callers:
            if caller.startswith("Fare"):
                s.hold(force, f"phone:{caller}")
            s.link(force, f"phone:{caller}", "phone:StarCars")
    return s


def hits(store: Store, force: str) -> dict[str, dict]:
    """Hits keyed by the story's entity name (found via the force's own ref)."""
    by_ref = {ref(force, name): name for name in store.ids}
    return {by_ref[row["ref"]]: row for row in hits_for_force(store.con, force).to_pylist()}


def test_both_forces_that_know_kyle_get_a_hit_on_their_own_record(store: Store) -> None:
    lancs, wyp = hits(store, LANCS), hits(store, WYP)
    assert lancs["person:Kyle"]["other_forces"] == [WYP]
    assert wyp["person:Kyle"]["other_forces"] == [LANCS]
    assert lancs["person:Kyle"]["entity_id"] == wyp["person:Kyle"]["entity_id"]
    assert lancs["person:Kyle"]["ref"] == ref(LANCS, "person:Kyle")
    assert lancs["person:Kyle"]["strength"] == pytest.approx(0.999)


def test_a_network_hit_names_a_record_no_other_force_holds(store: Store) -> None:
    assert "person:Dean" not in hits(store, LANCS)       # before networks: nothing shared
    find_networks(store.con, STORY)
    dean = hits(store, LANCS)["person:Dean"]
    assert dean["reason"] == "network"
    assert dean["other_forces"] == [WYP]
    assert dean["network_id"] == hits(store, WYP)["person:Marcus"]["network_id"]
    assert hits(store, LANCS)["person:Kyle"]["reason"] == "entity+network"


def test_a_victim_hit_names_only_forces_holding_it_openly(store: Store) -> None:
    find_networks(store.con, STORY)
    lancs, cumbria, wyp = hits(store, LANCS), hits(store, CUMBRIA), hits(store, WYP)
    # Lancashire and Cumbria both hold Amy only as a victim: neither learns of the other
    assert "person:Amy" not in lancs and "person:Amy" not in cumbria
    # Her phone is also in West Yorkshire's records (not as a victim's): Lancashire is told
    # of West Yorkshire, never of Cumbria ...
    assert lancs["phone:Amy"]["other_forces"] == [WYP]
    # ... West Yorkshire is not: it would learn that another force holds her as a victim.
    assert "phone:Amy" not in wyp
    # Victims are never network members, so no victim hit carries a network id.
    assert lancs["phone:Amy"]["network_id"] is None


def test_no_force_ever_sees_another_forces_references(store: Store, tmp_path) -> None:
    find_networks(store.con, STORY)
    all_refs = {force: {r for (r,) in store.con.execute(
        "SELECT ref FROM items WHERE force = ?", [force]).fetchall()} for force in FORCES}
    arrow_files = write_hits(store.con, tmp_path / "arrow")
    json_files = write_hits(store.con, tmp_path / "json", fmt="json")
    for force in FORCES:
        table = hits_for_force(store.con, force)
        assert table.num_rows > 0 or force == GMP  # GMP's Ryan is its alone
        assert set(table.column("ref").to_pylist()) <= all_refs[force]
        others = set().union(*(all_refs[f] for f in FORCES if f != force))
        arrow_bytes = arrow_files[force].read_bytes()
        json_text = json_files[force].read_text()
        for other in others:
            assert other not in arrow_bytes
            assert other.hex() not in json_text


def test_the_taxi_firm_makes_hits_until_networks_stop_list_it(store: Store) -> None:
    assert hits(store, GMP)["phone:StarCars"]["other_forces"] == [CUMBRIA, LANCS, WYP]
    find_networks(store.con, STORY)
    assert "phone:StarCars" not in hits(store, GMP)
    assert hits(store, GMP) == {}          # Ryan is known to Greater Manchester alone


def test_hits_files_round_trip_in_both_formats(store: Store, tmp_path) -> None:
    find_networks(store.con, STORY)
    for fmt in ("arrow", "json"):
        files = write_hits(store.con, tmp_path / fmt, [LANCS, WYP], fmt=fmt)
        assert sorted(p.name for p in files.values()) == [
            f"hits-lancashire.{fmt}", f"hits-west-yorkshire.{fmt}"]
        force, table = read_hits(files[LANCS])
        assert force == LANCS
        assert table.schema == HIT_SCHEMA
        assert table.equals(hits_for_force(store.con, LANCS))
    doc = json.loads((tmp_path / "json" / "hits-lancashire.json").read_text())
    assert doc["schema"] == "crossforce.hits/1"
    assert {"ref", "kind", "entity_id", "network_id", "other_forces", "strength"} <= set(
        doc["hits"][0])


def test_an_unknown_force_is_refused_with_the_known_ones_named(store: Store) -> None:
    with pytest.raises(CrossforceError, match="unknown force 'Kent'.*Cumbria, Greater"):
        hits_for_force(store.con, "Kent")


def test_a_failed_write_leaves_no_hits_file(store: Store, tmp_path) -> None:
    with pytest.raises(CrossforceError, match="unknown force 'Kent'"):
        write_hits(store.con, tmp_path, [LANCS, "Kent"])
    with pytest.raises(CrossforceError, match="unknown hits format 'csv'"):
        write_hits(store.con, tmp_path, fmt="csv")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_hits_file_is_refused(tmp_path) -> None:
    bad_json = tmp_path / "hits-x.json"
    bad_json.write_text('{"schema": "something else"}')
    with pytest.raises(CrossforceError, match="hits-x.json: not a crossforce.hits/1"):
        read_hits(bad_json)
    truncated = tmp_path / "hits-x.arrow"
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, HIT_SCHEMA) as writer:
        writer.write_table(HIT_SCHEMA.empty_table())
    truncated.write_bytes(sink.getvalue().to_pybytes()[:20])
    with pytest.raises(CrossforceError, match="hits-x.arrow: cannot read hits file"):
        read_hits(truncated)
