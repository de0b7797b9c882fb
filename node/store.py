"""A node on disk: ``DIR/node.toml``, ``DIR/node.duckdb`` and ``DIR/keys/``.

DuckDB lets one process write a database file at a time (DESIGN.md §12), so every CLI
command opens the store for one operation and closes it; a store held by another process is
waited for briefly, then named with the holder's PID instead of a raw lock error.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import tomli_w

from federation.duckdb_files import connect as open_duckdb
from federation.errors import CrossforceError
from federation.keys import PUBLIC_FILE, load_public_key
from federation.ledger import Ledger, store_lock
from node.migrations import migrate

CONFIG_FILE = "node.toml"
STORE_FILE = "node.duckdb"
KEYS_DIR = "keys"
#: the coordinator's public.json, as the coordinator published it: its signing key is what
#: this node checks the hits it receives against
COORDINATOR_KEY_FILE = "coordinator.json"


@dataclass(frozen=True)
class NodeConfig:
    force: str
    created_at: str
    dir: Path

    @property
    def store_path(self) -> Path:
        return self.dir / STORE_FILE

    @property
    def keys_dir(self) -> Path:
        return self.dir / KEYS_DIR

    @property
    def coordinator_key_path(self) -> Path:
        return self.keys_dir / COORDINATOR_KEY_FILE


def install_coordinator_key(node_dir: Path, spec: str | Path) -> bytes:
    """Keep the coordinator's public keys (its ``public.json`` or keys folder) in the node's
    keys folder; hits are accepted only when signed by its signing key. Returns that key."""
    path = Path(spec)
    if path.is_dir():
        path = path / PUBLIC_FILE
    if not path.is_file():
        raise CrossforceError(f"{spec}: not the coordinator's public.json (no such file)")
    key = load_public_key(path)
    text = path.read_text()
    try:
        owner = json.loads(text).get("owner")
    except (ValueError, AttributeError):
        owner = None
    if owner != "coordinator":
        raise CrossforceError(f"{path}: these are the public keys of {owner!r}, not of the "
                              "coordinator (its keys/public.json names owner 'coordinator')")
    target = Path(node_dir) / KEYS_DIR / COORDINATOR_KEY_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(target)
    return key


def coordinator_signing_key(config: NodeConfig) -> bytes:
    """The coordinator's Ed25519 public key this node trusts for hits."""
    path = config.coordinator_key_path
    if not path.exists():
        raise CrossforceError(
            f"{config.dir}: this node has no coordinator signing key ({path}); copy the "
            "coordinator's keys/public.json there before receiving hits")
    return load_public_key(path)


POLICY_FILE = "policy.toml"
DEFAULT_POLICY = "cse-national"


def install_default_policy(node_dir: Path, force: str) -> None:
    """Start the node with a copy of the default sharing policy, for its data owner to
    read, edit and `crossforce policy check` before anything is shared."""
    from policies.model import default_policy_text

    text = default_policy_text(DEFAULT_POLICY)
    header = (f"# Sharing policy of {force}'s node, copied from the default "
              f"'{DEFAULT_POLICY}'.\n# Edit it, then run: crossforce policy check "
              f"{node_dir / POLICY_FILE}\n")
    (node_dir / POLICY_FILE).write_text(header + text, encoding="utf-8")


def init_node(node_dir: Path, force: str) -> NodeConfig:
    """Create a node (config, migrated store, signing keys); refuse to overwrite one."""
    from federation.keys import NodeKeys

    force = force.strip()
    if not force:
        raise CrossforceError("--force must name the police force, e.g. --force 'Avon'")
    if (node_dir / CONFIG_FILE).exists() or (node_dir / STORE_FILE).exists():
        raise CrossforceError(f"{node_dir} already holds a node; refusing to overwrite it "
                              f"(choose another --dir)")
    if node_dir.exists() and not node_dir.is_dir():
        raise CrossforceError(f"{node_dir} exists and is not a folder")
    if node_dir.exists() and any(node_dir.iterdir()):
        raise CrossforceError(f"{node_dir} is not empty; give a new or empty folder")
    node_dir.mkdir(parents=True, exist_ok=True)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    keys = NodeKeys.create(node_dir / KEYS_DIR, force)
    con = duckdb.connect(str(node_dir / STORE_FILE))
    try:
        migrate(con)
        # the ledger starts with its signed genesis entry: a fresh node verifies, and a
        # ledger emptied later is a finding (federation/ledger.py)
        Ledger(con, keys.signer, force)
    finally:
        con.close()
    install_default_policy(node_dir, force)
    # Written last: a node.toml means the node is complete.
    (node_dir / CONFIG_FILE).write_text(tomli_w.dumps({"force": force, "created_at": created}))
    return NodeConfig(force, created, node_dir)


def load_config(node_dir: Path) -> NodeConfig:
    path = node_dir / CONFIG_FILE
    if not path.exists():
        raise CrossforceError(f"{node_dir} is not a node (no {CONFIG_FILE}); create one with "
                              f"`crossforce node init --force NAME --dir {node_dir}`")
    try:
        data = tomllib.loads(path.read_text())
        return NodeConfig(str(data["force"]), str(data["created_at"]), node_dir)
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise CrossforceError(f"{path}: not a valid node config ({exc})") from None


def connect(path: Path, wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
    return open_duckdb(path, wait_s)


@contextmanager
def open_store(node_dir: Path, wait_s: float | None = None
               ) -> Iterator[tuple[NodeConfig, duckdb.DuckDBPyConnection]]:
    """The node's config and a migrated connection, closed on exit: one operation, one open.

    The process-wide lock of the store is held for the whole operation, so two threads (the
    gateway's call log and a share, say) never write the ledger at the same time."""
    config = load_config(node_dir)
    with store_lock(config.store_path):
        con = connect(config.store_path, wait_s)
        try:
            migrate(con)
            yield config, con
        finally:
            con.close()
