"""What a node holds: rows per entity table, files loaded, quarantined rows, last load."""

from __future__ import annotations

from typing import Any

import duckdb

from node.migrations import DATA_TABLES
from node.normalise_columns import stored_flags
from node.store import NodeConfig

QUARANTINE_SHOWN = 100


def status(con: duckdb.DuckDBPyConnection, config: NodeConfig) -> dict[str, Any]:
    counts = con.execute(
        "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in DATA_TABLES)).fetchone()
    assert counts is not None
    files = con.execute(
        "SELECT path, sha256, layout, format, rows, unnormalised, quarantined, "
        "strftime(loaded_at, '%Y-%m-%dT%H:%M:%S'), replaces, file_id FROM source_files "
        "ORDER BY loaded_at, file_id").fetchall()
    quarantine = con.execute(
        "SELECT path, location, field, reason, raw_row FROM quarantine "
        f"ORDER BY file_id, rowid LIMIT {QUARANTINE_SHOWN}").fetchall()
    (n_quarantined,) = con.execute("SELECT count(*) FROM quarantine").fetchone() or (0,)
    flags = stored_flags(con)  # data-quality flags on kept persons, per file
    (version,) = con.execute("SELECT max(version) FROM schema_migrations").fetchone() or (0,)
    return {
        "force": config.force,
        "dir": str(config.dir),
        "schema_version": version,
        "tables": dict(zip(DATA_TABLES, (int(c) for c in counts), strict=True)),
        "files": [dict(zip(("path", "sha256", "layout", "format", "rows", "unnormalised",
                            "quarantined", "loaded_at", "replaces"), f[:9], strict=True))
                  | {"flags": flags.get(int(f[9]), {})} for f in files],
        "quarantined": int(n_quarantined),
        "quarantine": [dict(zip(("path", "location", "field", "reason", "raw_row"), q,
                                strict=True)) for q in quarantine],
        "last_load": files[-1][7] if files else None,
    }
