"""Clustering: accepted links become national entities by connected components.

Person pairs above threshold (pairs inside one force: strict weight at least
`within_force_weight`; across forces, at least `cross_force_strict_floor`) are first
thinned to at most one partner per OTHER force (mutual-best rounds in SQL by
`one_to_one_rank`, ties broken by node id) when `one_to_one` is on, then given a second
partner where a force holds the person twice (`_accept_siblings`); pairs inside a force
are a force's own duplicates and are not thinned. Identifier items that share a
token are joined outright. A component holding a vetoed pair is rebuilt so that pair's two
sides stay apart (`cluster`). Components come from
scipy.sparse.csgraph — linear in the number of links, no Python loop, no all-pairs step.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from coordinator.settings import LinkageSettings

#: what the one-to-one rounds rank candidates by (`LinkageSettings.one_to_one_rank`)
_RANK = {"match": "s.match_weight", "strict": "s.strict_weight",
         "both": "s.match_weight + s.strict_weight"}


def accept_person_links(con: duckdb.DuckDBPyConnection, settings: LinkageSettings) -> int:
    """Build `lk_accepted(node_a, node_b, match_probability)`; returns how many links."""
    floor = settings.cross_force_strict_floor
    floor = "'-infinity'::DOUBLE" if floor is None else floor
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_candidates AS
        SELECT s.node_a, s.node_b, s.match_weight, s.match_probability,
               {_RANK[settings.one_to_one_rank]} AS rank_weight,
               s.force_a, s.force_b
        FROM lk_scored s
        WHERE s.match_probability >= {settings.match_probability}
          AND s.agreeing_keys >= {settings.min_agreeing_keys}
          -- a force's own duplicates: the force resolved most itself, so the ones left
          -- need strong evidence
          AND (s.force_a <> s.force_b OR s.strict_weight >= {settings.within_force_weight})
          -- a pair across forces whose evidence, each chance agreement counted once, is
          -- well against a match does not link however the per-key count adds up
          AND (s.force_a = s.force_b OR s.strict_weight >= {floor})
        """)
    if not settings.one_to_one:
        con.execute("""CREATE OR REPLACE TEMP TABLE lk_accepted AS
                       SELECT node_a, node_b, match_probability FROM lk_candidates""")
        return con.execute("SELECT count(*) FROM lk_accepted").fetchone()[0]
    con.execute("""CREATE OR REPLACE TEMP TABLE lk_accepted
                   (node_a INTEGER, node_b INTEGER, match_probability DOUBLE)""")
    con.execute("CREATE OR REPLACE TEMP TABLE lk_candidates_all AS FROM lk_candidates")
    # pairs inside one force (already held to within_force_weight) are a force's own
    # duplicates: the rule is about partners in OTHER forces; so are strong pairs, if the
    # settings exempt them (a force may hold one person twice)
    exempt = settings.one_to_one_exempt_weight
    free = "force_a = force_b" + (f" OR match_weight >= {exempt}" if exempt is not None else "")
    con.execute(f"""INSERT INTO lk_accepted SELECT node_a, node_b, match_probability
                    FROM lk_candidates WHERE {free}""")
    con.execute(f"DELETE FROM lk_candidates WHERE {free}")
    if exempt is not None:
        _drop_taken(con)
    for _ in range(settings.one_to_one_rounds):
        # both directions: each node ranks its candidates in each other force
        added = con.execute("""
            INSERT INTO lk_accepted
            WITH directed AS (
                SELECT node_a AS src, node_b AS dst, force_b AS dst_force, rank_weight
                FROM lk_candidates
                UNION ALL
                SELECT node_b, node_a, force_a, rank_weight FROM lk_candidates),
            ranked AS (
                SELECT src, dst, row_number() OVER (
                    PARTITION BY src, dst_force ORDER BY rank_weight DESC, dst) AS rk
                FROM directed)
            SELECT c.node_a, c.node_b, c.match_probability
            FROM lk_candidates c
            JOIN ranked ra ON ra.src = c.node_a AND ra.dst = c.node_b AND ra.rk = 1
            JOIN ranked rb ON rb.src = c.node_b AND rb.dst = c.node_a AND rb.rk = 1
        """).fetchone()[0]
        if not added:
            break
        _drop_taken(con)
    if (settings.one_to_one_sibling_weight is not None
            or settings.one_to_one_sibling_support is not None):
        _accept_siblings(con, settings.one_to_one_sibling_weight,
                         settings.one_to_one_sibling_support)
    return con.execute("SELECT count(*) FROM lk_accepted").fetchone()[0]


def _accept_siblings(con: duckdb.DuckDBPyConnection, weight: float | None,
                     support: float | None) -> None:
    """A force may hold one person twice, its resolution having left the two records
    apart. A left-over candidate (a, b) links after all when a already took a partner b'
    in b's force and either b and b' are, by their own pair's strict weight, the same
    person as likely as not (at least `weight` bits: two records of one person there,
    not a namesake, whose pair with b' has a date of birth or a name against it), or a
    vouches for both (`support`: the weaker of a-b and a-b' plus b-b', 0 if b and b'
    share no key, reaches it — one record lacks the family name, the other has the names
    swapped, so b-b' alone says little)."""
    tests = ([f"j.twin >= {weight}"] if weight is not None else []) + (
        [f"j.vouch + coalesce(j.twin, 0) >= {support}"] if support is not None else [])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_left AS
        SELECT c.node_a, c.node_b, c.match_probability
        FROM lk_candidates_all c ANTI JOIN lk_accepted a USING (node_a, node_b)
        WHERE c.force_a <> c.force_b""")
    con.execute(f"""
        INSERT INTO lk_accepted
        WITH taken AS (  -- node -> a partner it took, in the partner's force
            SELECT a.node_a AS node, a.node_b AS partner FROM lk_accepted a
            UNION ALL SELECT a.node_b, a.node_a FROM lk_accepted a),
        -- every strict weight read below is of a pair with a node of lk_left (s1: the
        -- pair itself, s2: its src, s3: its dst), so only those pairs are unioned
        touched AS (SELECT node_a AS node FROM lk_left UNION SELECT node_b FROM lk_left),
        near AS (
            SELECT node_a, node_b, strict_weight FROM lk_scored
            WHERE node_a IN (SELECT node FROM touched) OR node_b IN (SELECT node FROM touched)),
        strict AS (
            SELECT node_a AS x, node_b AS y, strict_weight AS w FROM near
            UNION ALL SELECT node_b, node_a, strict_weight FROM near),
        left_directed AS (  -- (src, dst): src has a partner in dst's force?
            SELECT node_a AS src, node_b AS dst, node_a, node_b FROM lk_left
            UNION ALL SELECT node_b, node_a, node_a, node_b FROM lk_left),
        judged AS (
            SELECT l.node_a, l.node_b, s3.w AS twin, least(s1.w, s2.w) AS vouch
            FROM left_directed l
            JOIN taken t ON t.node = l.src
            JOIN lk_nodes nd ON nd.node = l.dst
            JOIN lk_nodes np ON np.node = t.partner AND np.force_id = nd.force_id
            JOIN strict s1 ON s1.x = l.src AND s1.y = l.dst
            JOIN strict s2 ON s2.x = l.src AND s2.y = t.partner
            LEFT JOIN strict s3 ON s3.x = t.partner AND s3.y = l.dst)
        SELECT DISTINCT l.node_a, l.node_b, l.match_probability
        FROM lk_left l JOIN judged j USING (node_a, node_b)
        WHERE {" OR ".join(tests)}""")


def _drop_taken(con: duckdb.DuckDBPyConnection) -> None:
    """A node that has its partner in force F takes no other partner in F."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_taken AS
        SELECT a.node_a AS node, n.force_id AS other_force
        FROM lk_accepted a JOIN lk_nodes n ON n.node = a.node_b
        UNION ALL
        SELECT a.node_b, n.force_id FROM lk_accepted a JOIN lk_nodes n ON n.node = a.node_a
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_candidates AS
        SELECT c.* FROM lk_candidates c
        ANTI JOIN lk_taken ta ON ta.node = c.node_a AND ta.other_force = c.force_b
        ANTI JOIN lk_taken tb ON tb.node = c.node_b AND tb.other_force = c.force_a""")


def identifier_edges(con: duckdb.DuckDBPyConnection, settings: LinkageSettings) -> None:
    """`lk_id_edges(node_a, node_b)`: identifier items sharing a token, as a star per token."""
    kinds = ", ".join(f"'{k}'" for k in settings.identifier_kinds)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_id_edges AS
        WITH held AS (
            SELECT n.node, t.token_kind, t.token FROM tokens t
            JOIN lk_nodes n ON n.force = t.force AND n.ref = t.ref
            WHERE n.kind IN ({kinds}) AND t.token_kind = n.kind)
        SELECT node AS node_a, min(node) OVER (PARTITION BY token_kind, token) AS node_b
        FROM held""")


def cluster(con: duckdb.DuckDBPyConnection, n_nodes: int,
            settings: LinkageSettings | None = None) -> None:
    """`lk_entity(node, entity_id, score)` from accepted person links and identifier edges.

    Connected components, then each component holding a vetoed pair — two of its persons
    whose own pair scored below `settings.veto_weight` (a wholly different date of birth,
    say) — is rebuilt greedily: its links strongest first (ties by node ids), a link that
    would join two sides of a vetoed pair left out. So namesakes are not chained into one
    entity through weak links, and the result is the same whatever order rows arrive in.
    """
    edges = con.execute("""
        SELECT node_a, node_b, match_probability AS p FROM lk_accepted
        UNION ALL SELECT node_a, node_b, 1.0 FROM lk_id_edges WHERE node_a <> node_b
    """).fetchnumpy()
    a = edges["node_a"].astype(np.int64)
    b = edges["node_b"].astype(np.int64)
    # score: a node's best link (identifier edges count 1.0); none if it has no link
    best = np.full(n_nodes, -np.inf)
    p = np.asarray(edges["p"], dtype=np.float64)
    np.maximum.at(best, a, p)
    np.maximum.at(best, b, p)
    del edges, p
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    labels = labels.astype(np.int64)
    if settings is not None and settings.veto_weight is not None:
        labels = _split_vetoed(con, labels, settings.veto_weight,
                               settings.veto_weight if settings.veto_groups else None)
    # entity id: the smallest node of the component, so ids are stable for a given store
    # (nodes are 0..n-1 in order, so a label's first occurrence is its smallest node)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    entity = first.astype(np.int64)[inverse.reshape(-1)]
    del first, inverse
    con.register("lk_labels", pa.table({
        "node": np.arange(n_nodes, dtype=np.int32), "entity_id": entity,
        "score": pa.array(best, mask=best == -np.inf)}))
    con.execute("""CREATE OR REPLACE TEMP TABLE lk_entity AS
                   SELECT node, entity_id::BIGINT AS entity_id, score::DOUBLE AS score
                   FROM lk_labels""")
    con.unregister("lk_labels")
    # a link the veto split is not a link between two references of one entity any more
    con.execute("""
        DELETE FROM lk_accepted a USING lk_entity ea, lk_entity eb
        WHERE ea.node = a.node_a AND eb.node = a.node_b AND ea.entity_id <> eb.entity_id""")


def _split_vetoed(con: duckdb.DuckDBPyConnection, labels: np.ndarray,
                  veto_weight: float, outweighed: float | None = None) -> np.ndarray:
    """Rebuild the components that hold a vetoed pair; other components are untouched.

    With `outweighed` (`veto_groups`), a link joining two sides of a vetoed pair is still
    taken when the two groups as a whole hold together: the strict weights of every
    accepted link between them plus their vetoed pairs sum to at least `outweighed`. One
    record so mangled that its pair with one other record scores below the veto (no date
    of birth, the given name mistyped) then stays with the three records of its person it
    shares 30 bits with; a namesake reached through one weak link does not."""
    con.register("lk_comp", pa.table({"node": np.arange(len(labels), dtype=np.int32),
                                      "label": labels}))
    vetoes = con.execute(f"""
        SELECT s.node_a, s.node_b, s.strict_weight FROM lk_scored s
        JOIN lk_comp ca ON ca.node = s.node_a JOIN lk_comp cb ON cb.node = s.node_b
        WHERE ca.label = cb.label AND s.strict_weight < {veto_weight}
        ORDER BY ALL""").fetchall()
    if not vetoes:
        con.unregister("lk_comp")
        return labels
    con.register("lk_bad", pa.table({"label": np.unique(
        labels[np.array([v[0] for v in vetoes], dtype=np.int64)])}))
    # the links of those components, strongest first; identifier edges are certain
    links = con.execute("""
        SELECT e.node_a, e.node_b, e.strict FROM (
            SELECT a.node_a, a.node_b, s.match_weight AS w, s.strict_weight AS strict
            FROM lk_accepted a JOIN lk_scored s USING (node_a, node_b)
            UNION ALL
            SELECT node_a, node_b, 'Infinity'::DOUBLE, 'Infinity'::DOUBLE FROM lk_id_edges
            WHERE node_a <> node_b
        ) e JOIN lk_comp c ON c.node = e.node_a SEMI JOIN lk_bad USING (label)
        ORDER BY e.w DESC, e.node_a, e.node_b""").fetchall()
    con.unregister("lk_comp")
    con.unregister("lk_bad")
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}
    veto: dict[int, dict[int, float]] = {}
    for x, y, w in vetoes:
        veto.setdefault(x, {})[y] = w
        veto.setdefault(y, {})[x] = w

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    near: dict[int, dict[int, float]] = {}  # strict weight of each accepted link
    for x, y, strict in links:
        near.setdefault(x, {})[y] = strict
        near.setdefault(y, {})[x] = strict
    for x, y, _ in links:
        rx, ry = find(x), find(y)
        if rx == ry:
            continue
        mx, my = members.get(rx, {rx}), members.get(ry, {ry})
        if len(mx) > len(my):
            rx, ry, mx, my = ry, rx, my, mx
        against = [w for n in mx for v, w in veto.get(n, {}).items() if find(v) == ry]
        if against and (outweighed is None or sum(
                near.get(n, {}).get(v, 0.0) for n in mx for v in my) + sum(against)
                < outweighed):
            continue  # would put both sides of a vetoed pair in one entity
        parent[rx] = ry
        members[ry] = mx | my
        members.pop(rx, None)
    out = labels.copy()
    touched = np.isin(labels, np.unique(labels[np.array(
        [v[0] for v in vetoes], dtype=np.int64)]))
    next_label = int(labels.max()) + 1
    for node in np.flatnonzero(touched):
        out[node] = next_label + find(int(node))
    return out
