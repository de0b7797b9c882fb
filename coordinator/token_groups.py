"""Match-key tokens grouped by sorting in numpy, not by hashing in DuckDB (#12 item 4).

Every person's match-key tokens (~15 a person, 150 M at national scale) must be grouped
by (key, token) to find the few held more than once. A DuckDB hash aggregate over that
many mostly-unique keys costs ~250 ns a row; a numpy sort of 64-bit keys ~25 ns. So the
tokens are read once, streamed from the join with the persons, into flat arrays, and
grouped here one key at a time: each row's sort key is the top bits of its token hash
with the row number in the low bits, so one plain `np.sort` gives both the groups and
the rows in them (no argsort). The rare run of one hash prefix holding two different
hashes is re-sorted exactly, so groups are exactly the (kind_id, h) groups SQL makes.

What comes out are the same temp tables, row for row, that `blocking` built in SQL:
    lk_freq(kind_id, h, freq)                  tokens held more than once
    lk_held(kind_id, force_id, n)              tokens of each key each force holds
    lk_rep(node, force_id, kind_id, h, t, freq, in_force)  the references holding those
                                               tokens; in_force: another reference of
                                               the same force holds the token too
and, once the caller has the tables they depend on, `fingerprints` (lk_fp) and
`person_keys` (lk_person).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from coordinator.settings import ID_PREFIX, MATCH_KEY_PREFIX, LinkageSettings

_BATCH = 1 << 20
_U64 = np.uint64


@dataclass
class MatchKeyRows:
    """Every match-key token of every person: one row per (node, token), as arrays."""

    node: np.ndarray  # int32
    kind: np.ndarray  # int8, kind_id
    h: np.ndarray  # uint64, hash(token)
    t: np.ndarray | None  # (rows, 2) uint64, the token's two 8-byte halves as stored
    # (byte-swapped to big-endian only for the rows kept); freed once used
    node_force: np.ndarray  # int32, force_id of each node id
    n_kinds: int

    def rows_of(self, kind_id: int) -> np.ndarray:
        return np.flatnonzero(self.kind == kind_id)


def read_match_keys(con: duckdb.DuckDBPyConnection, settings: LinkageSettings,
                    n_kinds: int) -> MatchKeyRows:
    """Stream every person's match-key tokens (and, with `identifier_keys`, the identifier
    tokens recorded against them as `mk:id_<kind>`) into arrays: one join, no table."""
    sources = ["""
        SELECT n.node, k.kind_id, hash(t.token) AS h, t.token FROM tokens t
        JOIN lk_kinds k ON k.token_kind = t.token_kind
        JOIN lk_nodes n ON n.force = t.force AND n.ref = t.ref AND n.kind = 'person'"""]
    upper = """SELECT count(*) FROM tokens
                WHERE token_kind IN (SELECT token_kind FROM lk_kinds)"""
    if settings.identifier_keys:
        ids = """(SELECT DISTINCT node, token_kind, token FROM lk_person_ids)"""
        sources.append(f"""
            SELECT i.node, k.kind_id, hash(i.token) AS h, i.token FROM {ids} i
            JOIN lk_kinds k ON k.token_kind = '{MATCH_KEY_PREFIX}{ID_PREFIX}' || i.token_kind""")
        upper += f" UNION ALL SELECT count(*) FROM {ids}"
    cap = sum(n for (n,) in con.execute(upper).fetchall())
    node = np.empty(cap, dtype=np.int32)
    kind = np.empty(cap, dtype=np.int8)
    h = np.empty(cap, dtype=_U64)
    t = np.empty((cap, 2), dtype=_U64)
    n = 0
    for batch in con.sql(" UNION ALL ".join(sources)).to_arrow_reader(_BATCH):
        m = batch.num_rows
        if n + m > cap:  # a person listed twice in items: its tokens join twice
            cap = 2 * (n + m)
            node, kind, h, t = (np.resize(a, (cap, *a.shape[1:])) for a in (node, kind, h, t))
        node[n:n + m] = batch.column(0).to_numpy()
        kind[n:n + m] = batch.column(1).to_numpy()
        h[n:n + m] = batch.column(2).to_numpy()
        t[n:n + m] = _token_halves(batch.column(3))
        n += m
    forces = con.execute("SELECT node, force_id FROM lk_nodes").fetchnumpy()
    node_force = np.zeros(int(forces["node"].max(initial=-1)) + 1, dtype=np.int32)
    node_force[forces["node"]] = forces["force_id"]
    return MatchKeyRows(node[:n], kind[:n], h[:n], t[:n], node_force, n_kinds)


def _token_halves(tokens: pa.Array) -> np.ndarray:
    """16-byte tokens (checked by `check_linkage_inputs`) as two uint64 each, bytes as
    stored (`big_endian` turns them into the halves of `token::BIT::UHUGEINT`)."""
    width = np.int64 if pa.types.is_large_binary(tokens.type) else np.int32
    offsets = np.frombuffer(tokens.buffers()[1], dtype=width, count=len(tokens) + 1,
                            offset=np.dtype(width).itemsize * tokens.offset)
    start, end = int(offsets[0]), int(offsets[-1])
    if end - start != 16 * len(tokens) or tokens.null_count:
        raise ValueError("match-key tokens must be 16 bytes")
    data = np.frombuffer(tokens.buffers()[2], dtype=np.uint8)[start:end]
    return data.view(_U64).reshape(-1, 2)


def group_tokens(con: duckdb.DuckDBPyConnection, rows: MatchKeyRows) -> None:
    """Build `lk_freq`, `lk_held` and `lk_rep` from the rows, one key at a time."""
    n_forces = int(rows.node_force.max(initial=-1)) + 1
    freq_parts: list[tuple[np.ndarray, ...]] = []
    held_parts: list[tuple[np.ndarray, ...]] = []
    rep_idx: list[np.ndarray] = []
    rep_h: list[np.ndarray] = []
    rep_freq: list[np.ndarray] = []
    rep_kind: list[np.ndarray] = []
    rep_in_force: list[np.ndarray] = []
    for k in range(rows.n_kinds):
        idx = rows.rows_of(k)
        if not len(idx):
            continue
        forces = np.bincount(rows.node_force[rows.node[idx]], minlength=n_forces)
        held = np.flatnonzero(forces)
        held_parts.append((np.full(len(held), k, np.int32), held.astype(np.int32),
                           forces[held].astype(np.float64)))
        order, hs = _sorted_by_hash(rows.h[idx])
        start = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]])
        counts = np.diff(np.r_[start, len(hs)])
        many = counts > 1
        if not many.any():
            continue
        freq_parts.append((np.full(int(many.sum()), k, np.int32), hs[start[many]],
                           counts[many].astype(np.int64)))
        per_row = np.repeat(counts, counts)
        rep = per_row > 1
        rep_idx.append(idx[order[rep]])
        group = np.repeat(np.arange(len(counts), dtype=_U64), counts)[rep]
        rep_in_force.append(_shared_in_force(
            group, rows.node_force[rows.node[rep_idx[-1]]], n_forces))
        rep_h.append(hs[rep])
        rep_freq.append(per_row[rep].astype(np.int64))
        rep_kind.append(np.full(int(rep.sum()), k, np.int32))
    _create(con, "lk_freq", ("kind_id", "h", "freq"), freq_parts,
            "kind_id::INTEGER AS kind_id, h::UBIGINT AS h, freq::BIGINT AS freq")
    _create(con, "lk_held", ("kind_id", "force_id", "n"), held_parts,
            "kind_id::INTEGER AS kind_id, force_id::INTEGER AS force_id, n::DOUBLE AS n")
    idx = np.concatenate(rep_idx) if rep_idx else np.zeros(0, np.int64)
    assert rows.t is not None
    t = _big_endian(rows.t[idx])
    rows.t = None  # the tokens of rows held once are not needed again
    node = rows.node[idx]
    con.register("lk_rep_in", pa.table({
        "node": node, "force_id": rows.node_force[node],
        "kind_id": np.concatenate(rep_kind) if rep_kind else np.zeros(0, np.int32),
        "h": np.concatenate(rep_h) if rep_h else np.zeros(0, _U64),
        "t_hi": t[:, 0], "t_lo": t[:, 1],
        "freq": np.concatenate(rep_freq) if rep_freq else np.zeros(0, np.int64),
        "in_force": np.concatenate(rep_in_force) if rep_in_force else np.zeros(0, bool)}))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_rep AS
        SELECT node::INTEGER AS node, force_id::INTEGER AS force_id,
               kind_id::INTEGER AS kind_id, h::UBIGINT AS h,
               (t_hi::UHUGEINT << 64) | t_lo::UHUGEINT AS t, freq::BIGINT AS freq,
               in_force
        FROM lk_rep_in""")
    con.unregister("lk_rep_in")


def _shared_in_force(group: np.ndarray, force: np.ndarray, n_forces: int) -> np.ndarray:
    """Per row: does another row of its token group sit in the same force? (Pairs inside a
    force are what chance agreement is measured on; most shared tokens cross forces.)"""
    key = group * _U64(max(n_forces, 1)) + force.astype(_U64)
    s = np.sort(key)
    twice = np.unique(s[1:][s[1:] == s[:-1]])
    if not len(twice):
        return np.zeros(len(key), dtype=bool)
    at = np.minimum(np.searchsorted(twice, key), len(twice) - 1)
    return twice[at] == key


def _big_endian(halves: np.ndarray) -> np.ndarray:
    return halves.byteswap() if np.little_endian else halves


def _sorted_by_hash(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, h[order]) with equal hashes adjacent: rows sorted by hash prefix, then row."""
    n = len(h)
    bits = max(1, (n - 1).bit_length())
    low = _U64((1 << bits) - 1)
    key = (h & ~low) | np.arange(n, dtype=_U64)
    key.sort()
    order = (key & low).astype(np.int64)
    hs = h[order]
    prefix = key >> _U64(bits)
    del key
    # a run of one prefix holding two different hashes (rare): sort it by hash exactly
    mixed = (prefix[1:] == prefix[:-1]) & (hs[1:] != hs[:-1])
    if mixed.any():
        run = np.cumsum(np.r_[True, prefix[1:] != prefix[:-1]])
        pos = np.flatnonzero(np.isin(run, run[1:][mixed]))
        sub = np.lexsort((hs[pos], run[pos]))
        order[pos] = order[pos][sub]
        hs[pos] = hs[pos][sub]
    return order, hs


def _create(con: duckdb.DuckDBPyConnection, name: str, columns: tuple[str, ...],
            parts: list[tuple[np.ndarray, ...]], select: str) -> None:
    data = {c: (np.concatenate([p[i] for p in parts]) if parts else np.zeros(0))
            for i, c in enumerate(columns)}
    con.register(f"{name}_in", pa.table(data))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select} FROM {name}_in")
    con.unregister(f"{name}_in")


def fingerprints(con: duckdb.DuckDBPyConnection, rows: MatchKeyRows,
                 chosen: int | None) -> None:
    """`lk_fp(node, fp)`: each reference's smallest token hash of key `chosen`, kept where
    another reference shares it (the SQL was: min(h) per node, QUALIFY count(*) OVER
    (PARTITION BY fp) > 1)."""
    node = np.zeros(0, np.int32)
    fp = np.zeros(0, _U64)
    if chosen is not None:
        idx = rows.rows_of(chosen)
        n_nodes = len(rows.node_force)
        least = np.full(n_nodes, np.iinfo(np.uint64).max, dtype=_U64)
        np.minimum.at(least, rows.node[idx], rows.h[idx])
        has = np.zeros(n_nodes, dtype=bool)
        has[rows.node[idx]] = True
        node = np.flatnonzero(has).astype(np.int32)
        fp = least[node]
        s = np.sort(fp)
        shared = np.unique(s[1:][s[1:] == s[:-1]])
        keep = np.isin(fp, shared)
        node, fp = node[keep], fp[keep]
    con.register("lk_fp_in", pa.table({"node": node, "fp": fp}))
    con.execute("CREATE OR REPLACE TEMP TABLE lk_fp AS "
                "SELECT node::INTEGER AS node, fp::UBIGINT AS fp FROM lk_fp_in")
    con.unregister("lk_fp_in")


def person_keys(con: duckdb.DuckDBPyConnection, rows: MatchKeyRows) -> None:
    """`lk_person(node, has_mask)`: which keys each person holds a token of, tokens too
    common to block on (`lk_people`) left out; persons holding none are not listed."""
    people = con.execute("SELECT kind_id, h FROM lk_people").fetchnumpy()
    mask = np.zeros(len(rows.node_force), dtype=np.int64)
    for k in range(rows.n_kinds):
        idx = rows.rows_of(k)
        common = people["h"][people["kind_id"] == k]
        if len(common):
            idx = idx[~np.isin(rows.h[idx], common)]
        mask[rows.node[idx]] |= np.int64(1) << np.int64(k)
    node = np.flatnonzero(mask).astype(np.int32)
    con.register("lk_person_in", pa.table({"node": node, "has_mask": mask[node]}))
    con.execute("CREATE OR REPLACE TEMP TABLE lk_person AS "
                "SELECT node::INTEGER AS node, has_mask::BIGINT AS has_mask FROM lk_person_in")
    con.unregister("lk_person_in")
