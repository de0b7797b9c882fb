"""The `/v1` endpoints, each with the roles it serves (need-to-know, enforced here).

| endpoint | analyst | liaison:FORCE | auditor | admin |
|---|---|---|---|---|
| GET /me | yes | yes | yes | yes |
| GET /networks, /networks/{id}, /entities/{id}, /entities/{id}/forces, /force-pairs | yes | | | |
| GET /aggregates, /recording | yes | | yes | |
| POST /lookups, GET /hits | | its own force | | |
| GET /submissions, /ledger, /ledger/verify, /consultations, /flows | | | yes | |
| GET, POST /users, DELETE /users/{name} | | | | yes |

Data endpoints answer from the data shared under the request's purpose (X-Purpose) only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from coordinator import api_audit as audit
from coordinator import api_queries as q
from coordinator.api_gate import ApiError, Caller, Gate, answer, encode
from coordinator.api_models import (
    AggregateRow,
    Consultation,
    EntityDetail,
    EntityForces,
    ErrorBody,
    Flows,
    ForcePair,
    Hit,
    LedgerCheck,
    LedgerRow,
    LookupAnswer,
    LookupRequest,
    Me,
    NetworkDetail,
    NetworkSummary,
    NewUser,
    Page,
    RecordingRow,
    Revoked,
    Submission,
    UserCreated,
    UserOut,
)
from coordinator.graph import LINK_KINDS
from coordinator.served import ServedStore
from federation.errors import CrossforceError

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
EntityId = Annotated[int, Path(ge=0, le=2**62)]
Name = Annotated[str | None, Query(min_length=1, max_length=80)]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 429)}


async def _held(served: ServedStore, purpose: str) -> None:
    """A data request names a purpose something was shared under."""
    key = ("held purposes",)
    held = served.cache.peek(key)
    if held is None:
        held = await run_in_threadpool(
            served.cache.get, key, lambda: [r[0] for r in served.reader().execute(
                "SELECT DISTINCT purpose FROM submissions WHERE superseded_by IS NULL "
                "ORDER BY 1").fetchall()], lambda v: 64 * (len(v) + 1))
    if purpose not in held:
        raise ApiError(404, "purpose", f"nothing is held under purpose {purpose!r}; held: "
                       f"{', '.join(held) or 'none'}")


async def _linked(served: ServedStore) -> None:
    """Refuse until the store was linked (checked in a thread until it once was)."""
    if "linked" not in served.ready:
        await run_in_threadpool(lambda: q.check_linked(served.reader(), served.ready))


def routes(gate: Gate) -> APIRouter:
    served = gate.served
    r = APIRouter(responses=ERRORS)
    analyst = Depends(gate.allow("analyst"))
    liaison = Depends(gate.allow("liaison"))
    liaison_lookup = Depends(gate.allow("liaison", lookup=True))
    auditor = Depends(gate.allow("auditor"))
    readers = Depends(gate.allow("analyst", "auditor"))
    admin = Depends(gate.allow("admin"))
    anyone = Depends(gate.allow("analyst", "liaison", "auditor", "admin"))

    async def kept(request: Request, caller: Caller,
                   build: Callable[[], tuple[Any, int]], *, quick: bool = False
                   ) -> tuple[bytes, int]:
        """(JSON body, result count) of a graph endpoint, kept per snapshot of the store:
        the key is what the answer depends on — path, purpose, parameters — never who
        asks (every analyst sees the same). A kept answer is taken on the event loop; a
        new one is built in a worker thread (DuckDB), or here if ``quick`` (from memory)."""
        key = (request.url.path, caller.purpose,
               tuple(sorted(request.query_params.multi_items())))
        found = served.cache.peek(key)
        if found is not None:
            return found

        def encoded() -> tuple[bytes, int]:
            body, results = build()
            return encode(body), results

        if quick:
            return served.cache.get(key, encoded, lambda v: len(v[0]) + 200)
        return await run_in_threadpool(served.cache.get, key, encoded,
                                       lambda v: len(v[0]) + 200)

    @r.get("/health", tags=["service"], summary="Is the service up (no key needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "linking": "yes" if served.linking.is_set() else "no"}

    @r.get("/me", tags=["service"], summary="Who this key belongs to")
    async def me(request: Request, caller: Caller = anyone) -> Me:
        u = caller.user
        return answer(request, gate, Me(name=u.name, role=u.role, force=u.force,
                                        expires_at=u.as_dict()["expires_at"]), 1)

    # -- analyst
    @r.get("/networks", tags=["analyst"], summary="Cross-force networks, filtered, paged")
    async def networks(
        request: Request, caller: Caller = analyst,
        min_forces: Annotated[int, Query(ge=2, le=100, description="span at least this "
                                         "many forces")] = 2,
        force: Name = None,
        min_persons: Annotated[int, Query(ge=0, le=10**9)] = 0,
        max_persons: Annotated[int | None, Query(ge=0, le=10**9)] = None,
        active_from: dt.date | None = None, active_to: dt.date | None = None,
        link_kind: Annotated[str | None, Query(pattern="^(" + "|".join(LINK_KINDS) + ")$")]
        = None,
        limit: Limit = 50, offset: Offset = 0,
    ) -> Page[NetworkSummary]:
        await _linked(served)
        await _held(served, caller.purpose)

        def build() -> tuple[Any, int]:
            total, items = q.networks_page(
                served.reader(), caller.purpose, min_forces=min_forces, force=force,
                min_persons=min_persons, max_persons=max_persons, active_from=active_from,
                active_to=active_to, link_kind=link_kind, limit=limit, offset=offset)
            return ({"items": items, "total": total, "limit": limit, "offset": offset},
                    len(items))

        return answer(request, gate, *await kept(request, caller, build))

    @r.get("/networks/{network_id}", tags=["analyst"],
           summary="One network: members, edges, brokers, key players, Cytoscape.js elements")
    async def network(request: Request, network_id: EntityId, caller: Caller = analyst
                      ) -> NetworkDetail:
        await _linked(served)
        index = served.network_index.get()  # the network tables in memory, once read

        def build() -> tuple[Any, int]:
            found = _found(index.detail(caller.purpose, network_id) if index is not None
                           else q.network_detail(served.reader(), caller.purpose, network_id),
                           f"no network {network_id} under purpose {caller.purpose}")
            return found, len(found["members"])

        return answer(request, gate, *await kept(request, caller, build,
                                                 quick=index is not None))

    @r.get("/entities/{entity_id}", tags=["analyst"],
           summary="One entity: the forces holding it, its network, its links")
    async def entity(request: Request, entity_id: EntityId, caller: Caller = analyst
                     ) -> EntityDetail:
        await _linked(served)

        def build() -> tuple[Any, int]:
            found = _found(q.entity_detail(served.reader(), caller.purpose, entity_id),
                           f"no entity {entity_id} to show under purpose {caller.purpose}")
            return found, 1 + len(found["links"])

        return answer(request, gate, *await kept(request, caller, build))

    @r.get("/entities/{entity_id}/forces", tags=["analyst"],
           summary="Which forces hold entity X")
    async def entity_forces(request: Request, entity_id: EntityId, caller: Caller = analyst
                            ) -> EntityForces:
        await _linked(served)

        def build() -> tuple[Any, int]:
            found = _found(q.entity_detail(served.reader(), caller.purpose, entity_id,
                                           with_links=False),
                           f"no entity {entity_id} to show under purpose {caller.purpose}")
            return {"entity_id": entity_id, "forces": found["forces"]}, len(found["forces"])

        return answer(request, gate, *await kept(request, caller, build))

    @r.get("/force-pairs", tags=["analyst"],
           summary="Shared entities and networks between each pair of forces")
    async def pairs(request: Request, caller: Caller = analyst, force: Name = None
                    ) -> list[ForcePair]:
        await _linked(served)
        await _held(served, caller.purpose)

        def build() -> tuple[Any, int]:
            rows = q.force_pairs(served.reader(), caller.purpose, force)
            return rows, len(rows)

        return answer(request, gate, *await kept(request, caller, build))

    @r.get("/aggregates", tags=["analyst", "auditor"],
           summary="National aggregates (sums of released counts) for the purpose")
    def aggregates(request: Request, caller: Caller = readers,
                   table: Name = None,
                   method: Annotated[str | None, Query(pattern="^(share-sets|secure-sum)$")]
                   = None) -> list[AggregateRow]:
        from coordinator.aggregates import national_aggregates, rows_for_reading

        con = served.reader()
        rows = rows_for_reading(national_aggregates(con, purpose=caller.purpose, table=table,
                                                    method=method))
        return answer(request, gate, rows, len(rows))

    @r.get("/recording", tags=["analyst", "auditor"],
           summary="Recording consistency under the national CSE definition, per force")
    def recording(request: Request, caller: Caller = readers) -> list[RecordingRow]:
        from coordinator.aggregates import recording_consistency

        rows = recording_consistency(served.reader(), caller.purpose)
        return answer(request, gate, rows, len(rows))

    # -- force liaison
    @r.post("/lookups", tags=["liaison"],
            summary="Hit / no-hit: is this identifier known to other forces?")
    async def lookups(request: Request, body: LookupRequest, caller: Caller = liaison_lookup
                      ) -> LookupAnswer:
        await _linked(served)
        tokens = [(t.kind, bytes.fromhex(t.token)) for t in body.tokens]
        # what the store holds per token: from memory (serve_lookups.py) once the
        # snapshot's index is read, else point queries kept per snapshot; what this force
        # may learn of it (never its own force, never a victim's holder) is cut per request
        index = served.lookups.get()
        rows = index.rows(caller.purpose, tokens) if index is not None else None
        if rows is None:
            def point_rows() -> list[q.LookupRow]:
                con = served.reader()
                return [served.cache.get(("lookup", caller.purpose, kind, token),
                                         lambda k=kind, t=token: q.lookup_row(
                                             con, caller.purpose, k, t),
                                         lambda _: 256) for kind, token in tokens]

            rows = await run_in_threadpool(point_rows)
        results = q.lookup_answer(caller.user.force or "", tokens, rows)
        return answer(request, gate, {"force": caller.user.force, "purpose": caller.purpose,
                                      "results": results}, sum(r["hit"] for r in results))

    @r.get("/hits", tags=["liaison"],
           summary="Your own force's hits: your references others know too")
    def hits(request: Request, caller: Caller = liaison) -> list[Hit]:
        from coordinator.hits import hits_as_json, hits_for_force

        con = served.reader()
        q.check_linked(con, served.ready)
        force = caller.user.force or ""
        known = con.execute("SELECT 1 FROM entity_view v WHERE list_contains(open_forces, ?)"
                            " LIMIT 1", [force]).fetchone()
        rows = hits_as_json(force, hits_for_force(con, force, purpose=caller.purpose)
                            )["hits"] if known else []
        return answer(request, gate, rows, len(rows))

    # -- auditor
    @r.get("/submissions", tags=["auditor"], summary="Payloads received (metadata only)")
    def submissions(request: Request, caller: Caller = auditor, force: Name = None,
                    purpose: Name = None, limit: Limit = 50, offset: Offset = 0
                    ) -> Page[Submission]:
        total, items = audit.submissions_page(served.reader(), force=force, purpose=purpose,
                                              limit=limit, offset=offset)
        return answer(request, gate, {"items": items, "total": total, "limit": limit,
                                      "offset": offset}, len(items))

    @r.get("/ledger", tags=["auditor"], summary="The coordinator's ledger, newest first")
    def ledger(request: Request, caller: Caller = auditor,
               action: Annotated[str | None, Query(
                   pattern="^(collection|alteration|consultation|disclosure|combination|"
                   "erasure|genesis)$")] = None,
               actor: Name = None, since: dt.datetime | None = None,
               until: dt.datetime | None = None, limit: Limit = 50, offset: Offset = 0
               ) -> Page[LedgerRow]:
        total, items = audit.ledger_page(served.ledger_reader(), action=action, actor=actor,
                                         since=_naive(since), until=_naive(until),
                                         limit=limit, offset=offset)
        return answer(request, gate, {"items": items, "total": total, "limit": limit,
                                      "offset": offset}, len(items))

    @r.get("/ledger/verify", tags=["auditor"],
           summary="Check the ledger's hash chain and signatures")
    def verify(request: Request, caller: Caller = auditor) -> LedgerCheck:
        from federation.audit.verify_all import recorded_verification
        from federation.ledger import verify_ledger

        store = served.store
        report = verify_ledger(served.ledger_reader(), store.keys.signer.public_key)
        body = {"ok": report.ok, "entries": report.entries, "head": report.head,
                "problems": [str(p) for p in report.problems][:50]}
        kept = recorded_verification(store.dir)
        if kept is not None:  # the nodes' ledgers too, as `audit verify --record` left it
            body["federation"] = {k: kept.get(k) for k in (
                "verified_at", "ok", "nodes", "checks")} | {
                "findings": (kept.get("findings") or [])[:50]}
        return answer(request, gate, body, report.entries)

    @r.get("/consultations", tags=["auditor"],
           summary="Who asked what, when and why (requests to this service)")
    def consultations(request: Request, caller: Caller = auditor, user: Name = None,
                      since: dt.datetime | None = None, until: dt.datetime | None = None,
                      limit: Limit = 50, offset: Offset = 0) -> Page[Consultation]:
        total, items = audit.consultations_page(served.ledger_reader(), user=user,
                                                since=_naive(since), until=_naive(until),
                                                limit=limit, offset=offset)
        return answer(request, gate, {"items": items, "total": total, "limit": limit,
                                      "offset": offset}, len(items))

    @r.get("/flows", tags=["auditor"],
           summary="Data flows per force and day (sent, received, hits) and consultations")
    def data_flows(request: Request, caller: Caller = auditor,
                   last: dt.date | None = None,
                   days: Annotated[int, Query(ge=1, le=366)] = 30) -> Flows:
        from coordinator.api_flows import flows

        body = flows(served.ledger_reader(), last=last or dt.datetime.now(dt.UTC).date(), days=days)
        return answer(request, gate, body, len(body["daily"]))

    # -- admin
    @r.get("/users", tags=["admin"], summary="Users and the state of their keys")
    def users(request: Request, caller: Caller = admin) -> list[UserOut]:
        from coordinator.users import list_users

        rows = [u.as_dict() for u in list_users(served.reader())]
        return answer(request, gate, rows, len(rows))

    @r.post("/users", tags=["admin"], summary="Add a user; the key is shown once")
    def add(request: Request, body: NewUser, caller: Caller = admin) -> UserCreated:
        from coordinator.users import add_user

        try:
            with served.writing():  # the store's one writer connection
                user, key = add_user(served.store.con, served.store.ledger, body.name,
                                     body.role, days=body.days,
                                     actor=f"api:{caller.user.name} (admin)")
        except CrossforceError as exc:
            raise ApiError(400, "bad_user", str(exc)) from None
        return answer(request, gate, {"user": user.as_dict(), "key": key}, 1)

    @r.delete("/users/{name}", tags=["admin"], summary="Revoke every active key of a user")
    def revoke(request: Request, name: Annotated[str, Path(max_length=80)],
               caller: Caller = admin) -> Revoked:
        from coordinator.users import revoke_user

        try:
            with served.writing():
                n = revoke_user(served.store.con, served.store.ledger, name,
                                actor=f"api:{caller.user.name} (admin)")
        except CrossforceError as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        gate.forget(name)
        return answer(request, gate, {"name": name, "revoked": n}, n)

    gate.document(r)
    return r


def _found(found: dict[str, Any] | None, missing: str) -> dict[str, Any]:
    if found is None:
        raise ApiError(404, "not_found", missing)
    return found


def _naive(t: dt.datetime | None) -> dt.datetime | None:
    """The ledger stores UTC without a zone."""
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(dt.UTC).replace(tzinfo=None)
