"""Cross-force networks: groups of national entities, joined by the forces' links, that no
single force can see whole.

The steps, Splink-style, each with one job:

1. graph (DuckDB): links mapped through linkage → one weighted edge per entity pair;
2. stop list (DuckDB): identifiers everybody touches (taxi firms, takeaways, helplines) are
   removed, or every force would join one giant "network";
3. ties: occasional contact — a communication with fewer than `min_contacts` calls and
   messages — stays a link but joins nothing. A network member's seized phone holds a few
   calls with friends, some of whom are another group's offenders; were those calls ties,
   one of them would glue that force's local group onto the cross-force network;
4. components (scipy): connected components of the ties left; only those whose visible
   members are held by ≥ `min_forces` forces go on;
5. communities (igraph Leiden on modularity, fixed seed): large components are split, and
   only the communities that still span ≥ `min_forces` forces are kept;
6. roles (igraph betweenness in C, sampled on big networks; SQL ranking): brokers by
   betweenness, key players (persons) by degree.

igraph rather than networkx for 5-6: the national graph holds tens of thousands of
cross-force components; at 1/20 of national scale networkx Louvain + Brandes took 17-35 s
where this takes 5 (bench/bench_networks.py). All networks' betweenness is one C call.
igraph's random generator is process-global: it is seeded per component and restored.

Results land in the tables `networks`, `network_members`, `network_edges` and `network_hubs`,
replaced as a whole in one transaction. The edges are stored, not recomputed when read: they
come from the run's own graph (its link kinds, its stop list), which is gone afterwards, and
rebuilding the national graph on every read would cost a full pass over all links. A
network's id is its smallest visible member entity id, so the same input gives the same ids.
Victim entities (see `graph.py`) may join a network but are never listed, never end an edge
and never add a force.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import duckdb
import igraph as ig
import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pydantic import Field, model_validator
from scipy.sparse.csgraph import connected_components

from coordinator.graph import (
    ENTITY_KINDS,
    LINK_KINDS,
    build_graph_tables,
    drop_graph_tables,
    table_exists,
)
from coordinator.settings import IDENTIFIER_KINDS, Settings
from federation.errors import CrossforceError

NETWORKS_DDL = """
CREATE TABLE networks (
    network_id     BIGINT PRIMARY KEY,   -- smallest visible member entity id
    forces         VARCHAR[] NOT NULL,   -- forces holding its visible members, sorted
    n_persons      BIGINT NOT NULL,
    n_identifiers  BIGINT NOT NULL,
    counts_by_kind MAP(VARCHAR, BIGINT) NOT NULL,
    first_activity DATE,
    last_activity  DATE
)"""

NETWORK_MEMBERS_DDL = """
CREATE TABLE network_members (
    network_id    BIGINT  NOT NULL,
    entity_id     BIGINT  NOT NULL,
    kind          VARCHAR NOT NULL,
    betweenness   DOUBLE  NOT NULL,  -- normalised, within the network
    degree        BIGINT  NOT NULL,  -- distinct neighbours within the network
    is_broker     BOOLEAN NOT NULL,
    is_key_player BOOLEAN NOT NULL,
    forces        VARCHAR[] NOT NULL,  -- forces holding it, sorted (what a drawing colours)
    PRIMARY KEY (network_id, entity_id)
)"""

NETWORK_EDGES_DDL = """
CREATE TABLE network_edges (
    network_id BIGINT    NOT NULL,
    entity_a   BIGINT    NOT NULL,  -- visible members of this network, entity_a < entity_b
    entity_b   BIGINT    NOT NULL,
    kinds      VARCHAR[] NOT NULL,  -- link kinds joining them, sorted
    forces     VARCHAR[] NOT NULL,  -- forces whose own links join them, sorted
    n_links    BIGINT    NOT NULL,
    PRIMARY KEY (network_id, entity_a, entity_b)
)"""

NETWORK_HUBS_DDL = """
CREATE TABLE network_hubs (
    entity_id   BIGINT  PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    degree      BIGINT  NOT NULL,   -- distinct neighbours, all forces
    busy_forces BIGINT  NOT NULL    -- forces in which it has >= hub_busy_degree neighbours
)"""

#: a person's own phone binds tighter than a co-suspect record, which binds tighter than a call
DEFAULT_LINK_WEIGHTS: dict[str, float] = {
    "person_identifier": 10.0, "co_suspect": 3.0, "shared_vehicle": 2.0,
    "shared_address": 1.0, "communication": 1.0}

_MEASURE_SCHEMA = pa.schema([
    ("network_id", pa.int64()), ("entity_id", pa.int64()), ("betweenness", pa.float64()),
    ("degree", pa.int64()), ("strength", pa.float64()),
])


class NetworkSettings(Settings):
    """Every knob of a network run in one validated object; a run is reproducible from it."""

    what: ClassVar[str] = "network settings"

    min_forces: int = Field(
        2, ge=2, description="a network must have visible members held by this many forces")
    min_persons: int = Field(
        2, ge=1, description="a network must hold this many visible persons (one person "
        "with their phones is an entity hit, not a network)")
    link_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_LINK_WEIGHTS), min_length=1,
        description="link kinds that make edges, and how much one such link counts when "
        "communities are found (times 1 + log2 of a communication's bucketed count)")
    min_contacts: int = Field(
        5, ge=1, description="a communication joins its two phones into one network only "
        "with at least this many calls and messages (the force's bucketed count); fewer is "
        "occasional contact — a friend called now and then — kept as a link but not a tie. "
        "Compared with the bucket's lower bound, so it works best on a bucket boundary")
    hub_kinds: tuple[str, ...] = Field(
        IDENTIFIER_KINDS, description="entity kinds that can be stop-listed as hubs; "
        "persons are not by default (a county-lines runner is high-degree for a reason)")
    hub_max_degree: int = Field(
        500, ge=2, description="stop-list an entity linked to more distinct entities than "
        "this, nationally")
    hub_busy_degree: int = Field(
        10, ge=2, description="an entity is busy in a force when that force links it to at "
        "least this many distinct entities")
    hub_busy_forces: int = Field(
        4, ge=2, description="stop-list an entity busy in at least this many forces (a taxi "
        "firm or takeaway every force's suspects call)")
    community_min_nodes: int = Field(
        300, ge=3, description="components with more entities than this are split into "
        "Leiden communities; smaller ones are one network each (splitting cuts at force "
        "borders first, where ties are fewest, so split only what is too big to read)")
    bridge_boost: float = Field(
        5.0, ge=1.0, description="community detection weighs an edge touching an entity "
        "held by several forces this many times more (else communities split at force "
        "borders, where ties are fewest, and cross-force networks vanish)")
    resolution: float = Field(
        1.0, gt=0.0, description="modularity resolution: above 1 gives smaller communities")
    seed: int = Field(20_240_601, ge=0, description="seed for Leiden and sampled "
                      "betweenness, so a run is repeatable")
    betweenness_exact_max: int = Field(
        500, ge=3, description="networks up to this many entities get exact betweenness")
    betweenness_samples: int = Field(
        200, ge=2, description="source samples for approximate betweenness on bigger ones")
    n_brokers: int = Field(3, ge=0, description="members flagged as brokers per network")
    n_key_players: int = Field(3, ge=0, description="persons flagged as key players")

    @model_validator(mode="after")
    def _known_kinds(self) -> NetworkSettings:
        bad_links = sorted(set(self.link_weights) - set(LINK_KINDS))
        if bad_links:
            raise ValueError(f"unknown link kinds {bad_links}; known: {list(LINK_KINDS)}")
        if any(w <= 0 for w in self.link_weights.values()):
            raise ValueError("link_weights must be positive (leave a kind out to ignore it)")
        bad_hubs = sorted(set(self.hub_kinds) - set(ENTITY_KINDS))
        if bad_hubs:
            raise ValueError(f"unknown hub_kinds {bad_hubs}; known: {list(ENTITY_KINDS)}")
        if self.hub_busy_degree > self.hub_max_degree:
            raise ValueError("hub_busy_degree must not exceed hub_max_degree")
        return self


@dataclass(frozen=True)
class NetworkMember:
    entity_id: int
    kind: str
    betweenness: float
    degree: int
    is_broker: bool
    is_key_player: bool
    forces: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkEdge:
    """Two visible members that some force linked: pseudonymous entity ids only."""

    entity_a: int
    entity_b: int
    kinds: tuple[str, ...]
    forces: tuple[str, ...]
    n_links: int


@dataclass(frozen=True)
class Network:
    network_id: int
    forces: tuple[str, ...]
    n_persons: int
    n_identifiers: int
    counts_by_kind: dict[str, int]
    first_activity: dt.date | None
    last_activity: dt.date | None
    members: tuple[NetworkMember, ...] = field(default=())
    edges: tuple[NetworkEdge, ...] = field(default=())

    @property
    def brokers(self) -> tuple[NetworkMember, ...]:
        """Members that bridge the network, highest betweenness first."""
        return tuple(sorted((m for m in self.members if m.is_broker),
                            key=lambda m: (-m.betweenness, m.entity_id)))

    @property
    def key_players(self) -> tuple[NetworkMember, ...]:
        """The most connected persons, highest degree first."""
        return tuple(sorted((m for m in self.members if m.is_key_player),
                            key=lambda m: (-m.degree, m.entity_id)))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for `--json` output and the API."""
        return {
            "network_id": self.network_id, "forces": list(self.forces),
            "n_persons": self.n_persons, "n_identifiers": self.n_identifiers,
            "counts_by_kind": dict(self.counts_by_kind),
            "first_activity": self.first_activity.isoformat() if self.first_activity else None,
            "last_activity": self.last_activity.isoformat() if self.last_activity else None,
            "brokers": [m.entity_id for m in self.brokers],
            "key_players": [m.entity_id for m in self.key_players],
            "members": [{**asdict(m), "forces": list(m.forces)} for m in self.members],
            "edges": [{**asdict(e), "kinds": list(e.kinds), "forces": list(e.forces)}
                      for e in self.edges],
        }


def find_networks(con: duckdb.DuckDBPyConnection, settings: NetworkSettings | None = None,
                  *, own_transaction: bool = True) -> list[Network]:
    """Find the cross-force networks, store them, and return them (largest first).

    `own_transaction=False` lets a caller write the results and its ledger entry in one
    transaction it opened itself.
    """
    s = settings or NetworkSettings()
    try:
        build_graph_tables(con, s.link_weights, s.min_contacts)
        _stop_list_hubs(con, s)
        src, dst, weight = _kept_edges(con, s)
        node_network, measures = _partition(con, s, src, dst, weight)
        _store(con, s, node_network, measures, own_transaction)
    finally:
        # cleanup must not mask the real error (e.g. in a caller's aborted transaction)
        with contextlib.suppress(duckdb.Error):
            for t in ("_nw_hubs", "_nw_kept", "_nw_node_network", "_nw_members"):
                con.execute(f"DROP TABLE IF EXISTS {t}")
            drop_graph_tables(con)
    return load_networks(con)


def load_networks(con: duckdb.DuckDBPyConnection) -> list[Network]:
    """The stored networks with their members, most persons first."""
    if not table_exists(con, "networks"):
        raise CrossforceError("no networks stored yet; run `crossforce coordinator networks`")
    members: dict[int, list[NetworkMember]] = {}
    for row in con.execute("""
            SELECT network_id, entity_id, kind, betweenness, degree, is_broker, is_key_player,
                   forces
            FROM network_members ORDER BY network_id, entity_id""").fetchall():
        members.setdefault(row[0], []).append(NetworkMember(*row[1:-1], tuple(row[-1])))
    if not table_exists(con, "network_edges"):
        raise CrossforceError("the stored networks predate network edges; run "
                              "`crossforce coordinator link` again")
    edges: dict[int, list[NetworkEdge]] = {}
    for nid, a, b, kinds, forces, n_links in con.execute("""
            SELECT network_id, entity_a, entity_b, kinds, forces, n_links
            FROM network_edges ORDER BY network_id, entity_a, entity_b""").fetchall():
        edges.setdefault(nid, []).append(NetworkEdge(a, b, tuple(kinds), tuple(forces),
                                                     n_links))
    rows = con.execute("""
        SELECT network_id, forces, n_persons, n_identifiers, counts_by_kind,
               first_activity, last_activity
        FROM networks ORDER BY n_persons DESC, network_id""").fetchall()
    return [Network(nid, tuple(forces), n_p, n_i, dict(counts), first, last,
                    tuple(members.get(nid, ())), tuple(edges.get(nid, ())))
            for nid, forces, n_p, n_i, counts, first, last in rows]


def _stop_list_hubs(con: duckdb.DuckDBPyConnection, s: NetworkSettings) -> None:
    """`_nw_hubs`: identifiers too widely linked to mean anything; `_nw_kept`: the other
    edges that are ties. Hubs are found over every link, occasional contacts included: a
    taxi firm is a hub because hundreds call it once."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _nw_hubs AS
        WITH degree AS (
            SELECT entity_id, count(*) AS degree
            FROM (SELECT src AS entity_id FROM _graph_edges
                  UNION ALL SELECT dst FROM _graph_edges)
            GROUP BY entity_id),
        candidate AS (
            SELECT d.entity_id, d.degree, g.kind FROM degree d JOIN _graph_entity g
            USING (entity_id) WHERE d.degree >= $busy AND list_contains($kinds, g.kind)),
        per_force AS (  -- distinct neighbours in each force's own links
            SELECT entity_id, force, count(DISTINCT other) AS d
            FROM (SELECT a AS entity_id, b AS other, force FROM _graph_link_ends
                  WHERE a IN (SELECT entity_id FROM candidate)
                  UNION ALL
                  SELECT b, a, force FROM _graph_link_ends
                  WHERE b IN (SELECT entity_id FROM candidate))
            GROUP BY ALL),
        busy AS (SELECT entity_id, count(*) AS busy_forces FROM per_force WHERE d >= $busy
                 GROUP BY entity_id)
        SELECT c.entity_id, c.kind, c.degree, coalesce(b.busy_forces, 0) AS busy_forces
        FROM candidate c LEFT JOIN busy b USING (entity_id)
        WHERE c.degree > $max_degree OR coalesce(b.busy_forces, 0) >= $busy_forces""",
                {"busy": s.hub_busy_degree, "kinds": list(s.hub_kinds),
                 "max_degree": s.hub_max_degree, "busy_forces": s.hub_busy_forces})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _nw_kept AS
        SELECT e.* FROM _graph_edges e
        WHERE e.tie AND e.src NOT IN (SELECT entity_id FROM _nw_hubs)
          AND e.dst NOT IN (SELECT entity_id FROM _nw_hubs)""")


def _kept_edges(con: duckdb.DuckDBPyConnection, s: NetworkSettings
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges as arrays; an edge touching an entity several forces hold weighs `bridge_boost`
    times more, so communities keep the cross-force ties they exist to find."""
    cols = con.execute("""
        SELECT e.src, e.dst,
               e.weight * CASE WHEN a.multi_force OR b.multi_force THEN $boost ELSE 1 END
                   AS weight
        FROM _nw_kept e JOIN _graph_entity a ON a.entity_id = e.src
        JOIN _graph_entity b ON b.entity_id = e.dst""", {"boost": s.bridge_boost}
                       ).fetchnumpy()
    return (np.asarray(cols["src"], np.int64), np.asarray(cols["dst"], np.int64),
            np.asarray(cols["weight"], np.float64))


def _spanning(con: duckdb.DuckDBPyConnection, s: NetworkSettings, entity_ids: np.ndarray,
              groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of these groups of entities, the ones that make a cross-force network.

    Returns (entity_id, network_id) for every entity of a kept group, hidden ones included;
    network_id is the group's smallest visible entity id.
    """
    con.register("_nw_groups", pa.table({"entity_id": entity_ids, "grp": groups}))
    try:
        cols = con.execute("""
            WITH node AS (
                SELECT c.entity_id, c.grp, g.kind, g.hidden
                FROM _nw_groups c JOIN _graph_entity g USING (entity_id)),
            span AS (
                SELECT n.grp FROM node n JOIN _graph_entity_force f USING (entity_id)
                GROUP BY n.grp HAVING count(DISTINCT f.force) >= $min_forces),
            head AS (
                SELECT grp, min(entity_id) FILTER (WHERE NOT hidden) AS network_id
                FROM node GROUP BY grp
                HAVING count(*) FILTER (WHERE kind = 'person' AND NOT hidden) >= $min_persons)
            SELECT n.entity_id, h.network_id
            FROM node n JOIN head h USING (grp) SEMI JOIN span USING (grp)
            ORDER BY n.entity_id""",
                           {"min_forces": s.min_forces, "min_persons": s.min_persons}
                           ).fetchnumpy()
    finally:
        con.unregister("_nw_groups")
    return (np.asarray(cols["entity_id"], np.int64), np.asarray(cols["network_id"], np.int64))


def _communities(s: NetworkSettings, labels: np.ndarray, big: np.ndarray, a: np.ndarray,
                 b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Split each big component into Leiden (modularity) communities; new labels per node.

    Edges are sorted and the generator re-seeded per component, so the same input gives the
    same communities whatever order DuckDB returned the edges in.
    """
    labels = labels.astype(np.int64)
    edge_comp = labels[a]
    mask = np.isin(edge_comp, big)
    order = np.lexsort((b[mask], a[mask], edge_comp[mask]))
    ea, eb, ew, ec = a[mask][order], b[mask][order], w[mask][order], edge_comp[mask][order]
    starts = np.flatnonzero(np.r_[True, ec[1:] != ec[:-1]]) if len(ec) else np.array([], int)
    stops = np.r_[starts[1:], len(ec)]
    next_label = int(labels.max()) + 1
    try:
        for lo, hi in zip(starts.tolist(), stops.tolist(), strict=True):
            vertices, local = np.unique(np.r_[ea[lo:hi], eb[lo:hi]], return_inverse=True)
            graph = ig.Graph(n=len(vertices),
                             edges=np.column_stack([local[:hi - lo], local[hi - lo:]]).tolist())
            ig.set_random_number_generator(random.Random(s.seed))
            membership = np.asarray(graph.community_leiden(
                objective_function="modularity", weights=ew[lo:hi].tolist(),
                resolution=s.resolution, n_iterations=-1).membership, np.int64)
            labels[vertices] = next_label + membership
            next_label += int(membership.max()) + 1
    finally:
        ig.set_random_number_generator(random)
    return labels


def _partition(con: duckdb.DuckDBPyConnection, s: NetworkSettings, src: np.ndarray,
               dst: np.ndarray, weight: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """Entity → network (hidden entities included), and per-entity centrality measures."""
    no_networks = (pa.table({"entity_id": pa.array([], pa.int64()),
                             "network_id": pa.array([], pa.int64())}),
                   _MEASURE_SCHEMA.empty_table())
    if len(src) == 0:
        return no_networks
    nodes, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
    m = len(src)
    a, b = inverse[:m], inverse[m:]
    adjacency = sp.coo_matrix((np.ones(m, np.int8), (a, b)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(adjacency, directed=False)

    # Most components are one force's business: drop them before any graph analysis. A
    # force links only its own references, so a component can span forces only through an
    # entity several forces hold — a cheap numpy test first, then the exact one in SQL.
    shared = con.execute("SELECT entity_id FROM _graph_entity WHERE multi_force").fetchnumpy()
    bridged = np.isin(labels, labels[np.isin(nodes, shared["entity_id"])])
    kept_ids, _ = _spanning(con, s, nodes[bridged], labels[bridged].astype(np.int64))
    if not len(kept_ids):
        return no_networks
    candidate = np.zeros(len(nodes), bool)
    candidate[np.searchsorted(nodes, kept_ids)] = True
    sizes = np.bincount(labels)
    kept_components = np.unique(labels[candidate])
    big = kept_components[sizes[kept_components] > s.community_min_nodes]
    if len(big):
        labels = _communities(s, labels, big, a, b, weight)
    member_ids, network_ids = _spanning(con, s, nodes[candidate], labels[candidate])
    if not len(member_ids):
        return no_networks

    network_of = np.full(len(nodes), -1, np.int64)
    network_of[np.searchsorted(nodes, member_ids)] = network_ids
    intra = (network_of[a] == network_of[b]) & (network_of[a] >= 0)
    ia, ib, iw = a[intra], b[intra], weight[intra]
    degree = np.bincount(np.r_[ia, ib], minlength=len(nodes))
    strength = np.bincount(np.r_[ia, ib], np.r_[iw, iw], minlength=len(nodes))
    member_nodes = np.searchsorted(nodes, member_ids)
    between = _betweenness(s, network_of, member_nodes, ia, ib)
    measures = pa.table({
        "network_id": network_ids, "entity_id": member_ids,
        "betweenness": between, "degree": degree[member_nodes],
        "strength": strength[member_nodes]}, schema=_MEASURE_SCHEMA)
    return pa.table({"entity_id": member_ids, "network_id": network_ids}), measures


def _betweenness(s: NetworkSettings, network_of: np.ndarray, member_nodes: np.ndarray,
                 ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Normalised betweenness of each member within its own network (igraph, in C).

    All networks go into one graph (they share no edge, so no path crosses between them);
    a network above `betweenness_exact_max` entities is estimated from sampled sources.
    """
    local = np.full(len(network_of), -1, np.int64)
    local[member_nodes] = np.arange(len(member_nodes))
    la, lb = local[ia], local[ib]
    _, net_index, net_size = np.unique(network_of[member_nodes], return_inverse=True,
                                       return_counts=True)
    exact = net_size[net_index] <= s.betweenness_exact_max
    between = np.zeros(len(member_nodes))
    if exact.any():
        keep = exact[la]
        graph = ig.Graph(n=len(member_nodes),
                         edges=np.column_stack([la[keep], lb[keep]]).tolist())
        between[exact] = np.asarray(graph.betweenness(
            vertices=np.flatnonzero(exact).tolist(), directed=False))
    rng = np.random.default_rng(s.seed)
    for big in np.flatnonzero(net_size > s.betweenness_exact_max):
        vertices = np.flatnonzero(net_index == big)
        keep = net_index[la] == big
        pos_a, pos_b = np.searchsorted(vertices, la[keep]), np.searchsorted(vertices, lb[keep])
        graph = ig.Graph(n=len(vertices), edges=np.column_stack([pos_a, pos_b]).tolist())
        k = min(s.betweenness_samples, len(vertices))
        sources = np.sort(rng.choice(len(vertices), k, replace=False))
        sampled = np.asarray(graph.betweenness(directed=False, sources=sources.tolist()))
        between[vertices] = sampled * len(vertices) / k
    n = net_size[net_index].astype(np.float64)
    scale = np.divide(2.0, (n - 1) * (n - 2), out=np.zeros_like(n), where=n > 2)
    return between * scale


def _store(con: duckdb.DuckDBPyConnection, s: NetworkSettings, node_network: pa.Table,
           measures: pa.Table, own_transaction: bool) -> None:
    """Replace networks, network_members, network_edges and network_hubs as one unit.

    Hidden (victim) entities are dropped here, before brokers and key players are ranked.
    """
    con.register("_nw_node_network_arrow", node_network)
    con.register("_nw_measures_arrow", measures)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _nw_node_network AS "
                    "SELECT * FROM _nw_node_network_arrow")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _nw_members AS
            SELECT m.network_id, m.entity_id, g.kind, m.betweenness, m.degree,
                   m.betweenness > 0 AND row_number() OVER (
                       PARTITION BY m.network_id
                       ORDER BY m.betweenness DESC, m.entity_id) <= $n_brokers AS is_broker,
                   g.kind = 'person' AND row_number() OVER (
                       PARTITION BY m.network_id, g.kind = 'person'
                       ORDER BY m.degree DESC, m.strength DESC, m.betweenness DESC,
                                m.entity_id) <= $n_key_players AS is_key_player,
                   f.forces
            FROM _nw_measures_arrow m JOIN _graph_entity g USING (entity_id)
            JOIN (SELECT entity_id, list_sort(list(force)) AS forces  -- members only
                  FROM _graph_entity_force
                  WHERE entity_id IN (SELECT entity_id FROM _nw_measures_arrow)
                  GROUP BY entity_id) f USING (entity_id)
            WHERE NOT g.hidden""", {"n_brokers": s.n_brokers,
                                    "n_key_players": s.n_key_players})
    finally:
        con.unregister("_nw_node_network_arrow")
        con.unregister("_nw_measures_arrow")
    if own_transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        for table, ddl in (("network_members", NETWORK_MEMBERS_DDL),
                           ("network_edges", NETWORK_EDGES_DDL),
                           ("networks", NETWORKS_DDL), ("network_hubs", NETWORK_HUBS_DDL)):
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(ddl)
        con.execute("""
            INSERT INTO network_members
            SELECT network_id, entity_id, kind, betweenness, degree, is_broker, is_key_player,
                   forces
            FROM _nw_members ORDER BY network_id, entity_id""")
        # Both ends visible members of the same network: a victim (hidden) entity is never
        # a member, nor is a stop-listed hub, so neither ever ends an edge.
        con.execute("""
            INSERT INTO network_edges
            SELECT x.network_id, least(l.a, l.b) AS entity_a, greatest(l.a, l.b) AS entity_b,
                   list_sort(list(DISTINCT l.kind)), list_sort(list(DISTINCT l.force)),
                   count(*)
            FROM _graph_link_ends l
            JOIN network_members x ON x.entity_id = l.a
            JOIN network_members y ON y.entity_id = l.b AND y.network_id = x.network_id
            GROUP BY ALL ORDER BY ALL""")
        con.execute("""
            INSERT INTO networks
            WITH per_kind AS (
                SELECT network_id, kind, count(*) AS n FROM network_members GROUP BY ALL),
            counts AS (
                SELECT network_id,
                       map(list(kind ORDER BY kind), list(n ORDER BY kind)) AS counts_by_kind,
                       coalesce(sum(n) FILTER (WHERE kind = 'person'), 0) AS n_persons,
                       coalesce(sum(n) FILTER (WHERE kind <> 'person'), 0) AS n_identifiers
                FROM per_kind GROUP BY network_id),
            forces AS (
                SELECT m.network_id, list_sort(list(DISTINCT f.force)) AS forces
                FROM network_members m JOIN _graph_entity_force f USING (entity_id)
                GROUP BY m.network_id),
            activity AS (
                SELECT x.network_id, min(e.first_seen) AS first_activity,
                       max(e.last_seen) AS last_activity
                FROM _nw_kept e
                JOIN _nw_node_network x ON x.entity_id = e.src
                JOIN _nw_node_network y ON y.entity_id = e.dst AND y.network_id = x.network_id
                GROUP BY x.network_id)
            SELECT network_id, forces, n_persons, n_identifiers, counts_by_kind,
                   first_activity, last_activity
            FROM counts JOIN forces USING (network_id) LEFT JOIN activity USING (network_id)
            ORDER BY network_id""")
        con.execute("""
            INSERT INTO network_hubs
            SELECT entity_id, kind, degree, busy_forces FROM _nw_hubs ORDER BY entity_id""")
        if own_transaction:
            con.execute("COMMIT")
    except BaseException:
        if own_transaction:
            con.execute("ROLLBACK")
        raise
