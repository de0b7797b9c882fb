"""`node analyse languages`: which languages a seized phone's (or a person's, or a case's)
messages are in, and how many need a translator — so an analyst knows what is there
before searching it, and the force can plan translator time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.analyses import CsvOption, DirOption, JsonOption, Result, Table, consult, emit
from node.analyses._cases import CaseOption, subjects_with_cases
from node.analyses._events import DeviceOption, PersonOption, one_subject, working
from node.language.settings import LanguageSettings, language_settings

COLUMNS = ["subject", "language", "scripts", "messages", "share", "needs_translator",
           "queued", "machine_translated", "glossed", "untranslated"]
SUMMARY_COLUMNS = ["subject", "devices", "messages", "languages", "undetermined",
                   "need_translator", "machine_translated", "untranslated"]


def command(
    dir: Path = DirOption,
    device: list[str] = DeviceOption,
    person: list[str] = PersonOption,
    case: list[str] = CaseOption,
    top: int = typer.Option(25, "--top", min=1, help="Rows shown per table."),
    as_json: bool = JsonOption,
    csv: Path = CsvOption,
) -> None:
    """Messages per language (BCP-47: ur-Latn is Roman Urdu, ar-Latn Arabizi, pa-Arab
    Shahmukhi Punjabi, und undetermined) for each device, person or case: how many need a
    translator (a language the force's analysts do not read: the readable list of
    node.toml's language table, default English), how many are queued for one,
    machine-translated or glossed (node translate), and why messages are undetermined
    (too short, emoji only, mixed).
    No --device/--person/--case: every device, each alone."""
    params = {"device": device, "person": person, "case": case}
    settings = language_settings(dir)
    with consult(dir, "languages", params) as (con, counts), working("reading languages"):
        subjects = subjects_with_cases(con, device, person, case)
        result = languages(con, subjects, settings)
        result.params = params
        counts.update({k: result.summary[k] for k in (
            "subjects", "devices", "messages", "need_translator", "detected_now")})
    emit(result, as_json, csv, limit=top)


def languages(con: Any, subjects: dict[str, list[str]], settings: LanguageSettings
              ) -> Result:
    """The languages analysis on an open store (the command's work)."""
    from node.language.store import detected_messages

    detected_now = detected_messages(con, settings)
    con.execute("CREATE OR REPLACE TEMP TABLE subject_devices (subject VARCHAR, "
                "device_id VARCHAR)")
    con.executemany("INSERT INTO subject_devices VALUES (?, ?)",
                    [(s, d) for s, ds in subjects.items() for d in ds])
    readable = list(settings.readable)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE subject_messages AS
        WITH done AS (
            SELECT device_id, message_id, body_md5,
                   bool_or(status = 'needs_translator') AS queued,
                   bool_or(status = 'machine_translation') AS machine,
                   bool_or(status = 'glossary' AND text IS NOT NULL) AS glossed
            FROM translations GROUP BY ALL)
        SELECT s.subject, s.device_id, m.language, m.script, m.method,
               m.language NOT IN ('und') AND NOT list_contains($readable, m.language)
                   AS needs_translator,
               coalesce(d.queued, false) AS queued, coalesce(d.machine, false) AS machine,
               coalesce(d.glossed, false) AS glossed
        FROM subject_devices s JOIN message_languages m USING (device_id)
        LEFT JOIN done d ON d.device_id = m.device_id AND d.message_id = m.message_id
                         AND d.body_md5 = m.body_md5""", {"readable": readable})
    rows = con.execute("""
        SELECT subject, language, string_agg(DISTINCT script, ', ' ORDER BY script),
               count(*) AS n,
               round(count(*) / sum(count(*)) OVER (PARTITION BY subject), 3),
               bool_or(needs_translator),
               count(*) FILTER (WHERE queued), count(*) FILTER (WHERE machine),
               count(*) FILTER (WHERE glossed),
               count(*) FILTER (WHERE needs_translator AND NOT machine)
        FROM subject_messages GROUP BY subject, language
        ORDER BY subject, n DESC, language""").fetchall()
    per_subject = con.execute("""
        WITH langs AS (
            SELECT subject, language, count(*) AS n FROM subject_messages
            WHERE language <> 'und' GROUP BY ALL)
        SELECT s.subject, count(DISTINCT s.device_id), count(*),
               (SELECT string_agg(l.language || ' ' || l.n, ', '
                                  ORDER BY l.n DESC, l.language)
                FROM langs l WHERE l.subject = s.subject),
               count(*) FILTER (WHERE s.language = 'und'),
               count(*) FILTER (WHERE s.needs_translator),
               count(*) FILTER (WHERE s.machine),
               count(*) FILTER (WHERE s.needs_translator AND NOT s.machine)
        FROM subject_messages s GROUP BY s.subject ORDER BY s.subject""").fetchall()
    why = con.execute("""
        SELECT subject, method, count(*) FROM subject_messages WHERE language = 'und'
        GROUP BY ALL ORDER BY subject, 3 DESC, method""").fetchall()
    tables = [
        Table("per subject", SUMMARY_COLUMNS, per_subject,
              brief=["subject", "messages", "languages", "undetermined", "need_translator",
                     "untranslated"]),
        Table("messages per language", COLUMNS, rows,
              brief=["subject", "language", "scripts", "messages", "share", "queued",
                     "untranslated"]),
        Table("undetermined, and why", ["subject", "reason", "messages"], why),
    ]
    one_subject(tables, subjects)
    total = sum(r[2] for r in per_subject)
    need = sum(r[5] for r in per_subject)
    summary = {"subjects": len(subjects),
               "devices": len({d for ds in subjects.values() for d in ds}),
               "messages": total, "need_translator": need,
               "languages": len({r[1] for r in rows if r[1] != "und"}),
               "detected_now": detected_now}
    notes = [
        "Tags are BCP-47: ur-Latn Roman Urdu, ar-Latn Arabizi, pa-Arab Punjabi in Shahmukhi "
        "(pa alone: Gurmukhi), kmr Kurmanji, ckb Sorani; und: undetermined (too short, "
        "emoji only, mixed languages or scripts, or the detector unsure), never a guess.",
        f"need_translator: determined and not in the languages the force reads "
        f"({', '.join(readable)}: the readable list of node.toml's language table). "
        "untranslated: of those, without a machine translation. Queue or translate them "
        "with crossforce node translate; machine translation is not evidence.",
    ]
    if detected_now:
        notes.append(f"{detected_now} messages were loaded before detection existed and were "
                     "detected for this run only; crossforce node translate stores them.")
    return Result("languages", {}, tables, summary, notes)
