"""Seized-phone extractions as the tools really write them (issue #21): older and current
Cellebrite reports, every call with its direction, every number with its right country,
messages from SMS, MMS, e-mail and chat apps, locations with their precision — and a load
report that lists what was kept raw and why."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cellebrite_reports import (
    CURRENT_HEADER,
    OLD_US_HEADER,
    current_report,
    field,
    model,
    multi_model,
    old_us_report,
    party,
    report,
    write_ufdr,
)

T = dt.datetime


def _load(cli, node: Path, path: Path) -> dict:
    r = cli("node", "ingest", "--dir", node, path, "--json")
    assert r.code == 0, r
    return json.loads(r.out)[0]


# --------------------------------------------------------------------------- older report

def test_an_older_report_gives_every_call_its_direction_from_type(cli, node: Path,
                                                                  tmp_path: Path, query) -> None:
    _load(cli, node, write_ufdr(tmp_path / "IPH-1.ufdr", old_us_report()))
    assert query(node, "SELECT direction, count(*) FROM calls GROUP BY 1 ORDER BY 1") == [
        ("incoming", 4), ("missed", 7), ("outgoing", 11)]


def test_an_older_report_header_is_read_under_its_old_names(cli, node: Path, tmp_path: Path,
                                                            query) -> None:
    _load(cli, node, write_ufdr(tmp_path / "IPH-1.ufdr", old_us_report()))
    assert query(node, "SELECT make, model, tool_version, extraction_date, imei_norm "
                       "FROM devices") == [
        ("Apple", "iPhone 4S", "1.1.9.2", T(2012, 3, 16, 13, 44, 8), "013034006786234")]


def test_a_us_handsets_national_numbers_are_american_not_british(cli, node: Path,
                                                                 tmp_path: Path, query) -> None:
    """The report says the phone is American (IMSI 310 410...): its national numbers are
    +1 numbers, in calls and in SMS alike — one person, one number."""
    _load(cli, node, write_ufdr(tmp_path / "IPH-1.ufdr", old_us_report()))
    assert query(node, "SELECT region, region_source, owner_number_e164 FROM devices") == [
        ("US", "IMSI 310410…", "+12404378277")]
    assert query(node, "SELECT number, number_e164 FROM calls WHERE call_id IN "
                       "('call0', 'call1') ORDER BY call_id") == [
        ("+13015550123", "+13015550123"), ("3015550101", "+13015550101")]
    assert query(node, "SELECT number_e164, direction FROM messages") == [
        ("+12404378299", "incoming")]
    assert query(node, "SELECT count(*) FROM calls WHERE number_e164 LIKE '+44%'") == [(0,)]
    # the other end is the owner's own number in every call, read the same way
    assert query(node, "SELECT DISTINCT party_norm FROM event_parties WHERE is_owner") == [
        ("+12404378277",)]


def test_older_report_times_take_the_offset_written_beside_them(cli, node: Path,
                                                                 tmp_path: Path, query) -> None:
    _load(cli, node, write_ufdr(tmp_path / "IPH-1.ufdr", old_us_report()))
    # "3/1/2012 1:05:00 PM(UTC-5)" is 18:05 UTC
    assert query(node, "SELECT timestamp_utc, utc_offset_min, timestamp_raw, time_flag "
                       "FROM calls WHERE call_id = 'call0'") == [
        (T(2012, 3, 1, 18, 5), -300, "3/1/2012 1:05:00 PM(UTC-5)", None)]


def test_with_no_country_to_be_found_national_numbers_stay_raw_and_flagged(
        cli, node: Path, tmp_path: Path, query) -> None:
    header = {k: v for k, v in OLD_US_HEADER.items() if k not in ("IMSI", "ICCID")}
    calls = [model("Call", "c1", field("Type", "Outgoing"),
                   field("TimeStamp", "2012-03-01T10:00:00Z", "TimeStamp"),
                   multi_model("Parties", party("2404378277", None, "From", True),
                               party("3015550101", None, "To"))),
             model("Call", "c2", field("Type", "Incoming"),
                   field("TimeStamp", "2012-03-01T11:00:00Z", "TimeStamp"),
                   multi_model("Parties", party("+1 301 555 0123", None, "From"),
                               party("2404378277", None, "To", True)))]
    loaded = _load(cli, node, write_ufdr(tmp_path / "IPH-2.ufdr",
                                         report(header, {"Call": calls})))
    assert query(node, "SELECT region, owner_number_e164 FROM devices") == [(None, None)]
    assert query(node, "SELECT call_id, number_e164, number_flag FROM calls ORDER BY 1") == [
        ("c1", None, "no_region"), ("c2", "+13015550123", None)]
    assert loaded["flags"]["number"] == {"no_region": 1}
    assert loaded["flags"]["region"] == {"unknown": 1}
    line = cli("node", "ingest", "--dir", node, tmp_path / "IPH-2.ufdr").out
    assert "unchanged" in line  # the same file again adds nothing


def test_the_generic_layout_never_guesses_a_country_either(cli, node: Path, write,
                                                           query) -> None:
    write("devices.csv", "device_id,owner_number\nD1,07700 900001\nD2,+44 7700 900002\n")
    folder = write("calls.csv", "device_id,call_id,timestamp_utc,direction,number\n"
                                "D1,1,2023-01-01 10:00:00,outgoing,07700 900123\n"
                                "D2,2,2023-01-01 10:00:00,outgoing,07700 900123\n").parent
    r = cli("node", "ingest", "--dir", node, folder)
    assert r.code == 0, r
    assert "1 numbers kept raw (1 no country code and the device's country unknown)" in r.out
    assert query(node, "SELECT device_id, region, region_source FROM devices ORDER BY 1") == [
        ("D1", None, "none"), ("D2", "GB", "own number +44 7700 900002")]
    assert query(node, "SELECT call_id, number_e164, number_flag FROM calls ORDER BY 1") == [
        ("1", None, "no_region"), ("2", "+447700900123", None)]


# --------------------------------------------------------------------------- current report

@pytest.fixture
def current(cli, node: Path, tmp_path: Path) -> dict:
    return _load(cli, node, write_ufdr(tmp_path / "SAM-1.ufdr", current_report()))


def test_a_naive_header_date_takes_the_device_time_zone(current: dict, node: Path,
                                                        query) -> None:
    # 13:37 in London on 10 October 2020 (BST) is 12:37 UTC; the raw value is kept
    assert query(node, "SELECT make, model, tool_version, extraction_date, "
                       "extraction_date_raw, metadata_flags FROM devices") == [
        ("Samsung", "SM-A125F", "7.40.1.12", T(2020, 10, 10, 12, 37), "10/10/2020 13:37:00",
         '{"extraction_date": "device_zone"}')]
    assert current["flags"]["extraction_date"] == {"device_zone": 1}


def test_formatted_timestamps_and_naive_times_are_placed_right(current: dict, node: Path,
                                                               query) -> None:
    assert query(node, "SELECT call_id, timestamp_utc, utc_offset_min, time_flag FROM calls "
                       "ORDER BY call_id") == [
        ("call-ft", T(2020, 12, 16, 10, 53, 14), 60, None),         # formattedTimestamp
        ("call-naive", T(2020, 7, 1, 11, 0), 60, "device_zone")]    # naive, London in BST
    assert current["flags"]["time"] == {"device_zone": 1}


def test_mms_reads_plain_from_and_multi_field_recipients(current: dict, node: Path,
                                                         query) -> None:
    assert query(node, "SELECT kind, direction, number_e164, subject, body FROM messages "
                       "WHERE message_id = 'mms1'") == [
        ("mms", "incoming", "+447700900444", "pics", "see attached")]
    assert query(node, "SELECT role, party_norm, is_owner FROM event_parties WHERE "
                       "event_id = 'mms1' ORDER BY role, party_norm") == [
        ("cc", "+447700900666", False), ("from", "+447700900444", False),
        ("to", "+447700900001", True), ("to", "+447700900555", False)]


def test_email_is_an_email_not_a_number(current: dict, node: Path, query) -> None:
    assert query(node, "SELECT kind, direction, number, number_e164, number_flag, "
                       "party_kind, party_norm, subject FROM messages WHERE "
                       "message_id = 'em1'") == [
        ("email", "incoming", "Dealer.One@Example.com", None, None, "email",
         "dealer.one@example.com", "Meeting")]


def test_a_chat_keeps_its_participants_and_gives_its_messages_its_id(current: dict,
                                                                     node: Path, query) -> None:
    assert query(node, "SELECT chat_id, name, app, participants, messages FROM chats") == [
        ("120363041234@g.us", "the lads", "WhatsApp", 3, 2)]
    assert query(node, "SELECT message_id, chat_id, direction, number_e164 FROM messages "
                       "WHERE kind = 'im' ORDER BY 1") == [
        ("im0", "120363041234@g.us", "incoming", "+447700900777"),
        ("im1", "120363041234@g.us", "outgoing", "+447700900777")]
    assert query(node, "SELECT party_norm, name, is_owner FROM event_parties WHERE "
                       "event_kind = 'chat' ORDER BY 1") == [
        ("+447700900001", "me", True), ("+447700900777", "Kay", False),
        ("+447700900888", "Lee", False)]


def test_contact_entries_are_routed_by_kind(current: dict, node: Path, query) -> None:
    assert query(node, "SELECT contact_id, entry_kind, number, number_e164, entry_norm "
                       "FROM contacts ORDER BY contact_id") == [
        ("k1#1", "phone", "07700 900999", "+447700900999", "+447700900999"),
        ("k1#2", "email", None, None, "dealer.one@example.com"),
        ("k1#3", "handle", None, None, "telegram:dealer_one"),
        ("k1#4", "web", None, None, None)]
    assert query(node, "SELECT entry_value FROM contacts WHERE entry_kind = 'web'") == [
        ("https://example.com/d1",)]


def test_a_cell_is_never_a_point_fix(current: dict, node: Path, query) -> None:
    assert query(node, "SELECT location_id, kind, precision, latitude, accuracy_m, "
                       "cell_mcc, cell_mnc, cell_lac, cell_id FROM device_locations "
                       "ORDER BY timestamp_utc") == [
        ("loc1", "Location", "point", 53.4808, 8.0, None, None, None, None),
        ("loc2", "Location", "cell", 53.5, None, None, None, None, None),
        ("ct1", "CellTower", "cell", None, None, "234", "15", "1234", "56789")]


def test_the_owners_accounts_and_sim_data_are_kept(current: dict, node: Path, query) -> None:
    assert query(node, "SELECT app, entry_kind, value_norm FROM device_accounts "
                       "ORDER BY account_id") == [
        ("WhatsApp", "handle", "whatsapp:me_on_wa"), ("WhatsApp", "phone", "+447700900001")]
    assert query(node, "SELECT name, value FROM sim_data") == [
        ("ICCID", "8944150000000000001")]
    assert query(node, "SELECT imsi, iccid, region FROM devices") == [
        ("234150000000001", "8944150000000000001", "GB")]


def test_the_load_report_names_every_table_filled(current: dict) -> None:
    assert current["rows"] == {
        "devices": 1, "calls": 2, "messages": 4, "contacts": 4, "event_parties": 17,
        "chats": 1, "device_locations": 3, "device_accounts": 2, "sim_data": 1}


# --------------------------------------------------------------------------- header dates

@pytest.mark.parametrize(("written", "stored", "flag"), [
    ("20.12.2020 13:33:15", T(2020, 12, 20, 13, 33, 15), "device_zone"),  # GMT in December
    ("09.09.2020 19:33:13(UTC+0)", T(2020, 9, 9, 19, 33, 13), None),
    ("3/16/2012 1:44:08 PM(UTC+0)", T(2012, 3, 16, 13, 44, 8), None),
    ("10/10/2020 13:37:00", T(2020, 10, 10, 12, 37), "device_zone"),      # BST in October
    ("2020-12-16T11:53:14+01:00", T(2020, 12, 16, 10, 53, 14), None),
    ("05/04/2020 10:00:00", T(2020, 4, 5, 9, 0), "ambiguous_day_month"),  # day first, BST
    ("sometime in May", None, "unparsed"),
])
def test_every_header_date_form_is_read_or_kept_raw(cli, node: Path, tmp_path: Path, query,
                                                    written: str, stored, flag) -> None:
    header = {**CURRENT_HEADER, "DeviceInfoExtractionStartDateTime": written}
    call = model("Call", "c1", field("Direction", "Incoming"),
                 field("TimeStamp", "2020-01-01T10:00:00Z", "TimeStamp"),
                 multi_model("Parties", party("07700900222", None, "From")))
    loaded = _load(cli, node, write_ufdr(tmp_path / "D.ufdr", report(header, {"Call": [call]})))
    assert query(node, "SELECT extraction_date, extraction_date_raw FROM devices") == [
        (stored, written)]
    assert loaded["flags"].get("extraction_date") == ({flag: 1} if flag else None)
    assert loaded["rows"]["calls"] == 1  # the evidence is never refused for its header


def test_a_naive_time_with_no_device_zone_is_kept_as_utc_and_flagged(cli, node: Path,
                                                                     tmp_path: Path,
                                                                     query) -> None:
    header = {k: v for k, v in CURRENT_HEADER.items() if k != "DeviceInfoTimeZone"}
    call = model("Call", "c1", field("Direction", "Incoming"),
                 field("TimeStamp", "2020-07-01T12:00:00.000", "TimeStamp"),
                 multi_model("Parties", party("07700900222", None, "From")))
    loaded = _load(cli, node, write_ufdr(tmp_path / "D.ufdr", report(header, {"Call": [call]})))
    assert query(node, "SELECT timestamp_utc, time_flag, timestamp_raw FROM calls") == [
        (T(2020, 7, 1, 12, 0), "assumed_utc", "2020-07-01T12:00:00.000")]
    assert loaded["flags"]["time"] == {"assumed_utc": 1}


def test_the_analyst_sees_the_locations_in_the_timeline_a_cell_as_an_area(
        current: dict, cli, node: Path) -> None:
    r = cli("node", "analyse", "timeline", "--dir", node, "--device", "SAM-1", "--json")
    assert r.code == 0, r
    out = json.loads(r.out)
    places = [(t["ref"], t["detail"]) for t in out["tables"]["timeline"]
              if t["kind"] == "location"]
    assert places == [
        ("loc1", "53.4808,-2.2426 ±8 m (point)"),                # 08:00 UTC, GMT
        ("loc2", "in the area of a cell near 53.5,-2.25 (an area, not a point)"),
        ("ct1", "in the area of cell 234/15/1234/56789 (an area, not a point)")]
    assert out["summary"]["locations"] == 3 and out["summary"]["calls"] == 2


def test_a_country_the_report_does_not_say_can_be_given_at_ingest(cli, node: Path,
                                                                  tmp_path: Path,
                                                                  query) -> None:
    """The analyst knows the phone is American; the report carries no own number with its
    country code, no IMSI, no ICCID. Loaded without --region its national numbers stay raw;
    the same file loaded again with --region US reads them as American."""
    header = {k: v for k, v in OLD_US_HEADER.items() if k not in ("IMSI", "ICCID")}
    calls = [model("Call", "c1", field("Type", "Outgoing"),
                   field("TimeStamp", "2012-03-01T10:00:00Z", "TimeStamp"),
                   multi_model("Parties", party("2404378277", None, "From", True),
                               party("3015550101", None, "To")))]
    path = write_ufdr(tmp_path / "IPH-3.ufdr", report(header, {"Call": calls}))
    _load(cli, node, path)
    assert query(node, "SELECT number_e164, number_flag FROM calls") == [(None, "no_region")]
    r = cli("node", "ingest", "--dir", node, path, "--region", "us")
    assert r.code == 0 and "replaced" in r.out, r
    assert query(node, "SELECT region, region_source FROM devices") == [
        ("US", "given at ingest (--region)")]
    assert query(node, "SELECT number_e164, number_flag FROM calls") == [("+13015550101", None)]
    bad = cli("node", "ingest", "--dir", node, path, "--region", "Mars")
    assert bad.code == 2 and "--region 'Mars'" in bad.err


def test_a_country_given_at_ingest_never_overrides_what_the_report_says(
        cli, node: Path, tmp_path: Path, query) -> None:
    r = cli("node", "ingest", "--dir", node,
            write_ufdr(tmp_path / "IPH-1.ufdr", old_us_report()), "--region", "GB")
    assert r.code == 0, r
    assert query(node, "SELECT region, region_source FROM devices") == [("US", "IMSI 310410…")]
