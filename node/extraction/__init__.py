"""Seized-phone extractions as the tools write them (DOMAIN.md §4; issue #21).

Each tool's reader (``cellebrite``: UFDR reports of every version; ``xry``: MSAB XRY XML
exports) streams its file into the same temp tables (``rows``); ``load`` finishes them —
times placed in the device's time zone, numbers read in the device's country
(``region``), every party's identifier by kind (``parties``) — and ingest stages and checks
the layout tables as for any file. ``bounded`` keeps a hostile file from expanding without
limit. ``read_extraction`` picks the reader from the file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from node.extraction.rows import Rows

#: file endings ingest treats as extractions
ENDINGS = (".ufdr", ".zip")


def read_extraction(con: duckdb.DuckDBPyConnection, path: Path, device_id: str
                    ) -> dict[str, str | None]:
    """Stream ``path`` into the ``x_<table>`` temp tables; returns the device row."""
    from node.extraction.cellebrite import read_ufdr

    rows = Rows(con)
    report = read_ufdr(rows, path, device_id)
    return report.device
