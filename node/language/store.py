"""Detected languages written to ``messages``: each distinct body once, then one UPDATE.

Used by ingest (every messages file and extraction, inside the file's transaction) and by
``node translate`` (messages loaded before detection existed). Analyses use
``detected_messages`` instead, which writes nothing to the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

from node.language.detection import Detector
from node.language.settings import LanguageSettings

_COLUMNS = ("language", "language_script", "language_confidence", "language_method")


def _detections(con: duckdb.DuckDBPyConnection, settings: LanguageSettings, where: str,
                params: Mapping[str, Any]) -> pa.Table:
    """(body, language, script, confidence, method) for each distinct body still without a
    language among the messages ``where`` selects."""
    bodies = [r[0] for r in con.execute(
        f"SELECT DISTINCT body FROM messages WHERE ({where}) AND language IS NULL",
        dict(params)).fetchall()]
    found = Detector(settings.expected).detect_many(bodies)
    return pa.table({
        "body": pa.array(bodies, pa.string()),
        "language": pa.array([d.language for d in found], pa.string()),
        "language_script": pa.array([d.script for d in found], pa.string()),
        "language_confidence": pa.array([d.confidence for d in found], pa.float64()),
        "language_method": pa.array([d.method for d in found], pa.string())})


def detect_messages(con: duckdb.DuckDBPyConnection, settings: LanguageSettings,
                    where: str = "true", params: Mapping[str, Any] | None = None
                    ) -> dict[str, int]:
    """Give every message ``where`` selects that has no language yet its language, script,
    confidence and method; returns how many were detected, per language."""
    params = dict(params or {})
    # read by its local name (a replacement scan), not con.register: a registered Arrow
    # table is kept until the transaction ends, so an ingest's parts would pile up
    lang_found = _detections(con, settings, where, params)  # noqa: F841
    cond = (f"messages.body IS NOT DISTINCT FROM l.body AND messages.language IS NULL "
            f"AND ({where})")
    counts = {str(k): int(n) for k, n in con.execute(
        f"SELECT l.language, count(*) FROM messages JOIN lang_found l ON {cond} "
        "GROUP BY 1 ORDER BY 2 DESC, 1", params).fetchall()}
    sets = ", ".join(f"{c} = l.{c}" for c in _COLUMNS)
    con.execute(f"UPDATE messages SET {sets} FROM lang_found l WHERE {cond}", params)
    return counts


def detected_messages(con: duckdb.DuckDBPyConnection, settings: LanguageSettings) -> int:
    """Temp table ``message_languages``: every message's language columns, detected now for
    those loaded before detection existed (nothing is written to ``messages``). Returns how
    many were detected now."""
    con.register("lang_found", _detections(con, settings, "true", {}))
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE message_languages AS
            SELECT m.device_id, m.message_id, m.body, md5(coalesce(m.body, '')) AS body_md5,
                   coalesce(m.language, l.language) AS language,
                   coalesce(m.language_script, l.language_script) AS script,
                   coalesce(m.language_confidence, l.language_confidence) AS confidence,
                   coalesce(m.language_method, l.language_method) AS method,
                   m.language IS NULL AS detected_now
            FROM messages m LEFT JOIN lang_found l
              ON m.language IS NULL AND m.body IS NOT DISTINCT FROM l.body""")
    finally:
        con.unregister("lang_found")
    return int(con.execute("SELECT count(*) FROM message_languages WHERE detected_now"
                           ).fetchone()[0])
