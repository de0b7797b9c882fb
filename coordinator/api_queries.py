"""The SQL behind the service's graph endpoints: networks, entities, force pairs, lookups.

Each function reads one purpose's data from the tables `link` wrote (networks.py) and the
read-side views (views.py), on the caller's cursor. Victims never appear: hidden entities
are never network members, never end an edge, and are not found by entity id; a lookup
never names a force that holds an entity only as a victim's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from coordinator.graph import table_exists
from federation.errors import CrossforceError

NEEDED = ("networks", "network_members", "network_edges", "entity_view", "network_purposes",
          "lookup_index", "force_pairs", "network_summary", "network_key_members")


def check_linked(con: duckdb.DuckDBPyConnection, ready: set[str] | None = None) -> None:
    """Refuse to answer from a store never linked, or linked before the views existed.
    ``ready``: a set this marks once the tables are there (so it is checked once)."""
    if ready is not None and "linked" in ready:
        return
    missing = [t for t in NEEDED if not table_exists(con, t)]
    if missing:
        raise CrossforceError("the store has no linked results to serve "
                              f"({', '.join(missing)} missing); link first "
                              "(a federation round, or `crossforce coordinator link`)")
    if ready is not None:
        ready.add("linked")


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


# --------------------------------------------------------------------------- networks

_NETWORKS_SQL = """
    SELECT count(*) OVER () AS total, network_id, forces, n_persons, n_identifiers,
           counts_by_kind, first_activity, last_activity, link_kinds
    FROM network_summary
    WHERE purpose = $purpose AND n_forces >= $min_forces
      AND ($force IS NULL OR list_contains(forces, $force))
      AND n_persons >= $min_persons
      AND ($max_persons IS NULL OR n_persons <= $max_persons)
      AND ($active_from IS NULL OR last_activity >= $active_from)
      AND ($active_to IS NULL OR first_activity <= $active_to)
      AND ($link_kind IS NULL OR list_contains(link_kinds, $link_kind))
    ORDER BY n_persons DESC, network_id
    LIMIT $limit OFFSET $offset"""


def networks_page(con: duckdb.DuckDBPyConnection, purpose: str, *, min_forces: int = 2,
                  force: str | None = None, min_persons: int = 0,
                  max_persons: int | None = None, active_from: dt.date | None = None,
                  active_to: dt.date | None = None, link_kind: str | None = None,
                  limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page) of networks, most persons first, with their brokers and
    key players — "which networks span more than two forces, and who brokers them"."""
    params = {"purpose": purpose, "min_forces": min_forces, "force": force,
              "min_persons": min_persons, "max_persons": max_persons,
              "active_from": active_from, "active_to": active_to, "link_kind": link_kind,
              "limit": limit, "offset": offset}
    rows = con.execute(_NETWORKS_SQL, params).fetchall()
    if not rows:  # past the end (or nothing): the total still says how many match
        first = con.execute(_NETWORKS_SQL, {**params, "limit": 1, "offset": 0}).fetchall()
        return (first[0][0] if first else 0), []
    roles = _roles(con, [r[1] for r in rows])
    items = [{"network_id": nid, "purpose": purpose, "forces": list(forces),
              "n_forces": len(forces), "n_persons": n_p, "n_identifiers": n_i,
              "counts_by_kind": dict(counts), "first_activity": _iso(first),
              "last_activity": _iso(last), "link_kinds": list(kinds),
              "brokers": roles.get(nid, {}).get("brokers", []),
              "key_players": roles.get(nid, {}).get("key_players", [])}
             for _, nid, forces, n_p, n_i, counts, first, last, kinds in rows]
    return rows[0][0], items


def _roles(con: duckdb.DuckDBPyConnection, ids: list[int]) -> dict[int, dict[str, list]]:
    out: dict[int, dict[str, list]] = {}
    for nid, eid, kind, between, degree, broker, key, forces in con.execute("""
            SELECT network_id, entity_id, kind, betweenness, degree, is_broker, is_key_player,
                   forces
            FROM network_key_members WHERE list_contains($ids, network_id)
            ORDER BY network_id, betweenness DESC, degree DESC, entity_id""",
            {"ids": ids}).fetchall():
        member = {"entity_id": eid, "kind": kind, "betweenness": round(between, 6),
                  "degree": degree, "forces": list(forces)}
        slot = out.setdefault(nid, {"brokers": [], "key_players": []})
        if broker:
            slot["brokers"].append(member)
        if key:
            slot["key_players"].append(member)
    for slot in out.values():
        slot["key_players"].sort(key=lambda m: (-m["degree"], m["entity_id"]))
    return out


def network_detail(con: duckdb.DuckDBPyConnection, purpose: str,
                   network_id: int) -> dict[str, Any] | None:
    """One network: summary, members, edges, and the same as Cytoscape.js elements."""
    row = con.execute("""
        SELECT n.network_id, n.forces, n.n_persons, n.n_identifiers, n.counts_by_kind,
               n.first_activity, n.last_activity
        FROM networks n JOIN network_purposes p USING (network_id)
        WHERE n.network_id = ? AND p.purpose = ?""", [network_id, purpose]).fetchone()
    if row is None:
        return None
    members = [{"entity_id": eid, "kind": kind, "betweenness": round(b, 6), "degree": d,
                "is_broker": broker, "is_key_player": key, "forces": list(forces)}
               for eid, kind, b, d, broker, key, forces in con.execute("""
                   SELECT entity_id, kind, betweenness, degree, is_broker, is_key_player, forces
                   FROM network_members WHERE network_id = ? ORDER BY entity_id""",
                   [network_id]).fetchall()]
    edges = [{"entity_a": a, "entity_b": b, "kinds": list(kinds), "forces": list(forces),
              "n_links": n}
             for a, b, kinds, forces, n in con.execute("""
                 SELECT entity_a, entity_b, kinds, forces, n_links FROM network_edges
                 WHERE network_id = ? ORDER BY entity_a, entity_b""", [network_id]).fetchall()]
    return network_answer(purpose, row, members, edges)


def network_answer(purpose: str, row: tuple, members: list[dict[str, Any]],
                   edges: list[dict[str, Any]]) -> dict[str, Any]:
    """One network as the API answers it, from its row (network_id, forces, n_persons,
    n_identifiers, counts_by_kind, first and last activity), members and edges: the SQL
    path and the in-memory one (`serve_networks`) build it alike."""
    nid, forces, n_p, n_i, counts, first, last = row
    return {"network_id": nid, "purpose": purpose, "forces": list(forces),
            "n_persons": n_p, "n_identifiers": n_i, "counts_by_kind": dict(counts),
            "first_activity": _iso(first), "last_activity": _iso(last),
            "brokers": [m["entity_id"] for m in sorted(
                (m for m in members if m["is_broker"]),
                key=lambda m: (-m["betweenness"], m["entity_id"]))],
            "key_players": [m["entity_id"] for m in sorted(
                (m for m in members if m["is_key_player"]),
                key=lambda m: (-m["degree"], m["entity_id"]))],
            "members": members, "edges": edges, "elements": cytoscape(members, edges)}


def cytoscape(members: list[dict[str, Any]], edges: list[dict[str, Any]]
              ) -> dict[str, list[dict[str, Any]]]:
    """Cytoscape.js elements (``cy.add(elements)``): string ids, everything else in data."""
    return {
        "nodes": [{"data": {"id": f"e{m['entity_id']}", "label": f"{m['kind']} "
                            f"{m['entity_id']}", **m}} for m in members],
        "edges": [{"data": {"id": f"e{e['entity_a']}-e{e['entity_b']}",
                            "source": f"e{e['entity_a']}", "target": f"e{e['entity_b']}",
                            **e}} for e in edges],
    }


# --------------------------------------------------------------------------- entities

def entity_detail(con: duckdb.DuckDBPyConnection, purpose: str, entity_id: int,
                  *, with_links: bool = True) -> dict[str, Any] | None:
    """One visible entity: kind, the forces holding it openly, its network and its links
    to other visible entities (kinds, forces, count). None if hidden or another purpose's."""
    row = con.execute("""
        SELECT entity_id, kind, open_forces, hub, network_id FROM entity_view
        WHERE entity_id = ? AND purpose = ? AND NOT hidden""",
                      [entity_id, purpose]).fetchone()
    if row is None:
        return None
    eid, kind, forces, hub, network_id = row
    out: dict[str, Any] = {"entity_id": eid, "kind": kind, "purpose": purpose,
                           "forces": list(forces), "stop_listed": hub,
                           "network_id": network_id}
    if with_links:
        out["links"] = [
            {"entity_id": other, "kind": k, "link_kinds": list(kinds),
             "forces": list(fs), "n_links": n}
            for other, k, kinds, fs, n in con.execute("""
                WITH mine AS (SELECT force, ref FROM entities WHERE entity_id = $id),
                ends AS (
                    SELECT l.force, l.kind, l.ref_b AS other FROM links l
                    JOIN mine m ON m.ref = l.ref_a AND m.force = l.force
                    UNION ALL
                    SELECT l.force, l.kind, l.ref_a FROM links l
                    JOIN mine m ON m.ref = l.ref_b AND m.force = l.force)
                SELECT e.entity_id, v.kind, list_sort(list(DISTINCT x.kind)),
                       list_sort(list(DISTINCT x.force)), count(*)
                FROM ends x JOIN entities e ON e.ref = x.other AND e.force = x.force
                JOIN entity_view v ON v.entity_id = e.entity_id
                WHERE NOT v.hidden AND e.entity_id <> $id
                GROUP BY ALL ORDER BY count(*) DESC, e.entity_id LIMIT 500""",
                {"id": entity_id}).fetchall()]
    return out


def force_pairs(con: duckdb.DuckDBPyConnection, purpose: str,
                force: str | None = None) -> list[dict[str, Any]]:
    """Per pair of forces: entities both hold openly, persons among them, networks both
    are part of."""
    return [{"force_a": a, "force_b": b, "shared_entities": e, "shared_persons": p,
             "shared_networks": n}
            for a, b, e, p, n in con.execute("""
                SELECT force_a, force_b, shared_entities, shared_persons, shared_networks
                FROM force_pairs WHERE purpose = $purpose
                  AND ($force IS NULL OR $force IN (force_a, force_b))
                ORDER BY shared_networks DESC, shared_entities DESC, force_a, force_b""",
                {"purpose": purpose, "force": force}).fetchall()]


# --------------------------------------------------------------------------- lookups

LookupRow = tuple[int | None, list[str] | None, bool | None, bool | None, int | None,
                  list[str] | None]
NO_ROW: LookupRow = (None, None, None, None, None, None)


def lookup(con: duckdb.DuckDBPyConnection, purpose: str, own_force: str,
           tokens: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """Hit / no-hit for each (kind, token) a force's liaison sent (see ``lookup_answer``)."""
    return lookup_answer(own_force, tokens,
                         [lookup_row(con, purpose, kind, token) for kind, token in tokens])


def lookup_row(con: duckdb.DuckDBPyConnection, purpose: str, kind: str,
               token: bytes) -> LookupRow:
    """What the store holds for one token: (entity, forces holding it openly, hidden, hub,
    network, the network's forces) — the same for every force asking, so it may be kept
    per snapshot; ``lookup_answer`` cuts it down to what the asking force may learn.

    A point query: lookup_index is sorted by token and entity_view by entity id, so their
    zone maps skip all but one row group (a join over many tokens would scan them whole)."""
    found = con.execute("""
        SELECT v.entity_id, v.open_forces, v.hidden, v.hub, v.network_id, n.forces
        FROM (SELECT entity_id FROM lookup_index
              WHERE token = $token AND token_kind = $kind AND purpose = $purpose
              LIMIT 1) x
        JOIN entity_view v ON v.entity_id = x.entity_id
        LEFT JOIN networks n ON n.network_id = v.network_id""",
        {"token": token, "kind": kind, "purpose": purpose}).fetchall()
    return found[0] if found else NO_ROW


def lookup_answer(own_force: str, tokens: list[tuple[str, bytes]],
                  rows: list[LookupRow]) -> list[dict[str, Any]]:
    """Hit / no-hit for each (kind, token), from its ``lookup_row``.

    A hit names the entity, its network and the *other* forces holding it openly or in
    its network — never a reference, token or attribute of theirs. A force holding the
    entity only as a victim's is never named (so nobody can learn who holds a number by
    looking it up); a stop-listed hub is a no-hit; a no-hit says nothing more.
    """
    out = []
    for (kind, token), row in zip(tokens, rows, strict=True):
        entity_id, open_forces, hidden, hub, network_id, network_forces = row
        holders = set() if entity_id is None or hub else set(open_forces or ()) - {own_force}
        in_network = network_id is not None and not hidden
        others = holders | (set(network_forces or ()) - {own_force} if in_network else set())
        hit = bool(others)
        out.append({"kind": kind, "token": token.hex(), "hit": hit,
                    "entity_id": entity_id if hit else None,
                    "network_id": network_id if hit and in_network else None,
                    "other_forces": sorted(others)})
    return out
