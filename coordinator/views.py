"""Read-side tables built with every `link`, so the service answers from small sorted
tables instead of re-joining millions of references on each request.

- ``entity_view`` — one row per national entity: kind, the purpose it was shared under,
  the forces holding it *openly* (never a force that holds it only as a victim's), whether
  it is hidden (some force flagged it a victim), stop-listed (a hub) and its network.
- ``network_purposes`` — the purpose of each network. Tokens are keyed per purpose, so
  references shared under two purposes never join: every entity, and so every network,
  belongs to exactly one purpose.
- ``lookup_index`` — identifier tokens (phone, e-mail, handle, VRM, IMEI; never person
  match keys) → entity, sorted by token, for hit / no-hit lookups.
- ``force_pairs`` — per purpose and pair of forces: entities both hold openly (hubs and
  victims left out) and networks both are part of.
- ``network_summary`` and ``network_key_members`` — each network with its purpose and link
  kinds, largest first, and only its brokers and key players: a page of the network list
  reads these two small tables, never every member and edge.

All are replaced inside the link's transaction, so readers see the old set or the new.
"""

from __future__ import annotations

import duckdb

from coordinator.graph import match_only_sql, table_exists

VIEW_TABLES = ("entity_view", "network_purposes", "lookup_index", "force_pairs",
               "network_summary", "network_key_members")


def build_views(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """(Re)build the read-side tables from entities, items, submissions and networks."""
    hidden = match_only_sql(con, "i")
    hubs = ("SELECT entity_id FROM network_hubs" if table_exists(con, "network_hubs")
            else "SELECT NULL::BIGINT AS entity_id WHERE false")
    con.execute(f"""
        CREATE OR REPLACE TABLE entity_view AS
        WITH refs AS (
            SELECT e.entity_id, e.kind, e.force, s.purpose, {hidden} AS match_only
            FROM entities e
            LEFT JOIN items i ON i.force = e.force AND i.ref = e.ref
            LEFT JOIN submissions s ON s.payload_id = i.payload_id),
        per_entity AS (
            SELECT entity_id, min(kind) AS kind, min(purpose) AS purpose,
                   coalesce(list_sort(list(DISTINCT force) FILTER (WHERE NOT match_only)),
                            []::VARCHAR[]) AS open_forces,
                   bool_or(match_only) AS hidden
            FROM refs GROUP BY entity_id)
        SELECT p.entity_id, p.kind, coalesce(p.purpose, '') AS purpose, p.open_forces,
               p.hidden, p.entity_id IN ({hubs}) AS hub, m.network_id
        FROM per_entity p LEFT JOIN network_members m USING (entity_id)
        ORDER BY p.entity_id""")
    con.execute("""
        CREATE OR REPLACE TABLE network_purposes AS
        SELECT m.network_id, min(v.purpose) AS purpose
        FROM network_members m JOIN entity_view v USING (entity_id)
        GROUP BY m.network_id ORDER BY m.network_id""")
    con.execute("""
        CREATE OR REPLACE TABLE lookup_index AS
        SELECT v.purpose, t.token_kind, t.token, min(e.entity_id) AS entity_id
        FROM tokens t
        JOIN entities e ON e.force = t.force AND e.ref = t.ref
        JOIN entity_view v ON v.entity_id = e.entity_id
        WHERE t.token_kind NOT LIKE 'mk:%'
        GROUP BY ALL ORDER BY t.token""")
    con.execute("""
        CREATE OR REPLACE TABLE force_pairs AS
        WITH held AS (
            SELECT entity_id, purpose, kind, unnest(open_forces) AS force FROM entity_view
            WHERE NOT hidden AND NOT hub AND len(open_forces) >= 2),
        entities AS (
            SELECT a.purpose, a.force AS force_a, b.force AS force_b,
                   count(*) AS shared_entities,
                   count(*) FILTER (WHERE a.kind = 'person') AS shared_persons
            FROM held a JOIN held b ON a.entity_id = b.entity_id AND a.force < b.force
            GROUP BY ALL),
        part AS (
            SELECT n.network_id, p.purpose, unnest(n.forces) AS force
            FROM networks n JOIN network_purposes p USING (network_id)),
        nets AS (
            SELECT a.purpose, a.force AS force_a, b.force AS force_b,
                   count(*) AS shared_networks
            FROM part a JOIN part b ON a.network_id = b.network_id AND a.force < b.force
            GROUP BY ALL)
        SELECT purpose, force_a, force_b, coalesce(shared_entities, 0) AS shared_entities,
               coalesce(shared_persons, 0) AS shared_persons,
               coalesce(shared_networks, 0) AS shared_networks
        FROM entities FULL OUTER JOIN nets USING (purpose, force_a, force_b)
        ORDER BY ALL""")
    con.execute("""
        CREATE OR REPLACE TABLE network_summary AS
        WITH kinds AS (
            SELECT network_id, list_sort(list(DISTINCT k)) AS link_kinds
            FROM network_edges, unnest(kinds) t(k) GROUP BY network_id)
        SELECT n.network_id, p.purpose, n.forces, len(n.forces) AS n_forces, n.n_persons,
               n.n_identifiers, n.counts_by_kind, n.first_activity, n.last_activity,
               coalesce(k.link_kinds, []::VARCHAR[]) AS link_kinds
        FROM networks n JOIN network_purposes p USING (network_id)
        LEFT JOIN kinds k USING (network_id)
        ORDER BY n.n_persons DESC, n.network_id""")
    con.execute("""
        CREATE OR REPLACE TABLE network_key_members AS
        SELECT * FROM network_members WHERE is_broker OR is_key_player
        ORDER BY network_id, entity_id""")
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in VIEW_TABLES}
