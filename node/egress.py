"""Egress: build what the policy lets leave a node, pass it through the gate, seal it.

The only path out of a node (DESIGN.md §1.1): ``build → policies.gate → Submission.seal``.

What is built, all in DuckDB SQL over the node store (temporary ``eg_*`` tables):

items
    one per in-scope person (a role the policy names, on a crime in the policy's scope;
    victims only under ``victims = "match-only"``) and one per normalised identifier those
    persons hold (identifiers, vehicles, seized devices' IMEI and own number). Each gets an
    opaque **ref**: 16 random bytes per node / purpose / epoch / local record, kept in the
    private map ``egress_refs`` (never sent) so a repeated egress reuses it and hits can be
    resolved. Identifiers held only by match-only persons are match-only themselves.
tokens
    HMAC tokens (``federation.tokens.token_sql``, computed inside DuckDB with the key pads
    as query parameters) of the *normalised* identifier values — a raw value that failed
    normalisation is never tokenised — and the person match keys
    (``federation.matchkeys.match_key_tokens``).
links
    person_identifier, co_suspect (same in-scope crime), communication (calls + messages
    between two shared phones, count as weight; the gate buckets it), shared_address and
    shared_vehicle, as the policy allows.
stop list
    an identifier in contact with more than ``[stop_list] max_distinct_contacts`` distinct
    others *in the whole store* (holders + communication partners) is a hub: it is never
    an endpoint of a communication link; if even its in-scope holders exceed the limit it
    is not shared at all. Addresses and vehicles shared by more persons than the limit
    (hotels, taxi offices, pool cars) make no shared_address / shared_vehicle links.
aggregates
    counts of in-scope crimes and persons by the dimensions the policy allows; the gate
    applies disclosure control (and differential privacy when the policy asks). Under
    ``[aggregates] release = "secure-sum"`` they stay out of the share set and leave only
    through :func:`release_aggregates`: the same build and gate, mapped onto the national
    layout (``policies.national_tables``) for a Flower SecAgg+ secure sum.

A real egress is ONE store transaction: new refs, privacy-budget spending and the ledger
entry (disclosure, counts per kind, payload hash, policy version) commit together. A dry
run runs the very same code in a transaction that is rolled back, so it changes nothing
and agrees with a real egress count for count.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import secrets
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from federation.checkpoint import checkpoint
from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.keys import LinkageSecret, NodeKeys
from federation.layout import (
    ETHNICITY_OFFICER_CODES,
    ETHNICITY_SELF_CODES,
    NATIONALITY_CODES,
    OTHER_CODE,
)
from federation.ledger import Ledger, LedgerEntry
from federation.matchkeys import match_key_tokens, match_key_values
from federation.payload import ShareSet, Submission
from federation.tokens import TOKEN_BYTES, Tokeniser, TokenMaker, tokens_to_arrow
from node.analyses._cse_national import AGGREGATE_SQL as CSE_AGGREGATE_SQL
from node.analyses._cse_national import CSE_TABLES
from node.analyses._cse_national import build_inputs as build_cse_inputs
from node.prf_tokens import (
    ServiceTokeniser,
    record_evaluations,
    service_tokeniser,
    token_source,
)
from node.resolution import ensure_current, person_map
from node.store import DEFAULT_POLICY, POLICY_FILE, NodeConfig, open_store
from node.validate import on_code_list
from policies.gate import describe, gate
from policies.model import CRIME_CATEGORIES, SharePolicy, default_policy, load_policy
from policies.national_tables import (
    AGE_BANDS,
    BLANK,
    DOMAINS,
    FIRST_YEAR,
    LAST_YEAR,
    MAX_CELL_COUNT,
    OPEN_OUTCOME,
    TABLE_DIMENSIONS,
    TRANSLATION_LANGUAGES,
    UNKNOWN_AGE,
    NationalLayout,
    share_set_layout,
    share_set_years,
)
from policies.privacy_budget import PrivacyBudget

RECIPIENT = "coordinator"
SAMPLE_TOKENS = 5
REF = pa.binary(TOKEN_BYTES)

#: when a person holds several roles in scope, the one shown (most serious first)
ROLE_PRIORITY = ("offender", "suspect", "facilitator", "associate", "witness",
                 "reporting_person", "victim")
def _code_or_other(column: str, codes: tuple[str, ...]) -> str:
    """SQL: the value as a code from ``codes`` (trimmed, upper-case), NULL if NULL, else
    'other' — a value outside its list (a typo, or a date of birth, phone number, postcode
    or name written in the wrong column) stays raw in the store and leaves as 'other'."""
    return (f"CASE WHEN {column} IS NULL THEN NULL WHEN {on_code_list(column, codes)} "
            f"THEN upper(trim({column})) ELSE '{OTHER_CODE}' END")


_ETHNICITY = (f"coalesce({_code_or_other('p.ethnicity_self', ETHNICITY_SELF_CODES)}, "
              f"{_code_or_other('p.ethnicity_officer', ETHNICITY_OFFICER_CODES)}, '{BLANK}')")
_NATIONALITY = f"coalesce({_code_or_other('p.nationality', NATIONALITY_CODES)}, '{BLANK}')"
#: SQL of (dims..., rid) over the eg_* tables, per aggregate table: one row per record
#: (crime or resolved person) counted in a cell; a cell's count is its distinct records
_AGGREGATE_SQL = {
    "crimes_by_category_year":
        "SELECT category AS offence_category, CAST(year(date_from) AS VARCHAR) AS year, "
        "crime_id AS rid FROM eg_crime_categories",
    "crimes_by_outcome_year":
        f"SELECT coalesce(outcome_code, '{OPEN_OUTCOME}') AS outcome_code, "
        "CAST(year(date_from) AS VARCHAR) AS year, crime_id AS rid FROM eg_crimes",
    "persons_by_role_year":
        "SELECT role, CAST(year(date_from) AS VARCHAR) AS year, person_id AS rid "
        "FROM eg_roles WHERE shown",
    "persons_by_role_ethnicity":
        f"SELECT r.role, {_ETHNICITY} AS ethnicity, r.person_id AS rid "
        "FROM eg_roles r JOIN persons p USING (person_id) WHERE r.shown",
    "persons_by_role_nationality":
        f"SELECT r.role, {_NATIONALITY} AS nationality, r.person_id AS rid "
        "FROM eg_roles r JOIN persons p USING (person_id) WHERE r.shown",
    "persons_by_role_age_band":
        "SELECT role, age_band, person_id AS rid FROM eg_person_ages",
    **CSE_AGGREGATE_SQL,

    # a message whose detected language is neither English nor undetermined needs a
    # translator; a language off the national list is counted as 'other'
    "messages_needing_translation_by_language":
        f"SELECT CASE WHEN language IN ({', '.join(repr(t) for t in TRANSLATION_LANGUAGES)}) "
        f"THEN language ELSE '{OTHER_CODE}' END AS language, "
        "device_id || '/' || message_id AS rid FROM messages "
        "WHERE language IS NOT NULL AND language NOT IN ('en', 'und')",
}
#: aggregate tables: name -> (dimensions, SQL of records); the dimensions are the national
#: ones
AGGREGATES: dict[str, tuple[tuple[str, ...], str]] = {
    name: (dims, _AGGREGATE_SQL[name]) for name, dims in TABLE_DIMENSIONS.items()}
#: cell-key perturbation (the ONS method): each cell's count moves by one of these, chosen
#: by its cell key (the sum of its records' keys mod 256) — see _share_set_aggregates
CELL_KEY_PERTURBATION = (-2, -1, 0, 1, 2)
#: the (kind, value) whose token salts the record keys of cell-key perturbation
CELL_KEY = ("cell-key", "record")


# --------------------------------------------------------------------------- policy & keys


def node_policy(node_dir: Path, policy: str | SharePolicy | None = None
                ) -> tuple[SharePolicy, str]:
    """The policy egress runs under and where it came from (shown to the user).

    ``policy`` may be a SharePolicy, a policy file or a default's name; otherwise
    ``DIR/policy.toml`` if present, else the default ``cse-national``.
    """
    if isinstance(policy, SharePolicy):
        return policy, "given policy"
    if policy:
        if Path(policy).exists() or policy.endswith(".toml"):
            return load_policy(policy), str(policy)
        return default_policy(policy), f"default '{policy}'"
    path = Path(node_dir) / POLICY_FILE
    if path.exists():
        return load_policy(path), str(path)
    return default_policy(DEFAULT_POLICY), f"default '{DEFAULT_POLICY}' (no {POLICY_FILE})"


def linkage_secret(keys: NodeKeys) -> LinkageSecret:
    if keys.linkage_secret is None:
        raise CrossforceError(
            f"this node has no federation linkage secret in {keys.keys_dir}, so it cannot "
            "make tokens; import the one your federation issued with `crossforce node keys "
            "import-secret --dir DIR FILE`")
    return keys.linkage_secret


def actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown-user"


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class EgressResult:
    """One egress (or dry run): the gated share set, what it holds, and what was sent."""

    force: str
    purpose: str
    epoch: int
    policy_version: str
    policy_source: str
    share_set: ShareSet
    summary: dict[str, Any]
    dry_run: bool
    submission: Submission | None = None
    payload: bytes | None = None
    ledger_entry: LedgerEntry | None = None
    out: Path | None = None
    samples: list[tuple[str, str]] = field(default_factory=list)  # (token_kind, hex)

    def as_json(self) -> dict[str, Any]:
        return {
            "force": self.force, "purpose": self.purpose, "epoch": self.epoch,
            "policy_version": self.policy_version, "policy": self.policy_source,
            "dry_run": self.dry_run, **self.summary,
            "sample_tokens": [{"token_kind": k, "token": t} for k, t in self.samples],
            "payload_id": self.submission.payload_id if self.submission else None,
            "payload_hash": self.submission.content_hash if self.submission else None,
            "payload_bytes": len(self.payload) if self.payload is not None else None,
            "out": str(self.out) if self.out else None,
        }


# --------------------------------------------------------------------------- entry point


def egress(node_dir: Path, *, policy: str | SharePolicy | None = None,
           purpose: str | None = None, epoch: int | None = None, dry_run: bool = False,
           out: Path | None = None, encrypt_to: bytes | None = None,
           wait_s: float | None = None, tokens: str | None = None,
           progress: Callable[[int, int], None] | None = None) -> EgressResult:
    """Build, gate and (unless ``dry_run``) seal and ledger one share set of a node.

    ``purpose`` must be the policy's purpose code. ``tokens``: 'keyservice' (the default
    when the node holds a key service credential: tokens come from the key service's
    oblivious PRF, cached per epoch) or 'secret' (the legacy linkage secret). ``epoch``
    defaults to the current one (the key service's, or the secret's) and must equal it.
    With ``out`` the signed payload is written there atomically, only once the store
    transaction has committed. ``progress(done, total)`` follows key service evaluations.
    """
    node_dir = Path(node_dir)
    chosen, source = node_policy(node_dir, policy)
    if purpose is not None and purpose != chosen.purpose.code:
        raise CrossforceError(f"purpose {purpose!r} is not this node's policy purpose "
                              f"{chosen.purpose.code!r} ({source}); nothing was shared")
    with open_store(node_dir, wait_s) as (config, con):
        keys = NodeKeys.load(config.keys_dir)
        tokeniser: TokenMaker
        if token_source(config, keys, tokens) == "keyservice":
            tokeniser = service_tokeniser(con, config, chosen.purpose.code, epoch, progress)
            epoch = tokeniser.epoch
        else:
            secret = linkage_secret(keys)
            epoch = secret.epoch if epoch is None else epoch
            if epoch != secret.epoch:
                raise CrossforceError(f"asked for key epoch {epoch}, but this node holds the "
                                      f"linkage secret at epoch {secret.epoch}")
            tokeniser = Tokeniser(secret.derive(chosen.purpose.code, epoch))
        try:
            return _egress_in_transaction(con, config, keys, chosen, source, tokeniser,
                                          epoch, dry_run=dry_run, out=out,
                                          encrypt_to=encrypt_to)
        finally:
            record_evaluations(con, config, keys, tokeniser, actor())


def _egress_in_transaction(con: duckdb.DuckDBPyConnection, config: NodeConfig,
                           keys: NodeKeys, policy: SharePolicy, source: str,
                           tokeniser: TokenMaker, epoch: int, *, dry_run: bool,
                           out: Path | None, encrypt_to: bytes | None) -> EgressResult:
    tmp: Path | None = None
    con.execute("BEGIN TRANSACTION")
    try:
        if not dry_run:  # a dry run resolves in memory only (person_map), storing nothing
            ensure_current(con, config.keys_dir, config.force, actor=actor(),
                           own_transaction=False)
        share = build_share_set(con, config.force, policy, tokeniser, epoch)
        budget = (PrivacyBudget.for_policy(con, policy)
                  if policy.privacy is not None and share.aggregates.num_rows else None)
        gated = gate(policy, share, budget=budget, dry_run=dry_run)
        summary = {**summarise(gated), "aggregates_release": policy.aggregates.release}
        samples = sample_tokens(gated)
        result = EgressResult(config.force, policy.purpose.code, epoch, policy.version,
                              source, gated, summary, dry_run, samples=samples)
        if dry_run:
            con.execute("ROLLBACK")
            return result
        submission = Submission.seal(
            gated, keys.signer, encrypt_to=encrypt_to, retention_days=policy.retention.days,
            ledger_head=checkpoint(con, keys.signer, config.force))
        payload = submission.to_bytes()
        entry = Ledger(con, keys.signer, config.force).append(
            "disclosure", actor=actor(), purpose=policy.purpose.code,
            justification=(f"share set epoch {epoch} to the coordinator under policy "
                           f"{policy.version[:12]}: {policy.purpose.lawful_basis}"),
            counts=ledger_counts(summary), recipients=[RECIPIENT],
            payload_hash=submission.content_hash, policy_hash=policy.version)
        if out is not None:
            tmp = _stage(Path(out), payload)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    if tmp is not None and out is not None:
        os.replace(tmp, out)
    return EgressResult(config.force, policy.purpose.code, epoch, policy.version, source,
                        gated, summary, False, submission, payload, entry,
                        Path(out) if out else None, samples)


def _stage(out: Path, payload: bytes) -> Path:
    if out.is_dir():
        raise CrossforceError(f"--out {out} is a folder; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    return Path(name)


# --------------------------------------------------------------------------- secure sum

#: who a secure-sum release goes to (never one recipient that sees it alone)
SECURE_SUM_RECIPIENT = "coordinator (national secure sum)"


class AggregatesRefused(CrossforceError):
    """The node will not put these aggregates into a secure sum (the reason names the
    rule, never data)."""


@dataclass(frozen=True)
class AggregateRelease:
    """One force's gated aggregates on the national layout: the vector SecAgg+ masks."""

    force: str
    purpose: str
    layout: NationalLayout
    counts: np.ndarray  # int64, one per layout cell; suppressed cells are 0
    outside_layout: int
    suppressed: int
    ledger_entry: LedgerEntry | None = None

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts.tolist(), "outside_layout": self.outside_layout}


def last_secure_release(con: duckdb.DuckDBPyConnection, purpose: str) -> dt.datetime | None:
    """When this node last released aggregates into a secure sum for ``purpose`` (UTC, from
    its own ledger), or None."""
    ((last,),) = con.execute(
        "SELECT max(at_utc) FROM ledger WHERE action = 'disclosure' AND purpose = ? "
        "AND list_contains(recipients, ?)", [purpose, SECURE_SUM_RECIPIENT]).fetchall()
    return last


def _policy_refusal(policy: SharePolicy, layout: NationalLayout,
                    purpose: str | None) -> None:
    """Raise ``AggregatesRefused`` if the policy itself stops a release on ``layout``."""
    if purpose is not None and purpose != policy.purpose.code:
        raise AggregatesRefused(f"purpose {purpose} is not in this force's sharing policy")
    if policy.aggregates.release != "secure-sum":
        # its counts go in its share sets; counting them here too would count them twice
        raise AggregatesRefused("this force releases its aggregates in its share set "
                                "([aggregates] release = \"share-set\")")


def _interval_refusal(con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> None:
    """Raise ``AggregatesRefused`` if the last release is younger than the policy's
    interval: a second sum soon after, over another set of forces, would give this force's
    vector away by subtraction."""
    interval = policy.aggregates.release_interval_days
    last = last_secure_release(con, policy.purpose.code) if interval else None
    if last is not None and last > dt.datetime.now(dt.UTC).replace(
            tzinfo=None) - dt.timedelta(days=interval):
        raise AggregatesRefused(f"this force already released its aggregates into a secure "
                                f"sum for {policy.purpose.code} at {last:%Y-%m-%d %H:%M} UTC; "
                                f"the policy allows one release every {interval} day(s) "
                                "([aggregates] release_interval_days)")


def _dimension_refusal(policy: SharePolicy, layout: NationalLayout) -> None:
    allowed = set(policy.aggregates.dimensions)
    barred = [t for t in layout.tables if not set(TABLE_DIMENSIONS[t]) <= allowed]
    if barred:
        raise AggregatesRefused(f"the sharing policy does not allow the dimensions of "
                                f"{', '.join(barred)}")


def check_aggregates(node_dir: Path, layout: NationalLayout, *,
                     policy: str | SharePolicy | None = None,
                     purpose: str | None = None) -> SharePolicy:
    """The policy a release on ``layout`` would run under, or ``AggregatesRefused`` naming
    the rule that stops it — without building or releasing anything."""
    chosen, _source = node_policy(Path(node_dir), policy)
    _policy_refusal(chosen, layout, purpose)
    with open_store(Path(node_dir)) as (_config, con):
        _interval_refusal(con, chosen)
    _dimension_refusal(chosen, layout)
    return chosen


def release_aggregates(node_dir: Path, layout: NationalLayout, *,
                       policy: str | SharePolicy | None = None, purpose: str | None = None,
                       epoch: int = 0, wait_s: float | None = None) -> AggregateRelease:
    """Build the layout's tables, pass them through the policy gate exactly as egress does
    (disclosure control, optional DP charged to the budget) and map them onto the layout;
    one store transaction with the interval check and the ledger entry (disclosure,
    counts only)."""
    chosen, _source = node_policy(Path(node_dir), policy)
    _policy_refusal(chosen, layout, purpose)
    with open_store(Path(node_dir), wait_s) as (config, con), transaction(con):
        _interval_refusal(con, chosen)
        _dimension_refusal(chosen, layout)
        return _release_in_transaction(con, config, chosen, layout, max(epoch, 1))


def _release_in_transaction(con: duckdb.DuckDBPyConnection, config: NodeConfig,
                            policy: SharePolicy, layout: NationalLayout,
                            epoch: int) -> AggregateRelease:
    _scope(con, policy)
    raw = _aggregates_table(con, policy, tables=layout.tables)
    share = ShareSet(force=config.force, purpose=policy.purpose.code, epoch=epoch,
                     policy_hash=policy.version, aggregates=raw)
    budget = (PrivacyBudget.for_policy(con, policy)
              if policy.privacy is not None and raw.num_rows else None)
    gated = gate(policy, share, budget=budget).aggregates
    con.register("eg_gated", gated)
    con.register("eg_layout", layout.cells)
    try:
        counts = con.sql("""
            SELECT coalesce(g.count, 0) AS n FROM eg_layout l
            LEFT JOIN eg_gated g ON g.name = l.name AND g.cell = l.cell
            ORDER BY l.position""").fetchnumpy()["n"].astype(np.int64)
        ((outside, suppressed),) = con.execute("""
            SELECT count(*) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM eg_layout l WHERE l.name = g.name AND l.cell = g.cell)),
                   count(*) FILTER (WHERE g.count IS NULL)
            FROM eg_gated g""").fetchall()
    finally:
        con.unregister("eg_gated")
        con.unregister("eg_layout")
    if counts.size and int(counts.max()) > MAX_CELL_COUNT:
        raise AggregatesRefused(f"a cell count is above {MAX_CELL_COUNT:,}, the most a "
                                "secure sum can carry exactly")
    keys = NodeKeys.load(config.keys_dir)
    entry = Ledger(con, keys.signer, config.force).append(
        "disclosure", actor=actor(), purpose=policy.purpose.code,
        justification=(f"aggregates into a national secure sum (SecAgg+): "
                       f"{', '.join(layout.tables)}, years {layout.years[0]}-"
                       f"{layout.years[1]}, under policy {policy.version[:12]}: "
                       f"{policy.purpose.lawful_basis}"),
        counts={"aggregate_cells": layout.size,
                "aggregate_cells_nonzero": int(np.count_nonzero(counts)),
                "aggregate_cells_suppressed": int(suppressed),
                "aggregate_cells_outside_layout": int(outside)},
        recipients=[SECURE_SUM_RECIPIENT], policy_hash=policy.version)
    return AggregateRelease(config.force, policy.purpose.code, layout, counts, int(outside),
                            int(suppressed), entry)


# --------------------------------------------------------------------------- summaries


def summarise(share: ShareSet) -> dict[str, Any]:
    """Counts of what leaves: the gate's description plus aggregate tables."""
    info = describe(share)
    names = share.aggregates.column("name")
    counted = pc.value_counts(names)
    info["aggregates_by_table"] = dict(zip(counted.field("values").to_pylist(),
                                           counted.field("counts").to_pylist(), strict=True))
    info["links"] = share.links.num_rows
    return info


def ledger_counts(summary: dict[str, Any]) -> dict[str, int]:
    """Flat counts for the ledger (numbers of records, never content)."""
    counts = {"items": summary["items"], "tokens": summary["tokens"],
              "links": summary["links"], "aggregate_rows": summary["aggregate_rows"],
              "match_only": summary["match_only"]}
    for prefix, key in (("items", "items_by_kind"), ("tokens", "tokens_by_kind"),
                        ("links", "links_by_kind")):
        counts.update({f"{prefix}:{k}": v for k, v in summary[key].items()})
    return counts


def sample_tokens(share: ShareSet, n: int = SAMPLE_TOKENS) -> list[tuple[str, str]]:
    """A few tokens as hex — the smallest of each kind, identifiers first — so the owner
    sees what leaves, and a dry run shows the same samples as the real egress."""
    smallest = share.tokens.group_by("token_kind").aggregate([("token", "min")]).to_pylist()
    smallest.sort(key=lambda r: (r["token_kind"].startswith("mk:"), r["token_kind"]))
    return [(r["token_kind"], r["token_min"].hex()) for r in smallest[:n]]


# --------------------------------------------------------------------------- the build


def build_share_set(con: duckdb.DuckDBPyConnection, force: str, policy: SharePolicy,
                    tokeniser: TokenMaker, epoch: int) -> ShareSet:
    """The share set the policy allows, before the gate; writes new refs to ``egress_refs``
    (the caller owns the transaction)."""
    purpose = policy.purpose.code
    _scope(con, policy)
    _identifiers(con, policy)
    _items(con, policy)
    _refs(con, purpose, epoch)
    items = _items_table(con, policy)
    persons = _match_key_persons(con, policy)
    _prepare_tokens(con, policy, tokeniser, persons)
    tokens = _tokens_table(con, tokeniser, persons)
    links = _links_table(con, policy)
    # under release = "secure-sum" aggregates leave only through release_aggregates
    aggregates = (_share_set_aggregates(con, policy, tokeniser)
                  if policy.aggregates.release == "share-set"
                  else _aggregates_table(con, policy, tables=()))
    return ShareSet(force=force, purpose=purpose, epoch=epoch, policy_hash=policy.version,
                    items=items, tokens=tokens, links=links, aggregates=aggregates)


def _scope(con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> None:
    """eg_person_map (record -> resolved person), eg_crimes (crimes in scope), eg_roles
    (in-scope role links, by resolved person), eg_persons."""
    person_map(con)
    scope = policy.scope
    categories = scope.categories or list(CRIME_CATEGORIES)
    conditions = [f"coalesce(flag_{c}, false)" for c in scope.categories]
    if scope.offence_codes:
        conditions.append("list_contains($codes, ho_offence_code)")
    if scope.national_definition and conditions:
        from node.analyses._cse_rules import evaluate
        from policies.definition import national_definition

        evaluate(con, national_definition(), person_map="eg_person_map")
        conditions.append("crime_id IN (SELECT crime_id FROM cse_cases WHERE group_based)")
    where = [f"({' OR '.join(conditions)})"] if conditions else []
    if scope.date_from:
        where.append("coalesce(date_to, date_from) >= $date_from")
    if scope.date_to:
        where.append("date_from <= $date_to")
    category = ("CASE " + " ".join(f"WHEN coalesce(flag_{c}, false) THEN '{c}'"
                                   for c in categories) + " END")
    params = {"codes": list(scope.offence_codes), "date_from": scope.date_from,
              "date_to": scope.date_to}
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE eg_crimes AS
        SELECT crime_id, ho_offence_code, outcome_code, date_from, {category} AS category
        FROM crimes {'WHERE ' + ' AND '.join(where) if where else ''}""",
                {k: v for k, v in params.items() if f"${k}" in " ".join(where)} or None)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE eg_crime_categories AS
        SELECT crime_id, date_from, c AS category FROM crimes,
               unnest([{', '.join(f"CASE WHEN coalesce(flag_{c}, false) THEN '{c}' END"
                                  for c in categories)}]) AS t(c)
        WHERE c IS NOT NULL AND crime_id IN (SELECT crime_id FROM eg_crimes)""")
    priority = "CASE r.role " + " ".join(
        f"WHEN '{r}' THEN {i}" for i, r in enumerate(ROLE_PRIORITY)) + " ELSE 99 END"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE eg_roles AS
        SELECT DISTINCT r.person_id, r.role, {priority} AS priority,
               r.role <> 'victim' AS shown, c.crime_id, c.date_from, c.category,
               c.ho_offence_code
        FROM (SELECT m.local_person AS person_id, x.* EXCLUDE (person_id)
              FROM roles x JOIN eg_person_map m USING (person_id)) r
        JOIN eg_crimes c USING (crime_id)
        WHERE list_contains($shown, r.role) OR ($victims AND r.role = 'victim')""",
                {"shown": sorted(policy.roles_shown),
                 "victims": bool(policy.roles_match_only)})
    codes = ("list_contains($codes, ho_offence_code)" if scope.offence_codes else "true")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE eg_persons AS
        SELECT person_id, arg_min(role, priority) AS role, bool_or(shown) AS shown,
               arg_min(category, date_from) FILTER (WHERE shown AND category IS NOT NULL)
                   AS offence_category,
               arg_min(ho_offence_code, date_from) FILTER (WHERE shown AND {codes})
                   AS ho_offence_code,
               min(date_from) FILTER (WHERE shown) AS first_crime
        FROM eg_roles GROUP BY person_id""",
                {"codes": list(scope.offence_codes)} if scope.offence_codes else None)
    bands = " ".join(f"WHEN age >= {lo} AND age < {hi} THEN '{name}'"
                     for lo, hi, name in AGE_BANDS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE eg_person_ages AS
        SELECT person_id, role, CASE {bands} ELSE '{UNKNOWN_AGE}' END AS age_band
        FROM (SELECT r.person_id, r.role,
                     coalesce(date_diff('year', p.dob, r.date_from)
                              - CASE WHEN strftime(r.date_from, '%m%d') < strftime(p.dob, '%m%d')
                                     THEN 1 ELSE 0 END,
                              p.age_min) AS age
              FROM eg_roles r JOIN persons p USING (person_id) WHERE r.shown)""")


def _identifiers(con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> None:
    """eg_held (person, kind, normalised value), eg_comm (phone pairs, counts), eg_hubs."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE eg_held AS
        SELECT DISTINCT m.local_person AS person_id, kind, value FROM (
            SELECT person_id, kind, value_norm AS value FROM identifiers
            WHERE normalised AND value_norm IS NOT NULL
            UNION ALL SELECT person_id, 'vrm', vrm_norm FROM vehicles WHERE vrm_norm IS NOT NULL
            UNION ALL SELECT person_id, 'imei', imei_norm FROM devices
            WHERE person_id IS NOT NULL AND imei_norm IS NOT NULL
            UNION ALL SELECT person_id, 'phone', owner_number_e164 FROM devices
            WHERE person_id IS NOT NULL AND owner_number_e164 IS NOT NULL) x
        JOIN eg_person_map m USING (person_id)""")
    # every communication between a device's own number and a normalised other party
    con.execute("""
        CREATE OR REPLACE TEMP TABLE eg_comm AS
        SELECT least(d.owner_number_e164, x.number_e164) AS a,
               greatest(d.owner_number_e164, x.number_e164) AS b, count(*) AS n
        FROM (SELECT device_id, number_e164 FROM calls WHERE number_normalised
              UNION ALL
              SELECT device_id, number_e164 FROM messages WHERE number_normalised) x
        JOIN devices d USING (device_id)
        WHERE d.owner_number_e164 IS NOT NULL AND x.number_e164 IS NOT NULL
          AND x.number_e164 <> d.owner_number_e164
        GROUP BY ALL""")
    # degree in the whole store: distinct holders + distinct communication partners
    con.execute("""
        CREATE OR REPLACE TEMP TABLE eg_degree AS
        SELECT kind, value, count(DISTINCT other) AS degree FROM (
            SELECT kind, value, 'p:' || person_id AS other FROM eg_held
            UNION ALL SELECT 'phone', a, 'n:' || b FROM eg_comm
            UNION ALL SELECT 'phone', b, 'n:' || a FROM eg_comm)
        GROUP BY ALL""")


def _items(con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> None:
    """eg_items (kind, local_id, role, hub): persons and identifiers in scope."""
    limit = policy.stop_list.max_distinct_contacts
    con.execute("""
        CREATE OR REPLACE TEMP TABLE eg_person_ids AS
        SELECT h.kind, h.value, h.person_id, p.shown
        FROM eg_held h JOIN eg_persons p USING (person_id)
        WHERE list_contains($kinds, h.kind)""", {"kinds": list(policy.share.identifiers)})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE eg_items AS
        SELECT 'person' AS kind, person_id AS local_id,
               role, false AS hub FROM eg_persons
        UNION ALL
        SELECT i.kind, i.value,
               CASE WHEN bool_or(i.shown) THEN NULL ELSE 'victim' END,
               coalesce(any_value(d.degree), 0) > $limit
        FROM eg_person_ids i LEFT JOIN eg_degree d USING (kind, value)
        GROUP BY i.kind, i.value
        -- a hub whose in-scope holders alone exceed the limit is not shared at all
        HAVING count(DISTINCT i.person_id) <= $limit""", {"limit": limit})


def _refs(con: duckdb.DuckDBPyConnection, purpose: str, epoch: int) -> None:
    """Give every item its ref: the stored one, or 16 fresh random bytes (stored)."""
    new = con.sql("""
        SELECT kind, local_id FROM eg_items i
        WHERE NOT EXISTS (SELECT 1 FROM egress_refs r WHERE r.purpose = $purpose
                          AND r.epoch = $epoch AND r.kind = i.kind
                          AND r.local_id = i.local_id)""",
                  params={"purpose": purpose, "epoch": epoch}).to_arrow_table()
    if new.num_rows:
        fresh = np.frombuffer(secrets.token_bytes(new.num_rows * TOKEN_BYTES), dtype=np.uint8)
        refs = tokens_to_arrow(fresh.reshape(-1, TOKEN_BYTES)).cast(pa.binary())
        con.register("eg_new_refs", new.append_column("ref", refs))
        try:
            con.execute("""
                INSERT INTO egress_refs (purpose, epoch, kind, local_id, ref, created_at)
                SELECT $purpose, $epoch, kind, local_id, ref, $now FROM eg_new_refs""",
                        {"purpose": purpose, "epoch": epoch,
                         "now": dt.datetime.now(dt.UTC).replace(tzinfo=None)})
        finally:
            con.unregister("eg_new_refs")
    # retention of a ref at this node runs from the last time it left (node/retention.py)
    con.execute("""
        UPDATE egress_refs r SET last_shared_at = $now FROM eg_items i
        WHERE r.purpose = $purpose AND r.epoch = $epoch AND r.kind = i.kind
          AND r.local_id = i.local_id""",
                {"purpose": purpose, "epoch": epoch,
                 "now": dt.datetime.now(dt.UTC).replace(tzinfo=None)})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE eg_refs AS
        SELECT i.*, r.ref FROM eg_items i JOIN egress_refs r
          ON r.purpose = $purpose AND r.epoch = $epoch AND r.kind = i.kind
         AND r.local_id = i.local_id""", {"purpose": purpose, "epoch": epoch})


def _fixed(table: pa.Table, *columns: str) -> pa.Table:
    for column in columns:
        i = table.column_names.index(column)
        table = table.set_column(i, column, table.column(column).cast(pa.binary()).cast(REF))
    return table


def _items_table(con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> pa.Table:
    attributes = {
        "offence_category": "p.offence_category",
        "ho_offence_code": "p.ho_offence_code",
        "crime_year": "CAST(year(p.first_crime) AS VARCHAR)",
        "sex": "per.sex",
        "age_band": "a.age_band",
        "ethnicity": "coalesce(per.ethnicity_self, per.ethnicity_officer)",
        "nationality": "per.nationality",
    }
    # attributes describe shown persons only; identifiers and match-only items carry none
    selected = ", ".join(
        f"CASE WHEN i.kind = 'person' AND p.shown THEN {attributes[a]} END AS {a}"
        for a in policy.share.attributes)
    table = con.sql(f"""
        SELECT i.ref, i.kind, i.role{', ' + selected if selected else ''}
        FROM eg_refs i
        LEFT JOIN eg_persons p ON i.kind = 'person' AND p.person_id = i.local_id
        LEFT JOIN persons per ON i.kind = 'person' AND per.person_id = i.local_id
        LEFT JOIN (SELECT person_id, min(age_band) AS age_band FROM eg_person_ages
                   GROUP BY person_id) a ON i.kind = 'person' AND a.person_id = i.local_id
        ORDER BY i.ref""").to_arrow_table()
    schema = pa.schema([("ref", pa.binary()), ("kind", pa.string()), ("role", pa.string()),
                        *((a, pa.string()) for a in policy.share.attributes)])
    return _fixed(table.cast(schema), "ref")


def _match_key_persons(con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> pa.Table | None:
    """(ref, the person record's name, date of birth and latest address) per record of each
    in-scope person: what match keys are made of; None if the policy shares none."""
    if not policy.share.match_keys:
        return None
    return con.sql("""
        SELECT r.ref, p.given_names, p.family_name, p.dob, p.dob_precision,
               a.postcode, a.address, a.town AS locality
        FROM eg_refs r
        JOIN eg_person_map m ON r.kind = 'person' AND m.local_person = r.local_id
        JOIN persons p ON p.person_id = m.person_id
        LEFT JOIN (SELECT person_id, arg_max(postcode, coalesce(valid_from, DATE '1900-01-01'))
                          AS postcode,
                          arg_max(address, coalesce(valid_from, DATE '1900-01-01'))
                          AS address,
                          arg_max(town, coalesce(valid_from, DATE '1900-01-01')) AS town
                   FROM addresses GROUP BY person_id) a ON a.person_id = p.person_id
        ORDER BY r.ref, p.person_id""").to_arrow_table()


def _prepare_tokens(con: duckdb.DuckDBPyConnection, policy: SharePolicy,
                    tokeniser: TokenMaker, persons: pa.Table | None) -> None:
    """With the key service: ask for every value this share needs in one go, so a quota
    too small for it is refused before a single evaluation is spent."""
    if not isinstance(tokeniser, ServiceTokeniser):
        return
    parts = [con.sql("SELECT kind, local_id AS value FROM eg_refs WHERE kind <> 'person'")
             .to_arrow_table()]
    if persons is not None and persons.num_rows:
        keyed = match_key_values(persons.drop_columns(["ref"]))
        parts.append(pa.table({"kind": keyed.column("token_kind"),
                               "value": keyed.column("value")}))
    if policy.aggregates.release == "share-set":
        parts.append(pa.table({"kind": [CELL_KEY[0]], "value": [CELL_KEY[1]]}))
    needed = pa.concat_tables([t.cast(pa.schema([("kind", pa.string()),
                                                 ("value", pa.string())])) for t in parts])
    tokeniser.prepare(needed.column("kind"), needed.column("value"))


def _tokens_table(con: duckdb.DuckDBPyConnection, tokeniser: TokenMaker,
                  persons: pa.Table | None) -> pa.Table:
    """Identifier tokens (normalised values only) + person match-key tokens."""
    held = con.sql("SELECT ref, kind AS token_kind, local_id FROM eg_refs "
                   "WHERE kind <> 'person' ORDER BY ref").to_arrow_table()
    made = tokeniser.tokens_for(held.column("token_kind"), held.column("local_id"))
    identifiers = pa.table({"ref": held.column("ref"), "token_kind": held.column("token_kind"),
                            "token": tokens_to_arrow(made).cast(pa.binary())})
    parts = [identifiers]
    if persons is not None and persons.num_rows:
        # every record of a person gives its keys; a key two records share is sent once
        keyed = match_key_tokens(persons.drop_columns(["ref"]), tokeniser)
        refs = persons.column("ref").take(keyed.column("row"))
        parts.append(pa.table({"ref": refs, "token_kind": keyed.column("token_kind"),
                               "token": keyed.column("token").cast(pa.binary())})
                     .group_by(["ref", "token_kind", "token"], use_threads=False)
                     .aggregate([]).sort_by([("ref", "ascending"),
                                             ("token_kind", "ascending"),
                                             ("token", "ascending")]))
    schema = pa.schema([("ref", pa.binary()), ("token_kind", pa.string()),
                        ("token", pa.binary())])
    table = pa.concat_tables([t.select(["ref", "token_kind", "token"]).cast(schema)
                              for t in parts])
    return _fixed(table, "ref", "token")


def _links_table(con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> pa.Table:
    kinds = set(policy.links.kinds)
    limit = policy.stop_list.max_distinct_contacts
    parts: list[str] = []
    if "person_identifier" in kinds:
        # shown person → shared identifier; match-only person → its match-only identifier
        parts.append("""
            SELECT p.ref AS ref_a, i.ref AS ref_b, 'person_identifier' AS kind, 1 AS weight
            FROM eg_person_ids h
            JOIN eg_refs p ON p.kind = 'person' AND p.local_id = h.person_id
            JOIN eg_refs i ON i.kind = h.kind AND i.local_id = h.value
            WHERE (p.role = 'victim') = (i.role IS NOT DISTINCT FROM 'victim')""")
    if "communication" in kinds:
        parts.append("""
            SELECT x.ref, y.ref, 'communication', c.n
            FROM eg_comm c
            JOIN eg_refs x ON x.kind = 'phone' AND x.local_id = c.a
            JOIN eg_refs y ON y.kind = 'phone' AND y.local_id = c.b
            WHERE x.role IS NULL AND y.role IS NULL AND NOT x.hub AND NOT y.hub""")
    # (person, thing) per resolved person: two records of one person share nothing
    pairs = {
        "co_suspect": "SELECT person_id, crime_id AS thing FROM eg_roles WHERE shown",
        "shared_address": """SELECT m.local_person AS person_id,
                                 coalesce(CAST(uprn AS VARCHAR), lower(trim(address)) || '|'
                                          || coalesce(postcode_norm, '')) AS thing
                             FROM addresses JOIN eg_person_map m USING (person_id)
                             WHERE address IS NOT NULL OR uprn IS NOT NULL""",
        "shared_vehicle": """SELECT m.local_person AS person_id, vrm_norm AS thing
                             FROM vehicles JOIN eg_person_map m USING (person_id)
                             WHERE vrm_norm IS NOT NULL""",
    }
    for kind, things in pairs.items():
        if kind not in kinds:
            continue
        # things held by more persons than the stop-list limit make no links
        parts.append(f"""
            SELECT p.ref, q.ref, '{kind}', count(DISTINCT s.thing)
            FROM (SELECT DISTINCT person_id, thing FROM ({things})
                  WHERE thing IN (SELECT thing FROM ({things}) GROUP BY thing
                                  HAVING count(DISTINCT person_id) <= {int(limit)})) s
            JOIN (SELECT DISTINCT person_id, thing FROM ({things})) t
              ON s.thing = t.thing AND s.person_id < t.person_id
            JOIN eg_refs p ON p.kind = 'person' AND p.local_id = s.person_id
            JOIN eg_refs q ON q.kind = 'person' AND q.local_id = t.person_id
            WHERE p.role <> 'victim' AND q.role <> 'victim'
            GROUP BY p.ref, q.ref""")
    schema = pa.schema([("ref_a", pa.binary()), ("ref_b", pa.binary()),
                        ("kind", pa.string()), ("weight", pa.int32())])
    if not parts:
        return _fixed(schema.empty_table(), "ref_a", "ref_b")
    table = con.sql(" UNION ALL ".join(f"({p})" for p in parts)
                    + " ORDER BY 1, 2, 3").to_arrow_table()
    table = table.rename_columns(["ref_a", "ref_b", "kind", "weight"]).cast(schema)
    return _fixed(table, "ref_a", "ref_b")


_AGGREGATE_SCHEMA = pa.schema([("name", pa.string()), ("cell", pa.string()),
                               ("count", pa.int64())])


def _cell_sql(dims: tuple[str, ...]) -> str:
    return "json_object(" + ", ".join(f"'{d}', {d}" for d in dims) + ")::VARCHAR"


def _on_national_layout(dimension: str) -> str:
    """SQL: the dimension's value is one of its national domain's (a value off it, e.g. an
    outcome written as free text, is counted nowhere rather than refused by the gate)."""
    if dimension == "year":
        return f"TRY_CAST(year AS INTEGER) BETWEEN {FIRST_YEAR} AND {LAST_YEAR}"
    listed = ", ".join(f"'{v}'" for v in DOMAINS[dimension])
    return f"{dimension} IN ({listed})"


def _aggregates_table(con: duckdb.DuckDBPyConnection, policy: SharePolicy,
                      tables: Collection[str] | None = None) -> pa.Table:
    """Every aggregate table whose dimensions the policy all allows, or only those of
    ``tables``: the cells that hold records (true counts: the gate applies disclosure
    control). The secure-sum release maps these onto its layout."""
    allowed = set(policy.aggregates.dimensions)
    chosen = [name for name, (dims, _) in AGGREGATES.items()
              if set(dims) <= allowed and (tables is None or name in tables)]
    _cse_inputs(con, policy, chosen)
    parts = []
    for name, (dims, sql) in AGGREGATES.items():
        if name not in chosen:
            continue
        parts.append(f"SELECT '{name}' AS name, {_cell_sql(dims)} AS cell, count(*) AS count "
                     f"FROM (SELECT DISTINCT * FROM ({sql}) "
                     f"WHERE {' AND '.join(_on_national_layout(d) for d in dims)}) "
                     "GROUP BY ALL")
    if not parts:
        return _AGGREGATE_SCHEMA.empty_table()
    return con.sql(" UNION ALL ".join(f"({p})" for p in parts)
                   + " ORDER BY name, cell").to_arrow_table().cast(_AGGREGATE_SCHEMA)


def _cse_inputs(con: duckdb.DuckDBPyConnection, policy: SharePolicy,
                tables: Collection[str]) -> None:
    """The national CSE definition's evaluation, when a table of ``tables`` counts it."""
    if set(tables) & set(CSE_TABLES):
        build_cse_inputs(con, "eg_person_map", policy.scope.date_from, policy.scope.date_to)


def _share_set_aggregates(con: duckdb.DuckDBPyConnection, policy: SharePolicy,
                          tokeniser: TokenMaker) -> pa.Table:
    """The aggregates of a share set: EVERY cell of the closed national layout of every
    table the policy allows, for the years of the policy's scope — never only the cells
    that hold records, so which cells leave says nothing (a force with one suspect sends
    the same cells as a force with a thousand; the gate then sends a zero and a suppressed
    count alike as NULL).

    Successive share sets are protected by cell-key perturbation (the ONS method for
    census tables): every record (crime, resolved person) has a secret record key in
    0..255 (a keyed hash of its id under this purpose's token key, which the coordinator
    never holds); a cell's key is the sum of its records' keys mod 256, and its count moves
    by ``CELL_KEY_PERTURBATION[cell key mod 5]`` before disclosure control. The same
    records always give the same count (a repeated share, or a dry run, agrees exactly),
    while one record more or less re-draws the cell's perturbation, so subtracting two
    share sets no longer shows one new suspect's cells. Preferred to a minimum interval
    between share sets (as the secure sum uses) because a share set also carries the
    tokens a force must be able to re-send at any time.
    """
    allowed = set(policy.aggregates.dimensions)
    tables = tuple(n for n, (dims, _) in AGGREGATES.items() if set(dims) <= allowed)
    if not tables:
        return _AGGREGATE_SCHEMA.empty_table()
    _cse_inputs(con, policy, tables)
    layout = share_set_layout(tables, share_set_years(policy.scope.date_from,
                                                      policy.scope.date_to))
    salt = tokeniser.token(*CELL_KEY).hex()
    record_key = "CAST(('0x' || left(sha256($salt || CAST(rid AS VARCHAR)), 2)) AS INTEGER)"
    parts = []
    for name in tables:
        dims, sql = AGGREGATES[name]
        parts.append(f"SELECT '{name}' AS name, {_cell_sql(dims)} AS cell, count(*) AS n, "
                     f"sum({record_key}) % 256 AS cell_key "
                     f"FROM (SELECT DISTINCT * FROM ({sql})) GROUP BY ALL")
    shifts = "[" + ", ".join(str(d) for d in CELL_KEY_PERTURBATION) + "]"
    con.register("eg_share_layout", layout)
    try:
        return con.sql(f"""
            WITH counted AS ({" UNION ALL ".join(f"({p})" for p in parts)})
            SELECT l.name, l.cell,
                   CASE WHEN c.n IS NULL THEN 0
                        ELSE greatest(c.n + {shifts}[CAST(c.cell_key % {len(CELL_KEY_PERTURBATION)}
                                                           AS INTEGER) + 1], 0) END AS count
            FROM eg_share_layout l LEFT JOIN counted c ON c.name = l.name AND c.cell = l.cell
            ORDER BY l.position""", params={"salt": salt}).to_arrow_table() \
            .cast(_AGGREGATE_SCHEMA)
    finally:
        con.unregister("eg_share_layout")
