"""Match-key tokens grouped by sorting (coordinator.token_groups) are grouped exactly as
SQL groups them, whatever the hashes share."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from linkage_data import encode, population

from coordinator.linkage import link
from coordinator.token_groups import _shared_in_force, _sorted_by_hash, _token_halves


def _groups(order: np.ndarray, hs: np.ndarray) -> dict[int, list[int]]:
    start = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]])
    out: dict[int, list[int]] = {}
    for a, b in zip(start, np.r_[start[1:], len(hs)], strict=True):
        assert int(hs[a]) not in out, "a hash split over two runs"
        out[int(hs[a])] = sorted(order[a:b].tolist())
    return out


def test_rows_sharing_a_hash_prefix_but_not_the_hash_are_grouped_apart() -> None:
    # 8 rows: the sort key keeps the top 61 bits, so hashes differing only in the low 3
    # bits share a prefix and arrive interleaved by row number
    h = np.array([0x10, 0x11, 0x10, 0x13, 0x11, 0xFF00, 0x10, 0xFF00], dtype=np.uint64)
    order, hs = _sorted_by_hash(h.copy())
    assert np.array_equal(hs, h[order])
    assert _groups(order, hs) == {0x10: [0, 2, 6], 0x11: [1, 4], 0x13: [3],
                                  0xFF00: [5, 7]}


def test_sorting_groups_like_sql_on_many_random_hashes() -> None:
    rng = np.random.default_rng(3)
    # a small value range so most hashes repeat and many prefixes hold several hashes
    h = rng.integers(0, 5_000, size=20_000).astype(np.uint64) * np.uint64(977)
    order, hs = _sorted_by_hash(h)
    groups = _groups(order, hs)
    con = duckdb.connect()
    con.register("rows", pa.table({"i": np.arange(len(h)), "h": h}))
    sql = dict(con.execute("SELECT h, list(i ORDER BY i) FROM rows GROUP BY h").fetchall())
    assert groups == {int(k): v for k, v in sql.items()}


def test_token_halves_are_the_big_endian_halves_sql_compares() -> None:
    con = duckdb.connect()
    tokens = con.sql("SELECT unhex(md5(i::VARCHAR)) AS t FROM range(1000) r(i)"
                     ).to_arrow_table().column("t").combine_chunks()
    halves = _token_halves(tokens.slice(7)).byteswap()
    sql = con.execute("""SELECT (t >> 64)::UBIGINT AS hi, (t & 18446744073709551615)::UBIGINT
                         AS lo FROM (SELECT unhex(md5(i::VARCHAR))::BIT::UHUGEINT AS t
                                     FROM range(7, 1000) r(i))""").fetchnumpy()
    assert np.array_equal(halves[:, 0], sql["hi"]) and np.array_equal(halves[:, 1], sql["lo"])


def test_a_token_held_twice_in_one_force_is_flagged_on_both_rows() -> None:
    group = np.array([0, 0, 0, 1, 1, 2, 2, 2], dtype=np.uint64)
    force = np.array([3, 5, 3, 1, 2, 4, 4, 4], dtype=np.int32)
    assert _shared_in_force(group, force, 6).tolist() == [
        True, False, True, False, False, True, True, True]


def test_linking_gives_back_the_memory_limit_it_lowered_for_the_token_arrays() -> None:
    # blocking lowers DuckDB's limit while the token arrays live; the caller's limit (as
    # DuckDB shows it) is what the connection holds afterwards, and the links are found
    con = duckdb.connect()
    con.execute("SET memory_limit = '3GB'")
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    people = population(60, seed=5)
    encode(con, {"force a": people[:40], "force b": people[20:]})
    result = link(con)
    assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == before
    assert result.person_links >= 15  # the 20 persons both forces hold
