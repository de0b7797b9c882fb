"""The coordinator service's HTTP application (FastAPI): `/v1` for people, `/internal/v1`
for a federation round on the same machine, OpenAPI at `/docs`.

Robustness, whatever the caller sends: bodies over the limit are refused before they are
read in full (413), inputs are validated strictly (unknown fields refused), every error has
one shape — ``{"error": {"status", "code", "message", "request_id"}}`` — and no stack trace
is ever sent (a failure is a 500 naming only its request id; the detail stays in the
server's log). A failure under /v1 is a consultation entry too (status 500, outcome error,
its request id, no detail), written before the 500 leaves (``Failures``), and so is a
body refused as too large (status 413: its entry before the 413 leaves). CORS is off
unless origins are given; security headers go on every answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator.api_docs import CSP as DOCS_CSP
from coordinator.api_docs import docs_router
from coordinator.api_gate import ApiError, Gate, Logged, encode
from coordinator.served import ServedStore
from federation.asgi import replay
from federation.console import CSP as CONSOLE_CSP
from federation.errors import CrossforceError

log = logging.getLogger("crossforce.api")
API_VERSION = "1"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: request ids: 48 random bits each from a generator seeded once from os.urandom — an id
#: names a request in logs and the ledger, it guards nothing, so no syscall per request
_request_ids = random.Random()
FAILED = "the service failed to answer; quote the request id to its operator"


@dataclass(frozen=True)
class ApiSettings:
    max_body_bytes: int = 64 * 1024           # /v1: a lookup of 100 tokens is ~8 KB
    max_internal_bytes: int = 512 * 1024 * 1024  # /internal/v1: a force's whole payload
    requests_per_minute: float = 600.0
    lookups_per_minute: float = 60.0
    cors_origins: tuple[str, ...] = ()
    tls: bool = False
    #: threads for sync endpoints and dependencies (reads on a cursor each); an answer
    #: waits for its ledger entry on the event loop, not in one of these (``Logged``)
    worker_threads: int = 48


def error_body(status: int, code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message,
                      "request_id": request_id}}


class BodyLimit:
    """Refuse a body over the limit (413) as soon as it is known to be (Content-Length,
    or while it streams in); keep the SHA-256 of an accepted body for query fingerprints."""

    def __init__(self, app: ASGIApp, public: int, internal: int,
                 refused: Callable[[Request, int], Awaitable[Response]] | None = None) -> None:
        self.app, self.public, self.internal, self.refused = app, public, internal, refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.internal if scope["path"].startswith("/internal/") else self.public
        state = scope.setdefault("state", {})
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        state["body_sha256"] = hashlib.sha256(body).hexdigest() if body else ""
        await self.app(scope, replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """413, a consultation entry first where the app keeps them (``refused``)."""
        if self.refused is not None:
            response: Response = await self.refused(Request(scope, receive), limit)
        else:
            response = JSONResponse(error_body(413, "too_large", _too_large(limit),
                                               scope["state"]["request_id"]), 413)
        await response(scope, _drain, send)


def _too_large(limit: int) -> str:
    return f"request body over {limit:,} bytes"


async def _drain() -> Message:
    return {"type": "http.disconnect"}


class SecurityHeaders:
    """Headers that keep a browser from sniffing, framing or caching answers; gives each
    request its id."""

    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app, self.tls = app, tls
        self.api, self.docs, self.console = (self.headers(csp, tls) for csp in (
            API_CSP, DOCS_CSP, CONSOLE_CSP))

    @staticmethod
    def headers(csp: str, tls: bool) -> list[tuple[bytes, bytes]]:
        """The headers every answer under one CSP carries (made once)."""
        extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"),
                 (b"content-security-policy", csp.encode()),
                 (b"cross-origin-resource-policy", b"same-origin")]
        if tls:
            extra.append((b"strict-transport-security", b"max-age=31536000"))
        return extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        extra = (self.docs if path == "/docs" or path.startswith("/docs/") else
                 self.console if path == "/console" or path.startswith("/console/") else
                 self.api)
        request_id = f"{_request_ids.getrandbits(48):012x}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra,
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, with_headers)


class Failures:
    """Any failure inside the app becomes the one error shape — a 500 naming only its
    request id — and, under /v1, a consultation entry (status 500, outcome error, no
    detail) committed before the 500 is sent, like every answer. The detail goes to the
    server's log only. Inside the security headers, so a 500 carries them too."""

    def __init__(self, app: ASGIApp, answer: Any) -> None:
        self.app, self.answer = app, answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 — whatever failed, answer in one shape
            log.error("request %s failed", scope.get("state", {}).get("request_id", ""),
                      exc_info=exc)
            if started:  # the answer is on its way (its entry was committed before it)
                raise
            response = await self.answer(Request(scope, receive))
            await response(scope, _drain, send)


def create_app(served: ServedStore, settings: ApiSettings | None = None,
               internal_secret: str | None = None, console: bool = False) -> FastAPI:
    """The whole service over one served store; with ``console``, the national web
    console at /console (pages that call this API with the user's own key)."""
    from coordinator.api_internal import internal_router
    from coordinator.api_routes import routes

    s = settings or ApiSettings()
    gate = Gate(served, requests_per_minute=s.requests_per_minute,
                lookups_per_minute=s.lookups_per_minute)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = s.worker_threads
        served.lookups.warm()  # read into memory in the background (serve_cache.PerSnapshot)
        served.network_index.warm()
        yield

    app = FastAPI(
        lifespan=lifespan, title="crossforce coordinator", version=API_VERSION,
        description="Cross-border queries of the national coordinator: networks, entities, "
        "force pairs (analyst); hit / no-hit lookups (force liaison); submissions, ledger "
        "and consultations (auditor); users (admin). Every request needs an API key, an "
        "X-Purpose and an X-Justification header, and becomes a ledger consultation.",
        docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.gate = gate
    app.include_router(routes(gate), prefix="/v1")  # first: routes are matched in order
    app.include_router(docs_router(app.title))  # /docs: Swagger UI served from here
    if internal_secret:
        app.include_router(internal_router(served, internal_secret), prefix="/internal/v1")
    if console:
        from federation.console import add_console

        add_console(app, "national")

    def request_id(request: Request) -> str:
        return str(request.scope.get("state", {}).get("request_id", ""))

    async def refuse(request: Request, status: int, code: str, message: str,
                     headers: dict[str, str] | None = None) -> Response:
        """The error answer; under /v1 it waits for its ledger entry like any answer."""
        body = error_body(status, code, message, request_id(request))
        if not request.url.path.startswith("/v1/") or request.url.path == "/v1/health":
            return JSONResponse(body, status, headers=headers)
        pending = getattr(request.state, "logged", None)  # the gate logged it already
        if pending is None:
            try:  # in a thread: naming the caller may check their key (scrypt)
                pending = await run_in_threadpool(gate.log, request, status, 0)
            except Exception:  # noqa: BLE001 — never let logging turn a 4xx into a 500
                log.exception("could not log refused request %s", request_id(request))
                return JSONResponse(body, status, headers=headers)
        return Logged(encode(body), status, pending, headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return await refuse(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return await refuse(request, 400, "bad_request", message[:300])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
        return await refuse(request, exc.status_code, code, str(exc.detail)[:300])

    @app.exception_handler(CrossforceError)
    async def state_error(request: Request, exc: CrossforceError) -> JSONResponse:
        return await refuse(request, 409, "not_ready", str(exc).splitlines()[0][:300])

    async def logged_error(request: Request, status: int, code: str,
                           message: str) -> Response:
        """An error answered outside the endpoints (a failure, a body over the limit);
        under /v1 it waits for a fresh consultation entry with its status — whatever the
        request had queued before may never have been written. If even that entry cannot
        be written the answer still goes (it releases nothing) and the server's log says
        so."""
        body = encode(error_body(status, code, message, request_id(request)))
        path = request.url.path
        if not path.startswith("/v1/") or path == "/v1/health":
            return Response(body, status, media_type="application/json")
        try:  # in a thread: naming the caller may check their key (scrypt)
            await asyncio.wrap_future(await run_in_threadpool(gate.log, request, status, 0))
        except Exception:  # noqa: BLE001
            log.critical("request %s (%s) could not be written to the ledger",
                         request_id(request), status, exc_info=True)
        return Response(body, status, media_type="application/json")

    async def failed(request: Request) -> Response:
        return await logged_error(request, 500, "internal", FAILED)

    async def too_large(request: Request, limit: int) -> Response:
        return await logged_error(request, 413, "too_large", _too_large(limit))

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> Response:
        # only what fails outside ``Failures`` (the outer middlewares) ends up here
        log.error("request %s failed", request_id(request), exc_info=exc)
        return await failed(request)

    if s.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(s.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-Purpose", "X-Justification",
                                          "Content-Type"])
    app.add_middleware(Failures, answer=failed)  # innermost of ours: inside the headers
    app.add_middleware(BodyLimit, public=s.max_body_bytes, internal=s.max_internal_bytes,
                       refused=too_large)
    app.add_middleware(SecurityHeaders, tls=s.tls)  # outermost: every answer gets them
    return app
