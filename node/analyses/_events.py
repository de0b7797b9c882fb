"""Events as the contact analyses see them: who the other party is, who the subject is, when.

``prepare_events`` names the other party of a call or message by the identifier ingest
read it as (``party_norm``: E.164 in the device's country — WhatsApp ids included —,
lower-case e-mail, ``platform:handle`` for an app's user id), else by the value as written;
``define_parties`` gives the same to address-book entries. A call to a victim's Snapchat
handle then meets the handle recorded against the victim. What the user types
(``identifier_option``) is read the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence

import duckdb
import typer

from federation.errors import CrossforceError
from federation.normalise import normalise_handle
from node.analyses import Table, prepare_events
from node.extraction.parties import kind_of, normalise_party

DeviceOption = typer.Option([], "--device", help="A seized device (repeatable).")
PersonOption = typer.Option([], "--person", help="A person: all devices attributed to any of "
                            "the person's records, together (repeatable).")
FromOption = typer.Option(None, "--from", help="First day (device-local), YYYY-MM-DD.")
ToOption = typer.Option(None, "--to", help="Last day (device-local), YYYY-MM-DD.")

def identifier_option(text: str) -> str:
    """An identifier the user typed → the form the store holds: E.164, lower-case e-mail,
    ``platform:handle`` (written so), else the text as typed."""
    platform, colon, handle = text.strip().partition(":")
    if colon and platform and not platform.startswith("+") and "@" not in text:
        return normalise_handle(platform, handle) or text.strip()
    typed = text.strip()
    # what the analyst types is read as the force's own country writes it
    return normalise_party(kind_of(typed), typed, "GB", None) or typed


def define_parties(con: duckdb.DuckDBPyConnection) -> None:
    """Temp views ``contact_events`` (``events`` + ``party``, ``party_kind``) and
    ``book_entries`` (address-book entries with ``party``); needs ``prepare_events``.
    Ingest has already read every party in its device's country and by kind
    (``party_norm``: E.164, lower-case e-mail, ``platform:handle``); a value it could not
    read is kept as written (kind ``raw``)."""
    con.execute("""
        CREATE OR REPLACE TEMP VIEW contact_events AS
        SELECT e.*, coalesce(e.other, nullif(trim(e.other_raw), '')) AS party,
               CASE WHEN e.party_norm IS NOT NULL OR e.number_normalised
                    THEN coalesce(e.party_kind, 'phone') ELSE 'raw' END AS party_kind
        FROM events e""")
    con.execute("""
        CREATE OR REPLACE TEMP VIEW book_entries AS
        SELECT c.device_id, c.contact_id, c.name, c.times_contacted, c.last_contacted,
               c.source_app,
               coalesce(c.entry_norm, c.number_e164,
                        nullif(trim(coalesce(c.entry_value, c.number)), '')) AS party
        FROM contacts c""")


def define_subjects(con: duckdb.DuckDBPyConnection, subjects: Mapping[str, Sequence[str]]
                    ) -> None:
    """The temp views of ``prepare_events`` and ``define_parties``, and the temp table
    ``subject_devices (subject, device_id)`` from ``resolve_devices``."""
    prepare_events(con)
    define_parties(con)
    con.execute("CREATE OR REPLACE TEMP TABLE subject_devices (subject VARCHAR, "
                "device_id VARCHAR)")
    con.executemany("INSERT INTO subject_devices VALUES (?, ?)",
                    [(s, d) for s, ds in subjects.items() for d in ds])


def period_sql(column: str, period: tuple[dt.datetime | None, dt.datetime | None]) -> str:
    """A SQL condition keeping ``column`` (a device-local TIMESTAMP) inside the period."""
    start, end = period
    parts = ["true"]
    if start:
        parts.append(f"{column} >= TIMESTAMP '{start.isoformat(sep=' ')}'")
    if end:
        parts.append(f"{column} <= TIMESTAMP '{end.isoformat(sep=' ')}'")
    return " AND ".join(parts)


def describe_period(period: tuple[dt.datetime | None, dt.datetime | None]) -> str:
    start, end = period
    if not start and not end:
        return "at any time"
    a = start.isoformat(sep=" ", timespec="minutes") if start else "the start"
    b = end.isoformat(sep=" ", timespec="minutes") if end else "the end"
    return f"between {a} and {b}"


def refuse_empty(count: int, what: str, period: tuple[dt.datetime | None,
                                                       dt.datetime | None]) -> None:
    """No events selected: a one-line error naming what to change."""
    if count:
        return
    if any(period):
        raise CrossforceError(f"no calls or messages of {what} {describe_period(period)}: "
                              "widen --from/--to")
    raise CrossforceError(f"{what} has no calls or messages on this node: name another "
                          "--device or --person")


def subjects_label(subjects: Mapping[str, Sequence[str]], limit: int = 3) -> str:
    names = list(subjects)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@contextlib.contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs (nothing when stderr is not a terminal)."""
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def one_subject(tables: Sequence[Table], subjects: Mapping[str, Sequence[str]]) -> None:
    """With a single subject (named in the summary), the terminal leaves out the subject
    column; JSON and CSV keep it."""
    if len(subjects) != 1:
        return
    for t in tables:
        if "subject" in t.columns:
            t.brief = [c for c in (t.brief or t.columns) if c != "subject"]
