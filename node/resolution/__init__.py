"""Resolution: which of a force's own person records are one person, settled on the node.

Police systems hold several records of one person (duplicate nominals) written with
typos, nicknames, titles and dirty dates. Before anything leaves, the node resolves them on
the raw values with Splink (`model`), joins pairs at or above the threshold into persons
(connected components), and applies the analyst's decisions, which always win:

- ``same A B``: records A and B are one person, whatever the model says;
- ``alone A``: record A joins nobody on the model's word (only through a ``same``).

Each person is known by its smallest person_id (`local_person`); egress shares one opaque
reference per person carrying the match keys of all its records, and hits come back to
every record of it. A run is a ledger entry (combination), a decision one (alteration).

    resolve(con, config, threshold)   run now, store the result     -> ResolutionReport
    ensure_current(con, config)       run if records or decisions changed since the last run
    decide(con, config, decision, person_id, other_id, note)
    review(con, low, high)            the pairs an analyst should look at
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.keys import NodeKeys
from federation.ledger import Ledger

DEFAULT_THRESHOLD = 0.5
#: pairs scored at or above this are kept for review (those under the threshold included)
KEEP_PAIRS_FROM = 0.2
DECISIONS = ("same", "alone")


@dataclass(frozen=True)
class ResolutionReport:
    """What one run found: shown to the analyst and returned as JSON."""

    run_id: int
    records: int
    persons: int
    persons_with_duplicates: int
    largest: int
    pairs_scored: int
    pairs_to_review: int
    decisions_applied: int
    model: str
    threshold: float
    seconds: float
    status: str = "resolved"   # resolved | current (nothing changed since the last run)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        merged = self.records - self.persons
        text = (f"{self.records} person records are {self.persons} persons: "
                f"{self.persons_with_duplicates} persons hold more than one record "
                f"({merged} duplicate records; largest {self.largest})")
        if self.status == "current":
            return text + " — unchanged since the last run"
        return (text + f"; model {self.model}, threshold {self.threshold}; "
                f"{self.pairs_to_review} pairs to review; "
                f"{self.decisions_applied} analyst decisions applied ({self.seconds:.1f} s)")


def fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """Changes whenever a record, identifier, address or decision that resolution reads
    changes (order-independent)."""
    row = con.execute("""
        SELECT (SELECT count(*) || ':' || coalesce(bit_xor(hash(person_id, given_names,
                       family_name, dob)), 0) FROM persons),
               (SELECT count(*) || ':' || coalesce(bit_xor(hash(person_id, kind, value_norm)),
                       0) FROM identifiers),
               (SELECT count(*) || ':' || coalesce(bit_xor(hash(person_id, postcode_norm,
                       valid_from)), 0) FROM addresses),
               (SELECT count(*) || ':' || coalesce(bit_xor(hash(decided_at, decision, person_id,
                       other_id)), 0) FROM resolution_decisions)""").fetchall()[0]
    return "|".join(str(v) for v in row)


def _components(ids: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(ids)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _cluster(con: duckdb.DuckDBPyConnection, threshold: float) -> None:
    """`rs_resolution(person_id, local_person, records)` from `rs_pairs` and the decisions."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rs_ids AS
        SELECT person_id, (row_number() OVER (ORDER BY person_id) - 1)::BIGINT AS i
        FROM persons""")
    edges = con.execute("""
        WITH alone AS (SELECT person_id FROM resolution_decisions WHERE decision = 'alone'),
        edges AS (
            SELECT person_id_l AS a, person_id_r AS b FROM rs_pairs
            WHERE match_probability >= $threshold
              AND person_id_l NOT IN (SELECT person_id FROM alone)
              AND person_id_r NOT IN (SELECT person_id FROM alone)
            UNION ALL
            SELECT person_id, other_id FROM resolution_decisions WHERE decision = 'same')
        SELECT ia.i AS a, ib.i AS b FROM edges
        JOIN rs_ids ia ON ia.person_id = edges.a JOIN rs_ids ib ON ib.person_id = edges.b
        """, {"threshold": threshold}).fetchnumpy()
    ids = con.execute("SELECT i FROM rs_ids ORDER BY i").fetchnumpy()["i"]
    labels = _components(ids, edges["a"].astype(np.int64), edges["b"].astype(np.int64))
    con.register("rs_labels", pa.table({"i": ids, "label": labels.astype(np.int64)}))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rs_resolution AS
        SELECT r.person_id, min(r.person_id) OVER (PARTITION BY l.label) AS local_person,
               count(*) OVER (PARTITION BY l.label)::INTEGER AS records
        FROM rs_ids r JOIN rs_labels l USING (i)""")
    con.unregister("rs_labels")


def resolve(con: duckdb.DuckDBPyConnection, keys_dir: Any, force: str, *,
            threshold: float = DEFAULT_THRESHOLD, actor: str = "node",
            train: bool | None = None, own_transaction: bool = True) -> ResolutionReport:
    """Resolve every person record now and store the result with its ledger entry, in one
    transaction (or in the caller's, with `own_transaction=False`: egress stores a new
    resolution together with what it shares)."""
    if not 0.0 < threshold < 1.0:
        raise CrossforceError(f"threshold must be between 0 and 1, not {threshold}")
    start = time.perf_counter()
    model, model_json = _resolve_in_memory(con, threshold, train)
    seconds = time.perf_counter() - start
    keys = NodeKeys.load(keys_dir)
    with transaction(con) if own_transaction else contextlib.nullcontext():
        run_id = con.execute(
            "SELECT coalesce(max(run_id), 0) + 1 FROM resolution_runs").fetchall()[0][0]
        con.execute("DELETE FROM person_resolution")
        con.execute("INSERT INTO person_resolution SELECT person_id, local_person, records, ? "
                    "FROM rs_resolution", [run_id])
        con.execute("DELETE FROM resolution_pairs")
        con.execute("INSERT INTO resolution_pairs SELECT *, ? FROM rs_pairs", [run_id])
        report = _report(con, run_id, model, threshold, seconds)
        con.execute("INSERT INTO resolution_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), report.records,
                     report.persons, report.pairs_scored, model, threshold,
                     fingerprint(con), seconds, model_json])
        Ledger(con, keys.signer, force).append(
            "combination", actor=actor, purpose="resolution",
            justification="the force's own person records resolved into persons before "
                          "sharing (duplicate nominals)",
            counts={"records": report.records, "persons": report.persons,
                    "pairs_scored": report.pairs_scored})
    return report


def _report(con: duckdb.DuckDBPyConnection, run_id: int, model: str, threshold: float,
            seconds: float, status: str = "resolved") -> ResolutionReport:
    records, persons, dup, largest = con.execute("""
        SELECT count(*), count(DISTINCT local_person),
               count(DISTINCT local_person) FILTER (WHERE records > 1),
               coalesce(max(records), 0)
        FROM person_resolution""").fetchall()[0]
    pairs, review = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE match_probability BETWEEN $low AND $high)
        FROM resolution_pairs""", {"low": KEEP_PAIRS_FROM, "high": 0.999}).fetchall()[0]
    decisions = con.execute("SELECT count(*) FROM resolution_decisions").fetchall()[0][0]
    return ResolutionReport(int(run_id), int(records), int(persons), int(dup), int(largest),
                            int(pairs), int(review), int(decisions), model, threshold,
                            round(seconds, 3), status)


def last_run(con: duckdb.DuckDBPyConnection) -> tuple[int, str, float, str] | None:
    row = con.execute("""SELECT run_id, model, threshold, fingerprint FROM resolution_runs
                         ORDER BY run_id DESC LIMIT 1""").fetchall()
    return None if not row else (int(row[0][0]), row[0][1], float(row[0][2]), row[0][3])


def ensure_current(con: duckdb.DuckDBPyConnection, keys_dir: Any, force: str, *,
                   actor: str = "node", own_transaction: bool = True) -> ResolutionReport:
    """Resolve again only if the records or decisions changed since the last run (or there
    was none); at the last run's threshold."""
    last = last_run(con)
    if last is not None and last[3] == fingerprint(con):
        return _report(con, last[0], last[1], last[2], 0.0, status="current")
    threshold = last[2] if last is not None else DEFAULT_THRESHOLD
    return resolve(con, keys_dir, force, threshold=threshold, actor=actor,
                   own_transaction=own_transaction)


def person_map(con: duckdb.DuckDBPyConnection) -> None:
    """`eg_person_map(person_id, local_person)` for every record, as egress reads it: the
    stored resolution when it is current, else one computed now in memory and not stored
    (a dry run changes nothing)."""
    last = last_run(con)
    if last is not None and last[3] == fingerprint(con):
        source = "person_resolution"
    else:
        _resolve_in_memory(con, last[2] if last is not None else DEFAULT_THRESHOLD)
        source = "rs_resolution"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE eg_person_map AS
                    SELECT person_id, local_person FROM {source}""")


def _resolve_in_memory(con: duckdb.DuckDBPyConnection, threshold: float,
                       train: bool | None = None) -> tuple[str, str]:
    """Score and cluster into the temp tables `rs_pairs` and `rs_resolution`; returns the
    model used (trained | default) and its Splink JSON (m and u per level, no values)."""
    from node.resolution.features import record_features
    from node.resolution.model import predict

    predictions = predict(record_features(con), threshold=min(KEEP_PAIRS_FROM, threshold),
                          train=train)
    con.register("rs_pairs_in", predictions.pairs)
    con.execute("CREATE OR REPLACE TEMP TABLE rs_pairs AS SELECT * FROM rs_pairs_in")
    con.unregister("rs_pairs_in")
    _cluster(con, threshold)
    return predictions.model, json.dumps(predictions.settings)


def decide(con: duckdb.DuckDBPyConnection, keys_dir: Any, force: str, decision: str,
           person_id: str, other_id: str | None = None, *, note: str | None = None,
           actor: str = "node") -> None:
    """Record an analyst's decision (it wins over the model at the next run)."""
    if decision not in DECISIONS:
        raise CrossforceError(f"decision must be one of {', '.join(DECISIONS)}, not "
                              f"{decision!r}")
    if (decision == "same") != (other_id is not None):
        raise CrossforceError("'same' takes two person ids; 'alone' takes one")
    wanted = [person_id] + ([other_id] if other_id else [])
    known = {r[0] for r in con.execute(
        "SELECT person_id FROM persons WHERE list_contains(?, person_id)", [wanted]).fetchall()}
    missing = [p for p in wanted if p not in known]
    if missing:
        raise CrossforceError(f"no person record {', '.join(repr(m) for m in missing)} in "
                              "this node (see `crossforce node review-duplicates`)")
    if other_id == person_id:
        raise CrossforceError("a record is always the same person as itself")
    keys = NodeKeys.load(keys_dir)
    with transaction(con):
        con.execute("INSERT INTO resolution_decisions VALUES (?, ?, ?, ?, ?, ?)",
                    [dt.datetime.now(dt.UTC).replace(tzinfo=None), actor, decision,
                     person_id, other_id, note])
        Ledger(con, keys.signer, force).append(
            "alteration", actor=actor, purpose="resolution",
            justification=f"analyst decision on duplicate records: {decision}"
                          + (f" ({note})" if note else ""),
            counts={"records": len(wanted)})


def review(con: duckdb.DuckDBPyConnection, *, low: float = 0.5, high: float = 0.999,
           limit: int = 50) -> list[dict[str, Any]]:
    """Scored pairs between `low` and `high` (the uncertain ones), most uncertain first,
    with both records' names and dates of birth and whether they are one person now."""
    rows = con.execute("""
        SELECT p.person_id_l, p.person_id_r, p.match_probability, p.match_weight,
               concat_ws(' ', a.given_names, a.family_name) AS name_l, CAST(a.dob AS VARCHAR),
               concat_ws(' ', b.given_names, b.family_name) AS name_r, CAST(b.dob AS VARCHAR),
               ra.local_person IS NOT DISTINCT FROM rb.local_person AS same_person
        FROM resolution_pairs p
        JOIN persons a ON a.person_id = p.person_id_l
        JOIN persons b ON b.person_id = p.person_id_r
        LEFT JOIN person_resolution ra ON ra.person_id = p.person_id_l
        LEFT JOIN person_resolution rb ON rb.person_id = p.person_id_r
        WHERE p.match_probability BETWEEN $low AND $high
        ORDER BY abs(p.match_weight), p.person_id_l, p.person_id_r
        LIMIT $limit""", {"low": low, "high": high, "limit": limit}).fetchall()
    names = ("person_id", "other_id", "match_probability", "match_weight", "name",
             "dob", "other_name", "other_dob", "same_person")
    return [dict(zip(names, r, strict=True)) for r in rows]
