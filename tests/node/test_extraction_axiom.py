"""Magnet AXIOM XML reports land in the same tables as a Cellebrite UFDR (issue #21): every
call with its direction, every number in its device's country (here Dutch and American,
from what the report says), each date in the zone and order its fragment's name gives,
messages of every kind, contacts by kind, cells never a point — and a corrupt report
refused naming its line and element, nothing loaded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from axiom_reports import (
    UTC_DMY,
    artifact,
    nl_call,
    nl_device,
    nl_report,
    one_call_report,
    report,
    us_report,
    write_report,
)

T = dt.datetime


@pytest.fixture
def nl(loaded, node: Path, tmp_path: Path) -> dict:
    return loaded(node, write_report(tmp_path / "EXH-NL.xml", nl_report()))


@pytest.fixture
def us(loaded, node: Path, tmp_path: Path) -> dict:
    return loaded(node, write_report(tmp_path / "EXH-US.xml", us_report()))


# --------------------------------------------------------------------------- the device

def test_the_device_row_comes_from_device_information_and_the_sim(nl: dict, node: Path,
                                                                   query) -> None:
    assert nl["layout"] == "axiom"
    assert query(node, "SELECT device_id, make, model, imei_norm, tool, tool_version, "
                       "timezone, imsi, iccid FROM devices") == [
        ("EXH-NL", "samsung", "SM-A125F", "490154203237518", "Magnet AXIOM", None,
         "Europe/Amsterdam", "204080123456789", "8931080012345678901")]


def test_a_dutch_phone_reads_its_national_numbers_as_dutch(nl: dict, node: Path,
                                                           query) -> None:
    """The report's own numbers and SIM say the Netherlands: 020 123 4567 is Amsterdam
    (+31 20), never a London number; the owner's 06 number is +31 6."""
    assert query(node, "SELECT region, region_source, owner_number, owner_number_e164 "
                       "FROM devices") == [
        ("NL", "own number +31 6 12345678", "06 12345678", "+31612345678")]
    assert query(node, "SELECT call_id, number, number_e164 FROM calls ORDER BY 1") == [
        ("c1", "020 123 4567", "+31201234567"), ("c2", "06 23456789", "+31623456789"),
        ("c3", "06 23456789", "+31623456789"), ("c4", "+44 7700 900123", "+447700900123")]
    assert query(node, "SELECT count(*) FROM calls WHERE number_flag IS NOT NULL") == [(0,)]


def test_sim_data_and_the_whatsapp_account_are_kept(nl: dict, node: Path, query) -> None:
    assert query(node, "SELECT name, value, category FROM sim_data ORDER BY name") == [
        ("ICCID", "8931080012345678901", "SIM"), ("IMSI", "204080123456789", "SIM"),
        ("Phone Number", "06 12345678", "SIM")]
    assert query(node, "SELECT app, name, entry_kind, value_norm FROM device_accounts") == [
        ("WhatsApp", "Kees", "phone", "+31612345678")]


# --------------------------------------------------------------------------- calls

def test_calls_take_direction_status_duration_and_deletion(nl: dict, node: Path,
                                                            query) -> None:
    assert query(node, "SELECT call_id, direction, name, duration_s, app, deleted, status "
                       "FROM calls ORDER BY 1") == [
        ("c1", "incoming", "Bakker", 65, "Phone", False, "Incoming"),
        ("c2", "outgoing", None, 42, "Phone", False, "Outgoing"),
        ("c3", "missed", None, 0, "Phone", False, "Missed"),   # Call Status says missed
        ("c4", "outgoing", None, 120, "Phone", True, "Outgoing")]  # carved: deleted


def test_a_date_order_comes_from_the_fragment_name_not_a_guess(nl: dict, node: Path,
                                                                query) -> None:
    """"05/03/2021" under "(dd/MM/yyyy)" is 5 March, with nothing flagged ambiguous."""
    assert query(node, "SELECT timestamp_utc, utc_offset_min, timestamp_raw, time_flag "
                       "FROM calls WHERE call_id = 'c1'") == [
        (T(2021, 3, 5, 14, 7, 9), 0, None, None)]


def test_each_call_party_is_kept_by_role(nl: dict, node: Path, query) -> None:
    assert query(node, "SELECT event_id, role, party_norm, is_owner FROM event_parties "
                       "WHERE event_kind = 'call' ORDER BY 1") == [
        ("c1", "from", "+31201234567", False), ("c2", "to", "+31623456789", False),
        ("c3", "from", "+31623456789", False), ("c4", "to", "+447700900123", False)]


# --------------------------------------------------------------------------- messages

def test_sms_and_mms_take_their_direction_from_type(nl: dict, node: Path, query) -> None:
    assert query(node, "SELECT message_id, kind, direction, number_e164, app, subject, body, "
                       "timestamp_utc FROM messages WHERE kind IN ('sms', 'mms') "
                       "ORDER BY 1") == [
        ("m1", "mms", "incoming", "+31611122233", "MMS", "foto", "kijk",
         T(2021, 3, 9, 9, 0)),
        ("s1", "sms", "incoming", "+31611122233", "SMS", None, "Hoi", T(2021, 3, 9, 8, 0)),
        ("s2", "sms", "outgoing", "+31611122233", "SMS", None, "Hallo",
         T(2021, 3, 9, 8, 5))]


def test_a_chat_gathers_its_messages_and_the_local_user_is_the_owner(nl: dict, node: Path,
                                                                     query) -> None:
    assert query(node, "SELECT message_id, chat_id, direction, app, number_e164, body "
                       "FROM messages WHERE kind = 'im' ORDER BY 1") == [
        ("w1", "120363041234@g.us", "incoming", "WhatsApp", "+31611122233", "morgen?"),
        ("w2", "120363041234@g.us", "outgoing", "WhatsApp", "+31611122233", "ja")]
    assert query(node, "SELECT chat_id, name, app, participants, messages, started_utc, "
                       "last_activity_utc FROM chats") == [
        ("120363041234@g.us", "de jongens", "WhatsApp", 2, 2, T(2021, 3, 9, 20, 0),
         T(2021, 3, 9, 20, 1))]
    assert query(node, "SELECT name, party_norm, is_owner FROM event_parties WHERE "
                       "event_kind = 'chat' ORDER BY 1") == [
        ("Local User", None, True), ("Piet", "+31611122233", False)]


def test_email_is_an_email_with_every_recipient(nl: dict, node: Path, query) -> None:
    assert query(node, "SELECT kind, direction, number_e164, party_kind, party_norm, app, "
                       "subject, body FROM messages WHERE message_id = 'e1'") == [
        ("email", "incoming", None, "email", "dealer.one@example.com", "Gmail", "Afspraak",
         "donderdag om 6")]
    assert query(node, "SELECT role, party_norm FROM event_parties WHERE event_id = 'e1' "
                       "ORDER BY role, party_norm") == [
        ("cc", "a@example.nl"), ("cc", "b@example.nl"), ("from", "dealer.one@example.com"),
        ("to", "kees@example.nl")]


# --------------------------------------------------------------------------- contacts

def test_contact_entries_are_routed_by_kind(nl: dict, node: Path, query) -> None:
    assert query(node, "SELECT contact_id, name, entry_kind, number_e164, entry_norm, "
                       "source_app FROM contacts ORDER BY 1") == [
        ("k1#1", "Piet", "phone", "+31611122233", "+31611122233", "Phone"),
        ("k1#2", "Piet", "phone", "+31201234567", "+31201234567", "Phone"),
        ("k1#3", "Piet", "email", None, "piet@example.nl", "Phone"),
        ("k1#4", "Piet", "web", None, None, "Phone"),
        ("k2", "Piet T", "handle", None, "telegram:piet_t", "Telegram")]


# --------------------------------------------------------------------------- locations

def test_a_cell_is_never_a_point_fix_nor_is_wifi(nl: dict, node: Path, query) -> None:
    assert query(node, "SELECT location_id, kind, precision, latitude, accuracy_m, "
                       "cell_mcc, cell_mnc, cell_lac, cell_id, timestamp_utc "
                       "FROM device_locations ORDER BY 1") == [
        ("l1", "CellTower", "cell", 52.37, None, "204", "08", "1234", "56789",
         T(2021, 3, 10, 8, 0)),
        ("l2", "WiFi", "area", 52.36, 30.0, None, None, None, None, T(2021, 3, 10, 8, 10))]


def test_the_load_report_names_every_table_filled(nl: dict) -> None:
    # calls 4; messages: 2 SMS + 1 MMS + 2 WhatsApp + 1 e-mail; contacts: 4 entries of Piet
    # + 1 Telegram id; parties: 4 calls + 3 SMS/MMS + 2x2 WhatsApp + 4 e-mail + 2 in the
    # chat = 17; the Pictures artifact is not read
    assert nl["rows"] == {
        "devices": 1, "calls": 4, "messages": 6, "contacts": 5, "event_parties": 17,
        "chats": 1, "device_locations": 2, "device_accounts": 1, "sim_data": 3}


# --------------------------------------------------------------------------- the iOS shapes

def test_an_iphone_is_american_from_its_imsi(us: dict, node: Path, query) -> None:
    assert query(node, "SELECT make, model, region, region_source FROM devices") == [
        ("Apple", "iPhone12,1", "US", "IMSI 310410…")]
    assert query(node, "SELECT direction, number_e164, duration_s, timestamp_utc "
                       "FROM calls") == [
        ("outgoing", "+13015550123", 200, T(2021, 3, 16, 13, 44, 8))]


def test_ios_messages_read_sender_recipients_and_service(us: dict, node: Path,
                                                         query) -> None:
    """Received Date/Time marks an incoming message; iMessage is an app message."""
    assert query(node, "SELECT message_id, kind, app, direction, number_e164, "
                       "timestamp_utc FROM messages ORDER BY 1") == [
        ("i1", "sms", "SMS", "incoming", "+12404378299", T(2021, 3, 17, 9, 15)),
        ("i2", "im", "iMessage", "outgoing", "+12404378299", T(2021, 3, 17, 9, 20))]
    assert query(node, "SELECT event_id, role, party_norm FROM event_parties WHERE "
                       "event_kind = 'message' ORDER BY 1, 2, 3") == [
        ("i1", "from", "+12404378299"), ("i1", "to", "+12404378277"),
        ("i2", "to", "+12404378299"), ("i2", "to", "+13015550188")]


def test_ios_contacts_join_first_and_last_name(us: dict, node: Path, query) -> None:
    assert query(node, "SELECT contact_id, name, number_e164 FROM contacts") == [
        ("k1", "Jo Smith", "+12404378299")]


def test_a_significant_location_is_not_claimed_as_a_point(us: dict, node: Path,
                                                          query) -> None:
    assert query(node, "SELECT kind, category, precision, latitude, timestamp_utc "
                       "FROM device_locations") == [
        ("Location", "Home", "unknown", 38.98, T(2021, 3, 18, 7, 0))]


# --------------------------------------------------------------------------- date forms

@pytest.mark.parametrize(("name", "written", "stored", "offset", "raw", "flag"), [
    ("Call Date/Time - UTC+00:00 (M/d/yyyy)", "3/16/2021 1:44:08 PM",
     T(2021, 3, 16, 13, 44, 8), 0, None, None),
    ("Call Date/Time" + UTC_DMY, "05/04/2021 10:00:00", T(2021, 4, 5, 10, 0), 0, None, None),
    ("Call Date/Time - UTC+01:00 (dd.MM.yyyy)", "16.03.2021 14:44:08",
     T(2021, 3, 16, 13, 44, 8), 60, "16.03.2021 14:44:08 (UTC+01:00)", None),
    ("Call Date/Time - UTC-05:00 (M/d/yy)", "3/16/21 8:44:08 AM",
     T(2021, 3, 16, 13, 44, 8), -300, "3/16/21 8:44:08 AM (UTC-05:00)", None),
    ("Call Date/Time - UTC+00:00 (dd-MMM-yyyy)", "16-Mar-2021 13:44:08",
     T(2021, 3, 16, 13, 44, 8), 0, None, None),
    ("Call Date/Time - UTC+00:00 (yyyy-MM-dd)", "2021-03-16 13:44:08.250",
     T(2021, 3, 16, 13, 44, 8, 250000), 0, None, None),
    # no zone in the name: the handset's local time, Amsterdam in summer (UTC+2)
    ("Call Date/Time (dd/MM/yyyy)", "01/07/2021 12:00:00", T(2021, 7, 1, 10, 0), 120,
     "01/07/2021 12:00:00", "device_zone"),
    ("Call Date/Time" + UTC_DMY, "sometime in May", None, None,
     "sometime in May (UTC+00:00)", "unparsed"),
])
def test_every_date_form_is_read_in_its_declared_order_and_zone(
        loaded, node: Path, tmp_path: Path, query, name: str, written: str, stored, offset,
        raw, flag) -> None:
    report_ = loaded(node, write_report(tmp_path / "D.xml", one_call_report(name, written)))
    assert query(node, "SELECT timestamp_utc, utc_offset_min, timestamp_raw, time_flag "
                       "FROM calls") == [(stored, offset, raw, flag)]
    assert report_["rows"]["calls"] == 1  # the call is never refused for its time


@pytest.mark.parametrize(("name", "written", "stored", "raw", "flag"), [
    ("Extraction Date/Time - UTC+01:00 (dd/MM/yyyy)", "10/03/2021 12:00:00",
     T(2021, 3, 10, 11, 0), "10/03/2021 12:00:00 (UTC+01:00)", None),
    # no zone: Amsterdam in March is UTC+1
    ("Extraction Date/Time (dd/MM/yyyy)", "10/03/2021 12:00:00", T(2021, 3, 10, 11, 0),
     "10/03/2021 12:00:00", "device_zone"),
    ("Extraction Date/Time" + UTC_DMY, "unknown", None, "unknown (UTC+00:00)", "unparsed"),
])
def test_the_extraction_date_is_read_or_kept_raw_and_flagged(
        loaded, node: Path, tmp_path: Path, query, name: str, written: str, stored, raw,
        flag) -> None:
    xml = report(nl_device(**{name: written}))
    report_ = loaded(node, write_report(tmp_path / "D.xml", xml))
    assert query(node, "SELECT extraction_date, extraction_date_raw FROM devices") == [
        (stored, raw)]
    assert report_["flags"].get("extraction_date") == ({flag: 1} if flag else None)


# --------------------------------------------------------------------------- bad files

def test_a_truncated_report_names_its_line_and_element_and_loads_nothing(
        cli, node: Path, tmp_path: Path, query) -> None:
    xml = nl_report()
    lines = xml.splitlines()
    # cut inside c2's Partner fragment: the first "06 23456789" is on that line
    cut = next(i for i, line in enumerate(lines) if "06 23456789" in line)
    text = "\n".join(lines[:cut]) + '\n<Fragment name="Partner">06 98'
    path = write_report(tmp_path / "EXH-CUT.xml", text)
    r = cli("node", "ingest", "--dir", node, path)
    assert r.code == 2 and "Traceback" not in r.err
    assert f"EXH-CUT.xml, line {cut + 1}" in r.err
    assert 'inside <Fragment name="Partner"> of <Artifact name="Android Call Logs">' in r.err
    assert query(node, "SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM calls) "
                       "+ (SELECT count(*) FROM sim_data)") == [(0,)]


def test_an_xml_file_that_is_not_an_axiom_report_is_refused(cli, node: Path,
                                                            tmp_path: Path) -> None:
    path = write_report(tmp_path / "notes.xml", "<notes><note>hello</note></notes>\n")
    r = cli("node", "ingest", "--dir", node, path)
    assert r.code == 2 and "notes.xml: not a Magnet AXIOM XML report" in r.err


def test_the_same_report_again_adds_nothing(nl: dict, cli, node: Path, tmp_path: Path,
                                            query) -> None:
    r = cli("node", "ingest", "--dir", node, tmp_path / "EXH-NL.xml")
    assert r.code == 0 and "unchanged" in r.out
    assert query(node, "SELECT count(*) FROM calls") == [(4,)]


def test_the_xml_is_streamed_not_loaded_whole(tmp_path: Path, monkeypatch) -> None:
    """Finished hits are dropped as parsing goes: <Hits> holds only the parser's read-ahead,
    however many hits the artifact has."""
    import duckdb

    import node.extraction.axiom as axiom
    from node.extraction.rows import Rows

    calls = [nl_call(f"c{i}", f"06 2345{i:04d}", "Incoming", "05/03/2021 14:07:09",
                     "00:00:10") for i in range(3000)]
    path = write_report(tmp_path / "BIG.xml",
                        report(nl_device(), artifact("Android Call Logs", *calls)))
    open_hits: list = []
    widths: list[int] = []
    real_events, real_hit = axiom.events, axiom.AxiomReport.hit

    def events(stream):  # noqa: ANN001, ANN202
        for event, el in real_events(stream):
            if event == "start" and axiom._local(el.tag) == "Hits":
                open_hits[:] = [el]
            yield event, el

    def watching_hit(self, hit):  # noqa: ANN001, ANN202
        widths.extend(len(e) for e in open_hits)
        return real_hit(self, hit)

    monkeypatch.setattr(axiom, "events", events)
    monkeypatch.setattr(axiom.AxiomReport, "hit", watching_hit)
    rows = Rows(duckdb.connect())
    axiom.read_axiom(rows, path, "BIG")
    assert rows.count["calls"] == 3000
    # not 3000: finished hits do not pile up in their parent; what is there is at most
    # the hits of the parser's read-ahead (two chunks)
    assert max(widths) <= 2 * axiom.Bounded.CHUNK // len(calls[0].encode())
