"""`/internal/v1`: what a federation round on this machine calls while the service holds
the store (DESIGN.md §12) — the ``CoordinatorService`` protocol over HTTP.

Only a caller showing the service's internal secret (``DIR/service/internal-secret``,
0600, readable by the coordinator's operator only) is answered; these routes are not in
the public OpenAPI schema. A payload goes through the same ``submit_payload`` as an
offline `coordinator submit`; a rejection is a 422 with the reason.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from coordinator.api_gate import ApiError
from coordinator.served import INTERNAL_HEADER, ServedStore
from federation.payload import PayloadRejected

Force = Annotated[str, Query(min_length=1, max_length=80)]
Purpose = Annotated[str, Query(min_length=1, max_length=64)]


class SecureSum(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: str = Field(min_length=1, max_length=64)
    epoch: int = Field(ge=1)
    cells: list[tuple[str, str]]
    counts: list[int]
    contributors: int = Field(ge=0)


def internal_router(served: ServedStore, secret: str) -> APIRouter:
    def internal(x_crossforce_internal: Annotated[str | None, Header(
            alias=INTERNAL_HEADER)] = None) -> None:
        if not x_crossforce_internal or not hmac.compare_digest(
                x_crossforce_internal.encode(), secret.encode()):
            raise ApiError(401, "unauthenticated", "the internal API needs the service's "
                           "internal secret")

    r = APIRouter(include_in_schema=False, dependencies=[Depends(internal)])

    @r.post("/submit")
    async def submit(request: Request, sender: Force) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        payload = await request.body()
        try:
            return await run_in_threadpool(served.submit, payload, sender)
        except PayloadRejected as exc:
            raise ApiError(422, exc.reason, str(exc)[:500]) from None

    @r.post("/link")
    def link() -> dict[str, Any]:
        return served.link()

    @r.get("/hits")
    def hits(force: Force, purpose: Annotated[str | None, Query(max_length=64)] = None
             ) -> Response:
        return Response(served.hits_for(force, purpose), media_type="application/octet-stream")

    @r.post("/aggregates")
    def aggregates(purpose: Purpose) -> dict[str, Any]:
        return served.national_aggregates(purpose)

    @r.post("/secure-sum")
    def secure_sum(body: Annotated[SecureSum, Body()]) -> dict[str, Any]:
        return served.record_secure_sum(body.purpose, body.epoch, body.cells, body.counts,
                                        body.contributors)

    return r
