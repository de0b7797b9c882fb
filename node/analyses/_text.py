"""Message text as the analyses show and search it: the original beside its translation.

``define_translations`` gives each message its latest machine translation or glossary
output (only while the body is still the one translated), labelled with what made it;
``search_events`` keeps the calls-and-messages views to messages whose original or
translation contains a text, so a search in English finds a message written in Urdu.
"""

from __future__ import annotations

import duckdb
import typer

SearchOption = typer.Option(None, "--search", help="Only messages whose text or translation "
                            "contains this (any case); calls are left out.")


def define_translations(con: duckdb.DuckDBPyConnection) -> None:
    """Temp view ``message_translations (device_id, message_id, language, translation)``,
    the translation prefixed with its label, backend and model."""
    con.execute("""
        CREATE OR REPLACE TEMP VIEW message_translations AS
        SELECT t.device_id, t.message_id, any_value(m.language) AS language,
               arg_max('(' || t.label || ': ' || t.backend || ' ' || t.model_id || ') '
                       || t.text, t.translated_at) AS translation,
               arg_max(t.text, t.translated_at) AS translation_text
        FROM translations t JOIN messages m
          ON m.device_id = t.device_id AND m.message_id = t.message_id
         AND md5(m.body) = t.body_md5
        WHERE t.text IS NOT NULL GROUP BY ALL""")


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
