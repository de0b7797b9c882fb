"""Bad input: each case names file, line (or element) and field, and loads nothing of the file.

With --quarantine the good rows load and each bad row is kept, with its reason, in the
quarantine table that `node status` lists.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import duckdb
import pytest
from node_data import CRIMES_CSV, DEVICES_CSV, PERSONS_CSV, ufdr_xml

EMPTY = {"persons": 0, "crimes": 0, "roles": 0, "identifiers": 0, "addresses": 0,
         "vehicles": 0, "intel": 0, "intel_links": 0, "devices": 0, "calls": 0,
         "messages": 0, "contacts": 0, "event_parties": 0, "chats": 0,
         "device_locations": 0, "device_accounts": 0, "sim_data": 0}

# (case, file name, content, words the error must contain)
CSV_CASES = [
    ("misspelt column", "persons.csv", "persn_id,given_names,family_name\nP1,A,B\n",
     ["persons.csv", "header", "persn_id", "did you mean 'person_id'"]),
    ("missing column", "crimes.csv", "crime_id,date_from\nC1,2020-01-01\n",
     ["crimes.csv", "header", "required column 'ho_offence_code' is missing"]),
    ("wrong type", "persons.csv",
     "person_id,given_names,family_name,age_min\nP1,A,B,12\nP2,C,D,twelve\n",
     ["persons.csv", "line 3", "age_min", "'twelve' is not a valid INTEGER"]),
    # (a date of birth is never refused: it is kept raw and flagged, see test_node_dob.py)
    ("impossible date", "crimes.csv",
     "crime_id,ho_offence_code,date_from\nC2,88A,2020-01-01\nC3,88A,2020-02-30\n",
     ["crimes.csv", "line 3", "date_from", "2020-02-30", "impossible"]),
    ("date out of range", "crimes.csv",
     "crime_id,ho_offence_code,date_from\nC2,88A,1875-03-02\n",
     ["crimes.csv", "line 2", "date_from", "year out of range"]),
    ("dates running backwards", "crimes.csv",
     "crime_id,ho_offence_code,date_from,date_to\nC1,88A,2020-05-01,2020-04-01\n",
     ["crimes.csv", "line 2", "date_to", "before date_from"]),
    ("value not allowed", "persons.csv",
     "person_id,given_names,family_name,sex\nP1,A,B,male\n",
     ["persons.csv", "line 2", "sex", "'male' is not allowed", "M, F, X, U"]),
    ("invalid UTF-8", "persons.csv",
     b"person_id,given_names,family_name\nP1,A,B\nP2,\xff\xfeC,D\n",
     ["persons.csv", "line 3", "given_names", "invalid UTF-8"]),
    ("duplicate id", "persons.csv",
     "person_id,given_names,family_name\nP1,A,B\nP2,C,D\nP1,E,F\n",
     ["persons.csv", "line 4", "person_id", "duplicate id 'P1'", "first at line 2"]),
    ("unknown person", "roles.csv", "crime_id,person_id,role\nC1,P1,suspect\nC1,P99,victim\n",
     ["roles.csv", "line 3", "person_id", "unknown person 'P99'"]),
    ("unknown crime", "roles.csv", "crime_id,person_id,role\nC7,P1,suspect\n",
     ["roles.csv", "line 2", "crime_id", "unknown crime 'C7'"]),
    ("unknown device", "calls.csv",
     "device_id,call_id,timestamp_utc,direction,number\nD9,1,2023-01-01 10:00:00,incoming,1\n",
     ["calls.csv", "line 2", "device_id", "unknown device 'D9'"]),
    ("ragged row", "persons.csv", "person_id,given_names,family_name\nP1,A\n",
     ["persons.csv", "line 2", "fewer fields"]),
    ("empty file", "persons.csv", "", ["persons.csv", "empty file"]),
    ("unknown layout", "persns.csv", "person_id\nP1\n",
     ["persns.csv", "unknown layout", "did you mean 'persons.csv'"]),
]


@pytest.fixture
def seeded(cli, node: Path, tmp_path: Path) -> Path:
    """A node holding P1 and C1, so references have something to resolve against."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "persons.csv").write_text("person_id,given_names,family_name\nP1,A,B\n")
    (base / "crimes.csv").write_text(CRIMES_CSV)
    assert cli("node", "ingest", "--dir", node, base).code == 0
    return node


def _tables_and_files(status, node: Path) -> tuple[dict[str, int], int]:
    s = status(node)
    return s["tables"], len(s["files"])


@pytest.mark.parametrize(("case", "name", "content", "words"), CSV_CASES,
                         ids=[c[0] for c in CSV_CASES])
def test_bad_file_is_rejected_whole_with_a_precise_error(cli, seeded: Path, write, status,
                                                         case, name, content, words) -> None:
    before = _tables_and_files(status, seeded)
    r = cli("node", "ingest", "--dir", seeded, write(name, content))
    assert r.code == 2, r
    text = r.out + r.err
    for w in words:
        assert w in text, (case, w, text)
    assert "Traceback" not in text
    assert _tables_and_files(status, seeded) == before


def test_several_problems_are_all_named(cli, seeded: Path, write) -> None:
    r = cli("node", "ingest", "--dir", seeded, write(
        "persons.csv", "person_id,given_names,family_name,sex,age_min\nP2,A,B,Q,\n"
                       "P3,C,D,M,ten\nP3,E,F,M,\n"))
    assert "line 2: field 'sex'" in r.out and "line 3: field 'age_min'" in r.out
    assert "line 4: field 'person_id'" not in r.out  # line 3 never made it past the reader


def test_json_with_invalid_utf8_names_the_line(cli, node: Path, write, status) -> None:
    r = cli("node", "ingest", "--dir", node, write(
        "persons.jsonl", b'{"person_id": "P1", "given_names": "A", "family_name": "B"}\n'
                         b'{"person_id": "P2", "given_names": "\xff", "family_name": "B"}\n'))
    assert r.code == 2 and "persons.jsonl, line 2: invalid UTF-8" in r.err
    assert status(node)["tables"] == EMPTY


def test_json_wrong_type_names_the_record_and_field(cli, node: Path, write) -> None:
    rows = [{"person_id": "P1", "given_names": "A", "family_name": "B", "age_min": 4},
            {"person_id": "P2", "given_names": "A", "family_name": "B", "age_min": "old"}]
    r = cli("node", "ingest", "--dir", node, write("persons.json", json.dumps(rows)))
    assert r.code == 2 and "persons.json, record 2: field 'age_min'" in r.out


def test_parquet_wrong_type_names_the_row_and_field(cli, node: Path, tmp_path: Path) -> None:
    p = tmp_path / "persons.parquet"
    duckdb.connect().execute(
        "COPY (SELECT * FROM (VALUES ('P1','A','B','4'), ('P2','C','D','not a number'))"
        " t(person_id, given_names, family_name, age_min)) TO '" + str(p) + "' (FORMAT parquet)")
    r = cli("node", "ingest", "--dir", node, p)
    assert r.code == 2 and "persons.parquet, row 2: field 'age_min'" in r.out


def test_a_truncated_ufdr_is_rejected(cli, node: Path, make_ufdr, status) -> None:
    good = make_ufdr()
    cut = good.with_name("EXH-002.ufdr")
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    r = cli("node", "ingest", "--dir", node, cut)
    assert r.code == 2 and "EXH-002.ufdr" in r.err and "ZIP" in r.err
    assert status(node)["tables"] == EMPTY


def test_a_ufdr_with_truncated_xml_names_the_line(cli, node: Path, make_ufdr, status) -> None:
    xml = ufdr_xml([], [], [])
    p = make_ufdr("EXH-003.ufdr", xml=xml[: len(xml) - 40])
    r = cli("node", "ingest", "--dir", node, p)
    assert r.code == 2 and "report.xml line" in r.err and "truncated XML" in r.err
    assert status(node)["tables"] == EMPTY


def test_a_zip_without_report_xml_is_rejected(cli, node: Path, tmp_path: Path) -> None:
    p = tmp_path / "EXH-004.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("notes.txt", "hello")
    r = cli("node", "ingest", "--dir", node, p)
    assert r.code == 2 and "no report.xml inside" in r.err


def test_a_ufdr_time_no_form_reads_keeps_its_call_raw_and_flagged(cli, node: Path, make_ufdr,
                                                                  query) -> None:
    """A data-quality problem in one field is not a bad file: the call is evidence."""
    p = make_ufdr(calls=[{"id": "c9", "direction": "Incoming", "number": "07700900123",
                          "time": "yesterday-ish"}], messages=[], contacts=[])
    r = cli("node", "ingest", "--dir", node, p, "--json")
    assert r.code == 0, r
    assert json.loads(r.out)[0]["flags"]["time"] == {"unparsed": 1}
    assert query(node, "SELECT call_id, timestamp_utc, timestamp_raw, time_flag, direction "
                       "FROM calls") == [("c9", None, "yesterday-ish", "unparsed", "incoming")]


def test_quarantine_loads_good_rows_and_keeps_bad_ones_with_reasons(
        cli, seeded: Path, write, status, query) -> None:
    content = ("person_id,given_names,family_name,age_min\n"
               "P2,A,B,1\n"            # line 2 good
               "P3,C,D,many\n"         # line 3 wrong type (dropped by the CSV reader)
               "P4,E,F,2\n"            # line 4 good
               "P1,G,H,3\n"            # line 5 clashes with P1 already loaded
               "P5,I,J,\n")            # line 6 good
    r = cli("node", "ingest", "--dir", seeded, "--quarantine", write("persons.csv", content))
    assert r.code == 0, r
    assert "2 bad rows quarantined" in r.out
    s = status(seeded)
    assert s["tables"]["persons"] == 4  # P1 from before + P2, P4, P5
    assert s["quarantined"] == 2
    got = sorted((q["location"], q["field"]) for q in s["quarantine"])
    assert got == [("line 3", "age_min"), ("line 5", "person_id")]
    raws = " ".join(q["raw_row"] for q in s["quarantine"])
    assert "many" in raws and "G" in raws
    assert query(seeded, "SELECT count(*) FROM persons WHERE person_id = 'P3'") == [(0,)]
    human = cli("node", "status", "--dir", seeded)
    assert "quarantined rows (2)" in human.out


def test_quarantine_of_rows_after_a_dropped_row_keeps_true_line_numbers(
        cli, seeded: Path, write, status) -> None:
    content = ("crime_id,person_id,role\n"
               "C1,P1,suspect\n"     # 2 good
               "C1,P1\n"             # 3 ragged (dropped by the reader)
               "C1,P1,victim\n"      # 4 good
               "C1,P77,witness\n")   # 5 unknown person
    write("persons.csv", "person_id,given_names,family_name\nP1,A,B\n")
    r = cli("node", "ingest", "--dir", seeded, "--quarantine", write("roles.csv", content))
    assert r.code == 0, r
    locs = sorted(q["location"] for q in status(seeded)["quarantine"])
    assert locs == ["line 3", "line 5"]


def test_quarantine_still_rejects_a_file_with_a_bad_header(cli, node: Path, write,
                                                           status) -> None:
    r = cli("node", "ingest", "--dir", node, "--quarantine",
            write("persons.csv", "person,given_names,family_name\nP1,A,B\n"))
    assert r.code == 2 and status(node)["tables"] == EMPTY


def test_a_rejected_file_does_not_stop_the_others(cli, node: Path, write, status) -> None:
    write("persons.csv", PERSONS_CSV)
    folder = write("devices.csv", DEVICES_CSV.replace("P1", "P404")).parent
    r = cli("node", "ingest", "--dir", node, folder)
    assert r.code == 2 and "1 file(s) rejected" in r.err and "devices.csv" in r.err
    assert status(node)["tables"]["persons"] == 3
    assert status(node)["tables"]["devices"] == 0


@pytest.mark.parametrize(("name", "content"), [
    ("persons.parquet", b"PAR1 this is not really parquet"),
    ("persons.json", b'[{"person_id": "P1", "given_names": '),
    ("persons.csv", b'person_id,given_names,family_name\nP1,"unterminated,B\n'),
])
def test_a_corrupt_file_is_rejected_with_its_name(cli, node: Path, write, status, name,
                                                   content) -> None:
    r = cli("node", "ingest", "--dir", node, write(name, content))
    assert r.code == 2 and name in r.err and "Traceback" not in r.err + r.out
    assert status(node)["tables"] == EMPTY
