"""Opening a store's DuckDB file, the one way both node and coordinator do it.

DuckDB lets one process write a database file at a time (DESIGN.md §12): a store has one
owner at a time. A command that finds the file locked waits briefly, then names the process
holding it — never a raw lock error. Migrations are numbered steps, each applied once in
its own transaction and recorded in the store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from federation.errors import CrossforceError

LOCK_WAIT_S = 5.0
_LOCK_HOLDER = re.compile(r"PID (\d+)")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def lock_holder(message: str) -> str:
    """'process 123 (crossforce node serve ...)' from DuckDB's lock error, if it says."""
    m = _LOCK_HOLDER.search(message)
    if not m:
        return "another process"
    pid = m.group(1)
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = ""
    return f"process {pid}" + (f" ({cmd[:120]})" if cmd else "")


def connect(path: Path, wait_s: float | None = None, *,
            owner_note: str = "") -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file in UTC, waiting up to ``wait_s`` for another process to let go."""
    deadline = time.monotonic() + (LOCK_WAIT_S if wait_s is None else wait_s)
    while True:
        try:
            con = duckdb.connect(str(path))
            con.execute("SET TimeZone = 'UTC'")  # stored times are UTC; offsets convert
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise CrossforceError(f"cannot open {path}: {exc}") from None
            if time.monotonic() >= deadline:
                note = f"; {owner_note}" if owner_note else ""
                raise CrossforceError(
                    f"{path} is in use by {lock_holder(str(exc))}{note}; wait for it to "
                    "finish (or stop it) and try again") from None
            time.sleep(0.2)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: commit if the block finishes, roll back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def migrate(con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration],
            table: str = "schema_migrations") -> int:
    """Apply the steps not yet applied, each in its own transaction; return the version."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} "
                "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    done = {v for (v,) in con.execute(f"SELECT version FROM {table}").fetchall()}
    for m in migrations:
        if m.version in done:
            continue
        with transaction(con):
            for sql in m.statements:
                con.execute(sql)
            con.execute(f"INSERT INTO {table} VALUES (?, ?, now()::TIMESTAMP)",
                        [m.version, m.name])
    return max(m.version for m in migrations)
