"""The key service over HTTP: ``GET /v1/epochs`` and ``POST /v1/evaluate``.

Every call carries ``Authorization: Bearer <credential>``. ``/v1/evaluate?purpose=P&epoch=E``
takes concatenated 32-byte blinded points (at most the batch limit) and answers
``proof || evaluated points`` under the current epoch's key. It refuses: an unknown
credential (401), the coordinator's (403: it has no evaluation right — a coordinator that
could evaluate could reverse every token it holds), a retired or unknown epoch (409), a
batch over the limit (413), and a force over its daily quota (429, naming the quota). Each
request, evaluated or refused, is counted per day, holder, purpose and epoch; each
evaluation is a signed ledger entry (disclosure to the force, counts only). The service
never sees a value: only blinded points.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from federation.errors import CrossforceError
from federation.keyservice import store as ks
from federation.keyservice.suite import ELEMENT_BYTES, Evaluator

PURPOSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EPOCHS_PATH = "/v1/epochs"
EVALUATE_PATH = "/v1/evaluate"


class Refused(Exception):
    """A request the service refuses: HTTP status and a reason for the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class KeyService:
    """The service's logic over its folder, without HTTP (the app below is a thin shell)."""

    def __init__(self, directory: Path) -> None:
        self.dir = ks.KeyServiceDir(directory)
        self.settings = self.dir.settings()
        self._lock = threading.Lock()  # one request at a time opens the store
        self._evaluators: dict[int, Evaluator] = {}

    def _evaluator(self, epoch: int) -> Evaluator:
        if epoch not in self._evaluators:
            self._evaluators[epoch] = Evaluator(self.dir.seed(epoch), ks.epoch_info(epoch))
        return self._evaluators[epoch]

    @staticmethod
    def _holder(con: Any, credential: str | None) -> ks.Holder:
        found = ks.authenticate(con, credential) if credential else None
        if found is None:
            raise Refused(401, "unknown or revoked key service credential")
        return found

    def epochs(self, credential: str | None) -> dict[str, Any]:
        """Current epoch and public key, every epoch, the batch limit, and (for a force)
        how many evaluations it has left today."""
        with self._lock, self.dir.open() as con:
            holder = self._holder(con, credential)
            epoch, public_key = ks.current_epoch(con)
            left = (max(holder.daily_quota - ks.used_today(con, holder.holder,
                                                             ks.now().date()), 0)
                    if holder.role == "force" else 0)
            return {"holder": holder.holder, "role": holder.role, "current": epoch,
                    "public_key": public_key.hex(), "epochs": ks.epochs(con),
                    "max_batch": self.settings.max_batch,
                    "daily_quota": holder.daily_quota if holder.role == "force" else 0,
                    "quota_left_today": left}

    def evaluate(self, credential: str | None, purpose: str, epoch: int,
                 blinded: bytes) -> bytes:
        """``proof || evaluated`` for a force's batch, or Refused."""
        if not PURPOSE.match(purpose or ""):
            raise Refused(400, "purpose must be a purpose code (letters, digits, . _ -)")
        if not blinded or len(blinded) % ELEMENT_BYTES:
            raise Refused(400, f"the body must be blinded points of {ELEMENT_BYTES} bytes each")
        n = len(blinded) // ELEMENT_BYTES
        with self._lock, self.dir.open() as con:
            holder = self._holder(con, credential)
            if holder.role != "force":
                raise Refused(403, f"{holder.holder} holds a {holder.role} credential, which "
                              "has no evaluation right: only forces may ask for tokens")
            current, _ = ks.current_epoch(con)
            day = ks.now().date()
            if epoch != current:
                ks.count(con, day, holder.holder, purpose, epoch, n, refused=True)
                raise Refused(409, f"epoch {epoch} is not the current key epoch ({current}); "
                              "re-tokenise under the current one")
            if n > self.settings.max_batch:
                raise Refused(413, f"a batch holds at most {self.settings.max_batch:,} "
                              f"points; this one has {n:,}")
            used = ks.used_today(con, holder.holder, day)
            if used + n > holder.daily_quota:
                ks.count(con, day, holder.holder, purpose, epoch, n, refused=True)
                raise Refused(429, f"{holder.holder} has used {used:,} of its daily quota of "
                              f"{holder.daily_quota:,} evaluations; {n:,} more would exceed "
                              "it (the key custodian sets quotas: `crossforce keyservice "
                              "register --quota`; counts reset at 00:00 UTC)")
            try:
                answer = self._evaluator(epoch).evaluate(blinded)
            except ValueError:
                raise Refused(400, "a blinded point is not a valid ristretto255 "
                              "element") from None
            con.execute("BEGIN TRANSACTION")
            try:
                ks.count(con, day, holder.holder, purpose, epoch, n)
                self.dir.ledger(con).append(
                    "disclosure", actor="keyservice", purpose=purpose, force=holder.holder,
                    justification=f"{n:,} blinded evaluations for {holder.holder} under "
                    f"epoch {epoch} (values never seen)",
                    counts={"evaluations": n, "epoch": epoch}, recipients=[holder.holder])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return answer


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def keyservice_app(directory: Path) -> FastAPI:
    """The HTTP app of the key service in ``directory``."""
    service = KeyService(directory)
    app = FastAPI(title="crossforce key service", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"error": exc.reason}, status_code=exc.status)

    @app.exception_handler(CrossforceError)
    async def failed(_request: Request, exc: CrossforceError) -> JSONResponse:
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=503)

    @app.get(EPOCHS_PATH)
    def epochs(request: Request) -> dict[str, Any]:
        return service.epochs(_credential(request))

    @app.post(EVALUATE_PATH)
    async def evaluate(request: Request, purpose: str = "", epoch: int = 0) -> Response:
        from starlette.concurrency import run_in_threadpool

        limit = service.settings.max_batch * ELEMENT_BYTES
        if int(request.headers.get("content-length") or 0) > limit:
            raise Refused(413, f"a batch holds at most {service.settings.max_batch:,} points")
        body = await request.body()

        answer = await run_in_threadpool(service.evaluate, _credential(request), purpose,
                                         epoch, body)
        return Response(answer, media_type="application/octet-stream")

    return app
