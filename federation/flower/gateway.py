"""The node gateway: the only door from the (untrusted) relay into a force's node.

The force installs and runs this; the coordinator ships only the relay. The gateway
listens on loopback or a Unix socket, wants the per-node relay secret on every call
(constant-time compare), offers exactly three endpoints — ``POST /share``,
``POST /aggregates`` (the force's gated counts on the national layout, for a SecAgg+
secure sum) and ``POST /hits`` — and reports every call, including refused and unknown ones, to the
``on_call(endpoint, outcome)`` audit hook so the node can ledger it. Calls into the node
service are serialised: one store owner at a time (DESIGN.md §12).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


def gateway_app(service: NodeService, secret: str,
                on_call: AuditHook = _no_audit) -> FastAPI:
    """The gateway as an ASGI app (no docs, no OpenAPI: two endpoints, nothing else)."""
    if len(secret) < 32:
        raise ValueError("relay secret must be at least 32 characters")
    expected = secret.encode()
    lock = threading.Lock()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

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
        try:
            on_call(request.url.path, outcome)
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
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_HITS_BYTES:
            raise HTTPException(status_code=413, detail="hits payload too large")
        data = await request.body()
        if len(data) > MAX_HITS_BYTES:
            raise HTTPException(status_code=413, detail="hits payload too large")
        try:
            receipt = await _in_thread(lambda: _locked(lock, service.receive_hits, data))
        except Refusal as refusal:
            request.state.outcome = f"refused: {refusal.reason}"
            return JSONResponse({"refusal": refusal.reason}, status_code=403)
        request.state.outcome = "received"
        return JSONResponse(receipt)

    return app


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

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                 uds: Path | None = None) -> None:
        self._sock, self.url = _bind(host, port, uds)
        self.host = host
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

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_gateway(service: NodeService, secret: str, *, on_call: AuditHook = _no_audit,
                    host: str = "127.0.0.1", port: int = 0,
                    uds: Path | None = None) -> Iterator[GatewayServer]:
    """Serve ``service`` for the duration of a ``with`` block."""
    with GatewayServer(gateway_app(service, secret, on_call), host, port, uds) as server:
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


__all__ = [
    "ENDPOINTS",
    "SECRET_HEADER",
    "AggregatesRequest",
    "GatewayServer",
    "ShareRequest",
    "check_loopback",
    "create_relay_secret",
    "gateway_app",
    "read_relay_secret",
    "running_gateway",
    "serve_gateway",
]
