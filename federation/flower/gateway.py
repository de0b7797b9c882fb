"""The node gateway: the only door from the (untrusted) relay into a force's node.

The force installs and runs this; the coordinator ships only the relay. The gateway
listens on loopback or a Unix socket, wants the per-node relay secret on every call
(constant-time compare), offers exactly three endpoints — ``POST /share``,
``POST /aggregates`` (the force's gated counts on the national layout, for a SecAgg+
secure sum) and ``POST /hits`` — and reports every call, including refused and unknown ones, to the
``on_call(endpoint, outcome)`` audit hook so the node can ledger it. Calls into the node
service are serialised: one store owner at a time (DESIGN.md §12).

Before any of that, a guard in front of the app looks at the request line and headers
only: a call without the right secret is answered 401 without its body being read, and
is *counted*, not reported one by one — the hook hears once per ``flush_s`` interval
how many there were ("unauthorised: N calls …"), and past ``unauthorised_per_minute`` in
the last minute they get 429. A body longer than its endpoint's limit is refused 413
from its Content-Length before it is read, and a body that streams past the limit
without one is cut off there: memory stays bounded whatever a caller sends.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from federation.asgi import replay
from federation.errors import CrossforceError
from federation.flower.protocol import (
    SECRET_HEADER,
    NodeService,
    Refusal,
    create_relay_secret,
    read_relay_secret,
)
from policies.national_tables import NationalLayout

MAX_HITS_BYTES = 1 << 30
#: /share and /aggregates take a small JSON question
MAX_REQUEST_BYTES = 64 << 10
#: unauthorised calls answered 401 per minute before the rest get 429
UNAUTHORISED_PER_MINUTE = 60
#: how often the count of unauthorised calls goes to the audit hook (one entry each time)
UNAUTHORISED_FLUSH_S = 60.0
ENDPOINTS = ("/share", "/aggregates", "/hits")

AuditHook = Callable[[str, str], None]
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- app

class ShareRequest(BaseModel):
    """Which share set the coordinator asks for; nothing else can be asked."""

    model_config = ConfigDict(extra="forbid")
    purpose: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/-]+$")
    epoch: int = Field(ge=0)


class AggregatesRequest(ShareRequest):
    """Which national tables and years (inclusive ``[first, last]``) for a secure sum."""

    tables: list[str] = Field(min_length=1, max_length=20)
    years: tuple[int, int]
    #: only say whether the node would give these aggregates; nothing is released
    check: bool = False

    def layout(self) -> NationalLayout:
        """The national layout; raises ``ValueError`` naming what is wrong."""
        try:
            return NationalLayout(tables=tuple(self.tables), years=self.years)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'layout'}: "
                                 f"{e['msg'].removeprefix('Value error, ')}"
                                 for e in exc.errors())
            raise ValueError(f"bad national layout: {problems}") from None


def _no_audit(endpoint: str, outcome: str) -> None:
    return None


_STATUS_OUTCOME = {401: "unauthorised", 404: "not-found", 405: "not-found",
                   413: "too-large", 422: "bad-request"}


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class UnauthorisedCalls:
    """Counts calls without the right secret; reports them to the audit hook as one
    summary per interval, and says when the per-minute allowance is spent (429)."""

    def __init__(self, on_call: AuditHook, per_minute: int, flush_s: float) -> None:
        self.on_call, self.per_minute, self.flush_s = on_call, per_minute, flush_s
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self._pending = self._limited = 0
        self._paths: set[str] = set()
        self._since: str | None = None
        self._last_flush: float | None = None
        self._timer: threading.Timer | None = None

    def record(self, path: str) -> bool:
        """Count one unauthorised call; True if it is over the per-minute allowance."""
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 60.0:
                self._recent.popleft()
            over = len(self._recent) >= self.per_minute
            if not over:
                self._recent.append(now)
            self._pending += 1
            self._limited += over
            if len(self._paths) < 20:
                self._paths.add(path[:100])
            if self._since is None:
                self._since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.flush_if_due()
        self._schedule()
        return over

    def _schedule(self) -> None:
        """Report what is pending when the interval ends, even if no call comes then."""
        with self._lock:
            if not self._pending or self._timer is not None:
                return
            wait = self.flush_s - (time.monotonic() - (self._last_flush or 0.0))
            self._timer = threading.Timer(max(wait, 0.0), self._on_timer)
            self._timer.daemon = True
            self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        with contextlib.suppress(Exception):  # logged; kept for the next report
            self.flush()
        self._schedule()

    def stop(self) -> None:
        """Cancel the timer and report what is pending (at shutdown)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush()

    def flush_if_due(self) -> None:
        with self._lock:
            due = self._pending and (self._last_flush is None
                                     or time.monotonic() - self._last_flush >= self.flush_s)
        if due:
            self.flush()

    def flush(self) -> None:
        """Report the calls counted since the last report (one hook call, if any)."""
        with self._lock:
            n, limited, paths, since = self._pending, self._limited, self._paths, self._since
            self._pending = self._limited = 0
            self._paths, self._since = set(), None
            self._last_flush = time.monotonic()
        if not n:
            return
        endpoint = next(iter(paths)) if len(paths) == 1 else ",".join(sorted(paths))
        outcome = "unauthorised" if n == 1 else (
            f"unauthorised: {n} calls since {since}"
            + (f", {limited} of them refused 429 (over {self.per_minute} a minute)"
               if limited else ""))
        try:
            self.on_call(endpoint, outcome)
        except Exception:  # keep the count for the next report rather than lose it
            log.exception("gateway audit hook failed for %d unauthorised calls", n)
            with self._lock:
                self._pending += n
                self._limited += limited
                self._paths |= paths
                self._since = self._since or since
            raise


class GatewayApp:
    """The gateway's ASGI app: a guard (secret, body size, unauthorised-call counting)
    in front of the FastAPI app, which nothing reaches without the secret."""

    def __init__(self, app: FastAPI, secret: bytes, on_call: AuditHook,
                 limits: dict[str, int], default_limit: int,
                 unauthorised: UnauthorisedCalls) -> None:
        self.app, self._secret, self.on_call = app, secret, on_call
        self.limits, self.default_limit = limits, default_limit
        self.unauthorised = unauthorised
        self._header = SECRET_HEADER.lower().encode()

    def flush(self) -> None:
        """Report unauthorised calls not reported yet (at shutdown)."""
        with contextlib.suppress(Exception):  # already logged
            self.unauthorised.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        given = b""
        length: bytes | None = None
        for name, value in scope.get("headers", ()):
            if name == self._header:
                given = value
            elif name == b"content-length":
                length = value
        if not hmac.compare_digest(given, self._secret):
            # not even the body is read: counted, reported once per interval, rate-limited
            try:
                over = await _in_thread(lambda: self.unauthorised.record(path))
            except Exception:
                await _answer(send, 500, {"error": "node could not log this call"})
                return
            if over:
                await _answer(send, 429, {"detail": "too many calls without the relay "
                                                    "secret; try again later"})
            else:
                await _answer(send, 401, {"detail": "relay secret missing or wrong"})
            return
        limit = self.limits.get(path, self.default_limit)
        declared: int | None = None
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await self._refuse(send, path, 400, "bad-request",
                                   "Content-Length is not a number")
                return
        if declared is not None and declared > limit:
            await self._refuse(send, path, 413, "too-large",
                               f"request body of {declared} bytes is over this endpoint's "
                               f"limit of {limit} bytes")
            return
        # read the body here, never past the limit, then hand it to the app in one piece
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, path, 413, "too-large",
                                   f"request body over this endpoint's limit of {limit} "
                                   "bytes")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        del chunks
        await self.app(scope, replay(body, receive), send)

    async def _refuse(self, send: Send, path: str, status: int, outcome: str,
                      detail: str) -> None:
        try:
            await _in_thread(lambda: self.on_call(path, outcome))
        except Exception:
            log.exception("gateway audit hook failed for %s", path)
            await _answer(send, 500, {"error": "node could not log this call"})
            return
        await _answer(send, status, {"detail": detail})


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": data})


def gateway_app(service: NodeService, secret: str, on_call: AuditHook = _no_audit, *,
                max_request_bytes: int = MAX_REQUEST_BYTES,
                max_hits_bytes: int = MAX_HITS_BYTES,
                unauthorised_per_minute: int = UNAUTHORISED_PER_MINUTE,
                unauthorised_flush_s: float = UNAUTHORISED_FLUSH_S) -> GatewayApp:
    """The gateway as an ASGI app (no docs, no OpenAPI: three endpoints, nothing else),
    behind its guard (see the module docstring)."""
    if len(secret) < 32:
        raise ValueError("relay secret must be at least 32 characters")
    expected = secret.encode()
    lock = threading.Lock()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    unauthorised = UnauthorisedCalls(on_call, unauthorised_per_minute, unauthorised_flush_s)

    @app.middleware("http")
    async def audit(request: Request, call_next: Callable[[Request], Any]) -> Response:
        try:
            response: Response = await call_next(request)
        except Exception:  # the service failed: say so, never its detail
            log.exception("gateway %s failed", request.url.path)
            response = JSONResponse({"error": "node error"}, status_code=500)
            request.state.outcome = "error"
        outcome = getattr(request.state, "outcome", None) or _STATUS_OUTCOME.get(
            response.status_code, "ok" if response.status_code < 400 else "error")
        path = request.url.path

        def report() -> None:  # off the event loop: the hook may wait for the store
            on_call(path, outcome)
            unauthorised.flush_if_due()

        try:
            await _in_thread(report)
        except Exception:  # a call that cannot be logged is not answered (fail closed)
            log.exception("gateway audit hook failed for %s", request.url.path)
            return JSONResponse({"error": "node could not log this call"}, status_code=500)
        return response

    def authorised(request: Request) -> None:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(status_code=401, detail="relay secret missing or wrong")

    @app.post("/share", dependencies=[Depends(authorised)])
    def share(body: ShareRequest, request: Request) -> Response:
        try:
            with lock:
                payload = service.share(body.purpose, body.epoch)
        except Refusal as refusal:
            request.state.outcome = f"refused: {refusal.reason}"
            return JSONResponse({"refusal": refusal.reason}, status_code=403)
        request.state.outcome = "shared"
        return Response(payload, media_type="application/octet-stream")

    @app.post("/aggregates", dependencies=[Depends(authorised)])
    def aggregates(body: AggregatesRequest, request: Request) -> JSONResponse:
        try:
            layout = body.layout()
        except ValueError as exc:
            request.state.outcome = "bad-request"
            return JSONResponse({"detail": str(exc)}, status_code=422)
        try:
            with lock:
                answer = service.aggregates(body.purpose, body.epoch, layout,
                                            check=body.check)
        except Refusal as refusal:
            request.state.outcome = f"refused: {refusal.reason}"
            return JSONResponse({"refusal": refusal.reason}, status_code=403)
        if body.check:
            request.state.outcome = "aggregates check: would contribute"
            return JSONResponse({"cells": layout.size})
        request.state.outcome = "aggregates"
        return JSONResponse({"counts": [int(n) for n in answer["counts"]],
                             "outside_layout": int(answer["outside_layout"])})

    @app.post("/hits", dependencies=[Depends(authorised)])
    async def hits(request: Request) -> JSONResponse:
        data = await request.body()  # the guard read it, at most max_hits_bytes
        if len(data) > max_hits_bytes:
            raise HTTPException(status_code=413, detail="hits payload too large")
        try:
            receipt = await _in_thread(lambda: _locked(lock, service.receive_hits, data))
        except Refusal as refusal:
            request.state.outcome = f"refused: {refusal.reason}"
            return JSONResponse({"refusal": refusal.reason}, status_code=403)
        request.state.outcome = "received"
        return JSONResponse(receipt)

    return GatewayApp(app, expected, on_call, {"/hits": max_hits_bytes}, max_request_bytes,
                      unauthorised)


def _locked(lock: threading.Lock, fn: Callable[[bytes], Any], data: bytes) -> Any:
    with lock:
        return fn(data)


async def _in_thread(fn: Callable[[], Any]) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


# --------------------------------------------------------------------------- serving

def check_loopback(host: str) -> None:
    """The gateway must never face a network: refuse any non-loopback address."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise CrossforceError(
            f"the node gateway listens on loopback only (127.0.0.1, ::1) or a Unix socket; "
            f"got host {host!r}")


def _bind(host: str, port: int, uds: Path | None) -> tuple[socket.socket, str]:
    if uds is not None:
        uds = Path(uds)
        if uds.exists():
            uds.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(uds))
        os.chmod(uds, 0o600)
        return sock, f"unix:{uds}"
    check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown}:{bound}"


class GatewayServer:
    """A running gateway (uvicorn in a background thread). ``url`` is what goes in the
    SuperNode's node config as ``gateway``: ``http://127.0.0.1:PORT`` or ``unix:PATH``."""

    def __init__(self, app: GatewayApp | FastAPI, host: str = "127.0.0.1", port: int = 0,
                 uds: Path | None = None) -> None:
        self._sock, self.url = _bind(host, port, uds)
        self.host = host
        self.app = app
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none",
                                                     access_log=False, lifespan="off"))
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]},
                                        name="crossforce-gateway", daemon=True)

    def start(self, timeout: float = 10.0) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and time.monotonic() < deadline:
            if not self._thread.is_alive():
                break
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError("node gateway did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self._sock.close()
        if isinstance(self.app, GatewayApp):
            self.app.flush()  # unauthorised calls counted since the last report

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_gateway(service: NodeService, secret: str, *, on_call: AuditHook = _no_audit,
                    host: str = "127.0.0.1", port: int = 0,
                    uds: Path | None = None, **limits: Any) -> Iterator[GatewayServer]:
    """Serve ``service`` for the duration of a ``with`` block (``limits``: the keyword
    limits of :func:`gateway_app`)."""
    with GatewayServer(gateway_app(service, secret, on_call, **limits), host, port,
                       uds) as server:
        yield server


def serve_gateway(service: NodeService, secret_file: Path, *, on_call: AuditHook = _no_audit,
                  host: str = "127.0.0.1", port: int = 8765,
                  uds: Path | None = None) -> None:
    """Serve in the foreground until Ctrl-C (what ``crossforce node serve`` runs)."""
    app = gateway_app(service, read_relay_secret(secret_file), on_call)
    sock, _url = _bind(host, port, uds)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=False, ws="none",
                                           lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.flush()


__all__ = [
    "ENDPOINTS",
    "MAX_HITS_BYTES",
    "MAX_REQUEST_BYTES",
    "SECRET_HEADER",
    "AggregatesRequest",
    "GatewayApp",
    "GatewayServer",
    "ShareRequest",
    "check_loopback",
    "create_relay_secret",
    "gateway_app",
    "read_relay_secret",
    "running_gateway",
    "serve_gateway",
]
