"""What the coordinator shows: linkage runs, entity lists, hits, status — each logged.

Every look at the store is a ledger entry (DESIGN.md §8): a linkage run is a
*combination*, a listing a *consultation*, hits sent to a force a *disclosure*. Victim
(match-only) references are matched but never shown to anyone but their own force.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from coordinator.graph import build_reference_table, table_exists
from coordinator.hits import HIT_SCHEMA, hits_arrow_bytes, hits_for_force
from coordinator.linkage import link
from coordinator.networks import NetworkSettings, find_networks
from coordinator.settings import LinkageSettings
from coordinator.store import OWNER, CoordinatorStore, table_counts
from coordinator.views import build_views
from federation.checkpoint import Checkpoint, checkpoint
from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.ledger import Action

Progress = Callable[[str], None]


def purposes(store: CoordinatorStore | duckdb.DuckDBPyConnection) -> str:
    """The purposes of the data held (what a consultation touches), for its ledger entry."""
    con = store if isinstance(store, duckdb.DuckDBPyConnection) else store.con
    rows = con.execute("SELECT DISTINCT purpose FROM submissions "
                             "WHERE superseded_by IS NULL ORDER BY purpose").fetchall()
    return ",".join(r[0] for r in rows) or "none"


def head(store: CoordinatorStore) -> Checkpoint:
    """The coordinator's signed ledger head, for the other side to keep."""
    return checkpoint(store.con, store.keys.signer, OWNER)


def log(store: CoordinatorStore, action: Action, *, actor: str, justification: str,
        counts: dict[str, int], force: str | None = None, recipients: tuple[str, ...] = (),
        payload_hash: str | None = None) -> None:
    """One ledger entry, committed on its own (the data it describes is only read)."""
    with transaction(store.con):
        store.ledger.append(action, actor=actor, purpose=purposes(store),
                            justification=justification, counts=counts, force=force,
                            recipients=recipients, payload_hash=payload_hash)


# --------------------------------------------------------------------------- linkage

@dataclass(frozen=True)
class LinkSummary:
    counts: dict[str, int]
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


def link_tables(con: duckdb.DuckDBPyConnection, *, linkage: LinkageSettings | None = None,
                networks: NetworkSettings | None = None,
                progress: Progress | None = None) -> LinkSummary:
    """Entities, networks and the read-side views (views.py), in the caller's transaction;
    no ledger entry (the caller writes it)."""
    say = progress or (lambda _: None)
    say("linking tokens into national entities")
    result = link(con, linkage, own_transaction=False)
    say("finding cross-force networks")
    found = find_networks(con, networks, own_transaction=False)
    say("building the read-side views")
    build_views(con)
    return LinkSummary({**result.counts(), "networks": len(found)}, dict(result.seconds))


def link_store(store: CoordinatorStore, *, actor: str, justification: str,
               linkage: LinkageSettings | None = None,
               networks: NetworkSettings | None = None,
               progress: Progress | None = None) -> LinkSummary:
    """Link everything held into national entities, find cross-force networks, and log
    the run (combination). Entities, networks and the ledger entry commit together."""
    con = store.con
    check_something_to_link(con, store.dir)
    with transaction(con):
        summary = link_tables(con, linkage=linkage, networks=networks, progress=progress)
        store.ledger.append("combination", actor=actor, purpose=purposes(store),
                            justification=justification, counts=summary.counts)
    return summary


def check_something_to_link(con: duckdb.DuckDBPyConnection, where: object) -> None:
    if not con.execute("SELECT count(*) FROM items").fetchone()[0]:  # type: ignore[index]
        raise CrossforceError(f"{where}: nothing to link yet; submit payloads first")


def network_purposes(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """network id → the purpose it was found under ({} for a store linked before
    purposes were recorded: link again)."""
    if not table_exists(con, "network_purposes"):
        return {}
    return dict(con.execute("SELECT network_id, purpose FROM network_purposes").fetchall())


# --------------------------------------------------------------------------- entities

def entity_rows(store: CoordinatorStore, force: str | None = None, *,
                cross_force: bool = False) -> pa.Table:
    """(force, ref hex, kind, entity_id, score): every visible reference, or one force's own;
    ``cross_force`` keeps only entities held by two or more forces.

    The national view hides every entity a force flagged victim; a force's own view keeps
    its own victim references (it may safeguard them) but never shows another force's.
    """
    con = store.con
    if not table_exists(con, "entities") or not con.execute(
            "SELECT count(*) FROM entities").fetchone()[0]:  # type: ignore[index]
        raise CrossforceError(f"{store.dir}: no entities yet; run `crossforce coordinator "
                              f"link --dir {store.dir}` first")
    build_reference_table(con, "_cf_refs")
    try:
        return con.sql("""
            WITH hidden AS (SELECT entity_id FROM _cf_refs GROUP BY entity_id
                            HAVING bool_or(match_only)),
            single AS (SELECT entity_id FROM _cf_refs GROUP BY entity_id
                       HAVING count(DISTINCT force) < 2 AND $cross_force)
            SELECT force, lower(hex(ref)) AS ref, kind, entity_id, score
            FROM _cf_refs r
            WHERE CASE WHEN $force IS NULL THEN entity_id NOT IN (SELECT * FROM hidden)
                       ELSE force = $force AND (match_only
                            OR entity_id NOT IN (SELECT * FROM hidden)) END
              AND entity_id NOT IN (SELECT * FROM single)
            ORDER BY entity_id, force, ref""",
            params={"force": force, "cross_force": cross_force}).to_arrow_table()
    finally:
        con.execute("DROP TABLE IF EXISTS _cf_refs")


# --------------------------------------------------------------------------- hits

def hits_table(store: CoordinatorStore, force: str, *, for_force: bool = False,
               purpose: str | None = None) -> pa.Table:
    """The force's hits (of its references shared under ``purpose``, if given); an empty
    table (no hit) for a registered force linkage never saw. ``for_force``: they go to the
    force, so its victim lookups are counted in the ledger."""
    con = store.con
    registered = con.execute("SELECT 1 FROM forces WHERE force = ?", [force]).fetchone()
    linked = table_exists(con, "entities") and con.execute(
        "SELECT 1 FROM entities WHERE force = ? LIMIT 1", [force]).fetchone()
    if registered and not linked:
        return HIT_SCHEMA.empty_table()
    return hits_for_force(con, force, ledger=store.ledger if for_force else None,
                          purpose=purpose)


def disclose_hits(store: CoordinatorStore, force: str, *, actor: str,
                  justification: str, purpose: str | None = None) -> bytes:
    """The force's hits as bytes, logged as a disclosure to that force with their hash."""
    table = hits_table(store, force, for_force=True, purpose=purpose)
    # nodes accept signed hits only; the head lets the node catch this ledger cut short
    data = hits_arrow_bytes(force, table, store.keys.signer, head(store))
    log(store, "disclosure", actor=actor, justification=justification,
        counts={"hits": table.num_rows}, force=force, recipients=(force,),
        payload_hash=hashlib.sha256(data).hexdigest())
    return data


# --------------------------------------------------------------------------- status

def store_status(store: CoordinatorStore) -> dict[str, Any]:
    """Submissions per force, rows per table, the last linkage run. Counts only."""
    con = store.con
    forces = []
    for row in con.execute("""
            SELECT f.force, f.fingerprint, f.epochs,
                   count(s.payload_id) FILTER (WHERE s.superseded_by IS NULL) AS current,
                   count(s.payload_id) AS received,
                   coalesce(sum(s.n_items) FILTER (WHERE s.superseded_by IS NULL), 0) AS items,
                   max(s.received_at) AS last_received
            FROM forces f LEFT JOIN submissions s USING (force)
            GROUP BY ALL ORDER BY f.force""").fetchall():
        force, fp, epochs, current, received, items, last = row
        forces.append({"force": force, "fingerprint": fp, "epochs": list(epochs),
                       "current_submissions": current, "submissions_received": received,
                       "items": int(items),
                       "last_received": last.isoformat() + "Z" if last else None})
    last_link = con.execute("""
        SELECT at_utc, counts FROM ledger WHERE action = 'combination'
        ORDER BY seq DESC LIMIT 1""").fetchone()
    return {
        "dir": str(store.dir),
        "forces": forces,
        "tables": table_counts(con),
        "last_link": ({"at": last_link[0].isoformat() + "Z", **json.loads(last_link[1])}
                      if last_link else None),
        "signing_key": store.keys.signer.fingerprint,
        "encryption_key": store.keys.encryption.fingerprint,
    }
