"""Statistical disclosure control for aggregate counts leaving a node.

The ONS "10-5 rule" (DOMAIN.md §3): a count below the threshold (default 10) is
*primary-suppressed* (published as NULL), every other count is rounded to the nearest
multiple of the rounding base (default 5).

Secondary suppression stops a suppressed count being recovered by differencing: if the
recipient knows (or can get elsewhere) the total of a row or column, one suppressed cell in
that row or column is just ``total - sum(others)``. Rule used here (the standard
"no margin with exactly one suppressed cell" rule):

* an aggregate table is the set of rows sharing one ``name``; each row's ``cell`` is a JSON
  object of dimension values, e.g. ``{"offence_category": "cse", "year": "2024"}``;
* a *margin* is a group of cells of one table that agree on every dimension but one (a row
  or column of a 2-D table; the whole table for a 1-D table);
* while some margin has exactly one suppressed cell, also suppress that margin's smallest
  unsuppressed cell (ties broken by position), then look again — a new suppression can
  leave another margin with exactly one.

Primary and secondary suppression are decided on the true (or DP-noised) counts, rounding
is applied last to what is left. All of it is DuckDB SQL over the whole table at once.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

#: the aggregates schema of a ShareSet (docs/apis: name, cell JSON, nullable count)
AGGREGATES_SCHEMA = pa.schema([("name", pa.string()), ("cell", pa.string()),
                               ("count", pa.int64())])

_MAX_ROUNDS = 1000  # each round suppresses at least one more cell; a table never needs more


def control_aggregates(aggregates: pa.Table, *, threshold: int = 10, rounding: int = 5,
                       secondary: bool = True,
                       con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Apply suppression, secondary suppression and rounding; return the same rows.

    Counts already NULL count as suppressed. Rows keep their order; ``count`` becomes NULL
    where suppressed and a multiple of ``rounding`` elsewhere. ``con`` lets a caller reuse
    an in-memory connection (only temporary tables are made on it).
    """
    if threshold < 1 or rounding < 1:
        raise ValueError("threshold and rounding must be at least 1")
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        con.register("agg_in", aggregates.select(["name", "cell", "count"]))
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE cells AS
            SELECT (row_number() OVER ()) - 1 AS id, name, cell,
                   CAST(count AS BIGINT) AS count,
                   (count IS NULL OR count < $threshold) AS suppressed
            FROM agg_in
            """,
            {"threshold": threshold},
        )
        if secondary:
            _secondary_suppression(con)
        result = con.sql(
            """
            SELECT name, cell,
                   -- a count that rounds to zero leaves as a suppressed one does
                   CASE WHEN suppressed THEN NULL
                        ELSE nullif(CAST(round(count / $base) * $base AS BIGINT), 0) END
                       AS count
            FROM cells ORDER BY id
            """,
            params={"base": rounding},
        ).to_arrow_table()
    finally:
        con.unregister("agg_in")
        if own:
            con.close()
    return result.cast(AGGREGATES_SCHEMA)


def _secondary_suppression(con: duckdb.DuckDBPyConnection) -> None:
    # One row per (cell, margin it belongs to): the margin key is the table name, the
    # dimension that varies, and the values of all the other dimensions.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE kv AS
        SELECT c.id, c.name, t.k, json_extract_string(c.cell, '$."' || t.k || '"') AS v
        FROM cells c, unnest(json_keys(c.cell)) AS t(k)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE member AS
        SELECT a.id,
               a.name || chr(31) || a.k || chr(31) ||
               coalesce(string_agg(b.k || '=' || b.v, chr(31) ORDER BY b.k), '') AS margin
        FROM kv a LEFT JOIN kv b ON a.id = b.id AND b.k <> a.k
        GROUP BY a.id, a.name, a.k
        """
    )
    for _ in range(_MAX_ROUNDS):
        picked = con.execute(
            """
            WITH state AS (
                SELECT m.margin, c.id, c.count, c.suppressed
                FROM member m JOIN cells c USING (id)
            ),
            exposed AS (
                SELECT margin FROM state GROUP BY margin
                HAVING count(*) FILTER (WHERE suppressed) = 1 AND count(*) > 1
            ),
            ranked AS (
                SELECT s.margin, s.id,
                       row_number() OVER (PARTITION BY s.margin ORDER BY s.count, s.id) AS rn
                FROM state s JOIN exposed USING (margin)
                WHERE NOT s.suppressed
            )
            SELECT DISTINCT id FROM ranked WHERE rn = 1
            """
        ).fetchall()
        if not picked:
            return
        con.executemany("UPDATE cells SET suppressed = true WHERE id = ?", picked)
    raise RuntimeError("secondary suppression did not settle")  # pragma: no cover
