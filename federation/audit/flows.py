"""The s.62 logs of a federation as one table, and the report's sections from it (SQL).

Every entry of every ledger checked becomes a row of ``entries`` in an in-memory DuckDB;
the sections are queries over it, for one period:

flows          what crossed the boundary per month, force, direction, purpose and kind:
               identifier kinds (items), links per kind and aggregate cells a force sent
               (its disclosures; the coordinator's collections for a force whose ledger is
               not given), hits the coordinator sent back
consultations  looks at data, per ledger, actor and purpose
refusals       entries recording a refusal (a gateway call refused, a release refused)
erasures       every erasure: supersession, withdrawal, retention, with its counts
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from federation.audit.period import Period
from federation.audit.sources import Ledgered
from federation.ledger import GENESIS_ACTION, canonical_json

_ENTRY_SCHEMA = pa.schema([
    ("owner", pa.string()), ("role", pa.string()), ("seq", pa.int64()),
    ("entry_id", pa.string()), ("at_utc", pa.timestamp("us")), ("actor", pa.string()),
    ("force", pa.string()), ("action", pa.string()), ("purpose", pa.string()),
    ("justification", pa.string()), ("counts", pa.string()),
    ("recipients", pa.list_(pa.string())), ("payload_hash", pa.string()),
    ("policy_hash", pa.string()), ("entry_hash", pa.string())])

_FLOWS = """
WITH counted AS (
    SELECT e.*, k AS key, CAST(json_extract(counts, '$."' || k || '"') AS BIGINT) AS n
    FROM e, unnest(json_keys(counts)) AS t(k)),
sent AS (  -- a force's own disclosures to the coordinator (share sets, secure sums)
    SELECT at_utc, force, purpose, key, n FROM counted
    WHERE role = 'node' AND action = 'disclosure'
      AND len(list_filter(recipients, lambda r: r LIKE 'coordinator%')) > 0
      AND (key LIKE 'items:%' OR key LIKE 'links:%' OR key LIKE 'aggregate_%')
      AND key NOT IN ('aggregate_cells_nonzero', 'aggregate_cells_suppressed',
                      'aggregate_cells_outside_layout')
    UNION ALL  -- received, for a force whose own ledger is not given
    SELECT at_utc, force, purpose, key, n FROM counted c
    WHERE role = 'coordinator' AND action = 'collection'
      AND key IN ('items', 'links', 'aggregates')
      AND NOT EXISTS (SELECT 1 FROM e WHERE e.role = 'node' AND e.owner = c.force)),
back AS (  -- hits the coordinator sent a force
    SELECT at_utc, force, 'hits' AS purpose, key, n FROM counted
    WHERE role = 'coordinator' AND key = 'hits' AND payload_hash IS NOT NULL
      AND action IN ('disclosure', 'consultation'))  -- sent in a round, or written to a file
SELECT strftime(at_utc, '%Y-%m') AS month, force, direction, purpose,
       CASE WHEN key LIKE 'items:%' THEN substr(key, 7)
            WHEN key LIKE 'links:%' THEN 'link ' || substr(key, 7)
            WHEN key LIKE 'aggregate%' THEN 'aggregate cells'
            ELSE key END AS kind,
       sum(n) AS count, count(*) AS messages
FROM (SELECT *, force || ' → coordinator' AS direction FROM sent
      UNION ALL SELECT *, 'coordinator → ' || force FROM back)
GROUP BY ALL ORDER BY month, force, direction, purpose, kind
"""

SECTIONS: dict[str, str] = {
    "flows": _FLOWS,
    # the same per day and direction, for the chart of flows over time
    "daily": f"""
        SELECT strptime(month, '%Y-%m-%d') AS day, direction, sum(count) AS count
        FROM ({_FLOWS.replace("'%Y-%m') AS month", "'%Y-%m-%d') AS month")})
        GROUP BY ALL ORDER BY day, direction""",
    "consultations": """
        SELECT owner AS ledger, actor, purpose, count(*) AS consultations,
               min(at_utc) AS first, max(at_utc) AS last
        FROM e WHERE action = 'consultation' GROUP BY ALL ORDER BY ledger, consultations DESC,
        actor""",
    "refusals": """
        SELECT at_utc, owner AS ledger, actor, purpose, justification FROM e
        WHERE lower(justification) LIKE '%refus%' ORDER BY at_utc""",
    "erasures": """
        SELECT at_utc, owner AS ledger, force, purpose, justification,
               (SELECT sum(CAST(json_extract(counts, '$."' || k || '"') AS BIGINT))
                FROM unnest(json_keys(counts)) AS t(k)) AS rows_counted
        FROM e WHERE action = 'erasure' ORDER BY at_utc""",
}


def entry_rows(ledgers: Sequence[Ledgered]) -> pa.Table:
    """Every s.62 entry of every ledger (genesis entries are not s.62 actions)."""
    rows = [{"owner": x.owner, "role": x.role, "seq": e.seq, "entry_id": e.entry_id,
             "at_utc": e.at_utc, "actor": e.actor, "force": e.force, "action": e.action,
             "purpose": e.purpose, "justification": e.justification,
             "counts": canonical_json(e.counts).decode(), "recipients": list(e.recipients),
             "payload_hash": e.payload_hash, "policy_hash": e.policy_hash,
             "entry_hash": e.entry_hash}
            for x in ledgers for e in x.entries if e.action != GENESIS_ACTION]
    return pa.Table.from_pylist(rows, schema=_ENTRY_SCHEMA)


def in_period(entries: pa.Table, period: Period) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose table ``e`` holds the entries of the period."""
    con = duckdb.connect()
    con.register("all_entries", entries)
    con.execute("CREATE TABLE e AS SELECT * FROM all_entries WHERE at_utc >= $s "
                "AND at_utc < $t", {"s": period.start, "t": period.end})
    con.unregister("all_entries")
    return con


def sections(entries: pa.Table, period: Period) -> dict[str, list[dict[str, Any]]]:
    """Each section's rows for the period."""
    con = in_period(entries, period)
    try:
        out = {}
        for name, sql in SECTIONS.items():
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            out[name] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return out
    finally:
        con.close()
