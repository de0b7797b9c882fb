"""What the auditor reads through the service: submissions (metadata), the ledger, and the
consultations — who asked what, when and why. Never a token, reference or graph.

A request to the service is one ledger *consultation* entry: actor ``api:NAME (ROLE)``,
the purpose code and justification the caller gave, and ``METHOD PATH q=FINGERPRINT
r=REQUEST_ID`` in front of the justification, with ``status`` and ``results`` counts (the
request id is the one its answer or error body carries, so an operator can match a 500 to
its entry; entries written before it was added have none). ``consultation_text`` writes
that form and ``consultations_page`` reads it back into fields, with the outcome:
answered (2xx), refused (4xx) or error (5xx: the service failed; the entry holds no detail).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import duckdb

_CONSULTATION = re.compile(
    r"^(GET|POST|DELETE|PUT|PATCH) (\S+) q=([0-9a-f]{16})(?: r=([0-9a-f]{1,32}))?: (.*)$", re.S)
_ACTOR = re.compile(r"^api:(.*) \((.*)\)$")


def consultation_text(method: str, path: str, fingerprint: str, justification: str,
                      request_id: str = "") -> str:
    rid = f" r={request_id}" if request_id else ""
    return f"{method} {path} q={fingerprint[:16]}{rid}: {justification}"


def outcome(status: int | None) -> str:
    """What became of a request, from its status: answered, refused or error."""
    if status is None:
        return "unknown"
    return "answered" if status < 400 else "refused" if status < 500 else "error"


def _iso(t: dt.datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if t else None


def submissions_page(con: duckdb.DuckDBPyConnection, *, force: str | None, purpose: str | None,
                     limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    rows = con.execute("""
        SELECT count(*) OVER (), payload_id, force, purpose, epoch, policy_hash, content_hash,
               received_at, via, size_bytes, encrypted, n_items, n_tokens, n_links,
               n_aggregates, superseded_by
        FROM submissions
        WHERE ($force IS NULL OR force = $force) AND ($purpose IS NULL OR purpose = $purpose)
        ORDER BY received_at DESC, payload_id LIMIT $limit OFFSET $offset""",
        {"force": force, "purpose": purpose, "limit": limit, "offset": offset}).fetchall()
    names = ("payload_id", "force", "purpose", "epoch", "policy_hash", "content_hash",
             "received_at", "via", "size_bytes", "encrypted", "n_items", "n_tokens",
             "n_links", "n_aggregates", "superseded_by")
    items = [dict(zip(names, r[1:], strict=True)) for r in rows]
    for item in items:
        item["received_at"] = _iso(item["received_at"])
    return (rows[0][0] if rows else 0), items


_LEDGER_SQL = """
    SELECT count(*) OVER (), seq, entry_id, at_utc, actor, force, action, purpose,
           justification, counts, recipients, payload_hash, entry_hash
    FROM ledger
    WHERE ($action IS NULL OR action = $action) AND ($actor IS NULL OR actor = $actor)
      AND ($since IS NULL OR at_utc >= $since) AND ($until IS NULL OR at_utc < $until)
      AND ($prefix IS NULL OR starts_with(actor, $prefix))
    ORDER BY seq DESC LIMIT $limit OFFSET $offset"""


def ledger_page(con: duckdb.DuckDBPyConnection, *, action: str | None = None,
                actor: str | None = None, since: dt.datetime | None = None,
                until: dt.datetime | None = None, limit: int = 50, offset: int = 0,
                actor_prefix: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Newest first; counts as numbers, never content (the ledger holds none)."""
    rows = con.execute(_LEDGER_SQL, {
        "action": action, "actor": actor, "since": since, "until": until, "limit": limit,
        "offset": offset, "prefix": actor_prefix}).fetchall()
    items = [{"seq": seq, "entry_id": eid, "at": _iso(at), "actor": who, "force": force,
              "action": act, "purpose": purpose, "justification": why,
              "counts": json.loads(counts), "recipients": list(recipients),
              "payload_hash": payload_hash, "entry_hash": entry_hash}
             for _, seq, eid, at, who, force, act, purpose, why, counts, recipients,
             payload_hash, entry_hash in rows]
    return (rows[0][0] if rows else 0), items


def consultations_page(con: duckdb.DuckDBPyConnection, *, user: str | None = None,
                       since: dt.datetime | None = None, until: dt.datetime | None = None,
                       limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """Requests to the service, newest first: who (user, role), when, under which purpose,
    why, which endpoint, the query's fingerprint, the answer's status and result count."""
    total, entries = ledger_page(con, action="consultation", since=since, until=until,
                                 limit=limit, offset=offset,
                                 actor_prefix=f"api:{user} (" if user else "api:")
    items = []
    for e in entries:
        who = _ACTOR.match(e["actor"])
        what = _CONSULTATION.match(e["justification"])
        items.append({
            "at": e["at"], "user": who.group(1) if who else e["actor"],
            "role": who.group(2) if who else None, "purpose": e["purpose"],
            "endpoint": f"{what.group(1)} {what.group(2)}" if what else None,
            "query_fingerprint": what.group(3) if what else None,
            "request_id": what.group(4) if what else None,
            "justification": what.group(5) if what else e["justification"],
            "status": e["counts"].get("status"), "results": e["counts"].get("results"),
            "outcome": outcome(e["counts"].get("status")), "entry_id": e["entry_id"]})
    return total, items
