"""Keyed tokens: token = HMAC-SHA256(token_key, kind ‖ 0x1f ‖ normalised value)[:16].

A plain hash of a phone number is reversed by enumerating every number; a keyed PRF under
a per-purpose, per-epoch key (federation/keys.py) is not, for anyone without the key
(DESIGN.md §1.2). Tokens are fixed-width bytes — numpy ``uint8`` rows of 16 or DuckDB BLOBs
— never hex strings in bulk.

Three byte-identical paths (tests/federation/test_tokens.py holds the vectors):
- ``Tokeniser.token`` — one value, for tests and lookups;
- ``Tokeniser.tokens`` — a column in, ``(n, 16)`` uint8 out; each distinct value is hashed
  once, in Python (pre-keyed SHA-256 copies) for small inputs, in DuckDB over all cores for
  large ones;
- ``token_sql`` / ``tokenise_relation`` — the HMAC written in DuckDB SQL as
  ``unhex(sha256(opad ‖ unhex(sha256(ipad ‖ msg)))))`` with the key pads passed as query
  parameters (never stored in a table or view), so egress can tokenise inside DuckDB.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa

__all__ = ["TOKEN_BYTES", "TokenMaker", "Tokeniser", "token_sql", "tokenise_relation",
           "tokens_to_arrow"]

TOKEN_BYTES = 16
KIND_SEPARATOR = b"\x1f"
_BLOCK = 64  # SHA-256 block size
#: Below this many distinct values the Python loop beats DuckDB's start-up cost.
_SQL_THRESHOLD = 20_000


def _pads(token_key: bytes) -> tuple[bytes, bytes]:
    """HMAC inner/outer pads (RFC 2104) for a key of at most one block."""
    key = hashlib.sha256(token_key).digest() if len(token_key) > _BLOCK else token_key
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def token_sql(value_sql: str, kind_sql: str) -> str:
    """SQL expression for the 16-byte token of ``value_sql`` (a VARCHAR expression) of kind
    ``kind_sql`` (a VARCHAR expression or quoted literal, e.g. ``'phone'`` or a column).

    Needs the parameters ``$cf_ipad`` and ``$cf_opad`` from ``Tokeniser.sql_params()``.
    """
    msg = f"encode({kind_sql} || chr(31) || {value_sql})"
    return f"unhex(left(sha256($cf_opad || unhex(sha256($cf_ipad || {msg}))), 32))"


class TokenMaker(Protocol):
    """What egress needs to make tokens: the legacy ``Tokeniser`` (a linkage secret on the
    node) or the key service's (``node.prf_tokens.ServiceTokeniser``)."""

    def token(self, kind: str, value: str) -> bytes: ...

    def tokens_for(self, kinds: pa.Array, values: pa.Array) -> np.ndarray: ...


class Tokeniser:
    """Makes tokens under one token key (one purpose, one epoch)."""

    def __init__(self, token_key: bytes, threads: int | None = None) -> None:
        """``threads``: cores to use for bulk work (default: all)."""
        if not isinstance(token_key, bytes | bytearray) or len(token_key) < 16:
            raise ValueError("a token key is at least 16 bytes (derive it with "
                             "LinkageSecret.derive(purpose, epoch))")
        self._ipad, self._opad = _pads(bytes(token_key))
        self._inner = hashlib.sha256(self._ipad)
        self._outer = hashlib.sha256(self._opad)
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self.threads = threads

    def __repr__(self) -> str:  # never show key material
        return "Tokeniser(<key hidden>)"

    # ---------------------------------------------------------------- single / Python
    def token(self, kind: str, value: str) -> bytes:
        """16-byte token of one normalised value."""
        inner = self._inner.copy()
        inner.update(kind.encode() + KIND_SEPARATOR + value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TOKEN_BYTES]

    def _tokens_python(self, kind: str, values: Sequence[str]) -> np.ndarray:
        prefixed = self._inner.copy()
        prefixed.update(kind.encode() + KIND_SEPARATOR)
        icopy, ocopy = prefixed.copy, self._outer.copy
        out = bytearray(len(values) * TOKEN_BYTES)
        pos = 0
        for v in values:
            inner = icopy()
            inner.update(v.encode())
            outer = ocopy()
            outer.update(inner.digest())
            out[pos:pos + TOKEN_BYTES] = outer.digest()[:TOKEN_BYTES]
            pos += TOKEN_BYTES
        return np.frombuffer(bytes(out), dtype=np.uint8).reshape(-1, TOKEN_BYTES)

    # ---------------------------------------------------------------- SQL
    def sql_params(self) -> dict[str, bytes]:
        """Query parameters for ``token_sql`` — pass them per query, never store them."""
        return {"cf_ipad": self._ipad, "cf_opad": self._opad}

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            config = {"threads": self.threads} if self.threads else {}
            self._con = duckdb.connect(config=config)
        return self._con

    def _tokens_sql(self, kind: str, values: pa.Array) -> np.ndarray:
        with self._lock:
            con = self._connection()
            con.register("cf_token_source", pa.table({"v": values}))
            try:
                result = con.sql(
                    f"SELECT {token_sql('v', '$cf_kind')} AS t FROM cf_token_source",
                    params={**self.sql_params(), "cf_kind": kind}).to_arrow_table()
            finally:
                con.unregister("cf_token_source")
        return binary_to_numpy(result.column("t"))

    def tokens_for(self, kinds: pa.Array, values: pa.Array) -> np.ndarray:
        """``(n, 16)`` tokens of (kind, normalised value) pairs, in input order — the
        interface egress shares with the key service's tokeniser (node/prf_tokens.py)."""
        with self._lock:
            con = self._connection()
            con.register("cf_token_pairs", pa.table({"k": kinds, "v": values}))
            try:
                result = con.sql(f"SELECT {token_sql('v', 'CAST(k AS VARCHAR)')} AS t "
                                 "FROM cf_token_pairs", params=self.sql_params()
                                 ).to_arrow_table()
            finally:
                con.unregister("cf_token_pairs")
        return binary_to_numpy(result.column("t"))

    # ---------------------------------------------------------------- bulk
    def tokens(self, kind: str, values: Sequence[str] | pa.Array | np.ndarray) -> np.ndarray:
        """``(n, 16)`` uint8 tokens of already-normalised values, in input order.

        Each distinct value is hashed once (extractions repeat numbers millions of times);
        large inputs are hashed in DuckDB over all cores.
        """
        arr = _as_string_array(values)
        if arr.null_count:
            first = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
            raise ValueError(f"value at index {first} is missing; tokens are made of "
                             "normalised values only — drop missing ones first")
        if len(arr) == 0:
            return np.zeros((0, TOKEN_BYTES), dtype=np.uint8)
        encoded = arr.dictionary_encode()
        distinct = encoded.dictionary
        if len(distinct) < _SQL_THRESHOLD:
            uniq = self._tokens_python(kind, distinct.to_pylist())
        else:
            uniq = self._tokens_sql(kind, distinct)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        return uniq[codes]

    def tokens_from_raw(self, kind: str, raw: Sequence[str | None] | pa.Array
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Normalise then tokenise raw values: ``(tokens (n, 16), ok (n,) bool)``.

        Each distinct raw value is normalised once and each distinct normalised value
        hashed once. Rows whose value is not normalisable get ``ok == False`` and a zero
        token.
        """
        from federation.normalise import normalise_distinct

        encoded = _as_string_array(raw).dictionary_encode()
        normal = normalise_distinct(kind, encoded.dictionary, self.threads)
        valid = np.asarray(normal.is_valid(), dtype=bool)
        # one extra all-zero, not-ok row for missing raw values
        table = np.zeros((len(normal) + 1, TOKEN_BYTES), dtype=np.uint8)
        if valid.any():
            table[:-1][valid] = self.tokens(kind, normal.filter(pa.array(valid)))
        ok_table = np.append(valid, False)
        codes = encoded.indices.fill_null(len(normal)).to_numpy(zero_copy_only=False)
        return table[codes], ok_table[codes]


def _as_string_array(values: Sequence[str] | pa.Array | np.ndarray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string()) if values.type != pa.string() else values
    return pa.array(values if isinstance(values, list) else list(values), type=pa.string())


def binary_to_numpy(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``(n, 16)`` uint8 view of a column of 16-byte binary values (no per-row Python)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_fixed_size_binary(column.type):
        column = column.cast(pa.binary())
    if pa.types.is_large_binary(column.type):
        column = column.cast(pa.binary())
    if column.null_count:
        raise ValueError("a token column has missing values")
    _, offsets_buf, data_buf = column.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[column.offset:column.offset +
                                                         len(column) + 1]
    if len(column) and not np.all(np.diff(offsets) == TOKEN_BYTES):
        raise ValueError(f"token column holds values that are not {TOKEN_BYTES} bytes")
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]] if len(column) \
        else np.zeros(0, dtype=np.uint8)
    return data.reshape(-1, TOKEN_BYTES).copy()


def tokens_to_arrow(tokens: np.ndarray) -> pa.FixedSizeBinaryArray:
    """``(n, 16)`` uint8 → Arrow ``fixed_size_binary(16)`` without copying per row."""
    tokens = np.ascontiguousarray(tokens, dtype=np.uint8)
    if tokens.ndim != 2 or tokens.shape[1] != TOKEN_BYTES:
        raise ValueError(f"tokens must have shape (n, {TOKEN_BYTES}), got {tokens.shape}")
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(TOKEN_BYTES), len(tokens), [None, pa.py_buffer(tokens.tobytes())])


def tokenise_relation(con: duckdb.DuckDBPyConnection, tokeniser: Tokeniser, kind: str,
                      relation: duckdb.DuckDBPyRelation | str, column: str,
                      out_column: str = "token") -> duckdb.DuckDBPyRelation:
    """All columns of ``relation`` (a relation or a table/view name) plus ``out_column``,
    the token of ``column`` as a 16-byte BLOB — computed inside DuckDB, values never
    pulled into Python. Rows where ``column`` is NULL get a NULL token.
    """
    if isinstance(relation, str):
        source = relation
    else:
        source = f"_cf_tokenise_{uuid.uuid4().hex}"
        relation.create_view(source, replace=True)
    expr = token_sql(f'"{column}"', "$cf_kind")
    return con.sql(f'SELECT *, {expr} AS "{out_column}" FROM {source}',
                   params={**tokeniser.sql_params(), "cf_kind": kind})
