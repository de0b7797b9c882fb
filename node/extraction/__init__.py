"""Seized-phone extractions as the tools write them (DOMAIN.md §4; issue #21).

Each tool's reader (``cellebrite``: UFDR reports of every version; ``axiom``: Magnet AXIOM
XML reports) streams its file into the same temp tables (``rows``), sharing the device
state of ``device``; ``load`` finishes them —
times placed in the device's time zone, numbers read in the device's country
(``region``), every party's identifier by kind (``parties``) — and ingest stages and checks
the layout tables as for any file. ``bounded`` keeps a hostile file from expanding without
limit. ``read_extraction`` picks the reader from the file.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from federation.errors import CrossforceError
from node.extraction.rows import Rows

#: file ending → the layout name ingest records for an extraction of that kind
LAYOUTS = {".ufdr": "ufdr", ".zip": "ufdr", ".xml": "axiom"}
#: file endings ingest treats as extractions
ENDINGS = tuple(LAYOUTS)


def layout_of(path: Path) -> str | None:
    """'ufdr' (Cellebrite), 'axiom' (Magnet AXIOM XML report), or None: no extraction."""
    return LAYOUTS.get(path.suffix.lower())


#: DuckDB's memory while an extraction loads (the rest spills to the store's temp folder),
#: so a report of any size loads in bounded memory; CROSSFORCE_INGEST_MEMORY overrides it.
#: Small on purpose: the rows wait in a scratch file on disk (``scratch``), so what DuckDB
#: holds at once is staging and joins, and spilling those costs little (bench_extraction)
INGEST_MEMORY = "256MB"


def ingest_memory() -> str:
    """DuckDB's memory limit while an extraction loads (``CROSSFORCE_INGEST_MEMORY``)."""
    limit = os.environ.get("CROSSFORCE_INGEST_MEMORY", INGEST_MEMORY).strip().replace(" ", "")
    if not re.fullmatch(r"\d+(\.\d+)?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", limit, re.IGNORECASE):
        raise CrossforceError(f"CROSSFORCE_INGEST_MEMORY={limit!r}: write a size such as "
                              "1GB or 512MB")
    return limit


@contextlib.contextmanager
def bounded_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Cap DuckDB's memory for the load (an extraction's rows can outgrow RAM), then
    restore the store's setting."""
    limit = ingest_memory()
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{before}'")


def read_extraction(con: duckdb.DuckDBPyConnection, path: Path, device_id: str,
                    temp: bool = True) -> dict[str, str | None]:
    """Stream ``path`` into the ``x_<table>`` tables (temp tables, or with ``temp=False``
    the tables of the scratch file ``con`` is connected to) with its tool's reader (a ZIP
    holding report.xml: Cellebrite; an XML file with ``<Artifact name=...>``: Magnet
    AXIOM); returns the device row."""
    rows = Rows(con, temp)
    if layout_of(path) == "axiom":
        from node.extraction.axiom import is_axiom_report, read_axiom

        if not is_axiom_report(path):
            raise CrossforceError(
                f"{path}: not a Magnet AXIOM XML report (no <Artifact name=...> element in "
                "its first megabyte); .xml extractions must be AXIOM XML reports")
        return read_axiom(rows, path, device_id).device
    from node.extraction.cellebrite import read_ufdr

    return read_ufdr(rows, path, device_id).device
