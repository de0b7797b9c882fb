"""What `node analyse handovers` shows beside each pair and apart from the pairs: the clues
that tie two numbers together (one person's numbers, one saved name, a "new number"
message), the one-line explanation, and the handsets (IMEI) with several numbers and the
numbers in several handsets."""

from __future__ import annotations

from typing import Any

import duckdb

ANNOUNCE = r"(?i)\b(new (num|numb|number|no|phone|fone|mob)|save (this|it|me|my))"


def clues(con: duckdb.DuckDBPyConnection, pairs: list[list[str]]
           ) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """For each pair "old new": the persons recorded with either number; the clues, as
    text; how many of the two that raise the strength hold (both numbers recorded for one
    person; saved under the same first name on one device). A first message announcing a
    new number is shown but does not count: it says nothing about which old number."""
    con.execute("CREATE OR REPLACE TEMP TABLE ho_found (old VARCHAR, new VARCHAR)")
    con.executemany("INSERT INTO ho_found VALUES (?, ?)", pairs)
    holders = dict(con.execute("""
        WITH own AS (SELECT e164 AS num, person_id FROM phones WHERE e164 IS NOT NULL
                     UNION SELECT owner_number_e164, person_id FROM devices
                     WHERE owner_number_e164 IS NOT NULL AND person_id IS NOT NULL),
        res AS (SELECT o.num, coalesce(r.local_person, o.person_id) AS person
                FROM own o LEFT JOIN person_resolution r USING (person_id))
        SELECT f.old || ' ' || f.new, string_agg(DISTINCT res.person, '|' ORDER BY res.person)
        FROM ho_found f JOIN res ON res.num IN (f.old, f.new) GROUP BY ALL""").fetchall())
    same_person = {k for k, in con.execute("""
        WITH own AS (SELECT e164 AS num, person_id FROM phones WHERE e164 IS NOT NULL
                     UNION SELECT owner_number_e164, person_id FROM devices
                     WHERE owner_number_e164 IS NOT NULL AND person_id IS NOT NULL),
        res AS (SELECT o.num, coalesce(r.local_person, o.person_id) AS person
                FROM own o LEFT JOIN person_resolution r USING (person_id))
        SELECT DISTINCT f.old || ' ' || f.new FROM ho_found f
        JOIN res a ON a.num = f.old JOIN res b ON b.num = f.new AND a.person = b.person"""
        ).fetchall()}
    names = dict(con.execute("""
        WITH saved AS (
            SELECT device_id, coalesce(number_e164, trim(number)) AS num, name FROM contacts
            WHERE name IS NOT NULL
            UNION SELECT device_id, other, name FROM events WHERE name IS NOT NULL),
        pairs AS (
            SELECT f.old || ' ' || f.new AS k, a.name AS a, b.name AS b, a.device_id
            FROM ho_found f JOIN saved a ON a.num = f.old
            JOIN saved b ON b.num = f.new AND b.device_id = a.device_id
            WHERE lower(split_part(trim(a.name), ' ', 1)) =
                  lower(split_part(trim(b.name), ' ', 1)))
        SELECT k, any_value(format('saved as ''{}'' / ''{}'' on {}', a, b, device_id)
                            ORDER BY device_id)
        FROM pairs GROUP BY k""").fetchall())
    announced = dict(con.execute(f"""
        WITH first_msgs AS (
            SELECT other, body, row_number() OVER (PARTITION BY device_id, other
                                                   ORDER BY timestamp_utc) AS k
            FROM events WHERE event_kind = 'message' AND body IS NOT NULL
              AND other IN (SELECT new FROM ho_found))
        SELECT f.old || ' ' || f.new, any_value(format('first message ''{{}}''', body))
        FROM ho_found f JOIN first_msgs m ON m.other = f.new
        WHERE m.k <= 3 AND regexp_matches(m.body, '{ANNOUNCE}') GROUP BY ALL""").fetchall())
    text: dict[str, str] = {}
    count: dict[str, int] = {}
    for old, new in pairs:
        k = f"{old} {new}"
        strong = ([f"both numbers recorded for {holders.get(k, '')}"]
                  if k in same_person else []) + ([names[k]] if k in names else [])
        count[k] = len(strong)
        text[k] = "; ".join(strong + ([announced[k]] if k in announced else []))
    return holders, text, count


def explain(r: dict[str, Any]) -> None:
    """The one-line explanation of a handover row (drops the helper fields)."""
    gap = (f"{r['gap_days']} days later" if r["gap_days"] else
           f"{r['parallel_days']} days side by side" if r["parallel_days"] else "same day")
    r["explanation"] = (
        f"old last used {r['old_last']:%Y-%m-%d}, new first {r['switch']:%Y-%m-%d} ({gap}); "
        f"shares {r['shared']} of {r['old_contacts']} / {r['new_contacts']} "
        + ("contacts" if r["full_view"] else "seized devices") +
        f" (Jaccard {r['jaccard']:.2f}, weighted {r['weighted_jaccard']:.2f}); "
        f"{r['order']:.0%} in switch order (p={r['p_value']:.2g})"
        + (f"; {r['also_fits']} weaker pairing(s) set aside" if r["also_fits"] else "")
        + (f"; {r['clues']}" if r["clues"] else ""))
    del r["old_last"], r["full_view"]


def handsets(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    """One IMEI with several numbers, one number in several handsets (devices table)."""
    common = """string_agg(DISTINCT d.device_id, '|' ORDER BY d.device_id),
                string_agg(DISTINCT coalesce(r.local_person, d.person_id), '|'),
                min(d.extraction_date)::DATE, max(d.extraction_date)::DATE
                FROM devices d LEFT JOIN person_resolution r USING (person_id)
                WHERE d.device_id IN (SELECT device_id FROM ho_devices)"""
    imei = con.execute(f"""
        SELECT d.imei_norm, string_agg(DISTINCT d.owner_number_e164, '|'
                                       ORDER BY d.owner_number_e164), {common}
        AND d.imei_norm IS NOT NULL GROUP BY d.imei_norm
        HAVING count(DISTINCT d.owner_number_e164) >= 2 ORDER BY 1""").fetchall()
    number = con.execute(f"""
        SELECT d.owner_number_e164, string_agg(DISTINCT d.imei_norm, '|'
                                               ORDER BY d.imei_norm), {common}
        AND d.owner_number_e164 IS NOT NULL GROUP BY d.owner_number_e164
        HAVING count(DISTINCT d.imei_norm) >= 2 ORDER BY 1""").fetchall()
    return [list(r) for r in imei], [list(r) for r in number]
