"""Cellebrite UFDR extractions land in the same tables as the generic device layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

from node_data import CALLS_CSV, DEVICES_CSV, PERSONS_CSV, ufdr_xml

import node.extraction.cellebrite as cellebrite
from node.extraction.rows import Rows


def test_a_ufdr_fills_devices_calls_messages_and_contacts(cli, node: Path, make_ufdr,
                                                          status, query) -> None:
    r = cli("node", "ingest", "--dir", node, make_ufdr())
    assert r.code == 0, r
    tables = status(node)["tables"]
    assert (tables["devices"], tables["calls"], tables["messages"], tables["contacts"]) == (
        1, 3, 2, 3)
    assert query(node, "SELECT device_id, make, model, imei_norm, owner_number_e164, tool, "
                       "tool_version, extraction_type, extraction_date::VARCHAR FROM devices") == [
        ("EXH-001", "Samsung", "Galaxy A12", "490154203237518", "+447700900001",
         "Cellebrite UFED", "7.60.0.48", "Logical", "2024-03-01 09:00:00")]
    calls = query(node, "SELECT call_id, timestamp_utc::VARCHAR, direction, number, "
                        "number_e164, number_normalised, name, duration_s, app, deleted, status "
                        "FROM calls ORDER BY call_id")
    assert calls == [
        ("c1", "2023-01-01 10:00:00", "outgoing", "07700 900123", "+447700900123", True, None,
         60, "Phone", False, "Established"),
        # +01:00 on the handset is 22:30 UTC
        ("c2", "2023-07-01 22:30:00", "incoming", "+44 7700 900124", "+447700900124", True,
         "Bob", 5, "Phone", False, "Established"),
        ("c3", "2023-01-02 01:00:00", "missed", "Voicemail", None, False, None, None, "Phone",
         True, "Missed"),
    ]
    messages = query(node, "SELECT message_id, direction, number, name, app, body, language "
                           "FROM messages ORDER BY message_id")
    assert messages == [
        ("m1", "incoming", "447700900123@s.whatsapp.net", "Al", "WhatsApp",
         "see you at 9 <ok> & bring it", "en"),   # detected at ingest (node.language)
        ("m2", "outgoing", "07700900124", None, "SMS", "on my way", "en")]
    contacts = query(node, "SELECT contact_id, name, number, number_e164, times_contacted "
                           "FROM contacts ORDER BY contact_id")
    assert contacts == [("k1", "Al", "07700 900123", "+447700900123", 4),
                        ("k2#1", "Taxi", "01632 960001", "+441632960001", None),
                        ("k2#2", "Taxi", "123", None, None)]


def test_ufdr_and_generic_layout_give_the_same_rows(cli, node: Path, make_ufdr, write,
                                                    query, tmp_path: Path) -> None:
    """The calls of CALLS_CSV, once as a UFDR and once as devices.csv + calls.csv."""
    same_calls = [
        {"id": "1", "direction": "Outgoing", "number": "07700 900123", "duration": "00:01:00",
         "time": "2023-01-01T10:00:00+00:00"},
        {"id": "2", "direction": "Incoming", "number": "+44 7700 900124", "duration": "5",
         "time": "2023-01-02T00:30:00+01:00"},
        {"id": "3", "direction": "Incoming", "status": "Missed", "number": "Voicemail",
         "time": "2023-01-02T01:00:00Z"}]
    assert cli("node", "ingest", "--dir", node,
               make_ufdr("D1.ufdr", calls=same_calls, messages=[], contacts=[])).code == 0
    generic = tmp_path / "generic"
    assert cli("node", "init", "--force", "Testshire", "--dir", generic).code == 0
    write("persons.csv", PERSONS_CSV)
    write("devices.csv", DEVICES_CSV)
    folder = write("calls.csv", CALLS_CSV).parent
    assert cli("node", "ingest", "--dir", generic, folder).code == 0
    cols = ("device_id, call_id, timestamp_utc, direction, number, number_e164, "
            "number_normalised, duration_s")
    sql = f"SELECT {cols} FROM calls ORDER BY call_id"
    assert query(node, sql) == query(generic, sql)
    assert len(query(node, sql)) == 3


def test_a_ufdr_for_a_device_already_listed_keeps_the_listed_owner(
        cli, node: Path, make_ufdr, write, query) -> None:
    write("persons.csv", PERSONS_CSV)
    folder = write("devices.csv", DEVICES_CSV).parent
    assert cli("node", "ingest", "--dir", node, folder).code == 0
    assert cli("node", "ingest", "--dir", node, make_ufdr("D1.ufdr")).code == 0
    assert query(node, "SELECT device_id, person_id FROM devices") == [("D1", "P1")]
    assert query(node, "SELECT count(*) FROM calls WHERE device_id = 'D1'") == [(3,)]


def test_reloading_a_ufdr_is_idempotent_and_a_new_version_replaces_it(
        cli, node: Path, make_ufdr, status) -> None:
    p = make_ufdr()
    cli("node", "ingest", "--dir", node, p)
    again = cli("node", "ingest", "--dir", node, p)
    assert "unchanged" in again.out
    make_ufdr(contacts=[])  # same path, contacts gone
    r = cli("node", "ingest", "--dir", node, p)
    assert r.code == 0 and "replaced" in r.out
    tables = status(node)["tables"]
    assert (tables["devices"], tables["calls"], tables["contacts"]) == (1, 3, 0)


def test_the_xml_is_streamed_not_loaded_whole(node: Path, make_ufdr, monkeypatch) -> None:
    """Finished models are dropped as parsing goes: the tree holds only the parser's
    read-ahead, however many models the report has."""
    calls = [{"id": f"c{i}", "direction": "Incoming", "number": f"0770090{i:04d}",
              "time": "2023-01-01T10:00:00Z"} for i in range(3000)]
    path = make_ufdr("BIG.ufdr", calls=calls, messages=[], contacts=[])
    widths: list[int] = []
    real_model = cellebrite.Report.model

    def watching_model(self, model, chat_ref):  # noqa: ANN001, ANN202
        widths.append(len(stack_parent[0])) if stack_parent else None
        return real_model(self, model, chat_ref)

    stack_parent: list = []
    real_events = cellebrite.events

    def events(stream):  # noqa: ANN001, ANN202
        for event, el in real_events(stream):
            if event == "start" and cellebrite._local(el.tag) == "modelType":
                stack_parent[:] = [el]
            yield event, el

    monkeypatch.setattr(cellebrite.Report, "model", watching_model)
    monkeypatch.setattr(cellebrite, "events", events)
    import duckdb

    con = duckdb.connect()
    rows = Rows(con)
    cellebrite.read_ufdr(rows, path, "BIG")
    assert rows.count["calls"] == 3000
    assert max(widths) < 100  # not 3000: finished models do not pile up in their parent


def test_a_ufdr_inside_a_plain_zip_is_found(cli, node: Path, tmp_path: Path) -> None:
    p = tmp_path / "EXH-9.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("EXH-9/report.xml", ufdr_xml([], [], [{"id": "k", "name": "A",
                                                         "numbers": ["07700900123"]}]))
    r = cli("node", "ingest", "--dir", node, p)
    assert r.code == 0 and "1 contacts" in r.out
