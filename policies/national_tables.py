"""The national layout: one fixed list of aggregate cells every force and the coordinator
compute identically, so count vectors from different forces can be summed position by
position (Flower SecAgg+ sums vectors, it never sees cell names).

A :class:`NationalLayout` is only *parameters* — which tables and which years. The cells
follow from them and from the closed domains below: per table, the cartesian product of
its dimensions' domains, in dimension order. A table with an open domain (nationality:
any ISO code, "NS", "UNK", typos) has no national layout and cannot be requested; it still
leaves in share sets where the policy allows it.

Node egress builds the same tables (``node.egress.AGGREGATES``) with the dimensions named
here, so the two cannot drift apart.
"""

from __future__ import annotations

import itertools
import json
from functools import cached_property
from typing import Annotated

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from federation.layout import ROLES
from policies.model import CRIME_CATEGORIES

#: aggregate tables a node builds: name -> dimensions (cell keys, in this order)
TABLE_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "crimes_by_category_year": ("offence_category", "year"),
    "crimes_by_outcome_year": ("outcome_code", "year"),
    "persons_by_role_year": ("role", "year"),
    "persons_by_role_ethnicity": ("role", "ethnicity"),
    "persons_by_role_nationality": ("role", "nationality"),
    "persons_by_role_age_band": ("role", "age_band"),
}

#: (lowest age, first age above, band name); an age that fits none is "unknown"
AGE_BANDS = ((0, 18, "under-18"), (18, 25, "18-24"), (25, 35, "25-34"), (35, 45, "35-44"),
             (45, 55, "45-54"), (55, 200, "55-plus"))
UNKNOWN_AGE = "unknown"
#: what egress writes when a person has neither a self-defined nor an officer ethnicity
BLANK = "blank"
#: a crime without an outcome yet
OPEN_OUTCOME = "open"

#: ONS 18+1 self-defined ethnicity (2011 census groups, used by police forces)
ONS_ETHNICITY = ("A1", "A2", "A3", "A4", "A9", "B1", "B2", "B9", "M1", "M2", "M3", "M9",
                 "O1", "O9", "W1", "W2", "W3", "W9")
#: officer-observed ethnicity (IC codes)
IC_ETHNICITY = ("IC1", "IC2", "IC3", "IC4", "IC5", "IC6", "IC9")
#: Home Office outcome types 1-22, written as the node layout writes them (OC01 ...)
OUTCOME_CODES = tuple(f"OC{n:02d}" for n in range(1, 23))

#: closed domains; ``year`` comes from the layout's own range
DOMAINS: dict[str, tuple[str, ...]] = {
    "offence_category": CRIME_CATEGORIES,
    "outcome_code": (*OUTCOME_CODES, OPEN_OUTCOME),
    # victims are never shown, so they are never a role in an aggregate
    "role": tuple(r for r in ROLES if r != "victim"),
    "ethnicity": (*ONS_ETHNICITY, "NS", *IC_ETHNICITY, BLANK),
    "age_band": (*(name for _, _, name in AGE_BANDS), UNKNOWN_AGE),
}
OPEN_DIMENSIONS = frozenset(d for dims in TABLE_DIMENSIONS.values() for d in dims) \
    - set(DOMAINS) - {"year"}
#: tables whose every dimension has a closed domain, in layout order
NATIONAL_TABLES = tuple(name for name, dims in TABLE_DIMENSIONS.items()
                        if not set(dims) & OPEN_DIMENSIONS)

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
            if name in TABLE_DIMENSIONS and name not in NATIONAL_TABLES:
                open_dims = sorted(set(TABLE_DIMENSIONS[name]) & OPEN_DIMENSIONS)
                raise ValueError(f"table {name!r} has no national layout: "
                                 f"{', '.join(open_dims)} has no closed list of values")
            if name not in NATIONAL_TABLES:
                raise ValueError(f"unknown table {name!r}; national tables are "
                                 f"{', '.join(NATIONAL_TABLES)}")
        if len(set(tables)) != len(tables):
            raise ValueError("a table is named twice")
        # canonical order, so the same request always gives the same cells
        return tuple(t for t in NATIONAL_TABLES if t in tables)

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
        names, cells = [], []
        for name in self.tables:
            dims = TABLE_DIMENSIONS[name]
            for values in itertools.product(*(self.domain(d) for d in dims)):
                names.append(name)
                cells.append(json.dumps(dict(zip(dims, values, strict=True)),
                                        separators=(",", ":")))
        return pa.table({"position": pa.array(range(len(cells)), pa.int32()),
                         "name": names, "cell": cells}, schema=CELLS_SCHEMA)

    @property
    def size(self) -> int:
        return self.cells.num_rows
