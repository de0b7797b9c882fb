"""What the stores hold, checked against the ledgers: every payload traced at both ends,
nothing held past retention, nothing left of a withdrawal. All by SQL on read-only stores.

The coordinator's content tables are found from its catalog (every table with a
``payload_id`` column but the payload registers), so a new content table is checked too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

from federation.audit.findings import Finding
from federation.audit.sources import Ledgered, has_table, node_policy

#: coordinator tables that record payloads rather than hold their content
PAYLOAD_REGISTERS = ("submissions", "seen_payloads")
#: coordinator tables that may name a force that withdrew everything (audit metadata)
AUDIT_TABLES = ("ledger", "ledger_anchors", "forces", "submissions", "seen_payloads",
                "withdrawals")
COORD = "coordinator"


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """table -> {column: type} of the store's own tables."""
    found: dict[str, dict[str, str]] = {}
    for table, column, dtype in con.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND t.table_schema = current_schema()"
    ).fetchall():
        found.setdefault(table, {})[column] = dtype
    return found


def content_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(t for t, cols in _columns(con).items()
                  if "payload_id" in cols and t not in PAYLOAD_REGISTERS)


def held_payloads(coord: Ledgered, nodes: Sequence[Ledgered]) -> tuple[int, list[Finding]]:
    """Each payload whose content the coordinator holds has its collection entry (and,
    when there is none, the sender's disclosure is looked for too); no content row belongs
    to an erased or unknown payload; no collection entry lost its submission record."""
    con = coord.con
    if not has_table(con, "submissions"):
        return 0, []
    collected = {(e.force, e.payload_hash) for e in coord.entries if e.action == "collection"}
    disclosed = {n.owner: {e.payload_hash for e in n.entries if e.action == "disclosure"}
                 for n in nodes}
    held = con.execute("SELECT payload_id, force, purpose, content_hash FROM submissions "
                       "WHERE superseded_by IS NULL ORDER BY received_at").fetchall()
    found = []
    for pid, force, purpose, h in held:
        if (force, h) in collected:
            continue
        found.append(Finding(COORD, "untraced", f"holds payload {pid} from {force} ({purpose}, "
                             f"{h[:16]}…) but its ledger has no collection entry for it"))
        if force in disclosed and h not in disclosed[force]:
            found.append(Finding(f"{force} ↔ coordinator", "untraced",
                                 f"payload {pid} held by the coordinator was never disclosed "
                                 f"in {force}'s ledger"))
    for table in content_tables(con):
        for pid, n, why in con.execute(f"""
                SELECT t.payload_id, count(*), any_value(s.superseded_by)
                FROM {table} t LEFT JOIN submissions s USING (payload_id)
                WHERE s.payload_id IS NULL OR s.superseded_by IS NOT NULL
                GROUP BY 1 ORDER BY 1""").fetchall():
            state = f"erased ({why})" if why else "not in its submissions"
            found.append(Finding(COORD, "held", f"table {table} still holds {n:,} row(s) of "
                                 f"payload {pid}, which is {state}"))
    known = {h for (h,) in con.execute("SELECT content_hash FROM submissions").fetchall()}
    for e in coord.entries:
        if e.action == "collection" and e.payload_hash and e.payload_hash not in known:
            found.append(Finding(COORD, "untraced", f"logs payload {e.payload_hash[:16]}… "
                                 f"collected from {e.force}, but the store has no record of "
                                 "it (its submission row was deleted)", e.seq, e.entry_id))
    return len(held), found


def coordinator_retention(coord: Ledgered, as_of: dt.datetime) -> tuple[int, list[Finding]]:
    if not has_table(coord.con, "submissions") or "retention_days" not in _columns(
            coord.con).get("submissions", {}):
        return 0, []
    rows = coord.con.execute("""
        SELECT payload_id, force, purpose, retention_days, received_at FROM submissions
        WHERE superseded_by IS NULL AND retention_days IS NOT NULL
          AND received_at + to_days(retention_days) < $as_of""", {"as_of": as_of}).fetchall()
    ((n,),) = coord.con.execute("SELECT count(*) FROM submissions "
                                "WHERE superseded_by IS NULL").fetchall()
    return n, [Finding(COORD, "retention", f"holds payload {pid} from {force} ({purpose}) "
                       f"received {at:%Y-%m-%d}, past the {days} days of {force}'s policy "
                       "(run `crossforce coordinator purge`)")
               for pid, force, purpose, days, at in rows]


def node_retention(node: Ledgered, as_of: dt.datetime) -> tuple[int, list[Finding]]:
    con = node.con
    if not has_table(con, "egress_refs"):
        return 0, []
    days = node_policy(node.folder)[0].retention.days
    cutoff = as_of - dt.timedelta(days=days)
    shared = ("coalesce(last_shared_at, created_at)" if "last_shared_at" in
              _columns(con).get("egress_refs", {}) else "created_at")
    ((refs, old_refs),) = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {shared} < $c) FROM egress_refs",
        {"c": cutoff}).fetchall()
    ((old_hits,),) = con.execute(
        "SELECT count(*) FROM received_hits WHERE batch IN (SELECT batch FROM hit_batches "
        "WHERE received_at < $c)", {"c": cutoff}).fetchall()
    found = []
    if old_refs or old_hits:
        found.append(Finding(node.owner, "retention", f"keeps {old_refs:,} ref(s) and "
                             f"{old_hits:,} resolved hit(s) past the {days} days of its "
                             "policy (run `crossforce node purge`)"))
    return int(refs), found


def withdrawn(coord: Ledgered) -> tuple[int, list[Finding]]:
    """Nothing of a withdrawal is left: no content row of those payloads and, when the
    force withdrew everything, no row naming it outside the audit tables."""
    con = coord.con
    if not has_table(con, "withdrawals"):
        return 0, []
    columns = _columns(con)
    rows = con.execute("SELECT withdrawal_id, force, purposes FROM withdrawals").fetchall()
    found = []
    for wid, force, purposes in rows:
        everything = purposes == ["*"]
        for table in content_tables(con):
            ((n,),) = con.execute(f"""
                SELECT count(*) FROM {table} t JOIN submissions s USING (payload_id)
                WHERE s.force = $f AND ($all OR list_contains($p, s.purpose))""",
                                  {"f": force, "all": everything, "p": purposes}).fetchall()
            if n:
                found.append(Finding(COORD, "held", f"withdrawal {wid}: table {table} still "
                                     f"holds {n:,} row(s) {force} withdrew"))
        if not everything:
            continue
        for table, cols in sorted(columns.items()):
            if table in AUDIT_TABLES:
                continue
            tests = [f"{c} = $f" for c in ("force", "force_a", "force_b") if c in cols]
            tests += [f"list_contains({c}, $f)" for c in ("forces",) if c in cols]
            if not tests:
                continue
            ((n,),) = con.execute(f"SELECT count(*) FROM {table} WHERE {' OR '.join(tests)}",
                                  {"f": force}).fetchall()
            if n:
                found.append(Finding(COORD, "held", f"withdrawal {wid}: table {table} still "
                                     f"holds {n:,} row(s) naming {force}, which withdrew "
                                     "everything"))
    return len(rows), found
