"""Dates of birth are never a reason to refuse a person (issue #11).

A data-quality problem in one field is not a bad file: the record is kept, the value as
written is kept in ``dob_raw``, the usable part goes to ``dob`` at ``dob_precision`` (day,
month or year), ``dob_flag`` says what was wrong, and the load report counts it. Names
written as "not stated" (NK, UNK, -, ...) are kept as written and counted too.
Other date columns (crimes.date_from, ...) stay strict.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

HEADER = "person_id,given_names,family_name,dob,dob_known\n"
# person, dob as written, dob_known, then what the store holds: dob, precision, flag
DIRTY = [
    ("P01", "1997-21-25", "", dt.date(1997, 1, 1), "year", "impossible"),  # month 21: year
    ("P02", "1950-19-05", "", dt.date(1950, 5, 19), "day", "day_month_swapped"),
    ("P03", "25/12/1985", "", dt.date(1985, 12, 25), "day", None),  # UK day-first: clean
    ("P04", "1985", "", dt.date(1985, 1, 1), "year", "year_only"),
    ("P05", "0000-00-00", "", None, None, "out_of_range"),
    ("P06", "1875-03-02", "", None, None, "out_of_range"),
    ("P07", "2999-01-01", "", None, None, "future"),
    ("P08", "2001-02-30", "", dt.date(2001, 2, 1), "month", "impossible"),  # day 30: month
    ("P09", "1985-03", "", dt.date(1985, 3, 1), "month", "month_only"),
    ("P10", "1990-01-01", "", dt.date(1990, 1, 1), "year", "jan1_padded"),
    ("P11", "NK", "", None, None, "not_stated"),
    ("P12", "19850302", "", dt.date(1985, 3, 2), "day", None),
    ("P13", "1985-03-02T10:00:00", "", dt.date(1985, 3, 2), "day", None),
    ("P14", "31.12.1999", "", dt.date(1999, 12, 31), "day", None),
    ("P15", "", "", None, None, None),  # blank: nothing to keep
    ("P16", "1988-07-14", "false", dt.date(1988, 7, 14), "day", "estimate"),
    ("P17", "sometime in the 1980s", "", None, None, "unparsed"),
]
NAMES = {"P05": ("Amir", "UNK"), "P06": ("-", "Khan"), "P11": ("NS", "N/K")}
DOB_COUNTS = {"not_stated": 1, "unparsed": 1, "out_of_range": 2, "future": 1,
              "impossible": 2, "day_month_swapped": 1, "year_only": 1, "month_only": 1,
              "jan1_padded": 1, "estimate": 1}


def dirty_csv() -> str:
    rows = [f"{p},{NAMES.get(p, ('Ann', 'Lee'))[0]},{NAMES.get(p, ('Ann', 'Lee'))[1]},"
            f"{raw},{known}" for p, raw, known, *_ in DIRTY]
    return HEADER + "\n".join(rows) + "\n"


def stored(query, node: Path) -> list[tuple]:
    return query(node, "SELECT person_id, dob_raw, dob, dob_precision, dob_flag FROM persons "
                       "ORDER BY person_id")


EXPECTED = [(p, raw or None, dob, precision, flag)
            for p, raw, _k, dob, precision, flag in DIRTY]


def test_every_dirty_date_of_birth_loads_kept_raw_with_precision_and_flag(
        cli, node: Path, write, query, status) -> None:
    r = cli("node", "ingest", "--dir", node, write("persons.csv", dirty_csv()))
    assert r.code == 0, r
    assert stored(query, node) == EXPECTED
    assert status(node)["tables"]["persons"] == len(DIRTY)  # every row kept
    assert status(node)["quarantined"] == 0
    # the report counts them, and says the raw value is kept
    assert ("persons.csv: loaded 17 rows (17 persons); 12 dates of birth imprecise or "
            "invalid (kept raw); 4 names not stated") in r.out


def test_the_json_report_counts_each_flag(cli, node: Path, write) -> None:
    r = cli("node", "ingest", "--dir", node, "--json", write("persons.csv", dirty_csv()))
    assert r.code == 0, r
    (report,) = json.loads(r.out)
    assert report["flags"] == {"dob": DOB_COUNTS, "given_names": {"not_stated": 2},
                               "family_name": {"not_stated": 2}}


def test_quarantine_has_nothing_to_do_with_dates_of_birth(cli, node: Path, write,
                                                          status) -> None:
    r = cli("node", "ingest", "--dir", node, "--quarantine", write("persons.csv", dirty_csv()))
    assert r.code == 0 and "quarantined" not in r.out
    assert status(node)["tables"]["persons"] == len(DIRTY)


@pytest.mark.parametrize("fmt", ["parquet", "json", "jsonl"])
def test_parquet_and_json_keep_dirty_dates_of_birth_like_csv(
        cli, node: Path, write, query, tmp_path: Path, fmt: str) -> None:
    csv = write("persons.csv", dirty_csv())
    other = tmp_path / "other" / f"persons.{fmt}"
    other.parent.mkdir()
    rel = f"read_csv('{csv}', header=true, all_varchar=true)"
    con = duckdb.connect()
    if fmt == "parquet":
        con.execute(f"COPY (SELECT * FROM {rel}) TO '{other}' (FORMAT parquet)")
    else:
        cols = [d[0] for d in con.execute(f"SELECT * FROM {rel} LIMIT 0").description]
        rows = [{k: v for k, v in zip(cols, r, strict=True) if v is not None}
                for r in con.execute(f"SELECT * FROM {rel}").fetchall()]
        other.write_text("\n".join(json.dumps(r) for r in rows) if fmt == "jsonl"
                         else json.dumps(rows))
    r = cli("node", "ingest", "--dir", node, other)
    assert r.code == 0, r
    assert stored(query, node) == EXPECTED
    assert "12 dates of birth imprecise or invalid (kept raw)" in r.out


def test_dates_written_in_words_are_read_like_normalise_date_reads_them(
        cli, node: Path, write, query) -> None:
    csv = HEADER + 'P1,A,B,"March 5, 1985",\nP2,C,D,5 Mar 1985,\nP3,E,F, 05/03/1985 ,\n'
    assert cli("node", "ingest", "--dir", node, write("persons.csv", csv)).code == 0
    assert stored(query, node) == [
        ("P1", "March 5, 1985", dt.date(1985, 3, 5), "day", None),
        ("P2", "5 Mar 1985", dt.date(1985, 3, 5), "day", None),
        ("P3", " 05/03/1985 ", dt.date(1985, 3, 5), "day", None)]  # raw: exactly as written


def test_a_parquet_date_column_is_read_as_its_iso_form(cli, node: Path, tmp_path: Path,
                                                       query) -> None:
    p = tmp_path / "persons.parquet"
    duckdb.connect().execute(
        "COPY (SELECT 'P1' AS person_id, 'A' AS given_names, 'B' AS family_name, "
        f"DATE '1990-02-03' AS dob) TO '{p}' (FORMAT parquet)")
    assert cli("node", "ingest", "--dir", node, p).code == 0
    assert stored(query, node) == [("P1", "1990-02-03", dt.date(1990, 2, 3), "day", None)]


def test_reloading_is_idempotent_and_a_changed_file_replaces_its_rows(
        cli, node: Path, write, query, status) -> None:
    p = write("persons.csv", dirty_csv())
    assert cli("node", "ingest", "--dir", node, p).code == 0
    again = cli("node", "ingest", "--dir", node, p)
    assert again.code == 0 and "unchanged" in again.out
    assert stored(query, node) == EXPECTED
    p.write_text(dirty_csv().replace("P04,Ann,Lee,1985,", "P04,Ann,Lee,1985-06-02,"))
    assert cli("node", "ingest", "--dir", node, p).code == 0
    assert status(node)["tables"]["persons"] == len(DIRTY)
    assert query(node, "SELECT dob_raw, dob, dob_precision, dob_flag FROM persons "
                       "WHERE person_id = 'P04'") == [
        ("1985-06-02", dt.date(1985, 6, 2), "day", None)]


def test_other_dates_stay_strict_and_name_file_line_and_field(cli, node: Path, write,
                                                              status) -> None:
    r = cli("node", "ingest", "--dir", node, write(
        "crimes.csv", "crime_id,ho_offence_code,date_from\nC1,88A,2020-01-01\n"
                      "C2,88A,2020-13-01\n"))
    assert r.code == 2
    assert "crimes.csv, line 3: field 'date_from': '2020-13-01' is not a valid date" in r.out
    assert status(node)["tables"]["crimes"] == 0


def test_a_store_from_before_migration_3_gets_its_dates_of_birth_marked(tmp_path: Path
                                                                         ) -> None:
    from federation.duckdb_files import migrate
    from node.migrations import MIGRATIONS

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    migrate(con, MIGRATIONS[:2])
    con.execute("INSERT INTO persons (person_id, dob, dob_known, source_file) VALUES "
                "('P1', '1990-02-03', true, 1), ('P2', '1980-01-01', true, 1), "
                "('P3', '1970-05-06', false, 1), ('P4', NULL, NULL, 1)")
    migrate(con, MIGRATIONS)
    assert con.execute("SELECT person_id, dob_raw, dob_precision, dob_flag FROM persons "
                       "ORDER BY 1").fetchall() == [
        ("P1", "1990-02-03", "day", None), ("P2", "1980-01-01", "year", "jan1_padded"),
        ("P3", "1970-05-06", "day", "estimate"), ("P4", None, None, None)]


def test_the_readme_table_of_written_dates_is_what_ingest_stores(cli, node: Path, write,
                                                                 query) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| `dob` as written |", 1)[1].split("\n\n", 1)[0]
    rows = [[c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            for line in table.splitlines()[2:]]
    assert len(rows) >= 10
    csv = HEADER + "".join(f"R{i:02},A,B,{raw},\n" for i, (raw, *_) in enumerate(rows))
    assert cli("node", "ingest", "--dir", node, write("persons.csv", csv)).code == 0
    got = query(node, "SELECT dob_raw, coalesce(dob::VARCHAR, ''), "
                      "coalesce(dob_precision, ''), coalesce(dob_flag, '') FROM persons "
                      "ORDER BY person_id")
    assert [list(r) for r in got] == rows


def test_node_status_shows_the_flags_of_each_file(cli, node: Path, write, status) -> None:
    cli("node", "ingest", "--dir", node, write("persons.csv", dirty_csv()))
    (f,) = status(node)["files"]
    assert f["flags"] == {"dob": DOB_COUNTS, "family_name": {"not_stated": 2},
                          "given_names": {"not_stated": 2}}
