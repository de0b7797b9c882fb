"""Tokens through the key service, with the node's per-epoch cache of PRF outputs.

``token = HMAC-SHA256(y, "token|purpose|epoch")[:16]`` where ``y`` is the key service's
oblivious PRF output for ``"crossforce/v1|kind|value"`` (federation/keyservice). The node
cannot compute ``y`` alone: it asks the service, batch by batch, for every value it has
not asked about before in this epoch; answers are kept in ``prf_outputs`` (the node's own
store), so a repeated share costs one SQL join and an HMAC per value, on every core.

Answers are written through a second connection, committed as they arrive: a dry run or
a share refused half-way (quota, a bad proof) keeps what was already evaluated, while the
share itself stays all-or-nothing in the caller's transaction. After the share the node
ledger records how many values it had evaluated (``record_evaluations``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from federation.errors import CrossforceError
from federation.keys import NodeKeys
from federation.keyservice.client import (
    Credential,
    KeyServiceClient,
    KeyServiceRefused,
    prf_outputs,
)
from federation.keyservice.suite import prf_input, token_message, token_sql
from federation.ledger import Ledger
from federation.tokens import TOKEN_BYTES, Tokeniser, binary_to_numpy
from node.store import NodeConfig

KEYSERVICE_FILE = "keyservice.json"
TOKEN_SOURCES = ("keyservice", "secret")
RECIPIENT = "keyservice"


def credential_path(config: NodeConfig) -> Path:
    return config.keys_dir / KEYSERVICE_FILE


def token_source(config: NodeConfig, keys: NodeKeys, wanted: str | None) -> str:
    """'keyservice' (the default once the node holds a credential) or 'secret' (the legacy
    linkage secret: only if asked for, or if it is all the node holds)."""
    if wanted is not None and wanted not in TOKEN_SOURCES:
        raise CrossforceError(f"--tokens must be one of {', '.join(TOKEN_SOURCES)}, "
                              f"not {wanted!r}")
    has_service = credential_path(config).exists()
    if wanted == "secret" or (wanted is None and not has_service
                              and keys.linkage_secret is not None):
        if keys.linkage_secret is None:
            raise CrossforceError(f"--tokens secret: this node has no legacy linkage secret "
                                  f"in {keys.keys_dir}")
        return "secret"
    if not has_service:
        raise CrossforceError(
            f"this node has no key service credential ({credential_path(config)}), so it "
            "cannot make tokens; import the one the key custodian issued with `crossforce "
            "node keys import-keyservice --dir DIR FILE`")
    return "keyservice"


@dataclass
class ServiceTokeniser:
    """Makes tokens for one purpose and epoch through the key service (same ``token`` /
    ``tokens_for`` interface as the legacy ``federation.tokens.Tokeniser``)."""

    con: duckdb.DuckDBPyConnection
    credential: Credential
    purpose: str
    epoch: int
    public_key: bytes
    max_batch: int
    quota_left: int
    progress: Callable[[int, int], None] | None = None
    #: why the service could not be asked (None: it answered); only cached values then
    offline: str | None = None
    evaluated: int = 0
    _fresh: list[pa.Table] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"ServiceTokeniser({self.credential.holder}, epoch {self.epoch})"

    def token(self, kind: str, value: str) -> bytes:
        """16-byte token of one normalised value."""
        return bytes(self.tokens_for(pa.array([kind]), pa.array([value]))[0])

    def prepare(self, kinds: pa.Array, values: pa.Array) -> None:
        """Have every pair not yet cached evaluated now, in one go (one quota check)."""
        pairs = pa.table({"kind": _strings(kinds), "value": _strings(values)})
        self.con.register("tk_pairs", pairs)
        try:
            self._ask_for_missing()
        finally:
            self.con.unregister("tk_pairs")

    def tokens_for(self, kinds: pa.Array, values: pa.Array) -> np.ndarray:
        """``(n, 16)`` tokens of (kind, normalised value) pairs, in input order."""
        if len(values) == 0:
            return np.zeros((0, TOKEN_BYTES), dtype=np.uint8)
        pairs = pa.table({"kind": _strings(kinds), "value": _strings(values)}) \
            .append_column("row", pa.array(np.arange(len(values), dtype=np.int64)))
        self.con.register("tk_pairs", pairs)
        try:
            self._ask_for_missing()
            self._register_fresh()
            # the caller's transaction may not see what the writer committed: add it here
            result = self.con.sql(f"""
                SELECT {token_sql('k.y')} AS token FROM tk_pairs p
                JOIN (SELECT kind, value, y FROM prf_outputs WHERE epoch = $epoch
                        AND public_key = $pk
                      UNION SELECT kind, value, y FROM tk_fresh) k USING (kind, value)
                ORDER BY p.row""",
                params={"cf_token_message": token_message(self.purpose, self.epoch),
                        "epoch": self.epoch, "pk": self.public_key}).to_arrow_table()
        finally:
            self.con.unregister("tk_pairs")
            self.con.unregister("tk_fresh")
        if result.num_rows != len(values):
            raise CrossforceError("the key service left some values without an answer; "
                                  "nothing was shared")
        return binary_to_numpy(result.column("token"))

    def _register_fresh(self) -> None:
        fresh = (pa.concat_tables(self._fresh) if self._fresh else
                 pa.table({"kind": pa.array([], pa.string()),
                           "value": pa.array([], pa.string()), "y": pa.array([], pa.binary())}))
        self.con.register("tk_fresh", fresh)

    def _ask_for_missing(self) -> None:
        self._register_fresh()
        missing = self.con.sql("""
            SELECT DISTINCT kind, value FROM tk_pairs p WHERE NOT EXISTS (
                SELECT 1 FROM prf_outputs c WHERE c.epoch = $epoch AND c.public_key = $pk
                AND c.kind = p.kind AND c.value = p.value)
            AND NOT EXISTS (SELECT 1 FROM tk_fresh f WHERE f.kind = p.kind
                            AND f.value = p.value)
            ORDER BY kind, value""", params={"epoch": self.epoch, "pk": self.public_key}
        ).to_arrow_table()
        self.con.unregister("tk_fresh")
        n = missing.num_rows
        if n == 0:
            return
        if self.offline is not None:
            raise CrossforceError(f"{self.offline}; {n:,} values of this share were never "
                                  "evaluated, so nothing was shared")
        if n > self.quota_left:
            raise CrossforceError(
                f"this share needs {n:,} new key service evaluations but "
                f"{self.credential.holder} has {self.quota_left:,} left of today's quota; "
                "nothing was evaluated or shared (ask the key custodian to raise the quota, "
                "or share tomorrow: what was evaluated before stays cached)")
        kinds = missing.column("kind").to_pylist()
        values = missing.column("value").to_pylist()
        inputs = [prf_input(k, v) for k, v in zip(kinds, values, strict=True)]
        writer = self.con.cursor()  # commits on its own, outside the share's transaction
        try:
            def keep(start: int, ys: list[bytes]) -> None:
                part = pa.table({"kind": kinds[start:start + len(ys)],
                                 "value": values[start:start + len(ys)],
                                 "y": pa.array(ys, pa.binary())})
                writer.register("tk_answer", part)
                writer.execute("INSERT INTO prf_outputs SELECT $epoch, $pk, kind, value, y, "
                               "$now FROM tk_answer",
                               {"epoch": self.epoch, "pk": self.public_key,
                                "now": dt.datetime.now(dt.UTC).replace(tzinfo=None)})
                writer.unregister("tk_answer")
                self._fresh.append(part)
                self.evaluated += len(ys)
                self.quota_left -= len(ys)
                if self.progress is not None:
                    self.progress(self.evaluated, n)

            prf_outputs(self.credential, self.purpose, self.epoch, self.public_key, inputs,
                        batch=self.max_batch, on_batch=keep)
        finally:
            writer.close()


def _strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    return values.cast(pa.string())


def service_tokeniser(con: duckdb.DuckDBPyConnection, config: NodeConfig, purpose: str,
                      epoch: int | None,
                      progress: Callable[[int, int], None] | None = None
                      ) -> ServiceTokeniser:
    """A tokeniser for the key service's current epoch (``epoch``, if given, must be it).
    If the service cannot be reached, the node may still use what it answered before: the
    latest cached epoch, and only values already evaluated in it (a dry run after the
    round, say); anything new is refused."""
    credential = Credential.load(credential_path(config))
    try:
        with KeyServiceClient(credential) as client:
            info = client.epochs()
    except KeyServiceRefused:
        raise
    except CrossforceError as exc:  # unreachable: only what it answered before can be used
        cached = con.execute("SELECT epoch, public_key FROM prf_outputs ORDER BY epoch DESC "
                             "LIMIT 1").fetchone()
        if cached is None or (epoch is not None and epoch != cached[0]):
            raise
        return ServiceTokeniser(con, credential, purpose, int(cached[0]), bytes(cached[1]),
                                1, 0, progress, offline=str(exc))
    current = int(info["current"])
    if epoch is not None and epoch != current:
        raise CrossforceError(f"asked for key epoch {epoch}, but the key service's current "
                              f"epoch is {current}; tokens of another epoch cannot be made")
    return ServiceTokeniser(con, credential, purpose, current,
                            bytes.fromhex(info["public_key"]), int(info["max_batch"]),
                            int(info["quota_left_today"]), progress)


def record_evaluations(con: duckdb.DuckDBPyConnection, config: NodeConfig, keys: NodeKeys,
                       tokeniser: ServiceTokeniser | Tokeniser, actor: str) -> None:
    """One node ledger entry for the values this operation had the key service evaluate
    (counts only), whether the share went ahead, was a dry run, or was refused."""
    if not isinstance(tokeniser, ServiceTokeniser) or tokeniser.evaluated == 0:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        Ledger(con, keys.signer, config.force).append(
            "disclosure", actor=actor, purpose=tokeniser.purpose,
            justification=(f"{tokeniser.evaluated:,} blinded values sent to the key service "
                           f"for evaluation under epoch {tokeniser.epoch} (points only: the "
                           "service sees no value)"),
            counts={"evaluations": tokeniser.evaluated, "epoch": tokeniser.epoch},
            recipients=[RECIPIENT])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
