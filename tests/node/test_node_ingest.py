"""`node ingest`: every layout format lands the same way; loads are idempotent and logged."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from node_data import CALLS_CSV, CRIMES_CSV, DEVICES_CSV, PERSONS_CSV, ROLES_CSV


def load(cli, node: Path, *paths: Path, quarantine: bool = False):  # noqa: ANN201
    args = ["node", "ingest", "--dir", node, *paths]
    return cli(*args, "--quarantine") if quarantine else cli(*args)


def test_a_folder_loads_in_layout_order_with_normalised_and_raw_values(
        cli, node: Path, write, status, query) -> None:
    # written in the "wrong" order on purpose: roles refer to persons and crimes
    write("roles.csv", ROLES_CSV)
    write("calls.csv", CALLS_CSV)
    write("devices.csv", DEVICES_CSV)
    write("crimes.csv", CRIMES_CSV)
    folder = write("persons.csv", PERSONS_CSV).parent
    r = load(cli, node, folder)
    assert r.code == 0, r
    assert status(node)["tables"] == {
        "persons": 3, "crimes": 2, "roles": 3, "identifiers": 0, "addresses": 0,
        "vehicles": 0, "intel": 0, "intel_links": 0, "devices": 1, "calls": 3,
        "messages": 0, "contacts": 0, "event_parties": 0, "chats": 0,
        "device_locations": 0, "device_accounts": 0, "sim_data": 0}
    calls = query(node, "SELECT call_id, number, number_e164, number_normalised FROM calls "
                        "ORDER BY call_id")
    assert calls == [("1", "07700 900123", "+447700900123", True),
                     ("2", "+44 7700 900124", "+447700900124", True),
                     ("3", "Voicemail", None, False)]
    assert query(node, "SELECT imei_norm, owner_number_e164 FROM devices") == [
        ("490154203237518", "+447700900001")]
    assert "calls.csv: loaded 3 rows" in r.out and "1 numbers kept raw (1 not a number)" in r.out


def test_identifiers_are_normalised_by_kind_and_viewed_as_pole_entities(
        cli, node: Path, write, query) -> None:
    write("persons.csv", PERSONS_CSV)
    folder = write("identifiers.csv", "person_id,kind,value,platform\n"
                   "P1,phone,0044 7700-900123,\nP1,phone,121,\n"
                   "P2,email, Jane@Example.COM ,\nP2,handle,@jane.s,instagram\n"
                   "P3,imei,49015420323751,\n").parent
    assert load(cli, node, folder).code == 0
    assert query(node, "SELECT raw, e164, normalised FROM phones ORDER BY raw") == [
        ("0044 7700-900123", "+447700900123", True), ("121", None, False)]
    assert query(node, "SELECT email FROM emails") == [("jane@example.com",)]
    assert query(node, "SELECT handle FROM online_handles") == [("instagram:jane.s",)]
    assert query(node, "SELECT value_norm FROM identifiers WHERE kind = 'imei'") == [
        ("490154203237518",)]
    assert query(node, "SELECT name_norm FROM persons WHERE person_id = 'P1'") == [
        ("mohammed ali",)]


@pytest.mark.parametrize("fmt", ["parquet", "json", "jsonl"])
def test_parquet_and_json_load_exactly_like_csv(cli, node: Path, write, query, tmp_path: Path,
                                                 fmt: str) -> None:
    csv = write("persons.csv", PERSONS_CSV)
    other = tmp_path / "other" / f"persons.{fmt}"
    other.parent.mkdir()
    con = duckdb.connect()
    rel = f"read_csv('{csv}', header=true, all_varchar=true)"
    if fmt == "parquet":
        con.execute(f"COPY (SELECT * FROM {rel}) TO '{other}' (FORMAT parquet)")
    else:
        rows = [dict(zip(("person_id", "given_names", "family_name", "aliases", "dob",
                          "dob_known", "sex", "nationality"), r, strict=True))
                for r in con.execute(f"SELECT * FROM {rel}").fetchall()]
        other.write_text("\n".join(json.dumps(r) for r in rows) if fmt == "jsonl"
                         else json.dumps(rows))
    assert load(cli, node, other).code == 0
    from_other = query(node, "SELECT * EXCLUDE (source_file) FROM persons ORDER BY person_id")
    second = node.parent / "node2"
    assert cli("node", "init", "--force", "Testshire", "--dir", second).code == 0
    assert load(cli, second, csv).code == 0
    assert query(second, "SELECT * EXCLUDE (source_file) FROM persons ORDER BY person_id") \
        == from_other


def test_the_same_file_twice_adds_nothing_and_says_so(cli, node: Path, write, status) -> None:
    p = write("persons.csv", PERSONS_CSV)
    assert load(cli, node, p).code == 0
    again = load(cli, node, p)
    assert again.code == 0 and "unchanged" in again.out and "nothing added" in again.out
    s = status(node)
    assert s["tables"]["persons"] == 3 and len(s["files"]) == 1


def test_the_same_content_at_another_path_adds_nothing(cli, node: Path, write,
                                                        tmp_path: Path, status) -> None:
    p = write("persons.csv", PERSONS_CSV)
    copy = tmp_path / "copy" / "persons.csv"
    copy.parent.mkdir()
    copy.write_text(PERSONS_CSV)
    load(cli, node, p)
    r = load(cli, node, copy)
    assert "unchanged" in r.out and str(p) in r.out
    assert status(node)["tables"]["persons"] == 3


def test_a_first_load_of_known_content_is_unchanged_even_when_it_would_be_refused(
        cli, node: Path, write, tmp_path: Path, status) -> None:
    # a new path is read while it is hashed; content already loaded (here with one row
    # quarantined) is still "unchanged", as if it had been hashed first: never refused
    write("persons.csv", PERSONS_CSV)
    write("devices.csv", DEVICES_CSV)
    bad = CALLS_CSV + "D1,4,2023-01-03 09:00:00,sideways,07700 900125,1\n"
    p = write("calls.csv", bad)
    first = load(cli, node, p.parent, quarantine=True)
    assert first.code == 0, first.out
    assert "calls.csv: loaded 3 rows (3 calls)" in first.out and "1 bad rows" in first.out
    copy = tmp_path / "copy" / "calls.csv"
    copy.parent.mkdir()
    copy.write_text(bad)
    r = load(cli, node, copy)
    assert r.code == 0 and "unchanged" in r.out and str(p) in r.out, r.out
    assert "rejected" not in r.out
    s = status(node)
    assert s["tables"]["calls"] == 3 and len(s["files"]) == 3  # persons, devices, calls


def test_a_changed_file_replaces_exactly_its_own_rows(cli, node: Path, write, status,
                                                      query) -> None:
    persons = write("persons.csv", PERSONS_CSV)
    more = write("persons-extra.csv", "person_id,given_names,family_name\nP9,Zed,Zee\n")
    load(cli, node, persons, more)
    persons.write_text(PERSONS_CSV.replace("Jane,Smith", "Janet,Smyth")
                       + "P4,Amir,Khan,,,,,\n")
    r = load(cli, node, persons)
    assert r.code == 0 and "replaced" in r.out
    s = status(node)
    assert s["tables"]["persons"] == 5
    assert len(s["files"]) == 2
    assert query(node, "SELECT given_names FROM persons WHERE person_id = 'P2'") == [("Janet",)]
    assert query(node, "SELECT count(*) FROM persons WHERE person_id = 'P9'") == [(1,)]
    ledger = query(node, "SELECT action FROM ledger ORDER BY seq")
    assert [a for (a,) in ledger] == ["genesis", "collection", "collection", "alteration"]


def test_a_replacement_that_drops_referenced_rows_is_rejected(cli, node: Path, write,
                                                              status) -> None:
    persons = write("persons.csv", PERSONS_CSV)
    write("crimes.csv", CRIMES_CSV)
    load(cli, node, write("roles.csv", ROLES_CSV).parent)
    persons.write_text("person_id,given_names,family_name\nP1,Mohammed,Ali\n")
    r = load(cli, node, persons)
    assert r.code == 2 and "roles rows still refer" in r.out
    assert status(node)["tables"]["persons"] == 3


def test_every_load_is_a_signed_collection_entry_with_the_file_hash(cli, node: Path, write,
                                                                    query, status) -> None:
    p = write("persons.csv", PERSONS_CSV)
    load(cli, node, p)
    sha = status(node)["files"][0]["sha256"]
    rows = query(node, "SELECT action, payload_hash, counts, justification FROM ledger "
                       "WHERE action <> 'genesis' ORDER BY seq")
    assert len(rows) == 1
    action, payload_hash, counts, justification = rows[0]
    assert action == "collection" and payload_hash == sha
    assert json.loads(counts)["persons"] == 3
    assert "Mohammed" not in justification + counts  # never content

    from federation.keys import NodeKeys
    from federation.ledger import verify_ledger

    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        report = verify_ledger(con, NodeKeys.load(node / "keys").signer.public_key)
    finally:
        con.close()
    assert report.ok, report


def test_status_lists_files_and_last_load(cli, node: Path, write, status) -> None:
    load(cli, node, write("persons.csv", PERSONS_CSV))
    s = status(node)
    assert s["force"] == "Testshire"
    (f,) = s["files"]
    assert f["layout"] == "persons" and f["rows"] == 3 and f["format"] == "csv"
    assert s["last_load"] == f["loaded_at"]
    human = cli("node", "status", "--dir", node)
    assert human.code == 0 and "persons" in human.out


def test_times_with_an_offset_are_stored_in_utc(cli, node: Path, write, query) -> None:
    write("persons.csv", PERSONS_CSV)
    write("devices.csv", DEVICES_CSV)
    folder = write("calls.csv", "device_id,call_id,timestamp_utc,direction,number\n"
                   "D1,1,2023-07-01T23:30:00+01:00,incoming,07700900123\n"
                   "D1,2,2023-07-01 23:30:00,incoming,07700900123\n").parent
    assert cli("node", "ingest", "--dir", node, folder).code == 0
    assert query(node, "SELECT timestamp_utc::VARCHAR FROM calls ORDER BY call_id") == [
        ("2023-07-01 22:30:00",), ("2023-07-01 23:30:00",)]


def test_a_folder_skips_notes_and_sub_folders(cli, node: Path, write, status) -> None:
    folder = write("persons.csv", PERSONS_CSV).parent
    write("README.md", "notes about this delivery")
    write("persons.csv", "person_id,given_names,family_name\nX1,Not,Me\n",
          sub=folder / "truth")
    r = cli("node", "ingest", "--dir", node, folder)
    assert r.code == 0, r
    assert status(node)["tables"]["persons"] == 3
