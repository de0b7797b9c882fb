"""From an extraction's scratch tables (``x_<table>``, ``scratch``) to the store, and the
finishing steps every device file takes, extraction or generic layout alike.

- ``finish_times``: a time written without an offset is placed in the device's time zone
  (flag ``device_zone``), or kept as UTC when the zone is unknown (``assumed_utc``);
- ``layout_source``: the SQL the layout tables are staged from (checked as usual);
- ``insert_own``: the tables only extractions fill, cast and inserted;
- ``finish_devices``: each device's region (declared, or from its own number, IMSI,
  ICCID) and its own number in E.164 within it;
- ``finish_parties``: the kind and normalised form of every party identifier, and why a
  number stayed raw — counted for the load report;
- ``finish_languages``: the language, script and confidence of every message body
  (node.language) — counted for the load report.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from node.extraction.parties import (
    kind_of,
    normalise_party,
    number_flag_sql,
    phones_in_region,
)
from node.extraction.region import RegionEvidence, derive_region
from node.extraction.rows import EXTRA, OWN, PREFIX, columns
from node.extraction.scratch import DB as SCRATCH
from node.extraction.times import zone_of
from node.language.settings import LanguageSettings

#: store column types of the tables only extractions fill (all others VARCHAR)
_TYPES = {"started_utc": "TIMESTAMP", "last_activity_utc": "TIMESTAMP",
          "participants": "INTEGER", "messages": "INTEGER", "deleted": "BOOLEAN",
          "is_owner": "BOOLEAN", "timestamp_utc": "TIMESTAMP", "latitude": "DOUBLE",
          "longitude": "DOUBLE", "accuracy_m": "DOUBLE"}
#: messages whose bodies are detected at once (finish_languages)
LANGUAGE_PART = 100_000
#: tables whose rows carry device-local times to place
_TIMED = ("calls", "messages", "device_locations")


def finish_times(con: duckdb.DuckDBPyConnection, timezone: str | None) -> None:
    """Place the naive times of ``x_calls``, ``x_messages`` and ``x_device_locations`` in
    the device's zone (an IANA name, or a fixed offset when the tool wrote only that)."""
    zone, offset = zone_of(timezone)
    con.execute("SET TimeZone = 'UTC'")
    for t in _TIMED:
        x = f"{PREFIX}{t}"
        has_offset = "utc_offset_min" in columns(t)
        if zone:
            utc = f"timezone({_q(zone)}, _ts_local::TIMESTAMP)::TIMESTAMP"
        elif offset is not None:
            utc = f"_ts_local::TIMESTAMP - to_minutes({int(offset)})"
        else:
            utc = None
        sets = (f"timestamp_utc = {utc}::VARCHAR, time_flag = coalesce(time_flag, "
                "'device_zone')" if utc else
                "timestamp_utc = _ts_local, time_flag = coalesce(time_flag, 'assumed_utc')")
        if utc and has_offset:
            sets += f", utc_offset_min = datediff('minute', {utc}, _ts_local::TIMESTAMP)"
        con.execute(f"UPDATE {x} SET {sets} WHERE _ts_local IS NOT NULL")


def link_chats(con: duckdb.DuckDBPyConnection) -> None:
    """A message inside a chat, with no chat id of its own, takes the chat's id."""
    con.execute(f"""UPDATE {PREFIX}messages m SET chat_id = c.chat_id FROM {PREFIX}chats c
                    WHERE m.chat_id IS NULL AND m._chat_ref = c._ref""")


def layout_source(table: str) -> str:
    """SQL for ``stage_relation``: the layout table's columns and its stored extras."""
    cols = [c for c in columns(table) if not c.startswith("_")]
    return (f"(SELECT {', '.join(_ident(c) for c in cols)}, _where "
            f"FROM {SCRATCH}.{PREFIX}{table})")


def stored_extra(table: str) -> tuple[str, ...]:
    return tuple(c for c in EXTRA.get(table, ()) if not c.startswith("_"))


def insert_own(con: duckdb.DuckDBPyConnection, file_id: int) -> dict[str, int]:
    """Insert the extraction-only tables from the attached scratch file; returns rows per
    table."""
    out: dict[str, int] = {}
    for t, cols in OWN.items():
        keep = [c for c in cols if not c.startswith("_")]
        select = ", ".join(
            f"TRY_CAST({_ident(c)} AS {_TYPES[c]})" if c in _TYPES else _ident(c)
            for c in keep)
        con.execute(f"INSERT INTO {t} ({', '.join(_ident(c) for c in keep)}, source_file) "
                    f"SELECT {select}, {int(file_id)} FROM {SCRATCH}.{PREFIX}{t}")
        out[t] = int(con.execute(f"SELECT count(*) FROM {t} WHERE source_file = ?",
                                 [file_id]).fetchall()[0][0])
    return out


def finish_devices(con: duckdb.DuckDBPyConnection, file_id: int) -> dict[str, int]:
    """Region and own number (E.164 within it) of the file's devices; counts of devices
    whose region is unknown."""
    rows = con.execute("SELECT rowid, region, region_source, owner_number, imsi, iccid "
                       "FROM devices WHERE source_file = ?", [file_id]).fetchall()
    unknown = 0
    for rowid, region, source, owner, imsi, iccid in rows:
        if not source or source == "declared":  # an extraction reader decided already
            found = derive_region(RegionEvidence(
                own_numbers=[owner] if owner else [], imsis=[imsi] if imsi else [],
                iccids=[iccid] if iccid else []), declared=region)
            region = found.region
            source = found.source + (f" ({found.note})" if found.note else "")
        unknown += region is None
        e164 = phones_in_region([(owner, region)])[0] if owner else None
        con.execute("UPDATE devices SET region = ?, region_source = ?, owner_number_e164 = ? "
                    "WHERE rowid = ?", [region, source, e164, rowid])
    return {"unknown": unknown} if unknown else {}


#: per table: (value SQL, kind column, normalised column, app SQL) of its parties. Calls,
#: messages and contacts store them only for a party that is not a phone read as
#: ``number_e164`` (``kind_stored``/``norm_stored``; the columns readers see are generated
#: from them, migration 9).
_PARTY_COLUMNS = {
    "calls": ("t.number", "kind_stored", "norm_stored", "t.app"),
    "messages": ("t.number", "kind_stored", "norm_stored", "t.app"),
    "contacts": ("coalesce(t.entry_value, t.number)", "kind_stored", "norm_stored",
                 "t.source_app"),
    "event_parties": ("t.identifier", "party_kind", "party_norm", "ev.app"),
    "device_accounts": ("t.value", "entry_kind", "value_norm", "t.app"),
}
#: the app of each call, message and chat, for the parties of event_parties
_EVENT_APPS = """LEFT JOIN (
    SELECT device_id, 'call' AS ek, call_id AS eid, app FROM calls WHERE source_file = $f
    UNION ALL SELECT device_id, 'message', message_id, app FROM messages WHERE source_file = $f
    UNION ALL SELECT device_id, 'chat', chat_id, app FROM chats WHERE source_file = $f
) ev ON ev.device_id = t.device_id AND ev.ek = t.event_kind AND ev.eid = t.event_id"""


def finish_parties(con: duckdb.DuckDBPyConnection, table: str, file_id: int
                   ) -> dict[str, int]:
    """Kind, normalised form and number flag of each party in ``table`` (calls, messages,
    contacts, event_parties, device_accounts) for one file; returns number-flag counts.

    A number ingest already read as E.164 (``number_e164``, in its device's region) is a
    phone and that is its normalised form: set in SQL. Only the rest — e-mails, app ids,
    web addresses, values no normaliser read — goes through Python, each distinct
    (kind, value, region, app) once."""
    value, kind_col, norm_col, app = _PARTY_COLUMNS[table]
    numbers = table in ("calls", "messages", "contacts")
    joins = _EVENT_APPS if table == "event_parties" else ""
    rest = (f"AND (t.number_e164 IS NULL OR coalesce(t.{kind_col}, 'phone') <> 'phone')"
            if numbers else "")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE party_src AS
        SELECT t.rowid AS rid, t.{kind_col} AS k, {value} AS v, d.region AS r, {app} AS a
        FROM {table} t LEFT JOIN devices d ON d.device_id = t.device_id {joins}
        WHERE t.source_file = $f AND {value} IS NOT NULL {rest}""", {"f": file_id})
    distinct = con.execute("SELECT DISTINCT k, v, r, a FROM party_src").fetchall()
    if distinct:
        kinds = [k or kind_of(v, None, a) for k, v, _, a in distinct]
        norms = [normalise_party(k, v, r, a) for k, (_, v, r, a) in zip(kinds, distinct,
                                                                         strict=True)]
        # read by name (a replacement scan): a registered table lives until COMMIT
        party_map = pa.table({  # noqa: F841
            "k": pa.array([d[0] for d in distinct], pa.string()),
            "k2": pa.array(kinds, pa.string()),
            "v": pa.array([d[1] for d in distinct], pa.string()),
            "r": pa.array([d[2] for d in distinct], pa.string()),
            "a": pa.array([d[3] for d in distinct], pa.string()),
            "n": pa.array(norms, pa.string())})
        con.execute(f"""
            UPDATE {table} t SET {kind_col} = m.k2, {norm_col} = m.n
            FROM party_src s JOIN party_map m
              ON m.k IS NOT DISTINCT FROM s.k AND m.v = s.v
             AND m.r IS NOT DISTINCT FROM s.r AND m.a IS NOT DISTINCT FROM s.a
            WHERE t.rowid = s.rid""")
    con.execute("DROP TABLE party_src")
    if table == "event_parties":  # a plain-field party that is the device's own number
        con.execute(f"""UPDATE event_parties t SET is_owner = true FROM devices d
                        WHERE t.source_file = {int(file_id)} AND d.device_id = t.device_id
                          AND t.party_norm = d.owner_number_e164""")
    if not numbers:
        return {}
    # one pass: a phone read as number_e164 stores no kind or form of its own (they are
    # generated from number_e164), and why each other number stayed raw
    phone = f"t.number_e164 IS NOT NULL AND coalesce(t.{kind_col}, 'phone') = 'phone'"
    flag = number_flag_sql("t.number", "t.number_e164", "d.region")
    con.execute(f"""
        UPDATE {table} t SET
            {kind_col} = CASE WHEN {phone} THEN NULL ELSE t.{kind_col} END,
            {norm_col} = CASE WHEN {phone} THEN NULL ELSE t.{norm_col} END,
            number_flag = CASE WHEN coalesce(t.{kind_col}, 'phone') = 'phone'
                               THEN {flag} END
        FROM (SELECT t2.rowid AS rid, d2.region FROM {table} t2
              LEFT JOIN devices d2 ON d2.device_id = t2.device_id
              WHERE t2.source_file = {int(file_id)}) d
        WHERE t.rowid = d.rid""")
    return {f: int(n) for f, n in con.execute(
        f"SELECT number_flag, count(*) FROM {table} WHERE source_file = ? AND number_flag "
        "IS NOT NULL GROUP BY 1 ORDER BY 1", [file_id]).fetchall()}


def detect_languages(sc: duckdb.DuckDBPyConnection, settings: LanguageSettings) -> None:
    """Detect the language of every message in the scratch file (``x_messages``), before
    the store's transaction: each part of about ``LANGUAGE_PART`` messages (by a hash of
    the body, so one body is in one part) commits on its own, so neither the bodies held
    in Python nor DuckDB's record of the updates grows with the report."""
    from node.language.detection import Detector

    waiting = int(sc.execute(f"SELECT count(*) FROM {PREFIX}messages").fetchall()[0][0])
    parts = max(1, -(-waiting // LANGUAGE_PART))
    detector = Detector(settings.expected)
    part_of = "coalesce(hash(x.body), 0) % $parts = $part"
    for part in range(parts):
        at = {"parts": parts, "part": part}
        bodies = [r[0] for r in sc.execute(
            f"SELECT DISTINCT body FROM {PREFIX}messages x WHERE {part_of}", at).fetchall()]
        found = detector.detect_many(bodies)
        # read by name (a replacement scan), as language.store does
        lang_found = pa.table({  # noqa: F841
            "body": pa.array(bodies, pa.string()),
            "language": pa.array([d.language for d in found], pa.string()),
            "language_script": pa.array([d.script for d in found], pa.string()),
            "language_confidence": pa.array([d.confidence for d in found], pa.float64()),
            "language_method": pa.array([d.method for d in found], pa.string())})
        sc.execute(f"""UPDATE {PREFIX}messages x SET language = l.language,
                           language_script = l.language_script,
                           language_confidence = l.language_confidence::VARCHAR,
                           language_method = l.language_method
                       FROM lang_found l
                       WHERE x.body IS NOT DISTINCT FROM l.body AND {part_of}""", at)


def language_counts(con: duckdb.DuckDBPyConnection, file_id: int) -> dict[str, int]:
    """Messages per language of one file, as stored (detected before the store's
    transaction by ``detect_languages``)."""
    return {str(k): int(n) for k, n in con.execute(
        "SELECT language, count(*) FROM messages WHERE source_file = ? AND language IS NOT "
        "NULL GROUP BY 1 ORDER BY 2 DESC, 1", [int(file_id)]).fetchall()}


def finish_languages(con: duckdb.DuckDBPyConnection, file_id: int,
                     settings: LanguageSettings) -> dict[str, int]:
    """Detect the language of the file's messages; messages per language. The bodies are
    taken in parts of about ``LANGUAGE_PART`` messages (by a hash of the body, so one body
    is in one part), so the Python lists detection holds stay the same size however many
    messages a file brings."""
    from node.language.store import detect_messages

    f = int(file_id)
    waiting = int(con.execute("SELECT count(*) FROM messages WHERE source_file = ? AND "
                              "language IS NULL", [f]).fetchall()[0][0])
    parts = max(1, -(-waiting // LANGUAGE_PART))
    if parts == 1:
        return detect_messages(con, settings, "source_file = $f", {"f": f})
    counts: dict[str, int] = {}
    for part in range(parts):
        found = detect_messages(con, settings, "source_file = $f AND "
                                "coalesce(hash(messages.body), 0) % $parts = $part",
                                {"f": f, "parts": parts, "part": part})
        for lang, n in found.items():
            counts[lang] = counts.get(lang, 0) + n
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def time_flags(con: duckdb.DuckDBPyConnection, table: str, file_id: int) -> dict[str, int]:
    return {f: int(n) for f, n in con.execute(
        f"SELECT time_flag, count(*) FROM {table} WHERE source_file = ? AND time_flag IS "
        "NOT NULL GROUP BY 1 ORDER BY 1", [file_id]).fetchall()}


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
