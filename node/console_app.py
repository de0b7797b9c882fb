"""The force console's HTTP application: the web pages (federation/console, ``force``) and
the JSON they read, for the force's own analysts, on loopback only.

It is not the node gateway and shares nothing with it: its own port, its own key. The
coordinator's relay runs on the same machine as an unprivileged user and can open any
loopback port, so every ``/api`` request needs the console key — a file in the node
folder (0600; the relay user cannot read the node folder, `node join` checks) — and a
justification. A Host header other than a loopback name is refused (a web page elsewhere
cannot reach the console through DNS rebinding). Each answer is a node analysis inside
``consult``: one ledger consultation, naming the console and the justification.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from federation.errors import CrossforceError

KEY_FILE = Path("console") / "console-key"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
_WHY = re.compile(r"^[ -~]{10,500}$")
Subject = Annotated[str, Query(min_length=1, max_length=200)]
Kind = Annotated[str, Query(pattern="^(person|device)$")]


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _json(body: Any, status: int = 200) -> Response:
    """JSON with dates and times as ISO text (the analyses' results hold them)."""
    from node.analyses import _plain

    return Response(json.dumps(body, default=_plain), status, media_type="application/json")


def console_key(node_dir: Path) -> str:
    """The console key (made once, 0600, in DIR/console/console-key)."""
    path = Path(node_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text("cfc_" + secrets.token_urlsafe(32) + "\n")
    if path.stat().st_mode & 0o077:
        raise CrossforceError(f"{path} is readable by others; make it 0600 (chmod 600)")
    return path.read_text().strip()


def create_console_app(node_dir: Path) -> FastAPI:
    """The force console over the node at ``node_dir``."""
    from federation.console import CSP, add_console
    from node.store import load_config

    node_dir = Path(node_dir)
    config = load_config(node_dir)
    key = console_key(node_dir)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def caller(request: Request, authorization: Annotated[str | None, Header()] = None,
               x_justification: Annotated[str | None, Header()] = None) -> str:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), key):
            raise Refused(401, f"send the console key (in {node_dir / KEY_FILE}) as "
                          "Authorization: Bearer KEY")
        why = (x_justification or "").strip()
        if not _WHY.match(why):
            raise Refused(400, "send why you look in the X-Justification header (10-500 "
                          "characters, one line)")
        return why

    need = Depends(caller)

    def analysis(name: str, why: str, params: dict[str, Any],
                 run: Callable[[Any], Any]) -> Response:
        from node.analyses import consult

        with consult(node_dir, f"console-{name}", {"via": "force console", "why": why,
                                                   **params}) as (con, counts):
            body = run(con)
            counts["answers"] = 1
        return _json(body)

    @app.middleware("http")
    async def loopback_only(request: Request, call_next):  # noqa: ANN001, ANN202
        host = request.headers.get("host", "").rsplit(":", 1)[0] if not request.headers.get(
            "host", "").startswith("[") else request.headers.get("host", "").split("]")[0] + "]"
        if host not in LOOPBACK_HOSTS:
            return JSONResponse({"error": {"message": "the force console answers on "
                                           "loopback names only"}}, 421)
        response = await call_next(request)
        response.headers["content-security-policy"] = CSP
        response.headers["x-frame-options"] = "DENY"
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "no-referrer"
        response.headers["cache-control"] = "no-store"
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"error": {"status": exc.status, "message": exc.message}},
                            exc.status)

    @app.exception_handler(CrossforceError)
    async def bad(request: Request, exc: CrossforceError) -> JSONResponse:
        return JSONResponse({"error": {"status": 400, "message": str(exc).splitlines()[0]}},
                            400)

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("crossforce.console").error("console request failed", exc_info=exc)
        return JSONResponse({"error": {"status": 500, "message": "the console failed to "
                                       "answer; its log has the detail"}}, 500)

    from node import console_queries as q

    @app.get("/api/me")
    def me(why: str = need) -> dict[str, str]:
        return {"name": "force analyst", "role": "analyst", "force": config.force}

    @app.get("/api/subjects")
    def subjects(why: str = need) -> Response:
        return analysis("subjects", why, {}, q.subjects)

    @app.get("/api/contacts")
    def contacts(kind: Kind, subject: Subject, why: str = need) -> Response:
        return analysis("contacts", why, {kind: subject},
                        lambda con: q.contacts(con, kind, subject))

    @app.get("/api/timeline")
    def timeline(kind: Kind, subject: Subject, why: str = need) -> Response:
        return analysis("timeline", why, {kind: subject},
                        lambda con: q.timeline_items(con, kind, subject))

    @app.get("/api/heat")
    def heat(kind: Kind, subject: Subject, why: str = need) -> Response:
        return analysis("heat", why, {kind: subject}, lambda con: q.heat(con, kind, subject))

    @app.get("/api/handovers")
    def handovers(kind: Kind, subject: Subject, why: str = need) -> Response:
        return analysis("handovers", why, {kind: subject},
                        lambda con: q.handovers_of(con, kind, subject))

    @app.get("/api/chart")
    def chart(why: str = need, around: Annotated[str | None, Query(max_length=200)] = None,
              hops: Annotated[int, Query(ge=1, le=4)] = 2) -> Response:
        return analysis("chart", why, {"around": around, "hops": hops},
                        lambda con: q.chart(con, around, hops))

    @app.get("/api/cse")
    def cse(why: str = need) -> Response:
        return analysis("cse", why, {}, q.cse)

    @app.get("/api/review")
    def review(why: str = need) -> Response:
        return analysis("review", why, {}, q.review)

    @app.get("/api/hits")
    def hits(why: str = need) -> Response:
        from node.hits import received_hits  # ledgers the look itself (consultation)

        got = received_hits(node_dir).as_json()
        rows = got.pop("rows")
        return _json({"summary": got, "tables": {"hits received": rows}, "notes": [
            "Your own records that other forces know too (hit / no-hit): the other forces "
            "are named, never their data; details follow through a disclosure request."]})

    add_console(app, "force")
    return app
