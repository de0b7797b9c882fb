"""Who may ask what: authentication, role, purpose and justification, rate limits — and
the ledger entry every request becomes, refused ones included.

The server enforces need-to-know, never the client: each endpoint names the roles it
serves (``Gate.allow``), and a request passes only with a valid, unexpired, unrevoked key
of one of those roles, a purpose code and a justification. Every request under ``/v1``
except ``/v1/health`` is one *consultation* ledger entry — actor, purpose, justification,
endpoint, query fingerprint, status and result count (``api_audit.consultation_text``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from coordinator.api_audit import consultation_text
from coordinator.served import ServedStore
from coordinator.users import BadKey, User, check_key

PURPOSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{1,63}$")
JUSTIFICATION = re.compile(r"^[ -~]{10,500}$")  # printable ASCII: what a header carries
_PURPOSE_DOC = ("Purpose code the request serves (e.g. TOEX-CSE); data endpoints answer from "
                "data shared under it only.")
_WHY_DOC = "Why you ask (10-500 characters), for the ledger."
#: the two headers every gated request sends, as the schema lists them
GATE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "x-purpose", "in": "header", "required": False, "description": _PURPOSE_DOC,
     "schema": {"anyOf": [{"type": "string", "pattern": PURPOSE.pattern}, {"type": "null"}],
                "description": _PURPOSE_DOC, "title": "X-Purpose"}},
    {"name": "x-justification", "in": "header", "required": False, "description": _WHY_DOC,
     "schema": {"anyOf": [{"type": "string", "pattern": JUSTIFICATION.pattern},
                          {"type": "null"}],
                "description": _WHY_DOC, "title": "X-Justification"}},
]
#: a checked key is trusted this long before scrypt runs again (revocation through the
#: API drops it at once; expiry is checked on every request)
KEY_CACHE_S = 60.0
bearer = HTTPBearer(auto_error=False, description="An API key from `crossforce coordinator "
                    "users add` (or POST /v1/users): `Authorization: Bearer cf_…`.")


class ApiError(Exception):
    """An answer other than 2xx: status, a short code and a one-line message."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass(frozen=True)
class Caller:
    user: User
    purpose: str
    justification: str


class RateLimit:
    """Token buckets per (user, kind): ``per_minute`` requests, bursting to the same."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / self.rate


class Gate:
    """Authentication, authorisation and the audit entry of every request."""

    def __init__(self, served: ServedStore, *, requests_per_minute: float = 600.0,
                 lookups_per_minute: float = 60.0) -> None:
        self.served = served
        self.requests = RateLimit(requests_per_minute)
        self.lookups = RateLimit(lookups_per_minute)
        self._keys: dict[str, tuple[User, float]] = {}
        self._keys_lock = threading.Lock()

    # -- the parts
    def known(self, credentials: HTTPAuthorizationCredentials | None) -> User | None:
        """The active user of a key checked in the last KEY_CACHE_S, else None (check it
        with ``identify``); no key at all is refused at once."""
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "unauthenticated", "send an API key: Authorization: Bearer "
                           "cf_…", {"WWW-Authenticate": "Bearer"})
        digest = hashlib.sha256(credentials.credentials.encode()).hexdigest()
        with self._keys_lock:
            cached = self._keys.get(digest)
        if cached is not None and time.monotonic() - cached[1] < KEY_CACHE_S:
            user = cached[0]
            if user.state() == "active":
                return user
        return None

    def identify(self, credentials: HTTPAuthorizationCredentials | None) -> User:
        """The active user of the key (scrypt unless checked lately); 401 otherwise."""
        user = self.known(credentials)
        if user is not None:
            return user
        assert credentials is not None  # known() refused a missing key
        digest = hashlib.sha256(credentials.credentials.encode()).hexdigest()
        now = time.monotonic()
        try:
            user = check_key(self.served.reader(), credentials.credentials)
        except BadKey:
            raise ApiError(401, "unauthenticated", "not a valid API key (unknown, revoked or "
                           "expired)", {"WWW-Authenticate": "Bearer"}) from None
        with self._keys_lock:
            self._keys[digest] = (user, now)
        return user

    def forget(self, name: str) -> None:
        """Drop cached keys of a user (revoked through the API)."""
        with self._keys_lock:
            for digest in [d for d, (u, _) in self._keys.items() if u.name == name]:
                del self._keys[digest]

    def allow(self, *roles: str, lookup: bool = False) -> Callable[..., Caller]:
        """A dependency admitting only ``roles``; ``lookup`` also applies the per-user
        lookup rate. A refusal is logged before it is raised."""
        async def admit(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None,
                                               Depends(bearer)]) -> Caller:
            # X-Purpose and X-Justification are read here, not declared as FastAPI header
            # parameters: FastAPI's per-parameter work was a third of a cached answer's CPU.
            # The schema still lists them (GATE_PARAMETERS, added by ``document``)
            headers = request.headers
            x_purpose, x_justification = headers.get("x-purpose"), headers.get(
                "x-justification")
            # on the event loop (no worker thread for what a dict look-up answers): only
            # a key not checked lately goes to a thread, for scrypt
            try:
                user = self.known(credentials)
                if user is None:
                    user = await run_in_threadpool(self.identify, credentials)
                request.state.user = user
                purpose, why = (x_purpose or "").strip(), (x_justification or "").strip()
                if not PURPOSE.match(purpose):
                    raise ApiError(400, "purpose", "send a purpose code in the X-Purpose "
                                   "header (2-64 letters, digits, '-', '_', '.', ':')")
                if not JUSTIFICATION.match(why):
                    raise ApiError(400, "justification", "send why you ask in the "
                                   "X-Justification header (10-500 characters, one line)")
                caller = Caller(user, purpose, why)
                request.state.caller = caller
                if user.role not in roles:
                    raise ApiError(403, "forbidden", f"the {user.role} role may not use this "
                                   "endpoint")
                limit = self.lookups if lookup else self.requests
                wait = limit.take(user.name)
                if wait:
                    raise ApiError(429, "rate_limited", f"too many requests; try again in "
                                   f"{wait:.0f} s", {"Retry-After": str(max(1, round(wait)))})
                return caller
            except ApiError as exc:
                request.state.identified = True  # whoever it is, the log need not ask again
                self.log(request, exc.status, 0)
                raise
        admit.gate = True  # type: ignore[attr-defined]  # ``document`` finds it by this
        return admit

    @staticmethod
    def document(router: APIRouter) -> None:
        """List X-Purpose and X-Justification in the schema of every route the gate
        admits to (``admit`` reads them itself)."""
        for route in router.routes:
            if isinstance(route, APIRoute) and any(
                    getattr(d.call, "gate", False) for d in route.dependant.dependencies):
                extra = dict(route.openapi_extra or {})
                extra["parameters"] = [*extra.get("parameters", []), *GATE_PARAMETERS]
                route.openapi_extra = extra

    # -- the ledger entry
    def log(self, request: Request, status: int, results: int
            ) -> Future[Any] | asyncio.Future[Any]:
        """Queue one consultation entry for this request (refused or answered); kept on
        ``request.state.logged``, the future the answer must wait for (``Logged``): an
        asyncio one when called on the event loop, a thread future from a worker."""
        caller: Caller | None = getattr(request.state, "caller", None)
        user: User | None = getattr(request.state, "user", None)
        if user is None and not getattr(request.state, "identified", False):
            # refused before the gate ran (bad input): still name the caller
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            try:
                user = self.identify(HTTPAuthorizationCredentials(scheme=scheme,
                                                                  credentials=key.strip()))
            except (ApiError, ValueError):
                user = None
        if caller is not None:
            actor, purpose, why = (f"api:{caller.user.name} ({caller.user.role_spec})",
                                   caller.purpose, caller.justification)
        else:
            actor = (f"api:{user.name} ({user.role_spec})" if user else
                     f"api:unauthenticated ({request.client.host if request.client else '?'})")
            purpose, why = "none", "refused before a purpose was given"
        pending = self.served.record_later(
            action="consultation", actor=actor, purpose=purpose,
            justification=consultation_text(request.method, request.url.path,
                                            fingerprint(request), why,
                                            request.scope.get("state", {}).get("request_id",
                                                                               "")),
            counts={"status": status, "results": results},
            force=caller.user.force if caller and caller.user.force else None)
        request.state.logged = pending
        return pending


def fingerprint(request: Request) -> str:
    """SHA-256 of method, path, sorted query and body: the same question, the same print."""
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    body = request.scope.get("state", {}).get("body_sha256", "")
    return hashlib.sha256(f"{request.method} {request.url.path}?{query}#{body}".encode()
                          ).hexdigest()


def answer(request: Request, gate: Gate, body: Any, results: int) -> Logged:
    """Queue the answered request's ledger entry and answer with ``body`` as JSON once it
    is committed. Sent as a ready response, so FastAPI does not validate it again against
    the endpoint's model (the schemathesis test holds every answer to that model instead):
    the queries build the bodies to it. ``body`` may be JSON already encoded (bytes: a kept
    answer, serve_cache.py)."""
    if hasattr(body, "model_dump"):
        body = body.model_dump(mode="json")
    return Logged(body if isinstance(body, bytes) else encode(body), 200,
                  gate.log(request, 200, results))


def encode(body: Any) -> bytes:
    """JSON as Starlette's JSONResponse writes it."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


class Logged(Response):
    """A JSON answer released only once its ledger entry is committed (group commit,
    serve_journal.py): the wait is on the event loop, so no worker thread is held for it.
    If the entry cannot be written, the answer is never sent (the failure is a 500)."""

    media_type = "application/json"

    def __init__(self, content: bytes, status_code: int,
                 pending: Future[Any] | asyncio.Future[Any],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(content, status_code, headers)
        self.pending = pending

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pending = self.pending
        await (pending if isinstance(pending, asyncio.Future) else asyncio.wrap_future(pending))
        await super().__call__(scope, receive, send)
