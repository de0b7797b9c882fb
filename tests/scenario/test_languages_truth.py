"""The generator writes message bodies in the languages of its communities, and says in
truth/languages.csv which language each was written in, so detection can be scored."""

from __future__ import annotations

from pathlib import Path

import duckdb

from scenario.phrases import PHRASES


def _truth(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    con.execute(f"CREATE OR REPLACE TABLE truth_languages AS SELECT * FROM "
                f"read_csv('{out / 'truth' / 'languages.csv'}')")


def test_every_message_has_its_true_language(scenario, db) -> None:  # noqa: ANN001
    out, _ = scenario
    _truth(db, out)
    assert db.execute("SELECT count(*) FROM messages").fetchone() == \
        db.execute("SELECT count(*) FROM truth_languages").fetchone()
    missing = db.execute("""SELECT count(*) FROM messages m ANTI JOIN truth_languages t
                            ON t.force = m.force AND t.device_id = m.device_id
                           AND t.message_id = m.message_id""").fetchone()[0]
    assert missing == 0


def test_a_foreign_body_is_a_phrase_of_its_true_language(scenario, db) -> None:  # noqa: ANN001
    out, _ = scenario
    _truth(db, out)
    rows = db.execute("""SELECT t.language, m.body FROM messages m JOIN truth_languages t
                         ON t.force = m.force AND t.device_id = m.device_id
                        AND t.message_id = m.message_id
                         WHERE t.language <> 'en'""").fetchall()
    assert len({lang for lang, _ in rows}) >= 5      # several communities' languages
    assert all(body in PHRASES[lang] for lang, body in rows)
    # taxi and takeaway messages and a handover's "new number save it" stay English
    english = db.execute("""SELECT DISTINCT t.language FROM messages m JOIN truth_languages t
                            ON t.force = m.force AND t.device_id = m.device_id
                           AND t.message_id = m.message_id
                            WHERE m.body IN ('new number save it', 'Booking confirmed',
                                             'Your order is confirmed')""").fetchall()
    assert english == [("en",)]
