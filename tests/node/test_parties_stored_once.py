"""Migration 9: a party read as a phone number is stored once (``number_e164``); the
party columns readers use are generated from it and read as before, in old stores too."""

from __future__ import annotations

from pathlib import Path

import duckdb

from federation.duckdb_files import migrate
from node.migrations import MIGRATIONS

# (number, number_e164, number_normalised, kind, norm, number_flag) as ingest wrote them
# before migration 9: a phone read, a WhatsApp id, a phone kept raw, a word, an e-mail, an
# app id, a web address, no number, and a row loaded before migration 5 (kind never set)
OLD_PARTIES = [
    ("07700 900123", "+447700900123", True, "phone", "+447700900123", None),
    ("447700900125@s.whatsapp.net", "+447700900125", True, "phone", "+447700900125", None),
    ("01632 96", None, False, "phone", None, "invalid"),
    ("Voicemail", None, False, None, None, "not_a_number"),
    ("Bob.Smith@Example.COM", None, False, "email", "bob.smith@example.com", None),
    ("snap.user", None, False, "handle", "snapchat:snap.user", None),
    ("https://example.org/x", None, False, "web", None, None),
    (None, None, False, None, None, None),
    ("07700 900999", "+447700900999", True, None, None, None),
]


def _old_store(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    migrate(con, MIGRATIONS[:8])
    for i, (number, e164, ok, kind, norm, flag) in enumerate(OLD_PARTIES):
        con.execute("INSERT INTO calls (device_id, call_id, number, number_e164, "
                    "number_normalised, party_kind, party_norm, number_flag, source_file) "
                    "VALUES ('D1', ?, ?, ?, ?, ?, ?, ?, 1)",
                    [f"C{i}", number, e164, ok, kind, norm, flag])
        con.execute("INSERT INTO messages (device_id, message_id, number, number_e164, "
                    "number_normalised, party_kind, party_norm, number_flag, body, language, "
                    "source_file) VALUES ('D1', ?, ?, ?, ?, ?, ?, ?, 'hi', 'en', 1)",
                    [f"M{i}", number, e164, ok, kind, norm, flag])
        con.execute("INSERT INTO contacts (device_id, contact_id, number, number_e164, "
                    "number_normalised, entry_kind, entry_value, entry_norm, number_flag, "
                    "source_file) VALUES ('D1', ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    [f"K{i}", number, e164, ok, kind, number, norm, flag])
    return con


READ = {"calls": "call_id, number, number_e164, number_normalised, party_kind, party_norm, "
                 "number_flag",
        "messages": "message_id, number, number_e164, number_normalised, party_kind, "
                    "party_norm, number_flag, body, language",
        "contacts": "contact_id, number, number_e164, number_normalised, entry_kind, "
                    "entry_value, entry_norm, number_flag"}


def test_an_old_store_reads_the_same_parties_after_migration_9(tmp_path: Path) -> None:
    con = _old_store(tmp_path / "old.duckdb")
    before = {t: con.execute(f"SELECT {c} FROM {t} ORDER BY 1").fetchall()
              for t, c in READ.items()}
    migrate(con, MIGRATIONS)
    after = {t: con.execute(f"SELECT {c} FROM {t} ORDER BY 1").fetchall()
             for t, c in READ.items()}
    for table in READ:
        # the one change: a row from before migration 5 now says what the analyses already
        # read it as (a phone, its E.164 form) instead of nothing
        legacy = len(OLD_PARTIES) - 1
        assert after[table][:legacy] == before[table][:legacy], table
        row = list(before[table][legacy])
        kind = 4
        row[kind], row[kind + 1 + (table == "contacts")] = "phone", "+447700900999"
        assert list(after[table][legacy]) == row, table
    # a phone read as E.164 keeps no second copy of its number
    assert con.execute("SELECT count(*) FROM calls WHERE number_e164 IS NOT NULL AND "
                       "(kind_stored IS NOT NULL OR norm_stored IS NOT NULL)"
                       ).fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM calls WHERE norm_stored IS NOT NULL"
                       ).fetchall() == [(2,)]
    # the communication_events view still reads the generated columns
    assert con.execute("SELECT event_id, party_kind, party_norm FROM communication_events "
                       "WHERE event_id IN ('C1', 'M5') ORDER BY 1").fetchall() == [
        ("C1", "phone", "+447700900125"), ("M5", "handle", "snapchat:snap.user")]


def test_generated_party_columns_cannot_be_written(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    migrate(con, MIGRATIONS)
    try:
        con.execute("INSERT INTO calls (device_id, call_id, party_norm, source_file) "
                    "VALUES ('D', 'C', 'x', 1)")
    except duckdb.Error as exc:
        assert "generated" in str(exc).lower()
    else:
        raise AssertionError("party_norm accepted a written value")
