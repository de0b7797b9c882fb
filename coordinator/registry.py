"""Registered forces: who may submit (force name → Ed25519 public key) and under which key
epochs. A payload is only as trustworthy as this table, so every change is a ledger entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.keys import fingerprint
from federation.ledger import Ledger


@dataclass(frozen=True)
class RegisteredForce:
    force: str
    public_key: bytes
    fingerprint: str
    epochs: tuple[int, ...]


def registered_forces(con: duckdb.DuckDBPyConnection) -> dict[str, RegisteredForce]:
    rows = con.execute(
        "SELECT force, public_key, fingerprint, epochs FROM forces ORDER BY force").fetchall()
    return {f: RegisteredForce(f, bytes(k), fp, tuple(e)) for f, k, fp, e in rows}


def register_force(con: duckdb.DuckDBPyConnection, ledger: Ledger, force: str,
                   public_key: bytes, epochs: Sequence[int] = (1,), *,
                   replace_key: bool = False, actor: str = "coordinator") -> RegisteredForce:
    """Register a force, or update its accepted epochs; a new key needs ``replace_key``."""
    force = force.strip()
    if not force:
        raise CrossforceError("--force must name the police force, e.g. --force 'Avon'")
    if len(public_key) != 32:
        raise CrossforceError(f"public key for {force} is {len(public_key)} bytes; an Ed25519 "
                              "public key is 32")
    wanted = tuple(sorted(set(epochs)))
    if not wanted or any(e < 1 for e in wanted):
        raise CrossforceError(f"key epochs start at 1; got {list(epochs)}")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    current = registered_forces(con).get(force)
    entry = RegisteredForce(force, public_key, fingerprint(public_key), wanted)
    if current is not None and current.public_key != public_key and not replace_key:
        raise CrossforceError(
            f"{force} is already registered with key {current.fingerprint}; pass "
            f"--replace-key to register {entry.fingerprint} instead")
    with transaction(con):
        if current is None:
            con.execute("INSERT INTO forces VALUES (?, ?, ?, ?, ?, ?)",
                        [force, public_key, entry.fingerprint, list(wanted), now, now])
            what = f"registered {force} with signing key {entry.fingerprint}"
        else:
            con.execute("UPDATE forces SET public_key = ?, fingerprint = ?, epochs = ?, "
                        "updated_at = ? WHERE force = ?",
                        [public_key, entry.fingerprint, list(wanted), now, force])
            what = (f"updated {force}: key {current.fingerprint} -> {entry.fingerprint}, "
                    f"epochs {list(current.epochs)} -> {list(wanted)}")
        ledger.append("alteration", actor=actor, purpose="registry", justification=what,
                      counts={"forces": 1}, force=force)
    return entry
