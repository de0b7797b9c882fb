"""Features of each person record for resolution: one row per record, built in SQL.

Names go through the one name normaliser (`federation.normalise`, once per DISTINCT value),
the full names a nickname stands for through `federation.names` (the same forms the
match keys use, once per distinct first name);
everything else is DuckDB SQL over the store. A date of birth counts at the precision
ingest marked (`dob_precision`: a 1 January date counts as its year only).

    record_features(con) -> pyarrow.Table
        person_id, fn, fn_names, sn, name_words, dob_s, ym, yob, postcode, district, ids
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from federation.names import canonical_forms
from federation.normalise import normalise_many


def _name_table(con: duckdb.DuckDBPyConnection) -> None:
    """`rs_names(raw, norm)`: each distinct given / family name normalised once; the
    normaliser turns what is written for a missing name (NS, UNK, N/K, ...) into NULL."""
    raw = [r[0] for r in con.execute("""
        SELECT DISTINCT v FROM (SELECT given_names AS v FROM persons
                                UNION ALL SELECT family_name FROM persons)
        WHERE v IS NOT NULL""").fetchall()]
    norm = normalise_many("name", raw)
    con.register("rs_names_in", pa.table({"raw": pa.array(raw, pa.string()),
                                          "norm": pa.array(norm, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE rs_names AS SELECT * FROM rs_names_in")
    con.unregister("rs_names_in")
    firsts = [r[0] for r in con.execute("""
        SELECT DISTINCT split_part(norm, ' ', 1) FROM rs_names WHERE norm IS NOT NULL
        ORDER BY 1""").fetchall()]
    con.register("rs_can_in", pa.table({
        "fn": pa.array(firsts, pa.string()),
        "fn_names": pa.array([canonical_forms(f) for f in firsts], pa.list_(pa.string()))}))
    con.execute("CREATE OR REPLACE TEMP TABLE rs_canonical AS SELECT * FROM rs_can_in")
    con.unregister("rs_can_in")


def record_features(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """One row per person record, ordered by person_id (the comparison columns of
    `node.resolution.model`)."""
    _name_table(con)
    return con.sql("""
        WITH named AS (
            -- ingest marks how much of a date of birth is usable (a 1 January one counts
            -- as its year only: forces pad unknown days that way)
            SELECT p.person_id, g.norm AS given, f.norm AS family, p.dob,
                   p.dob_precision AS precision
            FROM persons p
            LEFT JOIN rs_names g ON g.raw = p.given_names
            LEFT JOIN rs_names f ON f.raw = p.family_name),
        -- identity evidence: phones, e-mails, handles (not vehicles: a household's car)
        ids AS (
            SELECT person_id, list(DISTINCT kind || ':' || value ORDER BY kind || ':' || value)
                       AS ids
            FROM (SELECT person_id, kind, value_norm AS value FROM identifiers
                  WHERE normalised AND value_norm IS NOT NULL
                  UNION ALL SELECT person_id, 'phone', owner_number_e164 FROM devices
                  WHERE person_id IS NOT NULL AND owner_number_e164 IS NOT NULL)
            GROUP BY person_id),
        homes AS (
            SELECT person_id,
                   arg_max(postcode_norm, coalesce(valid_from, DATE '1900-01-01'))
                       AS postcode
            FROM addresses WHERE postcode_norm IS NOT NULL GROUP BY person_id)
        SELECT n.person_id,
               nullif(split_part(n.given, ' ', 1), '') AS fn,
               c.fn_names,
               nullif(replace(n.family, ' ', ''), '') AS sn,
               CASE WHEN n.given IS NOT NULL OR n.family IS NOT NULL THEN
                   list_sort(list_distinct(string_split(
                       trim(concat_ws(' ', n.given, n.family)), ' '))) END AS name_words,
               CASE WHEN n.precision = 'day' THEN strftime(n.dob, '%Y-%m-%d') END AS dob_s,
               CASE WHEN n.precision IN ('day', 'month') THEN strftime(n.dob, '%Y-%m') END
                   AS ym,
               CAST(year(n.dob) AS VARCHAR) AS yob,
               h.postcode,
               nullif(split_part(h.postcode, ' ', 1), '') AS district,
               i.ids
        FROM named n
        LEFT JOIN rs_canonical c ON c.fn = split_part(n.given, ' ', 1)
        LEFT JOIN homes h USING (person_id)
        LEFT JOIN ids i USING (person_id)
        ORDER BY n.person_id""").to_arrow_table()
