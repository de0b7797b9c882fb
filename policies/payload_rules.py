"""The national payload rules: what any share set may carry, whoever checks it.

ONE implementation, called on both sides of the wire:

* the node's policy gate (``policies.gate.gate``) runs :func:`check_structure` on the share
  set it is given and :func:`check_disclosure` on the aggregates it releases, before the
  node signs anything;
* the coordinator (``coordinator.submit.submit_payload``) runs :func:`check_share_set` on
  every payload it would store (defence in depth: a node key can be stolen, a node can be
  buggy), and refuses the payload with the rule's own ``PayloadRejected`` subclass.

The rules are the *national floor*, independent of any one force's policy (the gate adds
the policy's narrower choices on top). Each breach names its rule (``reason``):

``unknown_column``
    the schema is closed: items carry ``ref, kind, role, match_only`` and the item
    attributes a policy may name (``policies.model.ITEM_ATTRIBUTES``), nothing else;
    tokens, links and aggregates carry exactly their columns.
``raw_token``
    a ref or token that is not exactly 16 bytes or does not look like keyed-PRF output
    (``policies.raw_values.suspicious_tokens``: a run of ASCII digits, zero padding).
``raw_value``
    any string, in any column or aggregate cell, that looks like raw personal data
    (``policies.raw_values.find_raw_values``); checked before the vocabularies so a phone
    number in an attribute is named as what it is.
``unknown_value``
    a value outside its closed vocabulary: item kind, role, token kind (an identifier kind
    or ``mk:`` + match-key fields), link kind, and every attribute's code list
    (offence category, Home Office code, year, sex, age band, ethnicity, nationality).
``off_layout``
    an aggregate cell that is not a cell of the fixed national layout
    (``policies.national_tables``): known table, exactly its dimensions in order, each value
    from its closed domain, written exactly as egress writes it.
``disclosure``
    a count that is neither suppressed (NULL) nor at least the declared threshold and a
    multiple of the declared rounding base (a zero is not a released count: zeros and
    suppressed cells both leave as NULL, so they cannot be told apart).

Everything is vectorised (Arrow kernels, numpy, DuckDB SQL); nothing loops over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from federation.layout import ROLES, SEXES
from federation.matchkeys import FIELDS, MATCH_KEY_PREFIX
from policies.model import CRIME_CATEGORIES, IDENTIFIER_KINDS, ITEM_ATTRIBUTES, LINK_KINDS
from policies.national_tables import (
    DOMAINS,
    FIRST_YEAR,
    LAST_YEAR,
    every_cell,
)
from policies.raw_values import find_raw_values, suspicious_tokens

if TYPE_CHECKING:
    from federation.payload import ShareSet

TOKEN_BYTES = 16
REF = pa.binary(TOKEN_BYTES)
MATCH_ONLY = "match_only"
#: the closed schema
ITEM_COLUMNS = ("ref", "kind", "role", MATCH_ONLY, *ITEM_ATTRIBUTES)
TOKEN_COLUMNS = ("ref", "token_kind", "token")
LINK_COLUMNS = ("ref_a", "ref_b", "kind", "weight")
AGGREGATE_COLUMNS = ("name", "cell", "count")
ITEM_KINDS = ("person", *IDENTIFIER_KINDS)
#: the ONS 10-5 rule: what the coordinator assumes when a payload declares no rule
NATIONAL_DISCLOSURE = (10, 5)

#: closed code list of each item attribute (a regex for the two code-shaped ones)
ATTRIBUTE_CODES: dict[str, tuple[str, ...]] = {
    "offence_category": CRIME_CATEGORIES,
    "sex": SEXES,
    "age_band": DOMAINS["age_band"],
    "ethnicity": DOMAINS["ethnicity"],
    "nationality": DOMAINS["nationality"],
}
ATTRIBUTE_PATTERNS: dict[str, str] = {
    "ho_offence_code": r"^[0-9]{1,3}[A-Z]?(/[0-9]{1,3}[A-Z]?)?$",
    "crime_year": r"^(19|20)[0-9]{2}$|^2100$",
}
_MK_FIELD = "(?:" + "|".join(sorted(FIELDS, key=len, reverse=True)) + ")"
_MK_PATTERN = rf"^{MATCH_KEY_PREFIX}{_MK_FIELD}(?:\+{_MK_FIELD})*$"
assert set(ATTRIBUTE_CODES) | set(ATTRIBUTE_PATTERNS) == set(ITEM_ATTRIBUTES)
assert FIRST_YEAR == 1900 and LAST_YEAR == 2100  # crime_year's pattern above


@dataclass(frozen=True)
class Breach:
    """One broken rule: which (``reason``), where (``what``) and why."""

    reason: str
    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


# --------------------------------------------------------------------------- entry points


def check_share_set(share: ShareSet, rule: tuple[int, int] | None = None) -> list[Breach]:
    """Every rule, on a whole share set; ``rule`` (threshold, rounding) defaults to the
    share set's declared rule, else :data:`NATIONAL_DISCLOSURE`."""
    found = check_structure(share)
    rule = rule or share.disclosure or NATIONAL_DISCLOSURE
    return found + check_disclosure(share.aggregates, rule)


def check_structure(share: ShareSet, con: duckdb.DuckDBPyConnection | None = None
                    ) -> list[Breach]:
    """Closed schema, tokens, raw strings, vocabularies and layout (not counts)."""
    found = check_columns(share)
    for name, columns in (("items", ("ref",)), ("tokens", ("ref", "token")),
                          ("links", ("ref_a", "ref_b"))):
        found += fixed_binary(getattr(share, name), columns, name)[1]
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        found += check_strings(share, con)
        found += check_layout(share.aggregates, con)
    finally:
        if own:
            con.close()
    return found


# --------------------------------------------------------------------------- schema


def check_columns(share: ShareSet) -> list[Breach]:
    found = []
    for table, allowed in (("items", ITEM_COLUMNS), ("tokens", TOKEN_COLUMNS),
                           ("links", LINK_COLUMNS), ("aggregates", AGGREGATE_COLUMNS)):
        extra = [c for c in getattr(share, table).column_names if c not in allowed]
        if extra:
            found.append(Breach("unknown_column", table,
                                f"columns outside the closed schema: {', '.join(extra)} "
                                f"(allowed: {', '.join(allowed)})"))
    items = share.items
    for column in ITEM_ATTRIBUTES:
        if column in items.column_names:
            typ = items.schema.field(column).type
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)
                    or pa.types.is_null(typ)):
                found.append(Breach("unknown_column", f"items.{column}",
                                    f"must be a string code, not {typ}"))
    if MATCH_ONLY in items.column_names and not pa.types.is_boolean(
            items.schema.field(MATCH_ONLY).type):
        found.append(Breach("unknown_column", f"items.{MATCH_ONLY}", "must be boolean"))
    return found


def fixed_binary(table: pa.Table, columns: tuple[str, ...], name: str
                 ) -> tuple[pa.Table, list[Breach]]:
    """Columns as fixed_size_binary(16): every value exactly 16 bytes, random-looking.
    Returns the table with those columns cast, and the breaches."""
    found: list[Breach] = []
    for column in columns:
        if column not in table.column_names:
            continue
        values = table.column(column)
        typ = values.type
        if not (pa.types.is_binary(typ) or pa.types.is_large_binary(typ)
                or pa.types.is_fixed_size_binary(typ)):
            found.append(Breach("raw_token", f"{name}.{column}",
                                f"must be 16-byte binary, not {typ}"))
            continue
        if values.null_count:
            found.append(Breach("raw_token", f"{name}.{column}",
                                f"{values.null_count} values are null"))
            continue
        if not (pa.types.is_fixed_size_binary(typ) and typ.byte_width == TOKEN_BYTES):
            lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
            wrong = int((lengths != TOKEN_BYTES).sum())
            if wrong:
                sizes = sorted(set(lengths[lengths != TOKEN_BYTES].tolist()))[:5]
                found.append(Breach("raw_token", f"{name}.{column}",
                                    f"{wrong} values are not exactly {TOKEN_BYTES} bytes "
                                    f"(lengths {sizes})"))
                continue
            values = values.cast(pa.binary()).cast(REF)
            table = table.set_column(table.column_names.index(column), column, values)
        bad = int(suspicious_tokens(as_matrix(table.column(column))).sum())
        if bad:
            found.append(Breach("raw_token", f"{name}.{column}",
                                f"{bad} values do not look like keyed tokens (a run of ASCII "
                                "digits or zero padding: a raw value in a binary column?)"))
    return table, found


def as_matrix(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed_size_binary(16) column as an (n, 16) uint8 matrix, without a Python loop."""
    if len(values) == 0:
        return np.zeros((0, TOKEN_BYTES), dtype=np.uint8)
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    start = array.offset * TOKEN_BYTES
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return data[start:start + len(array) * TOKEN_BYTES].reshape(-1, TOKEN_BYTES)


# --------------------------------------------------------------------------- strings


def _is_text(table: pa.Table, column: str) -> bool:
    typ = table.schema.field(column).type
    return pa.types.is_string(typ) or pa.types.is_large_string(typ)


def check_strings(share: ShareSet, con: duckdb.DuckDBPyConnection) -> list[Breach]:
    """Raw-looking strings, then closed vocabularies (a column already refused for a raw
    value is not named again for the same values)."""
    raw = check_raw_strings(share, con)
    named = {b.what for b in raw}
    return raw + [b for b in check_vocabularies(share) if b.what not in named]


def check_raw_strings(share: ShareSet, con: duckdb.DuckDBPyConnection) -> list[Breach]:
    """Any string anywhere that looks like raw personal data (masked in the message)."""
    columns: list[tuple[str, pa.ChunkedArray | pa.Array]] = []
    for name in ("items", "tokens", "links", "aggregates"):
        table: pa.Table = getattr(share, name)
        columns += [(f"{name}.{c}", table.column(c)) for c in table.column_names
                    if c != "cell" and _is_text(table, c)]
    keys, values = cell_keys_and_values(share.aggregates, con)
    columns += [("aggregates.cell (keys)", keys), ("aggregates.cell (values)", values)]
    found = []
    for where, column in columns:
        raw = find_raw_values(column)
        if raw:
            examples = "; ".join(f"{r.masked!r} {r.why} ({r.rows} rows)" for r in raw[:5])
            found.append(Breach("raw_value", where,
                                f"{len(raw)} distinct raw-looking values: {examples}"))
    return found


def cell_keys_and_values(aggregates: pa.Table, con: duckdb.DuckDBPyConnection
                         ) -> tuple[pa.Array, pa.Array]:
    """Every key and every value (as text) of the aggregate cells' JSON objects."""
    if aggregates.num_rows == 0 or "cell" not in aggregates.column_names:
        return pa.array([], pa.string()), pa.array([], pa.string())
    con.register("_rules_cells", aggregates.select(["cell"]))
    try:
        rows = con.sql(
            """
            WITH c AS (SELECT DISTINCT cell FROM _rules_cells WHERE json_valid(cell)
                       AND json_type(cell) = 'OBJECT')
            SELECT t.k AS key, json_extract_string(c.cell, '$."' || t.k || '"') AS value
            FROM c, unnest(json_keys(c.cell)) AS t(k)
            """
        ).to_arrow_table()
    finally:
        con.unregister("_rules_cells")
    return rows.column("key"), rows.column("value")


# --------------------------------------------------------------------------- vocabularies


def _outside(values: pa.ChunkedArray | pa.Array, allowed: tuple[str, ...] | None = None,
             pattern: str | None = None) -> list[str]:
    """Distinct non-null values outside ``allowed`` (or not matching ``pattern``)."""
    distinct = pc.unique(pc.drop_null(values))
    if len(distinct) == 0:
        return []
    if pattern is not None:
        ok = pc.match_substring_regex(distinct.cast(pa.string()), pattern)
    else:
        ok = pc.is_in(distinct.cast(pa.string()), value_set=pa.array(allowed, pa.string()))
    return [str(v) for v in pc.filter(distinct, pc.invert(ok)).to_pylist()]


def _show(values: list[str]) -> str:
    """Offending values, raw-looking ones masked so a refusal never repeats them."""
    shown = sorted(values)[:8]
    masked = {r.value: r.masked for r in find_raw_values(pa.array(shown, pa.string()))}
    more = f" and {len(values) - 8} more" if len(values) > 8 else ""
    return ", ".join(repr(masked.get(v, v)) for v in shown) + more


def check_vocabularies(share: ShareSet) -> list[Breach]:
    found = []
    items, tokens, links = share.items, share.tokens, share.links
    checks: list[tuple[str, pa.ChunkedArray, tuple[str, ...] | None, str | None]] = [
        ("items.kind", items.column("kind"), ITEM_KINDS, None),
        ("items.role", items.column("role"), ROLES, None),
        ("links.kind", links.column("kind"), LINK_KINDS, None),
    ]
    for attribute, codes in ATTRIBUTE_CODES.items():
        if attribute in items.column_names and _is_text(items, attribute):
            checks.append((f"items.{attribute}", items.column(attribute), codes, None))
    for attribute, pattern in ATTRIBUTE_PATTERNS.items():
        if attribute in items.column_names and _is_text(items, attribute):
            checks.append((f"items.{attribute}", items.column(attribute), None, pattern))
    for what, column, allowed, pattern in checks:
        bad = _outside(column, allowed, pattern)
        if bad:
            found.append(Breach("unknown_value", what,
                                f"values outside the closed list: {_show(bad)}"))
    kinds = tokens.column("token_kind")
    identifier = pc.is_in(kinds, value_set=pa.array(IDENTIFIER_KINDS, pa.string()))
    match_key = pc.match_substring_regex(kinds, _MK_PATTERN)
    bad_kinds = pc.filter(kinds, pc.invert(pc.fill_null(pc.or_(identifier, match_key),
                                                        False)))
    if len(bad_kinds):
        found.append(Breach("unknown_value", "tokens.token_kind",
                            f"token kinds that are neither an identifier kind nor a match "
                            f"key: {_show([str(v) for v in pc.unique(bad_kinds).to_pylist()])}"))
    weights = links.column("weight")
    bad_weight = weights.null_count + int(pc.sum(pc.less(weights, 1)).as_py() or 0)
    if bad_weight:
        found.append(Breach("unknown_value", "links.weight",
                            f"{bad_weight} weights are null or below 1"))
    return found


# --------------------------------------------------------------------------- aggregates


def check_layout(aggregates: pa.Table, con: duckdb.DuckDBPyConnection | None = None
                 ) -> list[Breach]:
    """Every aggregate row is a cell of the national layout (table name + exact cell)."""
    if aggregates.num_rows == 0 or not {"name", "cell"} <= set(aggregates.column_names):
        return []
    name = pc.fill_null(aggregates.column("name").cast(pa.string()), "\x00")
    cell = pc.fill_null(aggregates.column("cell").cast(pa.string()), "\x00")
    keys = pc.binary_join_element_wise(name, cell, "\x1f")
    off = pc.invert(pc.is_in(keys, value_set=every_cell()))
    n_off = int(pc.sum(off).as_py() or 0)
    found = []
    if n_off:
        tables = sorted({str(v) for v in pc.filter(aggregates.column("name"), off)
                         .unique().to_pylist()})
        found.append(Breach("off_layout", "aggregates.cell",
                            f"{n_off} cells are not cells of the national layout (tables "
                            f"{_show(tables)}; a cell is a national table's dimensions, in "
                            "order, each from its closed list)"))
    dup = aggregates.num_rows - len(pc.unique(keys))
    if dup:
        found.append(Breach("off_layout", "aggregates.cell", f"{dup} cells are sent twice"))
    return found


def check_disclosure(aggregates: pa.Table, rule: tuple[int, int]) -> list[Breach]:
    """Every count is NULL (suppressed, or zero) or ≥ threshold and a multiple of base."""
    if aggregates.num_rows == 0 or "count" not in aggregates.column_names:
        return []
    threshold, base = rule
    counts = pc.drop_null(aggregates.column("count")).to_numpy(zero_copy_only=False)
    counts = counts.astype(np.int64)
    found = []
    negative = int((counts < 0).sum())
    small = int(((counts >= 0) & (counts < threshold)).sum())
    unrounded = int(((counts >= threshold) & (counts % base != 0)).sum())
    if negative:
        found.append(Breach("disclosure", "aggregates.count", f"{negative} counts are "
                                                              "negative"))
    if small:
        found.append(Breach("disclosure", "aggregates.count",
                            f"{small} counts are below the threshold {threshold} but not "
                            "suppressed (suppressed and zero cells leave as NULL)"))
    if unrounded:
        found.append(Breach("disclosure", "aggregates.count",
                            f"{unrounded} counts are not rounded to a multiple of {base}"))
    return found
