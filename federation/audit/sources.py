"""The folders an auditor points at, read as files: node folders, the coordinator folder,
and any other ledger (a key service's, say) found beside them.

``federation`` may not import ``node`` or ``coordinator`` (DESIGN.md §3), so the few file
names both sides use are named here, and their stores are read by SQL, read-only.

Keys are pinned by the OTHER side where it can be: a node's ledger is checked against the
key the coordinator registered for that force (its ``forces`` table), the coordinator's
against the key each node trusts (``keys/coordinator.json``). A key in the ledger's own
folder is used only when there is no other side, and a disagreement is a finding: whoever
can rewrite a ledger may also have replaced the public key beside it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from federation.errors import CrossforceError
from federation.keys import PUBLIC_FILE, fingerprint, load_public_key
from federation.ledger import LedgerEntry, read_entries
from federation.ledger_journal import fold_store_file

if TYPE_CHECKING:
    from policies.model import SharePolicy

NODE_CONFIG, NODE_STORE = "node.toml", "node.duckdb"
COORDINATOR_STORE, COORDINATOR = "coordinator.duckdb", "coordinator"
KEYS, TRUSTED_COORDINATOR_KEY = "keys", "coordinator.json"
POLICY_FILE = "policy.toml"
#: the policy a node without a policy file runs under (node/store.py DEFAULT_POLICY)
DEFAULT_POLICY = "cse-national"
#: folders a search for ledgers does not go into
_SKIP = {"keys", "logs", "flower", "scenario", "__pycache__"}


@dataclass
class Ledgered:
    """One ledger to check: whose, where, its entries and the key it is checked with."""

    owner: str
    role: str                   # node | coordinator | other
    folder: Path
    db: Path
    con: duckdb.DuckDBPyConnection
    own_key: bytes | None       # the public.json in its own folder
    key: bytes | None = None    # the key it is checked against (pinned if possible)
    key_source: str = ""
    entries: list[LedgerEntry] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key) if self.key else "none"


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    ((n,),) = con.execute("SELECT count(*) FROM information_schema.tables "
                          "WHERE table_name = ?", [table]).fetchall()
    return bool(n)


def open_read_only(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection, or one clear line saying why not."""
    if not db.exists():
        raise CrossforceError(f"{db}: no such DuckDB file")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise CrossforceError(f"{db} is open for writing by another process; run the "
                                  f"check when it is closed ({str(exc).splitlines()[0]})"
                                  ) from None
        raise CrossforceError(f"{db}: cannot open ({exc})") from None
    except duckdb.Error as exc:
        raise CrossforceError(f"{db}: not a DuckDB file ({exc})") from None
    con.execute("SET TimeZone = 'UTC'")
    return con


def _own_key(folder: Path) -> bytes | None:
    path = folder / KEYS / PUBLIC_FILE
    return load_public_key(path) if path.exists() else None


def node_policy(folder: Path) -> tuple[SharePolicy, str]:
    """The sharing policy a node folder runs under, and where it came from."""
    from policies.model import default_policy, load_policy

    path = folder / POLICY_FILE
    if path.exists():
        return load_policy(path), str(path)
    return default_policy(DEFAULT_POLICY), f"default '{DEFAULT_POLICY}' (no {POLICY_FILE})"


def node_force(folder: Path) -> str:
    path = folder / NODE_CONFIG
    if not path.exists():
        raise CrossforceError(f"--node {folder}: not a node folder (no {NODE_CONFIG})")
    try:
        return str(tomllib.loads(path.read_text())["force"])
    except (tomllib.TOMLDecodeError, KeyError):
        raise CrossforceError(f"{path}: not a valid node config") from None


def discover(root: Path) -> tuple[list[Path], Path | None, list[Path]]:
    """(node folders, the coordinator folder, other ledger files) under ``root``."""
    if not root.is_dir():
        raise CrossforceError(f"--federation {root}: no such folder")
    nodes: list[Path] = []
    coordinators: list[Path] = []
    others: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / NODE_CONFIG).exists():
            nodes.append(folder)
            return
        if (folder / COORDINATOR_STORE).exists():
            coordinators.append(folder)
            return
        others.extend(p for p in sorted(folder.glob("*.duckdb"))
                      if (folder / KEYS / PUBLIC_FILE).exists())
        if depth < 3:
            for sub in sorted(p for p in folder.iterdir() if p.is_dir()
                              and p.name not in _SKIP and not p.name.startswith(".")):
                walk(sub, depth + 1)

    walk(root, 0)
    if len(coordinators) > 1:
        raise CrossforceError(f"--federation {root}: found {len(coordinators)} coordinator "
                              "folders; give --coordinator DIR")
    if not nodes and not coordinators:
        raise CrossforceError(f"--federation {root}: no node or coordinator folder in it")
    return nodes, (coordinators[0] if coordinators else None), others


@contextmanager
def open_ledgers(nodes: Sequence[Path], coordinator: Path | None,
                 others: Sequence[Path]) -> Iterator[list[Ledgered]]:
    """Every ledger named, open read-only, with its entries and pinned key."""
    with ExitStack() as stack:
        found: list[Ledgered] = []

        def add(owner: str, role: str, folder: Path, db: Path) -> Ledgered:
            con = open_read_only(db)
            stack.callback(con.close)
            item = Ledgered(owner, role, folder, db, con, _own_key(folder))
            item.entries = read_entries(con) if has_table(con, "ledger") else []
            found.append(item)
            return item

        if coordinator is not None:  # what its service journaled, in the table first
            fold_store_file(coordinator / COORDINATOR_STORE)
        coord = (add(COORDINATOR, "coordinator", coordinator, coordinator / COORDINATOR_STORE)
                 if coordinator is not None else None)
        for folder in nodes:
            add(node_force(folder), "node", folder, folder / NODE_STORE)
        for db in others:
            if coordinator is not None and db == coordinator / COORDINATOR_STORE:
                continue
            con = open_read_only(db)
            stack.callback(con.close)
            if has_table(con, "ledger"):
                owner = con.execute("SELECT any_value(owner) FROM ledger").fetchone()
                item = Ledgered(str(owner[0] if owner else db.stem), "other", db.parent.parent
                                if db.parent.name == KEYS else db.parent, db, con,
                                _own_key(db.parent))
                item.entries = read_entries(con)
                found.append(item)
        _pin_keys(found, coord)
        yield found


def _pin_keys(found: list[Ledgered], coord: Ledgered | None) -> None:
    registered: dict[str, bytes] = {}
    if coord is not None and has_table(coord.con, "forces"):
        registered = {f: bytes(k) for f, k in coord.con.execute(
            "SELECT force, public_key FROM forces").fetchall()}
    for item in found:
        if item.role == "node" and item.owner in registered:
            item.key, item.key_source = registered[item.owner], "registered at the coordinator"
        elif item.role == "coordinator":
            trusted = [load_public_key(n.folder / KEYS / TRUSTED_COORDINATOR_KEY)
                       for n in found if n.role == "node"
                       and (n.folder / KEYS / TRUSTED_COORDINATOR_KEY).exists()]
            if trusted:
                item.key, item.key_source = trusted[0], "trusted by the nodes"
        if item.key is None:
            item.key, item.key_source = item.own_key, "its own folder"
