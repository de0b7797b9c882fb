"""One small scenario, generated once and shared by the scenario tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from federation import layout
from scenario.generate import ScenarioSummary, generate

FORCES = 4
PERSONS = 3000
SEED = 11


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ScenarioSummary]:
    out = tmp_path_factory.mktemp("scenario") / "out"
    summary = generate(out, forces=FORCES, persons_per_force=PERSONS, seed=SEED,
                       progress=False)
    return out, summary


def table_file(folder: Path, table: layout.Table) -> Path:
    found = [p for p in folder.iterdir() if layout.table_for_file(p.name) is table]
    assert len(found) == 1, f"{folder}: expected one file for {table.name}, found {found}"
    return found[0]


def relation(con: duckdb.DuckDBPyConnection, path: Path, table: layout.Table) -> str:
    """SQL that reads a layout file with its declared column types (a column ingest keeps
    raw, such as a date of birth, as text: the generator writes dirty values there)."""
    if path.suffix == ".parquet":
        return f"read_parquet('{path}')"
    cols = ", ".join(f"'{c.name}': '{'VARCHAR' if c.kept_raw else c.type}'"
                     for c in table.columns)
    return f"read_csv('{path}', header=true, columns={{{cols}}})"


class LayoutFiles:
    """The helpers above, handed to tests as a fixture (tests/ is not a package)."""
    table_file = staticmethod(table_file)
    relation = staticmethod(relation)


@pytest.fixture(scope="session")
def files() -> type[LayoutFiles]:
    return LayoutFiles


@pytest.fixture(scope="session")
def db(scenario: tuple[Path, ScenarioSummary]) -> duckdb.DuckDBPyConnection:
    """Every force's files as DuckDB views named <table>, with a `force` column; truth too.
    A column kept raw (a date of birth) is read as its declared type where it is one, the
    text as written in `<column>_raw`."""
    out, summary = scenario
    con = duckdb.connect()
    for t in layout.TABLES:
        parts = [f"SELECT '{f}' AS force, * FROM {relation(con, table_file(out / f, t), t)}"
                 for f in summary.forces]
        raw = [c.name for c in t.columns if c.kept_raw]
        select = "*" if not raw else (
            "* REPLACE (" + ", ".join(f"TRY_CAST({c} AS DATE) AS {c}" for c in raw) + "), "
            + ", ".join(f"CAST({c} AS VARCHAR) AS {c}_raw" for c in raw))
        con.execute(f"CREATE TABLE {t.name} AS SELECT {select} FROM ("
                    + " UNION ALL BY NAME ".join(parts) + ")")
    for name in ("persons", "networks", "cases"):
        con.execute(f"CREATE TABLE truth_{name} AS "
                    f"SELECT * FROM read_csv('{out / 'truth' / (name + '.csv')}')")
    return con
