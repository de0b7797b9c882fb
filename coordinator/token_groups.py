"""Match-key tokens grouped by sorting in numpy, not by hashing in DuckDB (#12 item 4).

Every person's match-key tokens (~15 a person, 150 M at national scale) must be grouped
by (key, token) to find the few held more than once. A DuckDB hash aggregate over that
many mostly-unique keys costs ~250 ns a row; a numpy sort of 64-bit keys ~25 ns. So the
tokens are read once, streamed from the join with the persons, into flat arrays, and
grouped here one key at a time: each row's sort key is the top bits of its token hash
with the row number in the low bits, so one plain `np.sort` gives both the groups and
the rows in them (no argsort). The rare run of one hash prefix holding two different
hashes is re-sorted exactly, so groups are exactly the (kind_id, h) groups SQL makes.

What comes out are the same temp tables, row for row, that `blocking` built in SQL
(`group_tokens`):
    lk_freq(kind_id, h, freq)                  tokens held more than once
    lk_held(kind_id, force_id, n)              tokens of each key each force holds
    lk_rep(node, force_id, kind_id, h, t, freq, in_force)  the references holding those
                                               tokens; in_force: another reference of
                                               the same force holds the token too
and, once the caller has the tables they depend on, `fingerprints` (lk_fp),
`fingerprint_repeats` (lk_dup, then lk_rep) and `person_keys` (lk_person).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from coordinator.settings import ID_PREFIX, MATCH_KEY_PREFIX, LinkageSettings

_BATCH = 1 << 20
_U64 = np.uint64


@dataclass
class KeyRows:
    """The rows of one match key: one per (person, token), as parallel arrays."""

    node: np.ndarray  # int32
    force: np.ndarray | None  # int16, force_id of the node; freed once grouped
    h: np.ndarray  # uint64, hash(token)
    t_hi: np.ndarray | None  # uint64 each, the token's two 8-byte halves as stored
    t_lo: np.ndarray | None  # (made big-endian only for the rows kept); freed once used


@dataclass
class MatchKeyRows:
    """Every match-key token of every person, partitioned by key (kind_id)."""

    keys: list[KeyRows]
    n_nodes: int
    n_forces: int
    #: set by `group_tokens`: the rows of repeated tokens (columns of lk_rep, plus `group`,
    #: the token's row in `repeated`) and the repeated tokens (kind_id, h) in lk_freq order
    rep: dict[str, np.ndarray] | None = None
    repeated: dict[str, np.ndarray] | None = None
    #: set by `fingerprints`: lk_fp as arrays
    fp: dict[str, np.ndarray] | None = None


def read_match_keys(con: duckdb.DuckDBPyConnection, settings: LinkageSettings,
                    n_kinds: int) -> MatchKeyRows:
    """Stream every person's match-key tokens (and, with `identifier_keys`, the identifier
    tokens recorded against them as `mk:id_<kind>`) into arrays, one set per key: one
    join, no table."""
    sources = ["""
        SELECT n.node, k.kind_id, hash(t.token) AS h, t.token FROM tokens t
        JOIN lk_kinds k ON k.token_kind = t.token_kind
        JOIN lk_nodes n ON n.force = t.force AND n.ref = t.ref AND n.kind = 'person'"""]
    # rows per key, at most (a token row joins one person unless items lists it twice)
    upper = """SELECT k.kind_id, count(*) FROM tokens t
               JOIN lk_kinds k ON k.token_kind = t.token_kind GROUP BY ALL"""
    if settings.identifier_keys:
        ids = "(SELECT DISTINCT node, token_kind, token FROM lk_person_ids)"
        id_kind = f"k.token_kind = '{MATCH_KEY_PREFIX}{ID_PREFIX}' || i.token_kind"
        sources.append(f"""
            SELECT i.node, k.kind_id, hash(i.token) AS h, i.token FROM {ids} i
            JOIN lk_kinds k ON {id_kind}""")
        upper += (f" UNION ALL SELECT k.kind_id, count(*) FROM {ids} i "
                  f"JOIN lk_kinds k ON {id_kind} GROUP BY ALL")
    cap = np.zeros(n_kinds, dtype=np.int64)
    for kind_id, n in con.execute(upper).fetchall():
        cap[kind_id] += n
    forces = con.execute("SELECT node, force_id FROM lk_nodes").fetchnumpy()
    n_forces = int(forces["force_id"].max(initial=-1)) + 1
    node_force = np.zeros(int(forces["node"].max(initial=-1)) + 1,
                          dtype=np.int16 if n_forces < 2**15 else np.int32)
    node_force[forces["node"]] = forces["force_id"]
    del forces
    # the arrays live beside DuckDB's buffer pool until `person_keys`: make room for them
    # (rows: node, force, hash, token halves; plus the largest key's sort scratch)
    _make_room(con, int(cap.sum()) * (4 + node_force.itemsize + 8 + 16)
               + int(cap.max(initial=0)) * 48)
    keys = [KeyRows(np.empty(c, np.int32), np.empty(c, node_force.dtype), np.empty(c, _U64),
                    np.empty(c, _U64), np.empty(c, _U64)) for c in cap]
    filled = np.zeros(n_kinds, dtype=np.int64)
    for batch in con.sql(" UNION ALL ".join(sources)).to_arrow_reader(_BATCH):
        kind = batch.column(1).to_numpy()
        # the batch's rows by key (a stable counting sort on small integers)
        order = np.argsort(kind.astype(np.int8), kind="stable")
        node = batch.column(0).to_numpy()[order]
        columns = (node, node_force[node], batch.column(2).to_numpy()[order],
                   *(half[order] for half in _token_halves(batch.column(3)).T))
        bounds = np.r_[0, np.cumsum(np.bincount(kind, minlength=n_kinds))]
        for k in np.flatnonzero(np.diff(bounds)):
            a, b, at = bounds[k], bounds[k + 1], filled[k]
            key = keys[k]
            if at + b - a > len(key.node):  # items lists a person twice: its rows join twice
                _grow(key, 2 * (at + b - a))
            for name, column in zip(("node", "force", "h", "t_hi", "t_lo"), columns,
                                    strict=True):
                getattr(key, name)[at:at + b - a] = column[a:b]
            filled[k] += b - a
    for key, n in zip(keys, filled, strict=True):
        for name in ("node", "force", "h", "t_hi", "t_lo"):
            setattr(key, name, getattr(key, name)[:n])
    return MatchKeyRows(keys, len(node_force), n_forces)


_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def memory_limit(con: duckdb.DuckDBPyConnection) -> str:
    """The connection's `memory_limit`, as a value that sets it back (DuckDB shows it
    rounded down to 0.1 GiB; the midpoint of that step keeps a set-back from drifting)."""
    shown = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    number, _, unit = str(shown).partition(" ")
    if unit in ("KiB", "MiB", "GiB", "TiB") and "." in number:
        return f"{float(number) + 0.05} {unit}"
    return str(shown)


def _bytes(setting: str) -> int | None:
    number, _, unit = setting.partition(" ")
    try:
        return int(float(number) * _UNITS[unit or "B"])
    except (KeyError, ValueError):
        return None


def _make_room(con: duckdb.DuckDBPyConnection, array_bytes: int) -> None:
    """Lower DuckDB's memory limit by what the token arrays will take, so the process as a
    whole stays within the limit the caller set (at 10 M persons the arrays are ~4.5 GB,
    and a full buffer pool beside them went 1.3 GB over a 12 GB limit). DuckDB spills or
    drops cached blocks instead. The caller sets the limit back (`block_persons`); a
    limit DuckDB cannot shrink to now is left as it was."""
    limit = _bytes(memory_limit(con))
    if limit is None:
        return
    lowered = max(limit - array_bytes, limit // 4)
    with contextlib.suppress(duckdb.Error):
        con.execute(f"SET memory_limit = '{lowered}B'")


def _grow(key: KeyRows, size: int) -> None:
    for name in ("node", "force", "h", "t_hi", "t_lo"):
        setattr(key, name, np.resize(getattr(key, name), size))


def _token_halves(tokens: pa.Array) -> np.ndarray:
    """16-byte tokens (checked by `check_linkage_inputs`) as two uint64 each, bytes as
    stored (`_big_endian` turns them into the halves of `token::BIT::UHUGEINT`)."""
    width = np.int64 if pa.types.is_large_binary(tokens.type) else np.int32
    offsets = np.frombuffer(tokens.buffers()[1], dtype=width, count=len(tokens) + 1,
                            offset=np.dtype(width).itemsize * tokens.offset)
    start, end = int(offsets[0]), int(offsets[-1])
    if end - start != 16 * len(tokens) or tokens.null_count:
        raise ValueError("match-key tokens must be 16 bytes")
    data = np.frombuffer(tokens.buffers()[2], dtype=np.uint8)[start:end]
    return data.view(_U64).reshape(-1, 2)


def group_tokens(con: duckdb.DuckDBPyConnection, rows: MatchKeyRows) -> None:
    """Build `lk_freq` and `lk_held` from the rows, one key at a time, and keep the rows of
    repeated tokens for `fingerprint_repeats` (which writes them as `lk_rep`)."""
    freq: dict[str, list[np.ndarray]] = {c: [] for c in ("kind_id", "h", "freq")}
    held: dict[str, list[np.ndarray]] = {c: [] for c in ("kind_id", "force_id", "n")}
    rep: dict[str, list[np.ndarray]] = {c: [] for c in (
        "node", "force_id", "kind_id", "h", "t_hi", "t_lo", "freq", "in_force", "group")}
    n_repeated = 0
    group_type = np.int32 if sum(len(key.h) for key in rows.keys) < 2**31 else np.int64
    for k, key in enumerate(rows.keys):
        if not len(key.node):
            continue
        assert key.t_hi is not None and key.t_lo is not None and key.force is not None
        per_force = np.bincount(key.force, minlength=rows.n_forces)
        f = np.flatnonzero(per_force)
        _add(held, kind_id=np.full(len(f), k, np.int32), force_id=f.astype(np.int32),
             n=per_force[f].astype(np.float64))
        order, hs = _sorted_by_hash(key.h)
        start = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]])
        counts = np.diff(np.r_[start, len(hs)])
        many = counts > 1
        if many.any():
            _add(freq, kind_id=np.full(int(many.sum()), k, np.int32), h=hs[start[many]],
                 freq=counts[many].astype(np.int64))
            per_row = np.repeat(counts, counts)
            kept = per_row > 1
            at = order[kept]
            # each kept row's token, numbered as the rows of lk_freq are
            group = np.repeat(n_repeated + np.cumsum(many, dtype=np.int64) - 1, counts)[kept]
            n_repeated += int(many.sum())
            force = key.force[at]
            # narrow types (~40 bytes a row, not 53: ~50 M rows at 10 M persons); the
            # table lk_rep casts them back
            _add(rep, node=key.node[at], force_id=force, kind_id=np.full(len(at), k, np.int8),
                 h=hs[kept], t_hi=_big_endian(key.t_hi[at]), t_lo=_big_endian(key.t_lo[at]),
                 freq=per_row[kept].astype(np.int32), group=group.astype(group_type),
                 in_force=_shared_in_force(group.astype(_U64), force, rows.n_forces))
        # the tokens of rows held once are not needed again, nor the forces
        key.t_hi = key.t_lo = key.force = None
    rows.repeated = _concat(freq, {"kind_id": np.int32, "h": _U64, "freq": np.int64})
    _create(con, "lk_freq", dict(rows.repeated),
            "kind_id::INTEGER AS kind_id, h::UBIGINT AS h, freq::BIGINT AS freq")
    _create(con, "lk_held",
            _concat(held, {"kind_id": np.int32, "force_id": np.int32, "n": np.float64}),
            "kind_id::INTEGER AS kind_id, force_id::INTEGER AS force_id, n::DOUBLE AS n")
    rows.rep = _concat(rep, {"node": np.int32, "force_id": np.int16,
                             "kind_id": np.int8, "h": _U64, "t_hi": _U64, "t_lo": _U64,
                             "freq": np.int32, "in_force": bool, "group": group_type})


def fingerprint_repeats(con: duckdb.DuckDBPyConnection, rows: MatchKeyRows) -> None:
    """`lk_dup(kind_id, h, dups)`: repeats of a token inside fingerprint groups (the SQL
    was: lk_rep JOIN lk_fp, count per (token, fp) HAVING > 1, sum(n - 1) per token); then
    `lk_rep` itself is written and the arrays let go."""
    assert rows.rep is not None and rows.repeated is not None and rows.fp is not None
    rep, fp = rows.rep, rows.fp
    values, fp_group = np.unique(fp["fp"], return_inverse=True)
    group_of = np.full(rows.n_nodes, -1, dtype=np.int64)
    group_of[fp["node"]] = fp_group.reshape(-1)
    f = group_of[rep["node"]]
    has = f >= 0
    bits = max(1, len(values).bit_length())
    g = rep["group"][has].astype(np.int64)
    dups = np.zeros(0, np.int64)
    token = np.zeros(0, np.int64)
    if len(g) and int(g.max()).bit_length() + bits <= 63:
        pair = np.sort((g << bits) | f[has])  # (token, fingerprint group), exact
        start = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        n = np.diff(np.r_[start, len(pair)])
        twice = n > 1
        token, first = np.unique(pair[start[twice]] >> bits, return_index=True)
        dups = np.add.reduceat(n[twice] - 1, first) if len(first) else dups
    elif len(g):  # too many tokens to pack beside the groups: sort the two columns
        o = np.lexsort((f[has], g))
        gs, fs = g[o], f[has][o]
        start = np.flatnonzero(np.r_[True, (gs[1:] != gs[:-1]) | (fs[1:] != fs[:-1])])
        n = np.diff(np.r_[start, len(gs)])
        twice = n > 1
        token, first = np.unique(gs[start[twice]], return_index=True)
        dups = np.add.reduceat(n[twice] - 1, first) if len(first) else dups
    _create(con, "lk_dup", {"kind_id": rows.repeated["kind_id"][token],
                            "h": rows.repeated["h"][token], "dups": dups.astype(np.int64)},
            "kind_id::INTEGER AS kind_id, h::UBIGINT AS h, dups::BIGINT AS dups")
    rows.repeated = rows.fp = None
    del rep["group"]
    rows.rep = None
    _create(con, "lk_rep", rep, """
        node::INTEGER AS node, force_id::INTEGER AS force_id, kind_id::INTEGER AS kind_id,
        h::UBIGINT AS h, (t_hi::UHUGEINT << 64) | t_lo::UHUGEINT AS t, freq::BIGINT AS freq,
        in_force""")


def _concat(parts: dict[str, list[np.ndarray]], dtypes: dict[str, type]
            ) -> dict[str, np.ndarray]:
    # a column at a time, its parts let go as it is joined: never two copies of all rows
    return {c: np.concatenate(p) if (p := parts.pop(c)) else np.zeros(0, dtypes[c])
            for c in dtypes}


def _add(parts: dict[str, list[np.ndarray]], **columns: np.ndarray) -> None:
    for name, values in columns.items():
        parts[name].append(values)


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
    mixed = np.unique(prefix[1:][(prefix[1:] == prefix[:-1]) & (hs[1:] != hs[:-1])])
    if len(mixed):
        first = np.searchsorted(prefix, mixed, "left")
        size = np.searchsorted(prefix, mixed, "right") - first
        run = np.repeat(np.arange(len(mixed)), size)
        pos = np.repeat(first - np.r_[0, np.cumsum(size)[:-1]], size) + np.arange(size.sum())
        sub = np.lexsort((hs[pos], run))
        order[pos] = order[pos][sub]
        hs[pos] = hs[pos][sub]
    return order, hs


def _create(con: duckdb.DuckDBPyConnection, name: str, data: dict[str, np.ndarray],
            select: str) -> None:
    """A temp table `name` from the columns, through Arrow (no copy per row in Python);
    `data` is emptied, so the arrays go as soon as DuckDB holds the rows."""
    con.register(f"{name}_in", pa.table(data))
    data.clear()
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
        key = rows.keys[chosen]
        least = np.full(rows.n_nodes, np.iinfo(np.uint64).max, dtype=_U64)
        np.minimum.at(least, key.node, key.h)
        has = np.zeros(rows.n_nodes, dtype=bool)
        has[key.node] = True
        node = np.flatnonzero(has).astype(np.int32)
        fp = least[node]
        s = np.sort(fp)
        shared = np.unique(s[1:][s[1:] == s[:-1]])
        keep = np.isin(fp, shared)
        node, fp = node[keep], fp[keep]
    rows.fp = {"node": node, "fp": fp}
    con.register("lk_fp_in", pa.table({"node": node, "fp": fp}))
    con.execute("CREATE OR REPLACE TEMP TABLE lk_fp AS "
                "SELECT node::INTEGER AS node, fp::UBIGINT AS fp FROM lk_fp_in")
    con.unregister("lk_fp_in")


def person_keys(con: duckdb.DuckDBPyConnection, rows: MatchKeyRows) -> None:
    """`lk_person(node, has_mask)`: which keys each person holds a token of, tokens too
    common to block on (`lk_people`) left out; persons holding none are not listed."""
    people = con.execute("SELECT kind_id, h FROM lk_people").fetchnumpy()
    mask = np.zeros(rows.n_nodes, dtype=np.int64)
    for k, key in enumerate(rows.keys):
        node = key.node
        common = people["h"][people["kind_id"] == k]
        if len(common):
            node = node[~np.isin(key.h, common)]
        mask[node] |= np.int64(1) << np.int64(k)
    node = np.flatnonzero(mask).astype(np.int32)
    con.register("lk_person_in", pa.table({"node": node, "has_mask": mask[node]}))
    con.execute("CREATE OR REPLACE TEMP TABLE lk_person AS "
                "SELECT node::INTEGER AS node, has_mask::BIGINT AS has_mask FROM lk_person_in")
    con.unregister("lk_person_in")
