"""Every generated file follows federation/layout.py, the contract node ingest loads."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from federation import layout
from scenario.generate import ScenarioSummary


def test_each_force_folder_has_one_file_per_layout_table(scenario):
    out, summary = scenario
    assert sorted(p.name for p in out.iterdir()) == sorted([*summary.forces, "truth"])
    for force in summary.forces:
        assert {layout.table_for_file(p.name) for p in (out / force).iterdir()} == \
            set(layout.TABLES)


def test_large_tables_are_parquet_and_small_ones_csv(scenario, files):
    out, summary = scenario
    folder = out / summary.forces[0]
    assert files.table_file(folder, layout.CALLS).suffix == ".parquet"
    assert files.table_file(folder, layout.MESSAGES).suffix == ".parquet"
    assert files.table_file(folder, layout.PERSONS).suffix == ".csv"


@pytest.mark.parametrize("table", layout.TABLES, ids=lambda t: t.name)
def test_columns_and_types_are_as_declared(scenario, files, table: layout.Table):
    out, summary = scenario
    con = duckdb.connect()
    for force in summary.forces:
        path = files.table_file(out / force, table)
        rel = con.sql(f"SELECT * FROM {files.relation(con, path, table)}")
        assert rel.columns == [c.name for c in table.columns], path
        declared = ["VARCHAR" if c.kept_raw else c.type for c in table.columns]
        got = [str(t) for t in rel.types]
        assert got == [("TIMESTAMP" if d == "TIMESTAMP" else d) for d in declared], path


@pytest.mark.parametrize("table", layout.TABLES, ids=lambda t: t.name)
def test_required_values_choices_keys_and_references_hold(db, table: layout.Table):
    for c in table.columns:
        if c.required:
            nulls = db.execute(f"SELECT count(*) FROM {table.name} WHERE {c.name} IS NULL"
                               ).fetchone()[0]
            assert nulls == 0, f"{table.name}.{c.name} has {nulls} blanks"
        if c.choices:
            bad = db.execute(f"SELECT DISTINCT {c.name} FROM {table.name} WHERE {c.name} "
                             f"IS NOT NULL AND {c.name} NOT IN ?", [list(c.choices)]).fetchall()
            assert bad == [], f"{table.name}.{c.name} outside {c.choices}: {bad}"
    key = ", ".join(("force", *table.key))
    dupes = db.execute(f"SELECT count(*) FROM (SELECT {key} FROM {table.name} GROUP BY ALL "
                       f"HAVING count(*) > 1)").fetchone()[0]
    assert dupes == 0, f"{table.name}: {dupes} duplicate keys {table.key}"
    for col, other, other_col in table.references:
        dangling = db.execute(
            f"SELECT count(*) FROM {table.name} a WHERE a.{col} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {other} b WHERE b.force = a.force AND b.{other_col} = a.{col})"
        ).fetchone()[0]
        assert dangling == 0, f"{table.name}.{col}: {dangling} rows point nowhere in {other}"


def test_counts_in_summary_and_truth_match_the_files(scenario, db):
    out, summary = scenario
    assert json.loads((out / "truth" / "counts.json").read_text()) == summary.counts
    for t in layout.TABLES:
        got = dict(db.execute(f"SELECT force, count(*) FROM {t.name} GROUP BY force").fetchall())
        assert got == {f: summary.counts[f][t.name] for f in summary.forces if
                       summary.counts[f][t.name]}, t.name


def test_person_ids_are_force_prefixed_and_unique(db):
    rows = db.execute("SELECT force, min(person_id), count(DISTINCT person_id), count(*) "
                      "FROM persons GROUP BY force").fetchall()
    prefixes = {"west-yorkshire": "WYP-P", "greater-manchester": "GMP-P"}
    for force, first, distinct, total in rows:
        assert distinct == total
        if force in prefixes:
            assert first.startswith(prefixes[force])


def test_scenario_json_records_the_arguments(scenario):
    out, summary = scenario
    meta = json.loads((out / "truth" / "scenario.json").read_text())
    assert meta["seed"] == 11 and meta["forces"] == 4 and meta["persons_per_force"] == 3000
    assert meta["force_slugs"] == summary.forces
    assert isinstance(summary, ScenarioSummary) and isinstance(out, Path)
