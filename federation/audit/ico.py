"""`crossforce audit export --ico`: the s.62 log of a period as one documented CSV.

DPA 2018 s.62 logs go to the ICO on request. One row per logged action, from every ledger
given, oldest first; never content — counts of records, hashes and names only:

=============  ==============================================================
column         meaning
=============  ==============================================================
action         collection, alteration, consultation, disclosure, combination,
               erasure (s.62(1))
at_utc         when, UTC, ISO 8601
actor          who acted (user, service), as far as known (s.62(2))
force          the force the action concerns
log            whose log it is: a force's node, or the coordinator
purpose        purpose code of the processing
justification  why (s.62(2)(a)): free text written when the action was logged
recipients     who received data, for a disclosure (s.62(3)); ';' between them
counts         numbers of records, as name=count pairs joined by ';'
payload_hash   SHA-256 of what was sent or received (both ends log the same)
policy_hash    version of the sharing policy the action ran under
entry_id       the log entry's id
entry_hash     the entry's hash in its signed chain (checked by `audit verify`)
=============  ==============================================================
"""

from __future__ import annotations

import csv
import io

import duckdb
import pyarrow as pa

from federation.audit.flows import in_period
from federation.audit.period import Period

ICO_COLUMNS = ("action", "at_utc", "actor", "force", "log", "purpose", "justification",
               "recipients", "counts", "payload_hash", "policy_hash", "entry_id",
               "entry_hash")

_SQL = """
SELECT action, strftime(at_utc, '%Y-%m-%dT%H:%M:%S.%fZ') AS at_utc, actor, force,
       owner AS log, purpose, justification, array_to_string(recipients, ';') AS recipients,
       (SELECT coalesce(string_agg(k || '=' || json_extract_string(counts, '$."' || k || '"'),
                                   ';' ORDER BY k), '')
        FROM unnest(json_keys(counts)) AS t(k)) AS counts,
       coalesce(payload_hash, '') AS payload_hash, coalesce(policy_hash, '') AS policy_hash,
       entry_id, entry_hash
FROM e ORDER BY at_utc, log, seq
"""


def ico_csv(entries: pa.Table, period: Period) -> tuple[str, int]:
    """(CSV text, rows) of every s.62 entry in the period."""
    con: duckdb.DuckDBPyConnection = in_period(entries, period)
    try:
        rows = con.execute(_SQL).fetchall()
    finally:
        con.close()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ICO_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue(), len(rows)
