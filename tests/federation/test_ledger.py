"""The s.62 ledger: every tamper — a flipped byte, a dropped, swapped or inserted entry —
is detected and the entry is named."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import duckdb
import pytest

from federation.keys import Signer
from federation.ledger import Ledger, LedgerEntry, canonical_json, verify_ledger

SIGNER = Signer.from_seed(bytes(32))


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A ledger of its genesis entry (seq 1) and five entries (seq 2..6) in a real DuckDB."""
    con = duckdb.connect()
    ledger = Ledger(con, SIGNER, "Kent")
    for i in range(5):
        ledger.append("disclosure", actor="analyst.1", purpose="op-kingfisher",
                      justification="s.35 law enforcement purpose", counts={"tokens": 100 + i},
                      recipients=["coordinator"], payload_hash="ab" * 32,
                      policy_hash="cd" * 32)
    return con


def entry_id(con: duckdb.DuckDBPyConnection, seq: int) -> str:
    return con.execute("SELECT entry_id FROM ledger WHERE seq = ?", [seq]).fetchone()[0]


def test_an_untouched_ledger_verifies(con: duckdb.DuckDBPyConnection) -> None:
    report = verify_ledger(con, SIGNER.public_key)
    assert report.ok, report.problems
    assert report.entries == 6
    assert report.actions == {"genesis": 1, "disclosure": 5}
    assert report.head == Ledger(con, SIGNER, "Kent").head()


def test_entries_carry_the_s62_fields_and_no_content(con: duckdb.DuckDBPyConnection) -> None:
    genesis, e = Ledger(con, SIGNER, "Kent").entries()[:2]
    assert genesis.action == "genesis" and genesis.prev_hash == "0" * 64
    assert (e.action, e.actor, e.force, e.purpose) == ("disclosure", "analyst.1", "Kent",
                                                      "op-kingfisher")
    assert e.counts == {"tokens": 100}
    assert e.recipients == ("coordinator",)
    assert e.prev_hash == genesis.entry_hash and len(e.entry_hash) == 64
    assert len(e.signature) == 128


def test_append_runs_inside_the_callers_transaction(con: duckdb.DuckDBPyConnection) -> None:
    ledger = Ledger(con, SIGNER, "Kent")
    con.begin()
    ledger.append("collection", actor="ingest", purpose="load", justification="file x",
                  counts={"rows": 3})
    con.rollback()
    assert len(ledger.entries()) == 6  # the entry rolled back with the data change


def flipped(value: object) -> object:
    """The same value with one bit changed."""
    if isinstance(value, str):
        return chr(ord(value[0]) ^ 1) + value[1:]
    if isinstance(value, int):
        return value ^ 1
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(microseconds=1)
    if isinstance(value, list):
        return [flipped(value[0]), *value[1:]]
    raise TypeError(type(value))


@pytest.mark.parametrize(
    ("column", "kind"),
    [(c, "changed") for c in ("entry_id", "version", "at_utc", "owner", "signer", "actor",
                              "force", "action", "purpose", "justification", "counts",
                              "recipients", "payload_hash", "policy_hash", "prev_hash",
                              "entry_hash")]
    + [("signature", "bad_signature")],
)
def test_a_flipped_byte_in_any_field_is_detected_and_named(
        con: duckdb.DuckDBPyConnection, column: str, kind: str) -> None:
    value = con.execute(f"SELECT {column} FROM ledger WHERE seq = 3").fetchone()[0]
    con.execute(f"UPDATE ledger SET {column} = ? WHERE seq = 3", [flipped(value)])
    report = verify_ledger(con, SIGNER.public_key)
    assert [(p.kind, p.seq) for p in report.problems] == [(kind, 3)], report.problems
    assert report.problems[0].entry_id == entry_id(con, 3) or column == "entry_id"


def test_a_dropped_entry_is_detected_and_its_place_named(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM ledger WHERE seq = 3")
    report = verify_ledger(con, SIGNER.public_key)
    assert [(p.kind, p.seq) for p in report.problems] == [("removed", 4)]
    assert "removed between seq 2 and seq 4" in str(report.problems[0])


def test_dropping_the_first_entry_is_detected(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM ledger WHERE seq = 1")
    report = verify_ledger(con, SIGNER.public_key)
    assert [(p.kind, p.seq) for p in report.problems] == [("removed", 2)]


@pytest.mark.parametrize(("a", "b"), [(2, 3), (1, 2), (4, 5), (2, 4)])
def test_two_swapped_entries_are_both_named(con: duckdb.DuckDBPyConnection, a: int,
                                            b: int) -> None:
    con.execute("UPDATE ledger SET seq = CASE seq WHEN ? THEN ? WHEN ? THEN ? ELSE seq END",
                [a, b, b, a])
    report = verify_ledger(con, SIGNER.public_key)
    assert report.kinds() == {"reordered"}
    named = {p.entry_id for p in report.problems}
    assert entry_id(con, a) in named and entry_id(con, b) in named


def insert_at(con: duckdb.DuckDBPyConnection, seq: int, entry: LedgerEntry) -> None:
    # someone with write access to the file can drop the index that keeps the chain from
    # forking; verification must catch what they insert anyway
    con.execute("DROP INDEX IF EXISTS ledger_chain")
    con.execute("UPDATE ledger SET seq = seq + 1 WHERE seq >= ?", [seq])
    row = asdict(entry)
    row["seq"] = seq
    row["counts"] = canonical_json(entry.counts).decode()
    row["recipients"] = list(entry.recipients)
    con.execute(f"INSERT INTO ledger ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))


def test_an_inserted_forged_entry_is_named(con: duckdb.DuckDBPyConnection) -> None:
    """A forger can chain and hash a new entry correctly but cannot sign it."""
    genuine = Ledger(con, SIGNER, "Kent").entries()
    forger = Ledger(duckdb.connect(), Signer.generate(), "Kent")
    fake = forger.append("erasure", actor="x", purpose="p", justification="j", counts={})
    fake = LedgerEntry(**{**asdict(fake), "prev_hash": genuine[1].entry_hash})
    fake = LedgerEntry(**{**asdict(fake), "entry_hash": fake.compute_hash()})
    insert_at(con, 3, fake)
    report = verify_ledger(con, SIGNER.public_key)
    assert [(p.kind, p.entry_id) for p in report.problems] == [("inserted", fake.entry_id)]


def test_a_replayed_copy_of_a_genuine_entry_is_named(con: duckdb.DuckDBPyConnection) -> None:
    genuine = Ledger(con, SIGNER, "Kent").entries()
    insert_at(con, 4, genuine[1])
    report = verify_ledger(con, SIGNER.public_key)
    assert [(p.kind, p.seq) for p in report.problems] == [("inserted", 4)]
    assert "duplicate of entry seq 2" in report.problems[0].detail


def test_the_wrong_public_key_fails_every_signature(con: duckdb.DuckDBPyConnection) -> None:
    report = verify_ledger(con, Signer.generate().public_key)
    assert report.kinds() == {"bad_signature"} and len(report.problems) == 6


def test_bad_entries_are_refused_before_writing(con: duckdb.DuckDBPyConnection) -> None:
    ledger = Ledger(con, SIGNER, "Kent")
    with pytest.raises(ValueError, match="not one of"):
        ledger.append("deletion", actor="a", purpose="p", justification="j",  # type: ignore[arg-type]
                      counts={})
    with pytest.raises(ValueError, match="non-negative int"):
        ledger.append("erasure", actor="a", purpose="p", justification="j", counts={"n": -1})
    with pytest.raises(ValueError, match="non-empty justification"):
        ledger.append("erasure", actor="a", purpose="p", justification=" ", counts={})
    assert len(ledger.entries()) == 6


def test_append_many_chains_entries_in_order_with_one_head_read() -> None:
    """A service logs one entry per request in batches: three entries appended at once
    follow each other in the chain exactly as three single appends would."""
    import duckdb

    from federation.keys import Signer
    from federation.ledger import Ledger, verify_ledger

    con = duckdb.connect()
    signer = Signer.generate()
    ledger = Ledger(con, signer, "coordinator")
    made = ledger.append_many([
        {"action": "consultation", "actor": f"api:u{i} (analyst)", "purpose": "op-test",
         "justification": f"request {i}", "counts": {"status": 200, "results": i}}
        for i in range(3)])
    assert [e.seq for e in made] == [2, 3, 4]  # after the genesis entry
    assert made[1].prev_hash == made[0].entry_hash and made[2].prev_hash == made[1].entry_hash
    report = verify_ledger(con, signer.public_key)
    assert report.ok and report.entries == 4


def test_a_large_batch_is_stored_exactly_and_a_tampered_entry_in_it_is_named() -> None:
    """A batch of 40 (the service's journal; stored as one Arrow table) holds the same
    rows as 40 single appends would: every field read back equals what was signed, the
    chain verifies, and changing one entry of the batch is caught and named."""
    con = duckdb.connect()
    ledger = Ledger(con, SIGNER, "coordinator")
    entries = [{"action": "consultation", "actor": f"api:u{i} (liaison:Kent)",
                "purpose": "op-test", "justification": f"POST /v1/lookups request {i} — é",
                "counts": {"status": 200 if i % 7 else 500, "results": i},
                "recipients": ["Kent", "Essex"] if i % 3 == 0 else [],
                "payload_hash": "ab" * 32 if i % 2 else None, "force": "Kent"}
               for i in range(40)]
    made = ledger.append_many(entries)
    assert ledger.entries()[1:] == made  # read back field for field (timestamps to the µs)
    assert verify_ledger(con, SIGNER.public_key).ok
    victim = made[17]
    con.execute("UPDATE ledger SET justification = 'nothing to see' WHERE seq = ?",
                [victim.seq])
    report = verify_ledger(con, SIGNER.public_key)
    assert [(p.kind, p.entry_id) for p in report.problems] == [("changed", victim.entry_id)]
