"""The policy gate: the single function every outgoing ShareSet passes before it is signed.

``gate(policy, share)`` *refuses* (raises :class:`PolicyViolation`) anything the policy does
not name, and *transforms* only in the direction of sharing less:

refused
    a purpose or policy version that is not this policy's; an item kind, token kind, role,
    link kind, attribute column or aggregate dimension the policy does not allow; victim
    items under ``victims = "exclude"``; attributes on match-only items; links that would
    put a match-only (victim) item in a network; a ref or token that is not exactly 16
    bytes or does not look like keyed-PRF output; tokens or links whose ref is not an
    item, or whose kind does not fit the item's kind; an identifier that is the endpoint
    of links to more than ``[stop_list] max_distinct_contacts`` others; and any string, in
    any column, that looks like a raw value (see :mod:`policies.raw_values`).

transformed
    ``items.match_only`` (bool) is added or tightened: true for every item whose role is
    match-only under the policy (victims), so the coordinator matches them and never
    displays them; link weights are bucketed to the policy's bucket edges (idempotent);
    aggregates get optional differential-privacy noise (OpenDP, budget charged), then
    disclosure control (suppression, secondary suppression, rounding).

The national floor under all of this — closed schema, 16-byte random-looking tokens, no
raw-looking string anywhere, closed vocabularies and code lists, aggregate cells only on the
national layout, counts that satisfy the disclosure rule — is :mod:`policies.payload_rules`,
the same code the coordinator runs on every payload it receives. Before checking, the gate
writes an ``ethnicity`` or ``nationality`` attribute outside its code list as ``other``
(the node keeps the raw value), and it declares the disclosure rule it applied on the share
set so the signed header carries it.

The node signs only what the gate returns. Checks are vectorised (Arrow kernels, numpy and
DuckDB SQL over whole tables); nothing loops over rows in Python.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from federation.errors import CrossforceError
from policies import payload_rules
from policies.disclosure import control_aggregates
from policies.model import SharePolicy
from policies.national_tables import DOMAINS, OTHER
from policies.privacy_budget import PrivacyBudget, noisy_counts
from policies.raw_values import find_raw_values

if TYPE_CHECKING:
    from federation.payload import ShareSet

TOKEN_BYTES = 16
REF = pa.binary(TOKEN_BYTES)
ITEM_BASE_COLUMNS = ("ref", "kind", "role")
MATCH_ONLY = "match_only"
TOKEN_COLUMNS = ("ref", "token_kind", "token")
LINK_COLUMNS = ("ref_a", "ref_b", "kind", "weight")
AGGREGATE_COLUMNS = ("name", "cell", "count")
#: which item kinds each link kind joins ("identifier" = any identifier item kind)
LINK_ENDPOINTS = {
    "person_identifier": ("person", "identifier"),
    "co_suspect": ("person", "person"),
    "communication": ("identifier", "identifier"),
    "shared_address": ("person", "person"),
    "shared_vehicle": ("person", "person"),
}


@dataclass(frozen=True)
class Violation:
    """One reason the gate refused: where (``what``) and why."""

    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


class PolicyViolation(CrossforceError):
    """The share set asks to send something the policy does not allow; nothing was sent."""

    def __init__(self, violations: list[Violation], purpose: str = "") -> None:
        self.violations = violations
        head = f"policy gate refused the share set{f' for {purpose}' if purpose else ''}"
        super().__init__(head + ":\n" + "\n".join(f"  - {v}" for v in violations))


def gate(policy: SharePolicy, share: ShareSet, *, budget: PrivacyBudget | None = None,
         dry_run: bool = False) -> ShareSet:
    """Check ``share`` against ``policy``; return what may leave or raise PolicyViolation.

    ``budget`` is required when the policy has a ``[privacy]`` section and the share set has
    aggregates: each aggregate table then spends ``epsilon``. With ``dry_run=True`` the
    budget is only checked (not spent) and no noise is added, so a dry run changes nothing.
    """
    found: list[Violation] = []
    _check_header(policy, share, found)
    _check_columns(policy, share, found)
    if found:  # the shape is wrong: later checks would only repeat it
        raise PolicyViolation(found, policy.purpose.code)

    items = _fixed_binary(share.items, ("ref",), found, "items")
    tokens = _fixed_binary(share.tokens, ("ref", "token"), found, "tokens")
    links = _fixed_binary(share.links, ("ref_a", "ref_b"), found, "links")
    if found:
        raise PolicyViolation(found, policy.purpose.code)

    items = _strings(items, ("kind", "role", *policy.share.attributes))
    items = codes_or_other(items)
    items = _mark_match_only(policy, items)
    checked = _Tables(items, tokens, links, share.aggregates, share.disclosure)
    con = duckdb.connect()  # one in-memory connection for every SQL check of this gate
    try:
        _register_keyed(con, items, tokens, links)
        con.register("agg", share.aggregates.select(list(AGGREGATE_COLUMNS)))
        _check_vocabularies(policy, items, tokens, links, found)
        # the national rules (the coordinator runs the very same on what it receives)
        found += [Violation(b.what, b.why)
                  for b in payload_rules.check_strings(checked, con)]
        _check_aggregate_cells(con, policy, share.aggregates, found)
        _check_relations(con, policy, found)
        if found:
            raise PolicyViolation(found, policy.purpose.code)
        aggregates = _release_aggregates(con, policy, share.aggregates, budget, dry_run)
    finally:
        con.close()
    rule = (policy.disclosure.threshold, policy.disclosure.rounding)
    released = payload_rules.check_disclosure(aggregates, rule)
    if released:  # pragma: no cover - control_aggregates always satisfies its own rule
        raise PolicyViolation([Violation(b.what, b.why) for b in released],
                              policy.purpose.code)
    return dataclasses.replace(share, items=items, tokens=tokens,
                               links=_bucket_weights(policy, links), aggregates=aggregates,
                               disclosure=rule)


@dataclass(frozen=True)
class _Tables:
    """The gate's working tables, in the shape ``payload_rules`` reads (a ShareSet's)."""

    items: pa.Table
    tokens: pa.Table
    links: pa.Table
    aggregates: pa.Table
    disclosure: tuple[int, int] | None


def codes_or_other(items: pa.Table) -> pa.Table:
    """``ethnicity`` and ``nationality`` attributes: a code from the list (trimmed,
    upper-case) stays, anything else becomes ``other`` (nulls stay null)."""
    for column in ("ethnicity", "nationality"):
        if column not in items.column_names:
            continue
        values = items.column(column)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue  # a wrong type is refused by the column checks
        code = pc.utf8_upper(pc.utf8_trim_whitespace(values))
        known = pc.is_in(code, value_set=pa.array(DOMAINS[column], pa.string()))
        mapped = pc.if_else(pc.is_null(values), pa.scalar(None, pa.string()),
                            pc.if_else(known, code, pa.scalar(OTHER, pa.string())))
        items = items.set_column(items.column_names.index(column), column, mapped)
    return items


# --------------------------------------------------------------------------- shape


def _check_header(policy: SharePolicy, share: ShareSet, found: list[Violation]) -> None:
    if share.purpose != policy.purpose.code:
        found.append(Violation("purpose", f"share set is for purpose {share.purpose!r} but "
                                          f"the policy is for {policy.purpose.code!r}"))
    if share.policy_hash != policy.version:
        found.append(Violation("policy_hash", f"share set was built under policy version "
                                              f"{share.policy_hash[:12]}…, not this policy "
                                              f"({policy.version[:12]}…); rebuild it"))


def _check_columns(policy: SharePolicy, share: ShareSet, found: list[Violation]) -> None:
    allowed_items = set(ITEM_BASE_COLUMNS) | set(policy.share.attributes) | {MATCH_ONLY}
    for table, required, allowed in (
        ("items", ITEM_BASE_COLUMNS, allowed_items),
        ("tokens", TOKEN_COLUMNS, set(TOKEN_COLUMNS)),
        ("links", LINK_COLUMNS, set(LINK_COLUMNS)),
        ("aggregates", AGGREGATE_COLUMNS, set(AGGREGATE_COLUMNS)),
    ):
        data: pa.Table = getattr(share, table)
        names = data.column_names
        for missing in [c for c in required if c not in names]:
            found.append(Violation(f"{table}.{missing}", "required column is missing"))
        for extra in [c for c in names if c not in allowed]:
            why = ("is not an attribute the policy allows (allowed: "
                   f"{', '.join(policy.share.attributes) or 'none'})" if table == "items"
                   else f"is not part of the {table} table")
            found.append(Violation(f"{table}.{extra}", f"column {why}"))
    for table, column, kind in (
        ("items", "kind", "string"), ("items", "role", "string"),
        ("tokens", "token_kind", "string"), ("links", "kind", "string"),
        ("links", "weight", "integer"), ("aggregates", "name", "string"),
        ("aggregates", "cell", "string"), ("aggregates", "count", "integer"),
        ("items", MATCH_ONLY, "boolean"),
        *(("items", a, "string") for a in policy.share.attributes),
    ):
        data = getattr(share, table)
        if column not in data.column_names:
            continue
        typ = data.schema.field(column).type
        ok = {"string": pa.types.is_string(typ) or pa.types.is_large_string(typ)
              or pa.types.is_null(typ),
              "integer": pa.types.is_integer(typ) or pa.types.is_null(typ),
              "boolean": pa.types.is_boolean(typ)}[kind]
        if not ok:
            found.append(Violation(f"{table}.{column}", f"must be {kind}, not {typ}"))


def _fixed_binary(table: pa.Table, columns: tuple[str, ...], found: list[Violation],
                  name: str) -> pa.Table:
    """Columns as fixed_size_binary(16): every value exactly 16 bytes, random-looking
    (``payload_rules.fixed_binary``, the national rule)."""
    table, breaches = payload_rules.fixed_binary(table, columns, name)
    found += [Violation(b.what, b.why) for b in breaches]
    return table


def _strings(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """All-null columns arrive typed as null; make them strings so kernels agree."""
    for column in columns:
        if column in table.column_names and pa.types.is_null(table.schema.field(column).type):
            i = table.column_names.index(column)
            table = table.set_column(i, column, table.column(column).cast(pa.string()))
    return table


_as_matrix = payload_rules.as_matrix


# --------------------------------------------------------------------------- vocabularies


def _mark_match_only(policy: SharePolicy, items: pa.Table) -> pa.Table:
    """Add or tighten ``match_only``: never loosened, always true for match-only roles."""
    required = pc.fill_null(pc.is_in(items.column("role"),
                                     value_set=pa.array(sorted(policy.roles_match_only),
                                                        pa.string())), False)
    if MATCH_ONLY in items.column_names:
        given = pc.fill_null(items.column(MATCH_ONLY), False)
        marked = pc.or_(given, required)
        return items.set_column(items.column_names.index(MATCH_ONLY), MATCH_ONLY, marked)
    return items.append_column(MATCH_ONLY, required)


def _value_counts(values: pa.ChunkedArray) -> dict[str, int]:
    """Row count per distinct value (nulls ignored) — one vectorised pass."""
    counted = pc.value_counts(pc.drop_null(values))
    return dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(),
                    strict=True))


def _not_in(values: pa.ChunkedArray, allowed: set[str]) -> dict[str, int]:
    """Distinct values outside ``allowed`` with their row counts (nulls ignored)."""
    return {v: n for v, n in _value_counts(values).items() if v not in allowed}


def _fmt(bad: dict[str, int]) -> str:
    """Offending values with row counts; raw-looking ones masked so errors never leak them."""
    shown = sorted(bad.items())[:8]
    masked = {r.value: r.masked
              for r in find_raw_values(pa.array([str(v) for v, _ in shown], pa.string()))}
    return ", ".join(f"{masked.get(str(v), v)!r} ({n} rows)" for v, n in shown)


def _check_vocabularies(policy: SharePolicy, items: pa.Table, tokens: pa.Table,
                        links: pa.Table, found: list[Violation]) -> None:
    kinds = _not_in(items.column("kind"), set(policy.item_kinds))
    if kinds:
        found.append(Violation("items.kind", f"kinds the policy does not share: {_fmt(kinds)}; "
                                             f"allowed: {', '.join(sorted(policy.item_kinds))}"))

    roles = _not_in(items.column("role"), set(policy.roles_shown | policy.roles_match_only))
    if roles:
        hint = ("; victims are shared only with victims = \"match-only\""
                if "victim" in roles else "")
        found.append(Violation("items.role", f"roles out of scope: {_fmt(roles)}; in scope: "
                                             f"{', '.join(sorted(policy.roles_shown))}{hint}"))
    person = pc.equal(items.column("kind"), "person")
    no_role = int(pc.sum(pc.and_(person, pc.is_null(items.column("role")))).as_py() or 0)
    if no_role:
        found.append(Violation("items.role", f"{no_role} person items have no role; every "
                                             "person shared must be in a role in scope"))

    match_only = items.column(MATCH_ONLY)
    for attribute in policy.share.attributes:
        if attribute not in items.column_names:
            continue
        leaked = int(pc.sum(pc.and_(match_only,
                                    pc.is_valid(items.column(attribute)))).as_py() or 0)
        if leaked:
            found.append(Violation(f"items.{attribute}",
                                   f"{leaked} match-only (victim) items carry this attribute; "
                                   "match-only items may carry tokens only"))
    for attribute, allowed in (("offence_category", policy.scope.categories),
                               ("ho_offence_code", policy.scope.offence_codes)):
        if allowed and attribute in items.column_names:
            outside = _not_in(items.column(attribute), set(allowed))
            if outside:
                found.append(Violation(f"items.{attribute}",
                                       f"values outside the policy scope: {_fmt(outside)}"))

    bad_tokens = {k: n for k, n in _value_counts(tokens.column("token_kind")).items()
                  if not policy.allows_token_kind(k)}
    if bad_tokens:
        found.append(Violation("tokens.token_kind",
                               f"token kinds the policy does not share: {_fmt(bad_tokens)}"))
    for what, column in (("items.kind", items.column("kind")),
                         ("tokens.token_kind", tokens.column("token_kind")),
                         ("links.kind", links.column("kind"))):
        if column.null_count:
            found.append(Violation(what, f"{column.null_count} values are null"))

    link_kinds = _not_in(links.column("kind"), set(policy.links.kinds))
    if link_kinds:
        found.append(Violation("links.kind", f"link kinds the policy does not share: "
                                             f"{_fmt(link_kinds)}; allowed: "
                                             f"{', '.join(policy.links.kinds) or 'none'}"))
    # link weights (null or below 1) are a national rule: payload_rules.check_vocabularies


def _check_aggregate_cells(con: duckdb.DuckDBPyConnection, policy: SharePolicy,
                           aggregates: pa.Table, found: list[Violation]) -> None:
    if aggregates.num_rows == 0:
        return
    if not policy.aggregates.dimensions:
        found.append(Violation("aggregates", f"{aggregates.num_rows} aggregate rows, but the "
                                             "policy lets no aggregates leave ([aggregates] "
                                             "dimensions is empty)"))
        return
    not_object = con.execute(
        "SELECT count(*) FROM agg WHERE cell IS NULL OR NOT json_valid(cell) "
        "OR json_type(cell) <> 'OBJECT'").fetchall()[0][0]
    if not_object:
        found.append(Violation("aggregates.cell", f"{not_object} cells are not JSON "
                                                  "objects of dimension values"))
        return
    dims = con.execute(
        "SELECT k, count(*) FROM agg, unnest(json_keys(cell)) AS t(k) GROUP BY k"
    ).fetchall()
    nested, negative, names = con.execute(
        """SELECT
             (SELECT count(*) FROM agg, unnest(json_keys(cell)) AS t(k)
              WHERE json_type(cell, '$."' || k || '"') IN ('OBJECT', 'ARRAY')),
             (SELECT count(*) FROM agg WHERE count < 0),
             (SELECT count(*) FROM agg WHERE name IS NULL)"""
    ).fetchall()[0]
    bad = {k: n for k, n in dims if k not in policy.aggregates.dimensions}
    if bad:
        found.append(Violation("aggregates.cell", f"dimensions the policy does not allow: "
                                                  f"{_fmt(bad)}; allowed: "
                                                  f"{', '.join(policy.aggregates.dimensions)}"))
    if nested:
        found.append(Violation("aggregates.cell", f"{nested} dimension values are nested "
                                                  "objects or arrays; use plain codes"))
    if negative:
        found.append(Violation("aggregates.count", f"{negative} counts are negative"))
    if names:
        found.append(Violation("aggregates.name", f"{names} names are null"))
    if not bad and not nested:  # the national layout: known tables, closed cells only
        found += [Violation(b.what, b.why) for b in payload_rules.check_layout(aggregates)]


# --------------------------------------------------------------------------- relations


def _register_keyed(con: duckdb.DuckDBPyConnection, items: pa.Table, tokens: pa.Table,
                    links: pa.Table) -> None:
    """Register the tables with each 16-byte ref as two UBIGINT halves (fast exact joins)."""

    def halves(table: pa.Table, column: str, prefix: str) -> dict[str, np.ndarray]:
        pair = np.ascontiguousarray(_as_matrix(table.column(column))).view(np.uint64)
        return {f"{prefix}hi": pair[:, 0], f"{prefix}lo": pair[:, 1]}

    con.register("items", pa.table({**halves(items, "ref", ""),
                                    "kind": items.column("kind"),
                                    "match_only": items.column(MATCH_ONLY)}))
    con.register("tokens", pa.table({**halves(tokens, "ref", ""),
                                     "token_kind": tokens.column("token_kind")}))
    con.register("links", pa.table({**halves(links, "ref_a", "a_"),
                                    **halves(links, "ref_b", "b_"),
                                    "kind": links.column("kind")}))


def _check_relations(con: duckdb.DuckDBPyConnection, policy: SharePolicy,
                     found: list[Violation]) -> None:
    """Refs, tokens and links fit together; runs on the tables ``gate`` registered."""
    (duplicates, orphans, misfits), = con.execute(
        """
        SELECT
          (SELECT count(*) FROM items)
            - (SELECT count(*) FROM (SELECT DISTINCT hi, lo FROM items)),
          (SELECT count(*) FROM tokens t ANTI JOIN items i ON t.hi = i.hi AND t.lo = i.lo),
          (SELECT count(*) FROM tokens t JOIN items i ON t.hi = i.hi AND t.lo = i.lo
           WHERE CASE WHEN i.kind = 'person' THEN NOT starts_with(t.token_kind, 'mk:')
                      ELSE t.token_kind <> i.kind END)
        """
    ).fetchall()
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE ends AS
        SELECT l.*, a.kind AS kind_a, a.match_only AS mo_a, b.kind AS kind_b,
               b.match_only AS mo_b
        FROM links l
        LEFT JOIN items a ON l.a_hi = a.hi AND l.a_lo = a.lo
        LEFT JOIN items b ON l.b_hi = b.hi AND l.b_lo = b.lo
        """
    )
    (missing, selfies, wrong_kinds, into_network), = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE kind_a IS NULL OR kind_b IS NULL),
               count(*) FILTER (WHERE a_hi = b_hi AND a_lo = b_lo),
               count(*) FILTER (WHERE kind_a IS NOT NULL AND kind_b IS NOT NULL
                                AND ({_endpoint_mismatch_sql()})),
               count(*) FILTER (WHERE (mo_a OR mo_b) AND NOT (mo_a AND mo_b
                                AND l.kind = 'person_identifier'))
        FROM ends l
        """
    ).fetchall()
    for what, n, why in (
        ("items.ref", duplicates, "refs occur more than once; each item needs its own ref"),
        ("tokens.ref", orphans, "tokens belong to no item"),
        ("tokens.token_kind", misfits, "tokens do not fit their item (person items carry "
                                       "'mk:' match-key tokens, identifier items a token of "
                                       "their own kind)"),
        ("links.ref", missing, "links have an endpoint that is not an item"),
        ("links.ref_a", selfies, "links join an item to itself"),
        ("links.kind", wrong_kinds, "links join the wrong kinds of item (person_identifier: "
                                    "person and identifier; communication: two identifiers; "
                                    "others: two persons)"),
        ("items.match_only", into_network, "links touch a match-only (victim) item; a "
                                           "match-only item may only be linked to its own "
                                           "match-only identifiers, never into a network"),
    ):
        if n:
            found.append(Violation(what, f"{n} {why}"))
    limit = policy.stop_list.max_distinct_contacts
    (hubs, top), = con.execute(
        f"""
        WITH sides AS (
            SELECT a_hi AS hi, a_lo AS lo, b_hi AS o_hi, b_lo AS o_lo FROM ends
            WHERE kind_a IS NOT NULL AND kind_a <> 'person'
            UNION SELECT b_hi, b_lo, a_hi, a_lo FROM ends
            WHERE kind_b IS NOT NULL AND kind_b <> 'person'),
        degree AS (SELECT count(*) AS n FROM sides GROUP BY hi, lo)
        SELECT count(*), max(n) FROM degree WHERE n > {int(limit)}
        """
    ).fetchall()
    if hubs:
        found.append(Violation("links", f"{hubs} identifiers are linked to more than {limit} "
                                        f"others (up to {top}); high-degree identifiers "
                                        "(taxi firms, takeaways, helplines) are on the stop "
                                        "list and never link endpoints"))


def _endpoint_mismatch_sql() -> str:
    """SQL true for a link in ``ends`` whose endpoint kinds do not fit its link kind."""

    def side(end: str, kind: str) -> str:
        return f"kind_{end} = 'person'" if kind == "person" else f"kind_{end} <> 'person'"

    cases = []
    for link_kind, (x, y) in LINK_ENDPOINTS.items():
        fits = (f"(({side('a', x)} AND {side('b', y)}) OR ({side('a', y)} AND {side('b', x)}))")
        cases.append(f"(l.kind = '{link_kind}' AND NOT {fits})")
    return " OR ".join(cases)


# --------------------------------------------------------------------------- transforms


def _bucket_weights(policy: SharePolicy, links: pa.Table) -> pa.Table:
    """Each weight becomes the largest bucket edge not above it (so bucketing is idempotent)."""
    edges = np.asarray(policy.links.communication_buckets, dtype=np.int64)
    weights = links.column("weight").to_numpy(zero_copy_only=False).astype(np.int64)
    bucketed = edges[np.searchsorted(edges, weights, side="right") - 1].astype(np.int32)
    return links.set_column(links.column_names.index("weight"), "weight", pa.array(bucketed))


def _release_aggregates(con: duckdb.DuckDBPyConnection, policy: SharePolicy, aggregates: pa.Table,
                        budget: PrivacyBudget | None, dry_run: bool) -> pa.Table:
    aggregates = aggregates.select(list(AGGREGATE_COLUMNS)).cast(
        pa.schema([("name", pa.string()), ("cell", pa.string()), ("count", pa.int64())]))
    if aggregates.num_rows == 0:
        return aggregates
    if policy.privacy is not None:
        aggregates = _add_noise(policy, aggregates, budget, dry_run)
    rules = policy.disclosure
    return control_aggregates(aggregates, threshold=rules.threshold, rounding=rules.rounding,
                              secondary=rules.secondary_suppression, con=con)


def _add_noise(policy: SharePolicy, aggregates: pa.Table, budget: PrivacyBudget | None,
               dry_run: bool) -> pa.Table:
    """One OpenDP release per aggregate table (``name``), each charged ``epsilon``."""
    privacy = policy.privacy
    assert privacy is not None
    if budget is None:
        raise PolicyViolation([Violation("aggregates", "the policy asks for differential "
                                                       "privacy but the gate was given no "
                                                       "privacy budget")],
                              policy.purpose.code)
    names = aggregates.column("name").to_numpy(zero_copy_only=False)
    column = aggregates.column("count")
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    counts = pc.fill_null(column, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    tables = list(dict.fromkeys(names.tolist()))  # one query per aggregate table, in order
    # refuse the whole release up front rather than noising some tables and not others
    budget.check(privacy.epsilon * len(tables), f"{len(tables)} aggregate tables")
    if dry_run:
        return aggregates
    for table in tables:
        rows = (names == table) & valid
        counts[rows] = noisy_counts(budget, counts[rows], epsilon=privacy.epsilon,
                                    max_contributions=privacy.max_contributions,
                                    query=f"aggregate:{table}", policy_version=policy.version)
    return aggregates.set_column(2, "count", pa.array(counts, pa.int64(), mask=~valid))


def describe(share: Any) -> dict[str, Any]:
    """Counts per item kind, role and link kind of a (gated) share set: what would leave."""

    def counts(column: pa.ChunkedArray) -> dict[str, int]:
        return {str(v): int(n) for v, n in _value_counts(column).items()}

    items: pa.Table = share.items
    return {
        "items": items.num_rows,
        "items_by_kind": counts(items.column("kind")),
        "items_by_role": counts(items.column("role")),
        "match_only": int(pc.sum(items.column(MATCH_ONLY)).as_py() or 0)
        if MATCH_ONLY in items.column_names else 0,
        "tokens": share.tokens.num_rows,
        "tokens_by_kind": counts(share.tokens.column("token_kind")),
        "links_by_kind": counts(share.links.column("kind")),
        "aggregate_rows": share.aggregates.num_rows,
        "aggregates_suppressed": share.aggregates.column("count").null_count,
    }
