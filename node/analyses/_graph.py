"""The node's relationship graph, built in DuckDB and measured with igraph.

Entities (node ids are ``type:key``): ``person:`` a resolved person (all records of one
person are one node, labelled with the person id ``node resolve`` chose), ``phone:`` an
E.164 number, ``email:``, ``handle:`` (platform:handle), ``vehicle:`` a VRM, ``address:``
(UPRN, else address and postcode), ``crime:``, and ``device:`` a seized device whose own
number is unknown. Links (``kind``): the role in a crime (suspect, victim, ...), ``owns``
(an identifier recorded for a person), ``device owner`` (the seized device's number),
``lives at``, ``uses vehicle``, ``intel`` (two persons in one intelligence report) and
``contact`` (calls and messages between two numbers, weight = how many, directed from
caller/sender to receiver).

Everything row-shaped is SQL (temp tables ``g_nodes``, ``g_edges``); igraph gets integer
edge arrays. Measures run on the *persons view* by default: an identifier recorded for
exactly one person is folded into that person, so calls between two suspects' phones are a
link between the two suspects.
"""

from __future__ import annotations

import contextlib
import random
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import igraph as ig
import numpy as np

from federation.errors import CrossforceError
from federation.normalise import normalise_email, normalise_phone, normalise_vrm

#: exact betweenness and closeness while vertices x edges stays under this (a few seconds
#: on one core); above it both are estimated from SAMPLE_SOURCES sampled source vertices
EXACT_WORK = 2e8
SAMPLE_SOURCES = 256
#: Leiden passes (igraph's default; running until nothing moves costs 5-10x more on a large
#: graph for a modularity a fraction of a per cent higher)
LEIDEN_ITERATIONS = 2
TYPES = ("person", "phone", "email", "handle", "vehicle", "address", "crime", "device")


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs (nothing when stderr is not a terminal)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


def build(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables ``g_person`` (record → person node), ``g_edges`` (src, dst, kind, weight,
    directed, date, label) and ``g_nodes`` (idx, id, type, label, description)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE g_person AS
        SELECT p.person_id, 'person:' || coalesce(r.local_person, p.person_id) AS node
        FROM persons p LEFT JOIN person_resolution r USING (person_id)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE g_edges AS
        WITH own AS (
            SELECT DISTINCT g.node AS src, i.kind || ':' || i.value_norm AS dst,
                   'owns' AS kind, i.first_seen AS date, i.kind AS label
            FROM identifiers i JOIN g_person g USING (person_id)
            WHERE i.kind IN ('phone', 'email', 'handle') AND i.value_norm IS NOT NULL),
        dev AS (
            SELECT g.node, coalesce('phone:' || d.owner_number_e164, 'device:' || d.device_id),
                   'device owner', d.extraction_date::DATE, d.device_id
            FROM devices d JOIN g_person g USING (person_id)),
        role AS (
            SELECT DISTINCT g.node, 'crime:' || r.crime_id, r.role, c.date_from, r.role
            FROM roles r JOIN g_person g USING (person_id)
            LEFT JOIN crimes c USING (crime_id)),
        addr AS (
            SELECT DISTINCT g.node, 'address:' || coalesce(a.uprn::VARCHAR,
                   upper(trim(a.address)) || ', ' || coalesce(a.postcode_norm, '')),
                   'lives at', a.valid_from, a.location_type
            FROM addresses a JOIN g_person g USING (person_id)
            WHERE a.uprn IS NOT NULL OR a.address IS NOT NULL),
        veh AS (
            SELECT DISTINCT g.node, 'vehicle:' || v.vrm_norm, 'uses vehicle', NULL::DATE,
                   NULL FROM vehicles v JOIN g_person g USING (person_id)
            WHERE v.vrm_norm IS NOT NULL),
        intel AS (
            SELECT a.node, b.node, 'intel', min(i.report_date),
                   string_agg(DISTINCT l.intel_id || ' ' || coalesce(i.source_evaluation, '')
                              || coalesce(i.intelligence_assessment, '')
                              || coalesce(i.handling_code, ''), '; ')
            FROM intel_links l JOIN g_person a USING (person_id)
            JOIN intel_links l2 ON l2.intel_id = l.intel_id
            JOIN g_person b ON b.person_id = l2.person_id AND a.node < b.node
            LEFT JOIN intel i ON i.intel_id = l.intel_id
            GROUP BY a.node, b.node),
        undirected AS (
            SELECT *, 1.0::DOUBLE AS weight, false AS directed FROM own
            UNION ALL SELECT *, 1.0, false FROM dev UNION ALL SELECT *, 1.0, false FROM role
            UNION ALL SELECT *, 1.0, false FROM addr UNION ALL SELECT *, 1.0, false FROM veh
            UNION ALL SELECT *, 1.0, false FROM intel),
        comm AS (
            SELECT CASE WHEN e.direction IN ('incoming', 'missed') THEN o ELSE s END AS src,
                   CASE WHEN e.direction IN ('incoming', 'missed') THEN s ELSE o END AS dst,
                   e.event_kind, e.timestamp_utc
            FROM (SELECT *, coalesce('phone:' || d.owner_number_e164,
                                     'device:' || d.device_id) AS s,
                         'phone:' || c.number_e164 AS o
                  FROM communication_events c JOIN devices d USING (device_id)
                  WHERE c.number_e164 IS NOT NULL) e
            WHERE s <> o)
        SELECT src, dst, kind, weight, directed, date, label FROM undirected
        UNION ALL
        SELECT src, dst, 'contact', count(*), true, min(timestamp_utc)::DATE,
               concat_ws(', ', CASE WHEN count(*) FILTER (WHERE event_kind = 'call') > 0
                                    THEN count(*) FILTER (WHERE event_kind = 'call')
                                         || ' calls' END,
                         CASE WHEN count(*) FILTER (WHERE event_kind = 'message') > 0
                              THEN count(*) FILTER (WHERE event_kind = 'message')
                                   || ' messages' END)
        FROM comm GROUP BY src, dst""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE g_nodes AS
        WITH ids AS (SELECT src AS id FROM g_edges UNION SELECT dst FROM g_edges
                     UNION SELECT node FROM g_person),
        names AS (SELECT 'person:' || p.person_id AS id,
                         trim(concat_ws(' ', p.given_names, p.family_name)) AS description
                  FROM persons p
                  UNION ALL
                  SELECT 'crime:' || crime_id, concat_ws(' ', ho_offence_code,
                         offence_description, crime_ref) FROM crimes)
        SELECT (row_number() OVER (ORDER BY ids.id) - 1)::BIGINT AS idx, ids.id,
               split_part(ids.id, ':', 1) AS type,
               substr(ids.id, length(split_part(ids.id, ':', 1)) + 2) AS label,
               any_value(n.description) AS description
        FROM ids LEFT JOIN names n USING (id) GROUP BY ids.id""")


def define_view(con: duckdb.DuckDBPyConnection, persons_view: bool) -> None:
    """Temp table ``g_view`` (id → view id): in the persons view an identifier (or device)
    recorded for exactly one person is that person; everything else is itself."""
    fold = """
        WITH owned AS (SELECT dst AS id, min(src) AS person, count(DISTINCT src) AS owners
                       FROM g_edges WHERE kind IN ('owns', 'device owner') GROUP BY dst)
        SELECT n.id, CASE WHEN o.owners = 1 THEN o.person ELSE n.id END AS view
        FROM g_nodes n LEFT JOIN owned o USING (id)""" if persons_view else \
        "SELECT id, id AS view FROM g_nodes"
    con.execute(f"CREATE OR REPLACE TEMP TABLE g_view AS {fold}")


@dataclass
class Graph:
    """One igraph pair over the same vertices (``ids``): ``directed`` (contacts one way,
    other links both ways) and ``undirected`` (each pair once, weights summed)."""

    ids: list[str]
    types: list[str]
    directed: ig.Graph
    undirected: ig.Graph
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {v: i for i, v in enumerate(self.ids)}


def load(con: duckdb.DuckDBPyConnection, view: bool) -> Graph:
    """The graph of ``g_edges`` with endpoints mapped through ``g_view`` (``view``) or as
    they are; self-loops (a person's own phone) dropped."""
    table = "g_view" if view else "(SELECT id, id AS view FROM g_nodes)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_vedges AS
        SELECT a.view AS src, b.view AS dst, e.directed, sum(e.weight) AS weight
        FROM g_edges e JOIN {table} a ON a.id = e.src JOIN {table} b ON b.id = e.dst
        WHERE a.view <> b.view GROUP BY ALL""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_vnodes AS
        SELECT (row_number() OVER (ORDER BY view) - 1)::BIGINT AS idx, view AS id,
               split_part(view, ':', 1) AS type FROM (SELECT DISTINCT view FROM {table})""")
    nodes = con.execute("SELECT id, type FROM g_vnodes ORDER BY idx").fetchall()
    arcs = con.execute("""
        WITH e AS (SELECT a.idx AS s, b.idx AS d, e.directed, e.weight FROM g_vedges e
                   JOIN g_vnodes a ON a.id = e.src JOIN g_vnodes b ON b.id = e.dst)
        SELECT s, d, sum(weight) AS w FROM (
            SELECT s, d, weight FROM e UNION ALL
            SELECT d, s, weight FROM e WHERE NOT directed)
        GROUP BY s, d ORDER BY s, d""").fetchnumpy()
    pairs = con.execute("""
        SELECT least(a.idx, b.idx) AS s, greatest(a.idx, b.idx) AS d, sum(e.weight) AS w
        FROM g_vedges e JOIN g_vnodes a ON a.id = e.src JOIN g_vnodes b ON b.id = e.dst
        GROUP BY ALL ORDER BY s, d""").fetchnumpy()
    n = len(nodes)

    def make(edges: dict[str, np.ndarray], directed: bool) -> ig.Graph:
        g = ig.Graph(n=n, edges=np.column_stack([edges["s"], edges["d"]]).tolist(),
                     directed=directed)
        g.es["weight"] = edges["w"].astype(float).tolist()
        return g

    return Graph([r[0] for r in nodes], [r[1] for r in nodes], make(arcs, True),
                 make(pairs, False))


@dataclass
class Measures:
    """Per-vertex measures (lists aligned with ``Graph.ids``) and how they were made."""

    values: dict[str, list[float]]
    community: list[int]
    modularity: float
    method: dict[str, str]


def measure(g: Graph, seed: int = 1, resolution: float = 1.0,
            sample: int | None = None) -> Measures:
    """Degree, weighted degree, betweenness, closeness, eigenvector, PageRank (directed,
    weighted), k-core; Leiden communities (modularity, seeded). Betweenness and closeness
    are exact on small graphs, estimated from sampled sources above ``EXACT_WORK``."""
    u, d = g.undirected, g.directed
    n, m = u.vcount(), u.ecount()
    values: dict[str, list[float]] = {
        "degree": u.degree(), "w_degree": u.strength(weights="weight")}
    method: dict[str, str] = {}
    k = sample if sample is not None else (0 if n * m <= EXACT_WORK else SAMPLE_SOURCES)
    if k and k < n:
        values["betweenness"], values["closeness"] = sampled_paths(u, k, seed)
        method["betweenness"] = method["closeness"] = f"estimated from {k} sampled sources"
    else:
        values["betweenness"] = u.betweenness(directed=False)
        # Wasserman-Faust: scaled by the share of the graph reachable, so a pair on its own
        # is not as "close" as the middle of a large network
        part = np.array(u.connected_components().sizes())[u.connected_components().membership]
        values["closeness"] = (np.nan_to_num(np.array(u.closeness())) * (part - 1)
                               / max(n - 1, 1)).tolist()
        method["betweenness"] = method["closeness"] = "exact"
    with warnings.catch_warnings():  # "not connected": said in the notes instead
        warnings.simplefilter("ignore", RuntimeWarning)
        values["eigenvector"] = u.eigenvector_centrality(weights="weight", scale=True) \
            if m else [0.0] * n
    values["pagerank"] = d.pagerank(weights="weight", directed=True) if n else []
    values["k_core"] = u.coreness()
    community, modularity = leiden(u, seed, resolution)
    method["communities"] = f"Leiden (modularity, resolution {resolution}, seed {seed})"
    return Measures(values, community, modularity, method)


def leiden(u: ig.Graph, seed: int, resolution: float = 1.0) -> tuple[list[int], float]:
    """Leiden communities of ``u`` with igraph's random numbers drawn from ``seed``: the
    same seed, the same communities. Numbered by size, largest first."""
    if u.vcount() == 0:
        return [], 0.0
    ig.set_random_number_generator(random.Random(seed))
    try:
        part = u.community_leiden(objective_function="modularity", weights="weight",
                                  resolution=resolution, n_iterations=LEIDEN_ITERATIONS)
    finally:
        ig.set_random_number_generator(random)
    sizes = np.bincount(part.membership)
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[np.lexsort((np.arange(len(sizes)), -sizes))] = np.arange(len(sizes))
    return rank[np.array(part.membership)].tolist(), float(u.modularity(
        part.membership, weights="weight", resolution=resolution))


def sampled_paths(u: ig.Graph, k: int, seed: int) -> tuple[list[float], list[float]]:
    """Betweenness (Brandes-Pich: from k sampled sources, scaled by n / k) and closeness
    (Eppstein-Wang: the mean distance from the sampled sources that reach a vertex, scaled
    by the share of sources that reach it, as the exact one is)."""
    n = u.vcount()
    sources = np.random.default_rng(seed).choice(n, size=k, replace=False).tolist()
    between = np.array(u.betweenness(directed=False, sources=sources)) * (n / k)
    total, reach = np.zeros(n), np.zeros(n)
    for chunk in range(0, k, 32):
        dist = np.array(u.distances(source=sources[chunk:chunk + 32]), dtype=float)
        ok = np.isfinite(dist) & (dist > 0)
        total += np.where(ok, dist, 0).sum(axis=0)
        reach += ok.sum(axis=0)
    close = np.where(total > 0, reach / np.maximum(total, 1e-12), 0.0) * reach / k
    return between.tolist(), close.tolist()


# --------------------------------------------------------------------------- finding


def find(con: duckdb.DuckDBPyConnection, g: Graph, text: str, option: str) -> str:
    """An entity named on the command line (person id — any record of the person —, phone
    number, email, VRM, crime id, or a full node id such as ``address:...``) → node id, or
    a one-line error naming the option and the closest known ids."""
    t = text.strip()
    tries = [t] if ":" in t and t.split(":", 1)[0] in TYPES else []
    person = con.execute("SELECT node FROM g_person WHERE person_id = ?", [t]).fetchall()
    tries += [person[0][0]] if person else []
    tries += [f"crime:{t}", f"device:{t}"]
    for kind, norm in (("phone", normalise_phone), ("email", normalise_email),
                       ("vehicle", normalise_vrm)):
        with contextlib.suppress(Exception):
            v = norm(t)
            if v:
                tries.append(f"{kind}:{v}")
    for c in tries:
        if c in g.index:
            return c
    from difflib import get_close_matches

    close = get_close_matches(t, [i.split(":", 1)[1] for i in g.ids], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else \
        " (a person id, phone number, email, VRM or crime id of this node)"
    raise CrossforceError(f"{option} {text}: no such entity in this node's network{hint}")


def neighbourhood(g: Graph, centre: int, hops: int) -> list[int]:
    """Vertices within ``hops`` links of ``centre``."""
    return sorted(g.undirected.neighborhood(centre, order=hops))


def path(g: Graph, a: int, b: int, strongest: bool) -> list[int]:
    """The shortest path a → b (fewest links), or the strongest (least total 1 / weight:
    links of many contacts are short). Empty when none."""
    weights = [1.0 / w for w in g.undirected.es["weight"]] if strongest else None
    found = g.undirected.get_shortest_paths(a, b, weights=weights, output="vpath")[0]
    return list(found)


def connecting(g: Graph, chosen: list[int]) -> tuple[list[int], list[tuple[int, int]]]:
    """The connecting network of ``chosen``: the union of shortest paths between every pair
    (i2's Find Connecting Network). Returns its vertices and the pairs with no path."""
    keep: set[int] = set(chosen)
    missing = []
    for i, a in enumerate(chosen):
        for b in chosen[i + 1:]:
            p = path(g, a, b, strongest=False)
            if p:
                keep.update(p)
            else:
                missing.append((a, b))
    return sorted(keep), missing


def details(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Sizes of the entity graph, for the summary."""
    n, e = con.execute("SELECT (SELECT count(*) FROM g_nodes), (SELECT count(*) FROM g_edges)"
                       ).fetchall()[0]
    return {"entities": int(n), "links": int(e)}
