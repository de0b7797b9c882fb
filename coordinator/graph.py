"""The national entity graph: every force's links, mapped through linkage, as one edge list.

A force only links its own references, so the graph crosses force borders only where
linkage says two forces' references are one national entity. The join and the aggregation
run in DuckDB; analysis code gets numpy arrays, never Python rows per link.

Victim (match-only) references take part in the graph — they may connect two halves of a
network — but an entity any force flagged match-only is *hidden*: it is never a listed
member, broker or key player, and it never makes a force part of a network.
"""

from __future__ import annotations

import duckdb

from coordinator.schema import ENTITIES_DDL, create_linkage_tables
from coordinator.settings import IDENTIFIER_KINDS
from federation.errors import CrossforceError

ENTITY_KINDS: tuple[str, ...] = ("person", *IDENTIFIER_KINDS)
LINK_KINDS: tuple[str, ...] = ("person_identifier", "co_suspect", "communication",
                               "shared_address", "shared_vehicle")

#: The pseudonymous links a force sent between its own references. `schema.py` (linkage)
#: does not define it; the store creates it with these columns.
LINKS_DDL = """
CREATE TABLE IF NOT EXISTS links (
    force      VARCHAR NOT NULL,
    ref_a      BLOB    NOT NULL,
    ref_b      BLOB    NOT NULL,
    kind       VARCHAR NOT NULL,  -- person_identifier, co_suspect, communication, ...
    weight     INTEGER,           -- bucketed count (communications); NULL counts as 1
    first_seen DATE,
    last_seen  DATE
)"""

#: table -> columns the graph reads
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "entities": ("force", "ref", "kind", "entity_id"),
    "links": ("force", "ref_a", "ref_b", "kind", "weight", "first_seen", "last_seen"),
    "items": ("force", "ref", "kind"),
}


def create_graph_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the store tables the graph reads, if missing: linkage's items/tokens/entities
    (items gains `match_only`, the victim flag, which linkage's schema lacks) and `links`."""
    create_linkage_tables(con)
    con.execute(ENTITIES_DDL)
    con.execute("ALTER TABLE items ADD COLUMN IF NOT EXISTS match_only BOOLEAN DEFAULT false")
    con.execute(LINKS_DDL)


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = current_schema()", [table]).fetchall()
    return {r[0] for r in rows}


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(table_columns(con, table))


def check_graph_inputs(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...] = (
        "entities", "links", "items")) -> None:
    """Refuse to start unless the store holds the tables and columns the graph needs."""
    for table in tables:
        have = table_columns(con, table)
        if not have:
            hint = ("run `crossforce coordinator link` first" if table == "entities"
                    else "submit payloads first")
            raise CrossforceError(f"coordinator store has no `{table}` table; {hint}")
        missing = [c for c in REQUIRED_COLUMNS[table] if c not in have]
        if missing:
            raise CrossforceError(f"table `{table}` lacks column(s) {', '.join(missing)}")


def match_only_sql(con: duckdb.DuckDBPyConnection, alias: str = "i") -> str:
    """SQL truth of "this reference is a victim's, for matching only" over `items` AS alias.

    Belt and braces: an item flagged `match_only` or carrying the role `victim` is hidden,
    and so is a reference `items` does not know (a missing row must not reveal anything).
    """
    parts = [f"{alias}.force IS NULL"]
    cols = table_columns(con, "items")
    if "match_only" in cols:
        parts.append(f"coalesce({alias}.match_only, false)")
    if "role" in cols:
        parts.append(f"coalesce({alias}.role = 'victim', false)")
    return "(" + " OR ".join(parts) + ")"


def build_reference_table(con: duckdb.DuckDBPyConnection, name: str = "_graph_refs") -> None:
    """Temp table (force, ref, kind, entity_id, score, match_only): entities + victim flag."""
    hidden = match_only_sql(con)
    score = "e.score" if "score" in table_columns(con, "entities") else "NULL::DOUBLE"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT e.force, e.ref, e.kind, e.entity_id, {score} AS score, {hidden} AS match_only
        FROM entities e LEFT JOIN items i ON i.force = e.force AND i.ref = e.ref""")


def build_graph_tables(con: duckdb.DuckDBPyConnection, link_weights: dict[str, float],
                       min_contacts: int = 1) -> None:
    """Temp tables for one analysis run, over the link kinds in `link_weights`.

    An edge's weight is the sum over its links of `link_weights[kind] * (1 + log2(count))`:
    a bucketed count of 50 messages is stronger than one, but not 50 times stronger than
    the record that says a phone is that person's.

    A link is a *tie* unless it is a communication with fewer than `min_contacts` calls and
    messages (its bucketed count, as the force disclosed it): occasional contact is kept
    as a link, but network finding joins entities through ties only.

    `_graph_entity(entity_id, kind, hidden, multi_force)` — every entity, its victim flag and
    whether several forces hold it (openly or not);
    `_graph_entity_force(entity_id, force)` — the forces that hold a visible entity openly;
    `_graph_link_ends(a, b, force, kind, weight, tie, first_seen, last_seen)` — each link,
    as entities;
    `_graph_edges(src, dst, weight, n_links, tie, first_seen, last_seen)` — one row per pair
    of distinct entities (src < dst) that some force linked; `tie` if any of its links is.
    """
    check_graph_inputs(con)
    build_reference_table(con)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _graph_entity AS
        SELECT entity_id, min(kind) AS kind, bool_or(match_only) AS hidden,
               min(force) <> max(force) AS multi_force
        FROM _graph_refs GROUP BY entity_id""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _graph_entity_force AS
        SELECT DISTINCT r.entity_id, r.force
        FROM _graph_refs r JOIN _graph_entity g USING (entity_id)
        WHERE NOT g.hidden""")
    # Refs are random 16 bytes: join on the ref alone, then check the force (cheaper).
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _graph_link_ends AS
        SELECT a.entity_id AS a, b.entity_id AS b, l.force, l.kind,
               w.weight * (1 + log2(greatest(coalesce(l.weight, 1), 1))) AS weight,
               l.kind <> 'communication' OR coalesce(l.weight, 1) >= $min_contacts AS tie,
               l.first_seen, coalesce(l.last_seen, l.first_seen) AS last_seen
        FROM links l
        JOIN (SELECT unnest($kinds) AS kind, unnest($weights) AS weight) w ON w.kind = l.kind
        JOIN _graph_refs a ON a.ref = l.ref_a
        JOIN _graph_refs b ON b.ref = l.ref_b
        WHERE a.force = l.force AND b.force = l.force AND a.entity_id <> b.entity_id""",
                {"kinds": list(link_weights), "weights": list(link_weights.values()),
                 "min_contacts": min_contacts})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _graph_edges AS
        SELECT least(a, b) AS src, greatest(a, b) AS dst, sum(weight) AS weight,
               count(*)::BIGINT AS n_links, bool_or(tie) AS tie, min(first_seen) AS first_seen,
               max(last_seen) AS last_seen
        FROM _graph_link_ends GROUP BY ALL""")


def drop_graph_tables(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("_graph_refs", "_graph_entity", "_graph_entity_force", "_graph_link_ends",
              "_graph_edges"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
