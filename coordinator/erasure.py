"""Erasing payloads at the coordinator: the one way withdrawal and retention delete.

A payload's rows go from every content table; its ``submissions`` row stays as metadata
(who sent what, when, under which hash and counts — the audit trail, no content) with
``superseded_by`` and ``erased_at`` saying why and when. Entities and networks are then
re-derived from what is left, so nothing derived from the erased rows survives either.
The caller holds the transaction and writes the ledger entries (counts only).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from coordinator.graph import table_exists
from coordinator.linkage import link
from coordinator.networks import NetworkSettings, find_networks
from coordinator.settings import LinkageSettings
from coordinator.store import CONTENT_TABLES

#: tables derived from the content by linkage and network finding (re-derived on erasure)
DERIVED_TABLES: tuple[str, ...] = ("entities", "person_links", "networks", "network_members",
                                   "network_edges", "network_hubs")


def erase_payloads(con: duckdb.DuckDBPyConnection, payload_ids: Sequence[str],
                   reason: str) -> dict[str, int]:
    """Delete the payloads' rows from every content table and mark their submissions
    erased (``superseded_by = reason``); return rows deleted per table (and payloads)."""
    params = {"ids": list(payload_ids)}
    erased: dict[str, int] = {}
    for table in CONTENT_TABLES:
        row = con.execute(f"DELETE FROM {table} WHERE payload_id IN (SELECT unnest($ids))",
                          params).fetchone()
        erased[table] = int(row[0]) if row else 0
    row = con.execute("""UPDATE submissions SET superseded_by = $reason,
                                erased_at = now()::TIMESTAMP
                         WHERE payload_id IN (SELECT unnest($ids)) AND superseded_by IS NULL""",
                      {**params, "reason": reason}).fetchone()
    erased["payloads"] = int(row[0]) if row else 0
    return erased


def force_rows(con: duckdb.DuckDBPyConnection, force: str) -> dict[str, int]:
    """Rows naming ``force`` in the derived tables that have a force column."""
    counts = {}
    if table_exists(con, "entities"):
        counts["entities"] = con.execute("SELECT count(*) FROM entities WHERE force = ?",
                                         [force]).fetchone()[0]  # type: ignore[index]
    if table_exists(con, "person_links"):
        counts["person_links"] = con.execute(
            "SELECT count(*) FROM person_links WHERE force_a = $f OR force_b = $f",
            {"f": force}).fetchone()[0]  # type: ignore[index]
    return counts


def rederive(con: duckdb.DuckDBPyConnection, linkage: LinkageSettings | None = None,
             networks: NetworkSettings | None = None) -> dict[str, int]:
    """Entities and networks again from what the store holds now (inside the caller's
    transaction); emptied when nothing is left. Nothing if the store was never linked."""
    if not table_exists(con, "entities"):
        return {}
    ((items,),) = con.execute("SELECT count(*) FROM items").fetchall()
    if items:
        result = link(con, linkage, own_transaction=False)
        found = find_networks(con, networks, own_transaction=False)
        counts = {**result.counts(), "networks": len(found)}
    else:
        for table in DERIVED_TABLES:
            if table_exists(con, table):
                con.execute(f"DELETE FROM {table}")
        counts = {"entities": 0, "networks": 0}
    if table_exists(con, "entity_view"):  # the service's read-side tables, built again
        from coordinator.views import build_views

        build_views(con)
    return counts
