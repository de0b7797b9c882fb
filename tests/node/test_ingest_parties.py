"""A layout file's parties are finished by the INSERT that writes its rows: the same kind,
normalised form and number flag an extraction's UPDATE pass (finish_parties) gives."""

from __future__ import annotations

from pathlib import Path

from node.extraction.load import finish_parties
from node.ingest import ingest
from node.store import open_store

DEVICES = """device_id,region,owner_number
DGB,GB,07700 900001
DNONE,,
"""
# the other party in every shape a handset keeps: national and international numbers,
# a WhatsApp id, words, short codes, e-mail and web addresses, app user ids, an invalid
# number, and none at all — on a device in Britain and on one of unknown country
PARTIES = ["07700 900123", "+44 7700 900124", "447700900125@s.whatsapp.net", "Voicemail",
           "121", "Bob.Smith@Example.COM", "https://example.org/x", "snap.user",
           "01632 96", "07700 900123", "", "+33 6 12 34 56 78", "Private Number"]
APPS = ["Phone", "WhatsApp", "Snapchat", "SMS", ""]


def _rows(header: str, row: str) -> str:
    """A CSV of every party in PARTIES with every app, on a British device and on one of
    unknown country; ``row`` formats (device, i, number, app)."""
    rows, i = [header], 0
    for device in ("DGB", "DNONE"):
        for number in PARTIES:
            for app in APPS:
                i += 1
                rows.append(row.format(device=device, i=i, number=number, app=app))
    return "\n".join(rows) + "\n"


def _calls() -> str:
    return _rows("device_id,call_id,timestamp_utc,direction,number,app",
                 "{device},{i},2023-01-01 10:00:00,outgoing,{number},{app}")


def _messages() -> str:
    return _calls().replace("call_id", "message_id")


def _contacts() -> str:
    return _rows("device_id,contact_id,name,number,source_app",
                 "{device},{i},Someone,{number},{app}")


COLUMNS = {"calls": "call_id, party_kind, party_norm, number_flag, number_e164",
           "messages": "message_id, party_kind, party_norm, number_flag, number_e164",
           "contacts": "contact_id, entry_kind, entry_norm, number_flag, number_e164"}


def test_layout_parties_equal_what_finish_parties_would_write(node: Path, write) -> None:
    paths = [write("devices.csv", DEVICES), write("calls.csv", _calls()),
             write("messages.csv", _messages()), write("contacts.csv", _contacts())]
    with open_store(node) as (config, con):
        reports = ingest(con, config, paths)
        assert [r.status for r in reports] == ["loaded"] * 4, reports
        for table, cols in COLUMNS.items():
            (file_id,) = con.execute("SELECT file_id FROM source_files WHERE layout = ?",
                                     [table]).fetchall()[0]
            before = con.execute(f"SELECT {cols} FROM {table} ORDER BY 1::INT").fetchall()
            counts = finish_parties(con, table, file_id)
            after = con.execute(f"SELECT {cols} FROM {table} ORDER BY 1::INT").fetchall()
            assert before == after, table
            report = next(r for r in reports if r.layout == table)
            assert report.flags["number"] == counts


def test_layout_parties_read_by_kind_and_region(node: Path, write, query) -> None:
    paths = [write("devices.csv", DEVICES), write("calls.csv", _calls())]
    with open_store(node) as (config, con):
        devices, calls = ingest(con, config, paths)
    assert calls.status == "loaded", calls
    got = dict(((d, n, a), (k, norm, f)) for d, n, a, k, norm, f in query(
        node, "SELECT device_id, number, app, party_kind, party_norm, number_flag "
              "FROM calls"))
    assert got[("DGB", "07700 900123", "Phone")] == ("phone", "+447700900123", None)
    assert got[("DGB", "447700900125@s.whatsapp.net", "WhatsApp")] == (
        "phone", "+447700900125", None)
    assert got[("DGB", "Voicemail", "Phone")] == (None, None, "not_a_number")
    assert got[("DGB", "Bob.Smith@Example.COM", "SMS")] == (
        "email", "bob.smith@example.com", None)
    assert got[("DGB", "https://example.org/x", "Phone")] == ("web", None, None)
    assert got[("DGB", "snap.user", "Snapchat")] == ("handle", "snapchat:snap.user", None)
    assert got[("DGB", "01632 96", "Phone")] == ("phone", None, "invalid")
    # no country for the device: a national number stays raw, an international one reads
    assert got[("DNONE", "07700 900123", "Phone")] == ("phone", None, "no_region")
    assert got[("DNONE", "+33 6 12 34 56 78", "Phone")] == ("phone", "+33612345678", None)
    assert got[("DGB", None, "Phone")] == (None, None, None)
    # a word is an app user id only in an app that has them (WhatsApp, Snapchat)
    assert got[("DGB", "snap.user", "Phone")] == (None, None, "not_a_number")
    assert got[("DGB", "Voicemail", "WhatsApp")] == ("handle", "whatsapp:voicemail", None)
    assert calls.flags["number"] == {"invalid": 10, "no_region": 20, "not_a_number": 22}
    assert calls.unnormalised == 52


def test_a_file_of_one_region_reads_its_parties_as_a_mixed_file_does(node: Path, write,
                                                                     tmp_path: Path) -> None:
    """All of a file's devices in one country (or all unknown): the region is a constant
    of the file's INSERT, with the same kinds, forms and flags as a per-row region."""
    mixed = _calls()
    header, *rows = mixed.splitlines()
    one = {d: header + "\n" + "\n".join(r for r in rows if r.startswith(d + ",")) + "\n"
           for d in ("DGB", "DNONE")}
    paths = [write("devices.csv", DEVICES), write("calls-gb.csv", one["DGB"]),
             write("calls-none.csv", one["DNONE"])]
    other = tmp_path / "mixed"
    other.mkdir()
    (other / "calls.csv").write_text(mixed)
    cols = "call_id, party_kind, party_norm, number_flag, number_e164, number_normalised"
    with open_store(node) as (config, con):
        reports = ingest(con, config, paths)
        assert [r.status for r in reports] == ["loaded"] * 3, reports
        split = con.execute(f"SELECT {cols} FROM calls ORDER BY 1::INT").fetchall()
        for r in reports[1:]:
            (file_id,) = con.execute("SELECT file_id FROM source_files WHERE path = ?",
                                     [r.path]).fetchall()[0]
            assert finish_parties(con, "calls", file_id) == r.flags.get("number", {})
        assert con.execute(f"SELECT {cols} FROM calls ORDER BY 1::INT").fetchall() == split
        con.execute("DELETE FROM calls")
        (mixed_report,) = ingest(con, config, [other / "calls.csv"])
        assert mixed_report.status == "loaded", mixed_report
        assert con.execute(f"SELECT {cols} FROM calls ORDER BY 1::INT").fetchall() == split
    assert sum(sum(r.flags.get("number", {}).values()) for r in reports[1:]) == 52


def test_the_arrow_phone_reading_equals_the_row_by_row_one() -> None:
    """Ingest reads a file's distinct numbers in Arrow (``phones_in_region_arrow``); every
    shape, in Britain, abroad and with no country, reads as ``phones_in_region`` reads it."""
    import pyarrow as pa

    from node.extraction.parties import phones_in_region, phones_in_region_arrow

    numbers = [*PARTIES, None, "06 12 34 56 78", "(301) 555-0101", "+1 301 555 0101",
               " +447700900126@c.us ", "+447700900127@S.WHATSAPP.NET", "07700900128"]
    rows = [(n, r) for n in numbers for r in ("GB", None, "FR", "US")]
    got = phones_in_region_arrow(pa.array([n for n, _ in rows], pa.string()),
                                 pa.array([r for _, r in rows], pa.string())).to_pylist()
    assert got == phones_in_region(rows)
    assert sum(g is not None for g in got) >= 20
