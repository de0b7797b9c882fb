"""Message text as the analyses show and search it: the original beside its translation.

``define_translations`` gives each message its latest machine translation and glossary
output (only while the body is still the one translated), labelled with what made them;
``search_events`` keeps the calls-and-messages views to messages whose original or
translation contains a text, so a search in English finds a message written in Urdu.
"""

from __future__ import annotations

import duckdb
import typer

SearchOption = typer.Option(None, "--search", help="Only messages whose text or translation "
                            "contains this (any case); calls are left out.")


def define_translations(con: duckdb.DuckDBPyConnection) -> None:
    """Temp view ``message_translations (device_id, message_id, translation,
    translation_text)``: per message, the latest output of each backend and model that
    translated its present body, newest first, each prefixed with what made it ("MT
    <model>:" machine translation, "glossary <file>:") (``translation_text``: the outputs
    alone, for searching)."""
    con.execute("""
        CREATE OR REPLACE TEMP VIEW message_translations AS
        WITH latest AS (
            SELECT t.device_id, t.message_id, t.backend, t.model_id,
                   arg_max(t.text, t.translated_at) AS text, max(t.translated_at) AS done_at
            FROM translations t JOIN messages m
              ON m.device_id = t.device_id AND m.message_id = t.message_id
             AND md5(m.body) = t.body_md5
            WHERE t.text IS NOT NULL GROUP BY ALL)
        SELECT device_id, message_id,
               string_agg(CASE backend WHEN 'glossary' THEN 'glossary ' ELSE 'MT ' END
                          || model_id || ': ' || text, ' | ' ORDER BY done_at DESC, backend)
                   AS translation,
               string_agg(text, ' | ' ORDER BY done_at DESC, backend) AS translation_text
        FROM latest GROUP BY ALL""")


def search_events(con: duckdb.DuckDBPyConnection, text: str | None) -> None:
    """With ``text``: the temp view ``contact_events`` (``node.analyses._events``) holds only
    the messages whose body or translation contains it. Needs ``define_parties``."""
    if not text:
        return
    define_translations(con)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE searched_events AS
        SELECT e.* FROM contact_events e
        WHERE e.event_kind = 'message'
          AND (contains(lower(e.body), lower($q)) OR EXISTS (
               SELECT 1 FROM message_translations t
               WHERE t.device_id = e.device_id AND t.message_id = e.event_id
                 AND contains(lower(t.translation_text), lower($q))))""", {"q": text})
    con.execute("CREATE OR REPLACE TEMP VIEW contact_events AS SELECT * FROM searched_events")
