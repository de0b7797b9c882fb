"""Linkage: from the tokens in the coordinator store to national entities.

    link(con, settings) -> LinkageResult

reads `items` and `tokens` (opaque 16-byte BLOBs only, checked first), and replaces the
`entities(force, ref, kind, entity_id, score)` and `person_links` tables. Steps, each its
own module: blocking (shared match-key tokens) → scoring (Fellegi–Sunter, EM) →
clustering (one-to-one, connected components, veto split); scoring and clustering run
`settings.passes` times, each pass learning u without the pairs the pass before joined.
Same store + settings → byte-identical tables (ties broken by node id, sums exact or in
a fixed order).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb

from coordinator.blocking import block_persons, number_nodes
from coordinator.clustering import accept_person_links, cluster, identifier_edges
from coordinator.schema import ENTITIES_DDL, PERSON_LINKS_DDL, check_linkage_inputs
from coordinator.scoring import MatchWeights, estimate_weights, score_pairs
from coordinator.settings import LinkageSettings


@dataclass(frozen=True)
class LinkageResult:
    """Counts of one run (for the ledger's `combination` entry) and what EM learnt."""

    items: int
    candidate_pairs: int
    person_links: int
    entities: int
    cross_force_entities: int
    weights: MatchWeights
    seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"items": self.items, "candidate_pairs": self.candidate_pairs,
                "person_links": self.person_links, "entities": self.entities,
                "cross_force_entities": self.cross_force_entities}


def link(con: duckdb.DuckDBPyConnection, settings: LinkageSettings | None = None, *,
         own_transaction: bool = True) -> LinkageResult:
    """Link every item in the store into national entities; see the module docstring.

    `own_transaction=False` lets a caller commit the new entities together with what it
    derives from them (networks) and its ledger entry.
    """
    settings = settings or LinkageSettings()
    check_linkage_inputs(con)
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - t
        t = now

    n_nodes = number_nodes(con)
    n_pairs = block_persons(con, settings)
    lap("blocking")
    identifier_edges(con, settings)
    for i in range(settings.passes):
        # pass 1 learns chance agreement (u) from pairs of different fingerprints; each
        # later pass from pairs of different entities of the pass before, so a person's
        # own duplicate records are not mistaken for chance
        weights = estimate_weights(con, settings, entities=i > 0)
        score_pairs(con, settings, weights)
        lap("scoring")
        accept_person_links(con, settings)
        cluster(con, n_nodes, settings)
        lap("clustering")
    n_links = con.execute("SELECT count(*) FROM lk_accepted").fetchone()[0]
    if own_transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DROP TABLE IF EXISTS entities")
        con.execute(ENTITIES_DDL)
        con.execute("""
            INSERT INTO entities
            SELECT n.force, n.ref, n.kind, e.entity_id, e.score
            FROM lk_entity e JOIN lk_nodes n USING (node)""")
        con.execute("DROP TABLE IF EXISTS person_links")
        con.execute(PERSON_LINKS_DDL)
        con.execute("""
            INSERT INTO person_links
            SELECT na.force, na.ref, nb.force, nb.ref, s.agreeing_keys, s.match_weight,
                   s.match_probability
            FROM lk_accepted a
            JOIN lk_scored s USING (node_a, node_b)
            JOIN lk_nodes na ON na.node = a.node_a
            JOIN lk_nodes nb ON nb.node = a.node_b""")
        if own_transaction:
            con.execute("COMMIT")
    except Exception:
        if own_transaction:
            con.execute("ROLLBACK")
        raise
    # from the integer tables, not `entities` (force names, no count(DISTINCT)): an
    # entity spans forces when its smallest and largest force ids differ
    n_entities, n_cross = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE lo <> hi) FROM (
            SELECT e.entity_id, min(n.force_id) AS lo, max(n.force_id) AS hi
            FROM lk_entity e JOIN lk_nodes n USING (node) GROUP BY e.entity_id)
    """).fetchall()[0]
    lap("writing")
    _drop_temp(con)
    return LinkageResult(n_nodes, n_pairs, n_links, n_entities, n_cross, weights, seconds)


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_name LIKE 'lk\\_%' ESCAPE '\\' AND table_type = 'LOCAL TEMPORARY'"
    ).fetchall():
        con.execute(f"DROP TABLE IF EXISTS {name}")
