"""The coordinator on disk: ``DIR/coordinator.duckdb`` and ``DIR/keys/``.

What the store may hold is the privacy contract (DESIGN.md §1): force names, opaque
16-byte references and tokens, policy-allowed attributes, pseudonymous links,
disclosure-controlled aggregates and submission metadata — no raw value and no key that
could make or reverse a token. The keys folder holds only the coordinator's own signing
key (its ledger) and encryption key (nodes may encrypt payloads to it).

DuckDB lets one process write a file at a time (DESIGN.md §12): a CLI command opens the
store for one operation and closes it; the coordinator service holds it while it runs. A
store held by another process is waited for briefly, then named with the holder's PID.

The schema is versioned: numbered steps in ``MIGRATIONS``, each applied once, never
edited once released — a new column is a new step.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from coordinator.schema import ENTITIES_DDL
from federation.errors import CrossforceError
from federation.keys import NodeKeys
from federation.ledger import Ledger

STORE_FILE = "coordinator.duckdb"
KEYS_DIR = "keys"
OWNER = "coordinator"
LOCK_WAIT_S = 5.0
_LOCK_HOLDER = re.compile(r"PID (\d+)")

#: Tables holding submitted content (removed with their submission when superseded).
CONTENT_TABLES: tuple[str, ...] = ("items", "item_attributes", "tokens", "links", "aggregates")
#: Tables whose row counts `status` reports (and tests compare before/after a rejection).
COUNTED_TABLES: tuple[str, ...] = (
    "submissions", "seen_payloads", *CONTENT_TABLES, "entities", "person_links",
    "networks", "network_members", "forces", "ledger")

_BOOKKEEPING = """CREATE TABLE IF NOT EXISTS store_migrations (
    version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"""

_V1 = [
    # registry: who may submit, under which key epochs
    """CREATE TABLE forces (
        force          VARCHAR PRIMARY KEY,
        public_key     BLOB    NOT NULL,   -- raw 32-byte Ed25519 public key
        fingerprint    VARCHAR NOT NULL,
        epochs         INTEGER[] NOT NULL, -- key epochs accepted from this force
        registered_at  TIMESTAMP NOT NULL,
        updated_at     TIMESTAMP NOT NULL)""",
    # one row per accepted payload (metadata only)
    """CREATE TABLE submissions (
        payload_id     VARCHAR PRIMARY KEY,
        force          VARCHAR NOT NULL,
        purpose        VARCHAR NOT NULL,
        epoch          INTEGER NOT NULL,
        policy_hash    VARCHAR NOT NULL,
        content_hash   VARCHAR NOT NULL,   -- SHA-256 of the plaintext body (= node's ledger)
        signer         VARCHAR NOT NULL,   -- fingerprint of the signing key
        created_at     VARCHAR NOT NULL,   -- as the node stamped it (UTC ISO 8601)
        received_at    TIMESTAMP NOT NULL,
        via            VARCHAR NOT NULL,   -- file | flower
        size_bytes     BIGINT NOT NULL,
        encrypted      BOOLEAN NOT NULL,
        n_items        BIGINT NOT NULL,
        n_tokens       BIGINT NOT NULL,
        n_links        BIGINT NOT NULL,
        n_aggregates   BIGINT NOT NULL,
        superseded_by  VARCHAR)            -- a later payload for the same force and purpose""",
    """CREATE TABLE IF NOT EXISTS seen_payloads (payload_id VARCHAR PRIMARY KEY,
        force VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL)""",
    # content, in the column layout linkage (schema.py) and the graph (graph.py) read,
    # plus the payload each row came in (so a later payload can supersede it)
    """CREATE TABLE items (
        force      VARCHAR NOT NULL,  -- sending force
        ref        BLOB    NOT NULL,  -- opaque 16-byte reference, random per node/purpose/epoch
        kind       VARCHAR NOT NULL,  -- person, phone, email, handle, vrm, imei
        role       VARCHAR,           -- suspect, victim, ... (policy-allowed only)
        match_only BOOLEAN NOT NULL DEFAULT false,  -- victim: matched, never shown
        payload_id VARCHAR NOT NULL)""",
    """CREATE TABLE item_attributes (   -- policy-allowed attribute columns, long form
        force VARCHAR NOT NULL, ref BLOB NOT NULL, name VARCHAR NOT NULL, value VARCHAR,
        payload_id VARCHAR NOT NULL)""",
    """CREATE TABLE tokens (
        force      VARCHAR NOT NULL,
        ref        BLOB    NOT NULL,
        token_kind VARCHAR NOT NULL,  -- 'phone', 'email', ..., 'mk:<match key name>'
        token      BLOB    NOT NULL,  -- 16-byte keyed token; the coordinator holds no key
        payload_id VARCHAR NOT NULL)""",
    """CREATE TABLE links (
        force      VARCHAR NOT NULL,
        ref_a      BLOB    NOT NULL,
        ref_b      BLOB    NOT NULL,
        kind       VARCHAR NOT NULL,  -- person_identifier, co_suspect, communication, ...
        weight     INTEGER,           -- bucketed count
        first_seen DATE,
        last_seen  DATE,
        payload_id VARCHAR NOT NULL)""",
    """CREATE TABLE aggregates (
        force VARCHAR NOT NULL, name VARCHAR NOT NULL,
        cell  VARCHAR NOT NULL,             -- JSON object of dimension values
        count BIGINT,                       -- NULL: suppressed by the node's disclosure control
        payload_id VARCHAR NOT NULL)""",
    ENTITIES_DDL,
]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "national store", tuple(_V1)),)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the steps not yet applied, each in its own transaction; return the version."""
    con.execute(_BOOKKEEPING)
    done = {r[0] for r in con.execute("SELECT version FROM store_migrations").fetchall()}
    for m in MIGRATIONS:
        if m.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for sql in m.statements:
                con.execute(sql)
            con.execute("INSERT INTO store_migrations VALUES (?, ?, now()::TIMESTAMP)",
                        [m.version, m.name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return max(m.version for m in MIGRATIONS)


# --------------------------------------------------------------------------- opening

def _holder(message: str) -> str:
    m = _LOCK_HOLDER.search(message)
    if not m:
        return "another process"
    pid = m.group(1)
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = ""
    return f"process {pid}" + (f" ({cmd[:120]})" if cmd else "")


def connect(path: Path, wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, waiting up to ``wait_s`` for another process to let go of it."""
    deadline = time.monotonic() + (LOCK_WAIT_S if wait_s is None else wait_s)
    while True:
        try:
            con = duckdb.connect(str(path))
            con.execute("SET TimeZone = 'UTC'")
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise CrossforceError(f"cannot open {path}: {exc}") from None
            if time.monotonic() >= deadline:
                raise CrossforceError(
                    f"{path} is in use by {_holder(str(exc))}; the coordinator store has one "
                    "owner at a time — wait for it to finish (or stop it) and try again"
                ) from None
            time.sleep(0.2)


@dataclass
class CoordinatorStore:
    """An open coordinator: its folder, connection, keys and ledger."""

    dir: Path
    con: duckdb.DuckDBPyConnection
    keys: NodeKeys

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.con, self.keys.signer, OWNER)

    def close(self) -> None:
        self.con.close()


def store_path(directory: Path) -> Path:
    return Path(directory) / STORE_FILE


def init_store(directory: Path) -> CoordinatorStore:
    """Create a coordinator (keys, migrated store, empty ledger); refuse to overwrite one."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CrossforceError(f"{directory} exists and is not a folder")
    if store_path(directory).exists() or (directory / KEYS_DIR).exists():
        raise CrossforceError(f"{directory} already holds a coordinator; refusing to "
                              "overwrite it (choose another --dir)")
    directory.mkdir(parents=True, exist_ok=True)
    keys = NodeKeys.create(directory / KEYS_DIR, OWNER)
    con = connect(store_path(directory))
    try:
        migrate(con)
        Ledger(con, keys.signer, OWNER)  # creates the ledger table
    except BaseException:
        con.close()
        raise
    return CoordinatorStore(directory, con, keys)


def open_existing(directory: Path, wait_s: float | None = None) -> CoordinatorStore:
    """Open a coordinator made by ``init_store``, bringing its schema up to date."""
    directory = Path(directory)
    path = store_path(directory)
    if not path.exists():
        raise CrossforceError(f"{directory} is not a coordinator (no {STORE_FILE}); create "
                              f"one with `crossforce coordinator init --dir {directory}`")
    keys = NodeKeys.load(directory / KEYS_DIR)
    con = connect(path, wait_s)
    try:
        migrate(con)
        Ledger(con, keys.signer, OWNER)
    except BaseException:
        con.close()
        raise
    return CoordinatorStore(directory, con, keys)


@contextmanager
def open_store(directory: Path, wait_s: float | None = None) -> Iterator[CoordinatorStore]:
    """The coordinator for one operation: opened, migrated, closed on exit."""
    store = open_existing(directory, wait_s)
    try:
        yield store
    finally:
        store.close()


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


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per store table (0 for a table not made yet, e.g. networks before a link)."""
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'").fetchall()}
    counts: dict[str, int] = {}
    for table in COUNTED_TABLES:
        counts[table] = (con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                         if table in present else 0)
    return counts
