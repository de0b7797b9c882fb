"""The checks on a calls file, at the edges the cheaper SQL must keep: a time's year is read
in UTC (its written offset applied), a repeated (device, call) pair is named with both
lines, and a time lands in the store as the UTC instant it was written as."""

from __future__ import annotations

from pathlib import Path

from node.ingest import ingest
from node.store import open_store

DEVICES = "device_id,region\nD1,GB\nD2,GB\n"
HEADER = "device_id,call_id,timestamp_utc,direction,number\n"


def _load(node: Path, write, calls: str):  # noqa: ANN202
    with open_store(node) as (config, con):
        devices, report = ingest(con, config, [write("devices.csv", DEVICES),
                                               write("calls.csv", HEADER + calls)])
        stored = con.execute("SELECT call_id, timestamp_utc::VARCHAR FROM calls "
                             "ORDER BY call_id").fetchall()
    assert devices.status == "loaded", devices
    return report, stored


def test_the_years_1880_to_2100_are_read_in_utc(node: Path, write) -> None:
    report, stored = _load(node, write,
                           "D1,1,2100-12-31 23:59:59,incoming,07700 900123\n"
                           "D1,2,2101-01-01 00:30:00+01:00,incoming,07700 900123\n"
                           "D1,3,1879-12-31 23:30:00-01:00,outgoing,07700 900123\n"
                           "D1,4,1880-01-01 00:00:00,outgoing,07700 900123\n"
                           "D1,5,2023-06-01 10:00:00+01:00,missed,07700 900123\n")
    assert report.status == "loaded", report
    assert stored == [("1", "2100-12-31 23:59:59"), ("2", "2100-12-31 23:30:00"),
                      ("3", "1880-01-01 00:30:00"), ("4", "1880-01-01 00:00:00"),
                      ("5", "2023-06-01 09:00:00")]


def test_a_time_outside_those_years_refuses_the_file_naming_line_and_field(
        node: Path, write) -> None:
    report, stored = _load(node, write,
                           "D1,1,2023-01-01 10:00:00,incoming,07700 900123\n"
                           "D1,2,2101-01-01 00:00:00,incoming,07700 900123\n"
                           "D1,3,1879-12-31 23:59:59,incoming,07700 900123\n"
                           "D1,4,2101-01-01 00:30:00-01:00,incoming,07700 900123\n")
    assert report.status == "rejected" and stored == []
    assert [e.split(": field ")[0].rsplit(", ", 1)[1] for e in report.errors] == [
        "line 3", "line 4", "line 5"]
    assert all("'timestamp_utc'" in e and "year out of range" in e for e in report.errors)


def test_a_repeated_device_and_call_id_names_both_lines(node: Path, write) -> None:
    report, stored = _load(node, write,
                           "D1,1,2023-01-01 10:00:00,incoming,07700 900123\n"
                           "D2,1,2023-01-01 10:00:00,incoming,07700 900123\n"
                           "D1,2,2023-01-01 10:00:00,incoming,07700 900123\n"
                           "D1,1,2023-01-02 10:00:00,outgoing,07700 900124\n")
    assert report.status == "rejected" and stored == []
    assert len(report.errors) == 1
    assert "line 5" in report.errors[0] and "duplicate id ('D1', '1')" in report.errors[0]
    assert "first at line 2" in report.errors[0]
