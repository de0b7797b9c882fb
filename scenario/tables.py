"""Arrow tables in the node input layout, and writing them as CSV or Parquet.

The Arrow schema comes straight from ``federation.layout`` so the files always carry every
declared column with its declared type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from federation.layout import Table
from scenario import dates

Format = Literal["auto", "csv", "parquet"]
AUTO_PARQUET_ROWS = 100_000

_ARROW = {
    "VARCHAR": pa.string(), "DATE": pa.date32(), "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("s"),
}


def schema(table: Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW[c.type]) for c in table.columns])


class TableBuilder:
    """Collects column chunks for one layout table; absent optional columns become NULL.

    Chunks stay raw until ``build``: a ``person_id`` column may hold internal record numbers
    (mapped to ids once every record has its id), DATE columns may hold int day numbers.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.schema = schema(table)
        self.chunks: list[tuple[int, dict[str, Any]]] = []

    def add(self, **columns: Any) -> None:
        unknown = set(columns) - set(self.schema.names)
        if unknown:
            raise KeyError(f"{self.table.name}: no column(s) {sorted(unknown)}")
        n = len(next(iter(columns.values())))
        self.chunks.append((n, columns))

    def add_rows(self, names: tuple[str, ...], rows: list[tuple]) -> None:
        if rows:
            cols = list(zip(*rows, strict=True))
            self.add(**{k: _column(v) for k, v in zip(names, cols, strict=True)})

    def __len__(self) -> int:
        return sum(n for n, _ in self.chunks)

    def build(self, person_ids: np.ndarray | None = None) -> pa.Table:
        tables = [self._chunk(n, cols, person_ids) for n, cols in self.chunks]
        if not tables:
            return self.schema.empty_table()
        return pa.concat_tables(tables).combine_chunks()

    def _chunk(self, n: int, columns: dict[str, Any],
               person_ids: np.ndarray | None) -> pa.Table:
        arrays = []
        for f in self.schema:
            v = columns.get(f.name)
            if v is None:
                arrays.append(pa.nulls(n, f.type))
                continue
            if isinstance(v, np.ndarray) and v.dtype.kind in "iu":
                if f.name == "person_id" and person_ids is not None:
                    v = person_ids[v]
                elif f.type == pa.date32():
                    v = dates.as_dates(v)
                elif f.type == pa.timestamp("s"):
                    v = dates.as_timestamps(v)
            arr = pa.array(v, type=f.type, from_pandas=True)
            if len(arr) != n:
                raise ValueError(f"{self.table.name}.{f.name}: {len(arr)} values, expected {n}")
            arrays.append(arr)
        return pa.Table.from_arrays(arrays, schema=self.schema)


def _column(values: tuple) -> np.ndarray:
    """A tuple column of planted rows -> int64 array if all ints, else object array."""
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def file_format(table: Table, rows: int, fmt: Format) -> str:
    if fmt == "auto":
        return "parquet" if table.large or rows > AUTO_PARQUET_ROWS else "csv"
    return fmt


def write(data: pa.Table, path_stem: Path, fmt: str) -> Path:
    """Write one table; same data in, same bytes out."""
    if fmt == "parquet":
        path = path_stem.with_suffix(".parquet")
        pq.write_table(data, path, compression="zstd", row_group_size=256_000)
    else:
        path = path_stem.with_suffix(".csv")
        pacsv.write_csv(data, path)
    return path
