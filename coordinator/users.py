"""Who may call the coordinator service, and with which role (issue 16).

A user gets one API key, shown once when it is made: ``cf_<key id>_<secret>``. The store
keeps the key id (to find the row) and a salted scrypt hash of the secret — a real
password-hashing function, so a copy of the store does not give the keys away. A key
expires (``--days``) and can be revoked; a user row is never deleted, because the ledger
names it. Adding and revoking are ledger *alterations*.

Roles (need-to-know is enforced by the server, per endpoint, in ``api_routes.py``):

- ``analyst`` — networks, entities, force pairs, national aggregates; never victims;
- ``liaison:FORCE`` — hit / no-hit lookups for its own force, nothing else;
- ``auditor`` — submissions, the ledger and consultations; never tokens or graphs;
- ``admin`` — users only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import duckdb

from federation.errors import CrossforceError
from federation.ledger import Ledger

ROLES = ("analyst", "liaison", "auditor", "admin")
KEY_PREFIX = "cf"
#: scrypt cost: 2^14 x 8 x 1 takes ~40 ms and 16 MB per check (the service caches checks)
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
MAX_DAYS = 366
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
_KEY = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class User:
    """One API key's holder (never the key)."""

    key_id: str
    name: str
    role: str
    force: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def role_spec(self) -> str:
        return f"liaison:{self.force}" if self.role == "liaison" else self.role

    def state(self, now: dt.datetime | None = None) -> str:
        now = now or _now()
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role_spec, "key_id": self.key_id,
                "created_at": _iso(self.created_at), "expires_at": _iso(self.expires_at),
                "revoked_at": _iso(self.revoked_at) if self.revoked_at else None,
                "state": self.state()}


class BadKey(CrossforceError):
    """A key that is malformed, unknown, revoked or expired (the reason stays server-side:
    the caller only hears 'not a valid API key')."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_role(spec: str, con: duckdb.DuckDBPyConnection) -> tuple[str, str | None]:
    """``analyst`` | ``liaison:FORCE`` | ``auditor`` | ``admin`` → (role, force)."""
    role, _, force = spec.strip().partition(":")
    if role not in ROLES:
        raise CrossforceError(f"--role {spec!r}: use one of analyst, liaison:FORCE, auditor, "
                              "admin")
    if role != "liaison":
        if force:
            raise CrossforceError(f"--role {spec!r}: only a liaison names a force")
        return role, None
    force = force.strip()
    known = [r[0] for r in con.execute("SELECT force FROM forces ORDER BY force").fetchall()]
    if force not in known:
        raise CrossforceError(f"--role {spec!r}: name a registered force after 'liaison:' "
                              f"({', '.join(known) or 'none registered yet'})")
    return role, force


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT)


def add_user(con: duckdb.DuckDBPyConnection, ledger: Ledger, name: str, role_spec: str, *,
             days: int = 90, actor: str) -> tuple[User, str]:
    """Make a user and its key; returns (user, key). The key is not stored, only its hash."""
    if not _NAME.match(name):
        raise CrossforceError(f"user name {name!r}: use 2-64 letters, digits, '.', '_', '@' "
                              "or '-'")
    if not 1 <= days <= MAX_DAYS:
        raise CrossforceError(f"--days {days}: a key lives 1 to {MAX_DAYS} days")
    role, force = parse_role(role_spec, con)
    if any(u.state() == "active" for u in list_users(con) if u.name == name):
        raise CrossforceError(f"user {name!r} already has an active key; revoke it first "
                              f"(`crossforce coordinator users revoke {name}`)")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    now = _now()
    user = User(key_id, name, role, force, now, now + dt.timedelta(days=days), None)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("INSERT INTO api_users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    [key_id, name, role, force, salt, hash_secret(secret, salt), now, actor,
                     user.expires_at])
        ledger.append("alteration", actor=actor, purpose="service-users",
                      justification=f"API user {name} added as {user.role_spec} until "
                                    f"{_iso(user.expires_at)}", counts={"users": 1})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return user, f"{KEY_PREFIX}_{key_id}_{secret}"


def revoke_user(con: duckdb.DuckDBPyConnection, ledger: Ledger, name: str, *,
                actor: str) -> int:
    """Revoke every active key of ``name``; returns how many."""
    active = [u for u in list_users(con) if u.name == name and u.state() == "active"]
    if not active:
        raise CrossforceError(f"no active key for user {name!r} (see `crossforce coordinator "
                              "users list`)")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("UPDATE api_users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                    [_now(), name])
        ledger.append("alteration", actor=actor, purpose="service-users",
                      justification=f"API user {name} revoked", counts={"users": len(active)})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(active)


def list_users(con: duckdb.DuckDBPyConnection) -> list[User]:
    rows = con.execute("SELECT key_id, name, role, force, created_at, expires_at, revoked_at "
                       "FROM api_users ORDER BY name, created_at").fetchall()
    return [User(*row) for row in rows]


def check_key(con: duckdb.DuckDBPyConnection, key: str) -> User:
    """The active user holding ``key``; raises BadKey (with the reason, for the log)."""
    found = _KEY.match(key or "")
    if not found:
        raise BadKey("malformed key")
    key_id, secret = found.groups()
    row = con.execute("SELECT key_id, name, role, force, created_at, expires_at, revoked_at, "
                      "salt, key_hash FROM api_users WHERE key_id = ?", [key_id]).fetchone()
    if row is None:
        raise BadKey("unknown key id")
    user, salt, stored = User(*row[:7]), row[7], row[8]
    if not hmac.compare_digest(hash_secret(secret, salt), stored):
        raise BadKey(f"wrong secret for key {key_id}")
    if user.state() != "active":
        raise BadKey(f"key {key_id} of {user.name} is {user.state()}")
    return user
