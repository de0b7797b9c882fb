"""The scratch database an extraction is read into before it is checked and stored.

Rows read inside the store's transaction stay in memory until that transaction ends:
DuckDB keeps the Arrow batches appended to a table in an open transaction alive, and a
temp table's uncommitted rows with them, so a 1 GB report needed 2 GB of memory whatever
``memory_limit`` said (bench/RESULTS.md, 2026-12-02). The reader therefore writes into a
DuckDB file of its own, beside the store (the node's data never leaves its folder),
committing batch by batch on its own connection, so DuckDB can leave the rows on disk;
times, chat ids and message languages are finished there too, a committed step at a time
(``load``). The store's transaction then attaches that file read-only and stages from it,
as from any source. The store is written only inside its own transaction, so a load that fails half
way still leaves it as it was; the scratch file is removed either way.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb

#: the name the store's connection attaches the scratch file under
DB = "extraction_scratch"
#: DuckDB's memory while the reader appends (and two UPDATEs run): the rows go to disk
WRITER_MEMORY = "64MB"
_SEQ = itertools.count()


class Scratch:
    """One extraction's scratch file, beside the store ``con`` is connected to."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        store = con.execute("SELECT path FROM duckdb_databases() "
                            "WHERE database_name = current_database()").fetchall()[0][0]
        if not store:  # an in-memory store (tests): a temporary file of the process
            import tempfile

            store = str(Path(tempfile.gettempdir()) / "crossforce-memory-store")
        self.path = Path(f"{store}.extraction-{os.getpid()}-{next(_SEQ)}.duckdb")
        self.attached_to: duckdb.DuckDBPyConnection | None = None
        _sweep(Path(store))

    @contextlib.contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own to the scratch file (every statement commits on its
        own), closed on leaving so the store's connection can attach the file."""
        self.remove_files()
        sc = duckdb.connect(str(self.path), config={"memory_limit": WRITER_MEMORY})
        try:
            yield sc
            sc.execute("CHECKPOINT")  # updates written out, the WAL folded in
        finally:
            sc.close()

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Attach the scratch file read-only to the store's connection (inside its
        transaction; a rollback detaches it)."""
        con.execute(f"ATTACH {_literal(str(self.path))} AS {DB} (READ_ONLY)")
        self.attached_to = con

    def remove(self) -> None:
        """Detach (when attached) and delete the scratch file."""
        if self.attached_to is not None:
            with contextlib.suppress(duckdb.Error):  # an aborted transaction: rollback does it
                self.attached_to.execute(f"DETACH DATABASE IF EXISTS {DB}")
            self.attached_to = None
        self.remove_files()

    def remove_files(self) -> None:
        for p in (self.path, Path(f"{self.path}.wal"), Path(f"{self.path}.tmp")):
            _delete(p)


def _sweep(store: Path) -> None:
    """Remove the scratch files of loads whose process died (kill -9, power cut)."""
    prefix = f"{store.name}.extraction-"
    for p in store.parent.glob(f"{prefix}*"):
        pid = p.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            _delete(p)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete(p: Path) -> None:
    if p.is_dir():
        import shutil

        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
