"""What the auditor's data-flows page reads: per force and per day, what left each node
(payloads the node sealed and signed, by the day it sealed them) and what the coordinator
received and accepted (by the day it arrived), the hits sent back to each force, and the
consultations by actor and purpose. Counts only — never a token, reference or graph.

A payload carries the node's own signed counts, so "sent" here is the node's word, checked
by its signature; the node's own ledger says the same in its disclosure entry, and
`crossforce audit verify --receipts` matches the two by content hash.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

_DAILY = """
    WITH s AS (SELECT * FROM submissions),
    sent AS (
        SELECT created_at::DATE AS day, force, 'sent by node' AS flow, count(*) AS payloads,
               sum(n_items) AS items, sum(n_links) AS links, sum(n_aggregates) AS aggregates,
               sum(size_bytes) AS bytes
        FROM s GROUP BY ALL),
    received AS (
        SELECT received_at::DATE, force, 'received by coordinator', count(*), sum(n_items),
               sum(n_links), sum(n_aggregates), sum(size_bytes)
        FROM s GROUP BY ALL),
    hits AS (
        SELECT at_utc::DATE, force, 'hits sent to force', count(*),
               sum(coalesce(TRY_CAST(json_extract(counts, '$.hits') AS BIGINT), 0)), 0, 0, 0
        FROM ledger WHERE action = 'disclosure' AND force <> owner GROUP BY ALL)
    SELECT * FROM (SELECT * FROM sent UNION ALL SELECT * FROM received
                   UNION ALL SELECT * FROM hits)
    WHERE day >= $first AND day <= $last
    ORDER BY day, force, flow"""

_CONSULTATIONS = """
    SELECT actor, purpose, count(*) AS consultations, min(at_utc) AS first, max(at_utc) AS last
    FROM ledger WHERE action = 'consultation' AND at_utc::DATE BETWEEN $first AND $last
    GROUP BY ALL ORDER BY consultations DESC, actor, purpose LIMIT 200"""


def flows(con: duckdb.DuckDBPyConnection, *, last: dt.date, days: int) -> dict[str, Any]:
    """The ``days`` days ending on ``last`` (UTC dates)."""
    window = {"first": last - dt.timedelta(days=days - 1), "last": last}
    names = ("day", "force", "flow", "payloads", "items", "links", "aggregates", "bytes")
    daily = [dict(zip(names, r, strict=True)) for r in con.execute(_DAILY, window).fetchall()]
    for row in daily:
        row["day"] = row["day"].isoformat()
        for k in names[3:]:
            row[k] = int(row[k] or 0)
    consultations = [
        {"actor": a, "purpose": p, "consultations": n, "first": f.isoformat() + "Z",
         "last": t.isoformat() + "Z"}
        for a, p, n, f, t in con.execute(_CONSULTATIONS, window).fetchall()]
    return {"first": window["first"].isoformat(), "last": last.isoformat(), "daily": daily,
            "consultations": consultations}
