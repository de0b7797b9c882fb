"""The key service's own folder: epoch keys, registered credentials, counts and ledger.

    DIR/keyservice.json        settings (name, batch limit, default quota) — not secret
    DIR/keys/                  the service's Ed25519 signing key (its ledger) — 0600
    DIR/keys/epoch-N.seed      the secret seed of epoch N's PRF key — 0600, never sent
    DIR/keyservice.duckdb      epochs (public keys), credentials (hashes only), usage
                               counts per day, holder, purpose and epoch, and the ledger

The store is opened for one operation and closed (DESIGN.md §12), so ``status`` and
``rotate`` work while ``serve`` runs. Counts only, never values: the service never sees
one (it gets blinded points), and its ledger says how many evaluations each force asked
for, under which purpose and epoch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from federation.duckdb_files import Migration, connect, migrate, transaction
from federation.errors import CrossforceError
from federation.keys import NodeKeys, check_private_file, write_private_file
from federation.ledger import Ledger

SETTINGS_FILE = "keyservice.json"
STORE_FILE = "keyservice.duckdb"
KEYS_DIR = "keys"
OWNER = "keyservice"
ROLES = ("force", "coordinator")
#: a force's evaluations per UTC day unless registered with its own quota
DEFAULT_QUOTA = 1_000_000
#: blinded points per request
DEFAULT_MAX_BATCH = 4096

_V1 = (
    """CREATE TABLE epochs (
        epoch INTEGER PRIMARY KEY, public_key BLOB NOT NULL,
        started_at TIMESTAMP NOT NULL, retired_at TIMESTAMP)""",
    """CREATE TABLE credentials (
        credential_sha256 VARCHAR PRIMARY KEY,  -- never the credential itself
        holder VARCHAR NOT NULL, role VARCHAR NOT NULL, daily_quota BIGINT NOT NULL,
        registered_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    """CREATE TABLE usage (
        day DATE NOT NULL, holder VARCHAR NOT NULL, purpose VARCHAR NOT NULL,
        epoch INTEGER NOT NULL, requests BIGINT NOT NULL, evaluations BIGINT NOT NULL,
        refused_requests BIGINT NOT NULL, refused_evaluations BIGINT NOT NULL,
        PRIMARY KEY (day, holder, purpose, epoch))""",
)
MIGRATIONS = (Migration(1, "key service", _V1),)


@dataclass(frozen=True)
class Settings:
    name: str = "crossforce key service"
    max_batch: int = DEFAULT_MAX_BATCH
    default_quota: int = DEFAULT_QUOTA


@dataclass(frozen=True)
class Holder:
    """Who a credential belongs to."""

    holder: str
    role: str
    daily_quota: int


def epoch_info(epoch: int) -> bytes:
    """The public DeriveKeyPair info string of an epoch key."""
    return f"crossforce keyservice epoch {epoch}".encode()


def credential_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class KeyServiceDir:
    """One key service folder."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @property
    def store_path(self) -> Path:
        return self.dir / STORE_FILE

    def seed_path(self, epoch: int) -> Path:
        return self.dir / KEYS_DIR / f"epoch-{epoch}.seed"

    def settings(self) -> Settings:
        path = self.dir / SETTINGS_FILE
        if not path.exists():
            raise CrossforceError(f"{self.dir} is not a key service folder (no {SETTINGS_FILE}); "
                                  "create one with `crossforce keyservice init --dir DIR`")
        try:
            return Settings(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise CrossforceError(f"{path}: unreadable settings ({exc})") from None

    def keys(self) -> NodeKeys:
        return NodeKeys.load(self.dir / KEYS_DIR)

    def seed(self, epoch: int) -> bytes:
        return check_private_file(self.seed_path(epoch))

    @contextmanager
    def open(self, wait_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The store for one operation (migrated), closed afterwards."""
        self.settings()
        con = connect(self.store_path, wait_s,
                      owner_note="the key service opens it briefly per request")
        try:
            migrate(con, MIGRATIONS)
            yield con
        finally:
            con.close()

    def ledger(self, con: duckdb.DuckDBPyConnection) -> Ledger:
        return Ledger(con, self.keys().signer, OWNER)


def init_service(directory: Path, *, name: str = Settings.name,
                 max_batch: int = DEFAULT_MAX_BATCH,
                 default_quota: int = DEFAULT_QUOTA) -> KeyServiceDir:
    """A new key service folder with its signing key and the key of epoch 1."""
    directory = Path(directory)
    if (directory / SETTINGS_FILE).exists():
        raise CrossforceError(f"{directory} already holds a key service; refusing to "
                              "overwrite its keys")
    if max_batch < 1 or default_quota < 1:
        raise CrossforceError("--max-batch and --default-quota must be at least 1")
    directory.mkdir(parents=True, exist_ok=True)
    NodeKeys.create(directory / KEYS_DIR, OWNER)
    settings = Settings(name, max_batch, default_quota)
    (directory / SETTINGS_FILE).write_text(json.dumps(settings.__dict__, indent=2) + "\n")
    service = KeyServiceDir(directory)
    with service.open() as con, transaction(con):
        ledger = service.ledger(con)
        _new_epoch(service, con, ledger, 1, actor="custodian")
    return service


def _new_epoch(service: KeyServiceDir, con: duckdb.DuckDBPyConnection, ledger: Ledger,
               epoch: int, *, actor: str) -> bytes:
    from federation.keyservice.suite import Evaluator, fingerprint

    seed = secrets.token_bytes(32)
    public_key = Evaluator(seed, epoch_info(epoch)).public_key
    con.execute("INSERT INTO epochs VALUES (?, ?, ?, NULL)", [epoch, public_key, now()])
    ledger.append("alteration", actor=actor, purpose="keyservice",
                  justification=f"epoch {epoch} key created (public key "
                  f"{fingerprint(public_key)})", counts={"epoch": epoch})
    write_private_file(service.seed_path(epoch), seed)  # last: a failure above leaves none
    return public_key


def current_epoch(con: duckdb.DuckDBPyConnection) -> tuple[int, bytes]:
    row = con.execute("SELECT epoch, public_key FROM epochs WHERE retired_at IS NULL "
                      "ORDER BY epoch DESC LIMIT 1").fetchone()
    if row is None:
        raise CrossforceError("the key service has no current epoch")
    return int(row[0]), bytes(row[1])


def epochs(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    rows = con.execute("SELECT epoch, public_key, started_at, retired_at FROM epochs "
                       "ORDER BY epoch").fetchall()
    return [{"epoch": e, "public_key": bytes(k).hex(), "started_at": str(s),
             "retired_at": str(r) if r else None} for e, k, s, r in rows]


def rotate(service: KeyServiceDir, *, actor: str = "custodian") -> tuple[int, int]:
    """Start a new epoch and retire the current one: (old, new)."""
    with service.open() as con, transaction(con):
        old, _ = current_epoch(con)
        ledger = service.ledger(con)
        con.execute("UPDATE epochs SET retired_at = ? WHERE epoch = ?", [now(), old])
        ledger.append("alteration", actor=actor, purpose="keyservice",
                      justification=f"epoch {old} retired: its key no longer evaluates",
                      counts={"epoch": old})
        _new_epoch(service, con, ledger, old + 1, actor=actor)
    return old, old + 1


def register(service: KeyServiceDir, holder: str, *, role: str = "force",
             quota: int | None = None, actor: str = "custodian") -> str:
    """A new credential for ``holder`` (its earlier ones are revoked); returns it — the
    store keeps only its hash."""
    holder = holder.strip()
    if not holder:
        raise CrossforceError("name the force (or 'coordinator') the credential is for")
    if role not in ROLES:
        raise CrossforceError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    settings = service.settings()
    daily = settings.default_quota if quota is None else quota
    if role == "coordinator":
        daily = 0  # no evaluation right, so no quota
    if daily < 0:
        raise CrossforceError("--quota is a number of evaluations per day, at least 0")
    credential = secrets.token_hex(32)
    with service.open() as con, transaction(con):
        revoked = con.execute("UPDATE credentials SET revoked_at = ? WHERE holder = ? AND "
                              "revoked_at IS NULL RETURNING 1", [now(), holder]).fetchall()
        con.execute("INSERT INTO credentials VALUES (?, ?, ?, ?, ?, NULL)",
                    [credential_hash(credential), holder, role, daily, now()])
        right = ("no evaluation right (reads epochs only)" if role == "coordinator"
                 else f"quota {daily:,} evaluations a day")
        service.ledger(con).append(
            "alteration", actor=actor, purpose="keyservice", force=holder,
            justification=f"credential issued to {holder} ({role}): {right}",
            counts={"credentials_issued": 1, "credentials_revoked": len(revoked)})
    return credential


def authenticate(con: duckdb.DuckDBPyConnection, credential: str) -> Holder | None:
    row = con.execute("SELECT holder, role, daily_quota FROM credentials WHERE "
                      "credential_sha256 = ? AND revoked_at IS NULL",
                      [credential_hash(credential)]).fetchone()
    return Holder(*row) if row else None


def used_today(con: duckdb.DuckDBPyConnection, holder: str, day: dt.date) -> int:
    ((used,),) = con.execute("SELECT coalesce(sum(evaluations), 0) FROM usage WHERE "
                             "holder = ? AND day = ?", [holder, day]).fetchall()
    return int(used)


def count(con: duckdb.DuckDBPyConnection, day: dt.date, holder: str, purpose: str,
          epoch: int, n: int, *, refused: bool = False) -> None:
    """Add one request of ``n`` evaluations (or a refused one) to the day's counts."""
    done, no = (0, n) if refused else (n, 0)
    con.execute("""
        INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (day, holder, purpose, epoch) DO UPDATE SET
            requests = requests + excluded.requests,
            evaluations = evaluations + excluded.evaluations,
            refused_requests = refused_requests + excluded.refused_requests,
            refused_evaluations = refused_evaluations + excluded.refused_evaluations""",
                [day, holder, purpose, epoch, 0 if refused else 1, done, 1 if refused else 0,
                 no])
