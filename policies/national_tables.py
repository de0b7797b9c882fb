"""The national layout: one fixed list of aggregate cells every force and the coordinator
compute identically, so count vectors from different forces can be summed position by
position (Flower SecAgg+ sums vectors, it never sees cell names).

A :class:`NationalLayout` is only *parameters* — which tables and which years. The cells
follow from them and from the closed domains below: per table, the cartesian product of
its dimensions' domains, in dimension order. Every dimension has a closed domain: ethnicity
and nationality are their code lists (``federation.layout``) plus ``blank`` and ``other``
— a value outside its list (a typo, or a date of birth, phone number or name written in the
wrong column) is kept raw in the node and leaves only as ``other``.

Share sets carry aggregates on the same closed cells (:func:`share_set_layout`): every cell
of every table the policy allows, suppressed and zero alike sent as NULL, so a released
table says nothing by which cells it has. The coordinator refuses any cell that is not one
of these (:func:`every_cell`, checked by ``policies.payload_rules``). Nationality (253
codes x 6 roles) and the languages of messages needing a translator (for national
translator planning) are carried in share sets but not yet offered to secure sums
(``SECURE_SUM_EXCLUDED``).

Node egress builds the same tables (``node.egress.AGGREGATES``) with the dimensions named
here, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from functools import cached_property, lru_cache
from typing import Annotated

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from federation.layout import (  # noqa: F401  (the code lists are re-exported)
    ETHNICITY_OFFICER_CODES,
    ETHNICITY_SELF_CODES,
    IC_ETHNICITY,
    NATIONALITY_CODES,
    ONS_ETHNICITY,
    OTHER_CODE,
    ROLES,
)
from policies.model import CRIME_CATEGORIES

#: aggregate tables a node builds: name -> dimensions (cell keys, in this order)
TABLE_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "crimes_by_category_year": ("offence_category", "year"),
    "crimes_by_outcome_year": ("outcome_code", "year"),
    "persons_by_role_year": ("role", "year"),
    "persons_by_role_ethnicity": ("role", "ethnicity"),
    "persons_by_role_nationality": ("role", "nationality"),
    "persons_by_role_age_band": ("role", "age_band"),
    # recording consistency under the national CSE definition (policies/definitions/cse.toml)
    "cse_recording": ("rule", "flagged"),
    "cse_completeness": ("rule", "completeness"),

    # seized-phone messages per language that need a translator (issue #19): for national
    # translator planning; counts only, never text
    "messages_needing_translation_by_language": ("language",),
}

#: (lowest age, first age above, band name); an age that fits none is "unknown"
AGE_BANDS = ((0, 18, "under-18"), (18, 25, "18-24"), (25, 35, "25-34"), (35, 45, "35-44"),
             (45, 55, "45-54"), (55, 200, "55-plus"))
UNKNOWN_AGE = "unknown"
#: what egress writes when a person has neither a self-defined nor an officer ethnicity
BLANK = "blank"
#: a crime without an outcome yet
OPEN_OUTCOME = "open"

#: a value outside its code list (kept raw in the node, never sent as written)
OTHER = OTHER_CODE
#: Home Office outcome types 1-22, written as the node layout writes them (OC01 ...)
OUTCOME_CODES = tuple(f"OC{n:02d}" for n in range(1, 23))

#: the highest rule of the national CSE definition a crime meets (R1 < R2 < R3), "none"
#: for a child sexual offence or flagged crime meeting none, or "cannot_evaluate"
CSE_RULES = ("r3", "r2", "r1", "none", "cannot_evaluate")
#: the force's own flags (the definition's [r5] flags): all set, some set, none set
CSE_FLAGGED = ("flagged", "partly", "not_flagged")
#: R6: "<field>:<status>" for each suspect of a case
CSE_COMPLETENESS = tuple(f"{f}:{s}" for f in ("ethnicity_self", "ethnicity_officer",
                                              "nationality")
                         for s in ("recorded", "not_stated", "blank"))

#: languages (BCP-47, as node.language tags them) a message needing a translator is
#: counted under; any other determined language (not English) is 'other'
TRANSLATION_LANGUAGES = ("ar", "ar-Latn", "bn", "ckb", "fa", "kmr", "pa", "pa-Arab", "pl",
                         "ps", "ro", "sq", "ur", "ur-Latn", "vi", OTHER_CODE)

#: closed domains; ``year`` comes from the layout's own range
DOMAINS: dict[str, tuple[str, ...]] = {
    "offence_category": CRIME_CATEGORIES,
    "outcome_code": (*OUTCOME_CODES, OPEN_OUTCOME),
    # victims are never shown, so they are never a role in an aggregate
    "role": tuple(r for r in ROLES if r != "victim"),
    "ethnicity": (*ONS_ETHNICITY, "NS", *IC_ETHNICITY, BLANK, OTHER),
    "nationality": (*NATIONALITY_CODES, BLANK, OTHER),
    "age_band": (*(name for _, _, name in AGE_BANDS), UNKNOWN_AGE),
    "rule": CSE_RULES,
    "flagged": CSE_FLAGGED,
    "completeness": CSE_COMPLETENESS,

    "language": TRANSLATION_LANGUAGES,
}
#: dimensions not (yet) offered to the national secure sum: nationality's 253 values make
#: a long, mostly empty vector; share sets carry it on its closed list
SECURE_SUM_EXCLUDED = frozenset({"nationality", "language"})
OPEN_DIMENSIONS = SECURE_SUM_EXCLUDED  # the name older callers read
#: the recording-consistency tables (national CSE definition): a secure sum may ask for
#: them by name, but they are not among the tables every secure sum covers (a policy
#: written before them does not allow their dimensions)
CSE_RECORDING_TABLES = ("cse_recording", "cse_completeness")
#: tables every secure sum may cover, in layout order
NATIONAL_TABLES = tuple(name for name, dims in TABLE_DIMENSIONS.items()
                        if not set(dims) & SECURE_SUM_EXCLUDED
                        and name not in CSE_RECORDING_TABLES)
#: every table a secure sum may ask for, in layout order
SECURE_SUM_TABLES = tuple(name for name, dims in TABLE_DIMENSIONS.items()
                          if not set(dims) & SECURE_SUM_EXCLUDED)
#: share sets start here when the policy's scope has no date_from
SHARE_SET_FIRST_YEAR = 2000

FIRST_YEAR, LAST_YEAR = 1900, 2100
#: largest count one force may put in one cell: SecAgg+ sums exactly while
#: forces x 2 x MAX_CELL_COUNT < 2**32, i.e. up to 127 forces
MAX_CELL_COUNT = 1 << 24
MAX_FORCES = ((1 << 32) - 1) // (2 * MAX_CELL_COUNT)

CELLS_SCHEMA = pa.schema([("position", pa.int32()), ("name", pa.string()),
                          ("cell", pa.string())])


class NationalLayout(BaseModel):
    """Which national tables, for which years (inclusive): everything that fixes the cells."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: Annotated[tuple[str, ...], Field(min_length=1)]
    years: tuple[int, int]

    @field_validator("tables")
    @classmethod
    def _tables(cls, tables: tuple[str, ...]) -> tuple[str, ...]:
        for name in tables:
            if name in TABLE_DIMENSIONS and name not in SECURE_SUM_TABLES:
                open_dims = sorted(set(TABLE_DIMENSIONS[name]) & OPEN_DIMENSIONS)
                raise ValueError(f"table {name!r} has no national layout: "
                                 f"{', '.join(open_dims)} is carried in share sets only, "
                                 "not in secure sums")
            if name not in SECURE_SUM_TABLES:
                raise ValueError(f"unknown table {name!r}; national tables are "
                                 f"{', '.join(SECURE_SUM_TABLES)}")
        if len(set(tables)) != len(tables):
            raise ValueError("a table is named twice")
        # canonical order, so the same request always gives the same cells
        return tuple(t for t in SECURE_SUM_TABLES if t in tables)

    @model_validator(mode="after")
    def _years(self) -> NationalLayout:
        first, last = self.years
        if not FIRST_YEAR <= first <= last <= LAST_YEAR:
            raise ValueError(f"years must be [first, last] with {FIRST_YEAR} <= first <= "
                             f"last <= {LAST_YEAR}, got [{first}, {last}]")
        return self

    def domain(self, dimension: str) -> tuple[str, ...]:
        if dimension == "year":
            return tuple(str(y) for y in range(self.years[0], self.years[1] + 1))
        return DOMAINS[dimension]

    @cached_property
    def cells(self) -> pa.Table:
        """(position, name, cell JSON) — the cell JSON written exactly as egress writes it."""
        return layout_cells(self.tables, self.years)

    @property
    def size(self) -> int:
        return self.cells.num_rows


def domain(dimension: str, years: tuple[int, int]) -> tuple[str, ...]:
    if dimension == "year":
        return tuple(str(y) for y in range(years[0], years[1] + 1))
    return DOMAINS[dimension]


def cell_json(dims: tuple[str, ...], values: tuple[str, ...]) -> str:
    """A cell exactly as egress writes it (DuckDB ``json_object(...)::VARCHAR``)."""
    return json.dumps(dict(zip(dims, values, strict=True)), separators=(",", ":"))


def layout_cells(tables: tuple[str, ...], years: tuple[int, int]) -> pa.Table:
    """(position, name, cell JSON) of every cell of ``tables`` for ``years``, in order."""
    names, cells = [], []
    for name in tables:
        dims = TABLE_DIMENSIONS[name]
        for values in itertools.product(*(domain(d, years) for d in dims)):
            names.append(name)
            cells.append(cell_json(dims, values))
    return pa.table({"position": pa.array(range(len(cells)), pa.int32()),
                     "name": names, "cell": cells}, schema=CELLS_SCHEMA)


def share_set_years(scope_from: dt.date | None, scope_to: dt.date | None,
                    today: dt.date | None = None) -> tuple[int, int]:
    """The years a share set's aggregates cover: the policy scope's, never the data's (so
    which cells leave says nothing about which years hold crimes)."""
    today = today or dt.datetime.now(dt.UTC).date()
    first = scope_from.year if scope_from else SHARE_SET_FIRST_YEAR
    last = scope_to.year if scope_to else max(today.year, first)
    return max(first, FIRST_YEAR), min(max(last, first), LAST_YEAR)


def share_set_layout(tables: tuple[str, ...], years: tuple[int, int]) -> pa.Table:
    """The closed cells a share set sends: every cell of ``tables`` (canonical order)."""
    return layout_cells(tuple(t for t in TABLE_DIMENSIONS if t in tables), years)


@lru_cache(maxsize=1)
def _every_cell() -> frozenset[str]:
    """name + US + cell of every cell any table can have, over all layout years."""
    out = set()
    for name, dims in TABLE_DIMENSIONS.items():
        for values in itertools.product(*(domain(d, (FIRST_YEAR, LAST_YEAR)) for d in dims)):
            out.add(name + "\x1f" + cell_json(dims, values))
    return frozenset(out)


def every_cell() -> pa.Array:
    """All possible (name US cell) keys as one Arrow array, for vectorised membership."""
    return _every_cell_array()


@lru_cache(maxsize=1)
def _every_cell_array() -> pa.Array:
    return pa.array(sorted(_every_cell()), pa.string())
