"""Hand-built nodes for the handovers and network analyses (written for these tests)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEVICE_COLUMNS = "device_id,person_id,imei,owner_number,timezone,region\n"
CALL_COLUMNS = "device_id,call_id,timestamp_utc,direction,number,duration_s\n"


def load(cli: Callable[..., Any], node: Path, write: Callable[..., Path],
         tables: dict[str, str]) -> None:
    """Write each table as CSV into a fresh folder and ingest it into ``node``."""
    folder = None
    for name, text in tables.items():
        folder = write(f"{name}.csv", text).parent
    r = cli("node", "ingest", "--dir", node, folder)
    assert r.code == 0, r


def calls(rows: list[tuple[str, dt.datetime, str, str]]) -> str:
    """(device, when, direction, number) → calls.csv text (60 s each)."""
    return CALL_COLUMNS + "".join(f"{d},C{i},{t:%Y-%m-%d %H:%M:%S},{way},{num},60\n"
                                  for i, (d, t, way, num) in enumerate(rows, 1))


def days(first: int, last: int, hour: int, month: int = 1) -> list[dt.datetime]:
    """One moment a day, at ``hour``, from day ``first`` to ``last`` of 2023's ``month``."""
    return [dt.datetime(2023, month, d, hour) for d in range(first, last + 1)]


def analyse(cli: Callable[..., Any], node: Path, name: str, *args: object) -> dict[str, Any]:
    r = cli("node", "analyse", name, "--dir", node, *args, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


def refused(cli: Callable[..., Any], node: Path, name: str, *args: object) -> str:
    """Run an analysis that must refuse: exit 2 and one ``error:`` line, returned."""
    r = cli("node", "analyse", name, "--dir", node, *args)
    assert r.code == 2, r
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r
    return r.err


def only_the_ledger_grows(cli: Callable[..., Any], query: Callable[..., Any], node: Path,
                          name: str, *args: object) -> tuple[str, str]:
    """Run an analysis; every table but the ledger is as it was, the ledger has one entry
    more. Returns that entry's (action, purpose)."""
    def counts() -> dict[str, int]:
        names = [t for (t,) in query(node, "SELECT table_name FROM duckdb_tables() "
                                           "WHERE NOT temporary ORDER BY 1")]
        return {t: query(node, f'SELECT count(*) FROM "{t}"')[0][0] for t in names}

    before = counts()
    analyse(cli, node, name, *args)
    after = counts()
    assert after.pop("ledger") == before.pop("ledger") + 1
    assert after == before
    return query(node, "SELECT action, purpose FROM ledger ORDER BY seq DESC LIMIT 1")[0]
