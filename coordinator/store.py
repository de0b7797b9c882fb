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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from coordinator.schema import ENTITIES_DDL
from federation.checkpoint import ANCHORS_DDL
from federation.duckdb_files import Migration
from federation.duckdb_files import connect as open_duckdb
from federation.duckdb_files import migrate as apply_migrations
from federation.errors import CrossforceError
from federation.keys import LINKAGE_SECRET_FILE as SECRET_FILE
from federation.keys import NodeKeys
from federation.ledger import Ledger
from federation.ledger_journal import fold_into, journal_dir

STORE_FILE = "coordinator.duckdb"
KEYS_DIR = "keys"
OWNER = "coordinator"
_LOCK_HOLDER = re.compile(r"PID (\d+)")

#: Tables holding submitted content (removed with their submission when superseded).
CONTENT_TABLES: tuple[str, ...] = ("items", "item_attributes", "tokens", "links", "aggregates")
#: Tables whose row counts `status` reports (and tests compare before/after a rejection).
COUNTED_TABLES: tuple[str, ...] = (
    "submissions", "seen_payloads", *CONTENT_TABLES, "entities", "person_links",
    "networks", "network_members", "secure_sums", "forces", "ledger")

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


_V2 = [
    # national sums from a SecAgg+ round (coordinator/aggregates.py): the coordinator never
    # saw one force's counts, so the national vector is all there is to keep
    """CREATE TABLE secure_sums (
        purpose      VARCHAR NOT NULL,
        epoch        INTEGER NOT NULL,
        name         VARCHAR NOT NULL,   -- aggregate table
        cell         VARCHAR NOT NULL,   -- JSON object of dimension values
        count        BIGINT  NOT NULL,   -- national sum
        contributors INTEGER NOT NULL,   -- forces whose masked vectors made the sum
        summed_at    TIMESTAMP NOT NULL)""",
]


_V3 = [
    # who may call the coordinator service (coordinator/users.py): a key is stored only as
    # a salted scrypt hash; a user is revoked or expires, never deleted (the ledger names it)
    """CREATE TABLE api_users (
        key_id      VARCHAR PRIMARY KEY,   -- public part of the key, to find its hash
        name        VARCHAR NOT NULL,
        role        VARCHAR NOT NULL,      -- analyst | liaison | auditor | admin
        force       VARCHAR,               -- a liaison's own force
        salt        BLOB    NOT NULL,
        key_hash    BLOB    NOT NULL,      -- scrypt(secret, salt)
        created_at  TIMESTAMP NOT NULL,
        created_by  VARCHAR NOT NULL,
        expires_at  TIMESTAMP NOT NULL,
        revoked_at  TIMESTAMP)""",
]


_V4 = [
    # governance (issue #18): the nodes' signed ledger heads (federation/checkpoint.py),
    # each submission's retention period (its force's policy) and when its content was
    # erased (withdrawn or past retention), and the withdrawals received
    ANCHORS_DDL,
    "ALTER TABLE submissions ADD COLUMN retention_days INTEGER",  # NULL: none declared
    "ALTER TABLE submissions ADD COLUMN erased_at TIMESTAMP",
    """CREATE TABLE withdrawals (
        withdrawal_id   VARCHAR PRIMARY KEY,
        force           VARCHAR NOT NULL,
        purposes        VARCHAR[] NOT NULL,  -- ['*']: everything the force sent
        withdrawal_hash VARCHAR NOT NULL,    -- SHA-256 of the signed request (both ledgers)
        created_at      VARCHAR NOT NULL,    -- as the node stamped it
        received_at     TIMESTAMP NOT NULL,
        erased          VARCHAR NOT NULL,    -- canonical JSON {table: rows}; counts only
        acknowledgement VARCHAR NOT NULL)    -- the signed acknowledgement sent back""",
]


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "national store", tuple(_V1)),
                                     Migration(2, "national secure sums", tuple(_V2)),
                                     Migration(3, "service users", tuple(_V3)),
                                     Migration(4, "governance: ledger heads, retention, "
                                               "withdrawals", tuple(_V4)))


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    return apply_migrations(con, MIGRATIONS, "store_migrations")


def connect(path: Path, wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
    from coordinator.serve_state import serving_note

    return open_duckdb(path, wait_s, owner_note=serving_note(Path(path).parent)
                       or "the coordinator store has one owner at a time")


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
    if (directory / KEYS_DIR / SECRET_FILE).exists():
        raise CrossforceError(
            f"{directory / KEYS_DIR} holds a linkage secret; the coordinator must hold no key "
            "that can make or reverse tokens (DESIGN.md §1.2) — remove it from there")
    keys = NodeKeys.load(directory / KEYS_DIR)
    con = connect(path, wait_s)
    try:
        migrate(con)
        Ledger(con, keys.signer, OWNER)
        # entries the service made durable in its journal but had not folded (it was
        # stopped or killed): into the table first, exactly once (federation/ledger_journal)
        fold_into(con, journal_dir(directory), OWNER)
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
