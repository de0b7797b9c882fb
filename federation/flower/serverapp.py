"""The coordinator's ServerApp: collect share sets, link, notify each force of its hits.

One federation = four steps, each ONE message per node (SecAgg+ needs its own four):

1. **collect** — ``query.share`` to every online node; each signed payload goes through
   ``CoordinatorService.submit`` (the same function as an offline ``coordinator submit``),
   under the force name node authentication registered for that node. A node that is
   absent, slow (timeout), refuses, fails or sends a payload the coordinator rejects is
   recorded, and the round goes on with the rest.
2. **link** — ``CoordinatorService.link()`` once, over everything ingested.
3. **notify** — ``query.hits`` to each force that shared, carrying only that force's hits.
4. **aggregate** — national sums of the counts per category the forces released through
   their gates: summed from the share sets (no extra message), and, with
   ``secure_aggregation``, a SecAgg+ round so the coordinator sees only the national sum
   of forces whose policy keeps aggregates out of share sets.

``run_federation`` is the whole thing for any ``Grid`` (the in-process grid in tests and
``--engine inprocess``, the SuperLink's grid in deployment); ``app`` wraps it for
``flwr run``, reading its settings from run-config.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

from flwr.app import Context, Message
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp

from federation.flower.protocol import (
    HITS,
    SHARE,
    SHARE_RECORD,
    AggregatingCoordinator,
    CoordinatorService,
    Query,
    exchange,
    hits_request,
    load_coordinator_service,
    receipt_of,
    record_bytes,
    refusal_of,
    share_request,
)
from federation.flower.secure_sum import SecureSumFailed, secure_sum
from policies.national_tables import NationalLayout

Progress = Callable[[str], None]

# share outcomes
SUBMITTED, REFUSED, TIMEOUT, FAILED, REJECTED, ABSENT = (
    "submitted", "refused", "timeout", "error", "rejected", "absent")
# hits outcomes
DELIVERED = "delivered"


#: national tables the secure sum asks for by default: those whose dimensions the shipped
#: cse-national policy allows (a force that cannot give a table says no and is left out)
SECURE_TABLES = ("crimes_by_category_year", "crimes_by_outcome_year", "persons_by_role_year",
                 "persons_by_role_ethnicity")
SECURE_YEARS = (2010, dt.date.today().year)


def _names(value: object) -> tuple[str, ...]:
    return tuple(v for v in (p.strip() for p in str(value or "").split(",")) if v)


def _years(value: str) -> tuple[int, int] | None:
    """``"2010-2026"`` → (2010, 2026); empty → None."""
    if not value:
        return None
    first, _, last = value.partition("-")
    try:
        years = int(first), int(last or first)
    except ValueError:
        raise ValueError(
            f"run-config secure-years must look like 2010-2026, got {value!r}") from None
    if years[0] > years[1]:
        raise ValueError(f"run-config secure-years {value!r}: the first year is after the last")
    return years


@dataclass(frozen=True)
class RoundSettings:
    """What one federation asks, and how long it waits (seconds)."""

    purpose: str
    epoch: int
    share_timeout: float = 120.0
    hits_timeout: float = 60.0
    expected_forces: tuple[str, ...] = ()
    wait_for_nodes: float = 0.0
    poll_interval: float = 0.1
    secure_aggregation: bool = False
    aggregate_timeout: float = 120.0
    secure_tables: tuple[str, ...] = SECURE_TABLES
    secure_years: tuple[int, int] = SECURE_YEARS

    @classmethod
    def from_run_config(cls, config: Mapping[str, Any]) -> RoundSettings:
        return cls(
            purpose=str(config["purpose"]),
            epoch=int(config.get("epoch", 1)),
            share_timeout=float(config.get("share-timeout", 120.0)),
            hits_timeout=float(config.get("hits-timeout", 60.0)),
            expected_forces=_names(config.get("expected-forces")),
            wait_for_nodes=float(config.get("wait-for-nodes", 0.0)),
            secure_aggregation=str(config.get("secure-aggregation", "false")).lower()
            in ("1", "true", "yes"),
            aggregate_timeout=float(config.get("aggregate-timeout", 120.0)),
            secure_tables=_names(config.get("secure-tables")) or SECURE_TABLES,
            secure_years=_years(str(config.get("secure-years", "") or "")) or SECURE_YEARS,
        )


@dataclass
class ForceOutcome:
    """What happened with one force in one federation (counts and reasons, no content)."""

    force: str
    node_id: int = 0
    share: str = ABSENT
    detail: str = ""
    payload_bytes: int = 0
    receipt: Any = None
    hits: str = ""
    hits_bytes: int = 0
    hits_receipt: dict[str, Any] | None = None


@dataclass
class FederationReport:
    """The outcome per force, the link summary, and step times in seconds (``total``
    excludes ``wait_for_nodes``, the time spent waiting for expected forces to connect)."""

    purpose: str
    epoch: int
    forces: dict[str, ForceOutcome] = field(default_factory=dict)
    link: dict[str, Any] = field(default_factory=dict)
    aggregates: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def shared(self) -> list[str]:
        return sorted(f for f, o in self.forces.items() if o.share == SUBMITTED)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FederationReport:
        forces = {k: ForceOutcome(**v) for k, v in data["forces"].items()}
        return cls(purpose=data["purpose"], epoch=data["epoch"], forces=forces,
                   link=dict(data["link"]), aggregates=dict(data.get("aggregates") or {}),
                   seconds=dict(data["seconds"]))


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str))


def _error_text(reply: Message) -> str:
    """The last line of a node's error (what the ClientApp raised), kept short."""
    lines = str(reply.error.reason or "").strip().splitlines()
    return lines[-1][:300] if lines else f"error code {reply.error.code}"


# --------------------------------------------------------------------------- grid helpers

def online_forces(grid: Grid) -> dict[str, int]:
    """Force name → node id, from the names node authentication registered. Nodes without
    a registered name are not addressed: a force is who its key says it is."""
    forces: dict[str, int] = {}
    for node in grid.get_nodes():
        if node.status and node.status != "online":
            continue
        if node.name:
            forces[node.name] = node.node_id
    return forces


def wait_for_forces(grid: Grid, expected: Iterable[str], wait: float,
                    poll: float = 0.2) -> dict[str, int]:
    expected = set(expected)
    deadline = time.monotonic() + wait
    forces = online_forces(grid)
    while not expected <= forces.keys() and time.monotonic() < deadline:
        time.sleep(poll)
        forces = online_forces(grid)
    return forces


# --------------------------------------------------------------------------- the rounds

def collect(grid: Grid, service: CoordinatorService, settings: RoundSettings,
            report: FederationReport, progress: Progress,
            while_waiting: Callable[[], None] | None = None) -> None:
    """Ask every online force for its share set and submit each as it arrives;
    ``while_waiting`` runs once the questions are out (see ``warm_payload_checks``)."""
    t0 = time.perf_counter()
    forces = wait_for_forces(grid, settings.expected_forces, settings.wait_for_nodes)
    report.seconds["wait_for_nodes"] = time.perf_counter() - t0
    for force in settings.expected_forces:
        report.forces.setdefault(force, ForceOutcome(force, detail="node not online"))
    for force, node_id in forces.items():
        report.forces[force] = ForceOutcome(force, node_id=node_id, share=TIMEOUT,
                                            detail=f"no answer in {settings.share_timeout:g} s")
    query = Query(settings.purpose, settings.epoch)
    progress(f"collect: asking {len(forces)} force(s) for purpose {query.purpose!r} "
             f"epoch {query.epoch}")
    messages = [Message(share_request(query), dst_node_id=node_id, message_type=SHARE,
                        ttl=settings.share_timeout + 60) for node_id in forces.values()]
    by_node = {node_id: force for force, node_id in forces.items()}

    def ingest(reply: Message) -> None:  # each share set as it arrives, not after the last
        outcome = report.forces[by_node[reply.metadata.src_node_id]]
        _ingest(service, outcome, reply)
        progress(f"collect: {outcome.force}: {outcome.share}"
                 + (f" ({outcome.detail})" if outcome.detail else ""))

    exchange(grid, messages, settings.share_timeout, settings.poll_interval, on_reply=ingest,
             after_push=while_waiting)
    for outcome in report.forces.values():
        if outcome.share in (TIMEOUT, ABSENT):
            progress(f"collect: {outcome.force}: {outcome.share} ({outcome.detail})")


def _ingest(service: CoordinatorService, outcome: ForceOutcome, reply: Message) -> None:
    if reply.has_error():
        outcome.share, outcome.detail = FAILED, _error_text(reply)
        return
    reason = refusal_of(reply.content)
    if reason is not None:
        outcome.share, outcome.detail = REFUSED, reason
        return
    try:
        payload = record_bytes(reply.content.array_records[SHARE_RECORD])
    except (KeyError, ValueError) as exc:
        outcome.share, outcome.detail = FAILED, f"malformed reply: {exc}"
        return
    outcome.payload_bytes = len(payload)
    try:
        outcome.receipt = _jsonable(service.submit(payload, outcome.force))
    except Exception as exc:  # the coordinator rejects it: record why, keep going
        outcome.share, outcome.detail = REJECTED, f"{type(exc).__name__}: {exc}"
        return
    outcome.share, outcome.detail = SUBMITTED, ""


def notify(grid: Grid, service: CoordinatorService, settings: RoundSettings,
           report: FederationReport, progress: Progress) -> None:
    query = Query(settings.purpose, settings.epoch)
    messages: list[Message] = []
    targets: dict[int, ForceOutcome] = {}
    for force in report.shared():
        outcome = report.forces[force]
        try:
            data = bytes(_hits_for(service, force, settings.purpose))
        except Exception as exc:
            outcome.hits, outcome.detail = FAILED, f"hits_for: {type(exc).__name__}: {exc}"
            continue
        outcome.hits_bytes, outcome.hits = len(data), TIMEOUT
        targets[outcome.node_id] = outcome
        messages.append(Message(hits_request(query, data), dst_node_id=outcome.node_id,
                                message_type=HITS, ttl=settings.hits_timeout + 60))
    progress(f"notify: sending hits to {len(messages)} force(s)")
    for node_id, reply in exchange(grid, messages, settings.hits_timeout,
                                   settings.poll_interval).items():
        outcome = targets[node_id]
        if reply.has_error():
            outcome.hits, outcome.detail = FAILED, _error_text(reply)
        elif (reason := refusal_of(reply.content)) is not None:
            outcome.hits, outcome.detail = REFUSED, reason
        else:
            outcome.hits, outcome.hits_receipt = DELIVERED, receipt_of(reply.content)
        progress(f"notify: {outcome.force}: {outcome.hits}")


def _hits_for(service: CoordinatorService, force: str, purpose: str) -> bytes:
    """The force's hits of this round's purpose, from a service that can tell purposes
    apart (``hits_for(force, purpose=...)``); else all of its hits."""
    try:
        accepts = "purpose" in inspect.signature(service.hits_for).parameters
    except (TypeError, ValueError):
        accepts = False
    return service.hits_for(force, purpose=purpose) if accepts else service.hits_for(force)


def aggregate(grid: Grid, service: CoordinatorService, settings: RoundSettings,
              report: FederationReport, progress: Progress,
              context: Context | None = None) -> None:
    """National sums per category; a coordinator without aggregates skips the step."""
    if not isinstance(service, AggregatingCoordinator):
        progress("aggregate: skipped (this coordinator keeps no national aggregates)")
        return
    if settings.secure_aggregation:
        report.aggregates["secure_sum"] = secure_round(grid, service, settings, report,
                                                       progress, context)
    summary = dict(_jsonable(service.national_aggregates(settings.purpose)))
    report.aggregates.update(summary)
    progress(f"aggregate: {summary.get('cells', 0):,} national cell(s) in "
             f"{summary.get('tables', 0)} table(s) from {summary.get('forces', 0)} force(s)")


def secure_round(grid: Grid, service: AggregatingCoordinator, settings: RoundSettings,
                 report: FederationReport, progress: Progress,
                 context: Context | None) -> dict[str, Any]:
    """SecAgg+ over every force online: only forces whose policy releases aggregates by
    secure sum take part (the others' counts are in their share sets). The national
    vector is stored; a sum that cannot be made is recorded, and the round goes on."""
    forces = {o.node_id: f for f, o in report.forces.items() if o.node_id}
    layout = NationalLayout(tables=settings.secure_tables, years=settings.secure_years)
    progress(f"aggregate: secure sum (SecAgg+) of {layout.size:,} cells over "
             f"{len(forces)} force(s)")
    try:
        result = secure_sum(grid, context, list(forces), layout, settings.aggregate_timeout,
                            purpose=settings.purpose, epoch=settings.epoch)
    except SecureSumFailed as exc:
        dropped = {forces.get(n, str(n)): why for n, why in exc.dropped.items()}
        progress(f"aggregate: no secure sum ({exc.reason})")
        return {"error": exc.reason, "dropped": dropped}
    stored = service.record_secure_sum(settings.purpose, settings.epoch, result.cells(),
                                       result.counts.tolist(), result.contributors)
    dropped = {forces.get(n, str(n)): why for n, why in result.dropped.items()}
    progress(f"aggregate: secure sum of {result.contributors} force(s) stored"
             + (f"; left out: {', '.join(sorted(dropped))}" if dropped else ""))
    return {**dict(_jsonable(stored)), "contributors": result.contributors,
            "cells": layout.size, "outside_layout": result.outside_layout,
            "seconds": result.seconds, "dropped": dropped}


def describe_aggregates(aggregates: Mapping[str, Any]) -> str:
    """One line on the aggregate step of a report (what the CLI and the demo print)."""
    if not aggregates:
        return "national aggregates: none"
    by_method = aggregates.get("cells_by_method") or {}
    line = (f"national aggregates: {aggregates.get('cells', 0):,} cell(s) in "
            f"{aggregates.get('tables', 0)} table(s) ("
            + (", ".join(f"{m} {n:,}" for m, n in sorted(by_method.items())) or "none") + ")")
    secure = aggregates.get("secure_sum")
    if secure:
        if "error" in secure:
            line += f"; no secure sum: {secure['error']}"
        else:
            line += (f"; secure sum (SecAgg+) of {secure['contributors']} force(s) over "
                     f"{secure['cells']:,} cells")
        if secure.get("dropped"):
            line += f", left out: {', '.join(sorted(secure['dropped']))}"
    return line


def run_federation(grid: Grid, service: CoordinatorService, settings: RoundSettings,
                   progress: Progress | None = None,
                   context: Context | None = None,
                   while_waiting: Callable[[], None] | None = None) -> FederationReport:
    """Collect, link, notify, aggregate over ``grid``; never fails because one node did.
    ``while_waiting`` runs once the share questions are out, before any reply is read."""
    say: Progress = progress or (lambda line: log(INFO, "%s", line))
    report = FederationReport(purpose=settings.purpose, epoch=settings.epoch)
    t0 = time.perf_counter()
    collect(grid, service, settings, report, say, while_waiting)
    t1 = time.perf_counter()
    if report.shared():
        report.link = dict(_jsonable(service.link()))
        say(f"link: {json.dumps(report.link, default=str)[:300]}")
    else:
        say("link: skipped, no force shared anything")
    t2 = time.perf_counter()
    notify(grid, service, settings, report, say)
    t3 = time.perf_counter()
    aggregate(grid, service, settings, report, say, context)
    t4 = time.perf_counter()
    waited = report.seconds.get("wait_for_nodes", 0.0)
    report.seconds.update({"collect": t1 - t0 - waited, "link": t2 - t1,
                           "notify": t3 - t2, "aggregate": t4 - t3,
                           "total": t4 - t0 - waited})
    return report


# --------------------------------------------------------------------------- flwr run

def warm_payload_checks() -> None:
    """Load what the coordinator's first submit and link need in a fresh ServerApp
    process (one per round): the payload rules' list of known names (Faker's locale
    data, pandas; ~1.3 CPU-s, measured on the first share set to arrive) and SciPy's
    optimiser, which linkage imports on first use to weigh chance agreement (~0.3 s of
    the first link). Run while the forces build their share sets (``run_federation``'s
    ``while_waiting``), it overlaps their work instead of following it."""
    import pyarrow as pa
    import scipy.optimize  # noqa: F401

    from policies.raw_values import find_raw_values

    find_raw_values(pa.array(["crossforce"], pa.string()))


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """``flwr run`` entry: settings and the coordinator service come from run-config."""
    from federation.flower.pulls import shorten_object_pulls

    shorten_object_pulls()  # the nodes' replies: retry after 0.02 s, not Flower's 1 s
    config = context.run_config
    settings = RoundSettings.from_run_config(config)
    service = load_coordinator_service(str(config.get("coordinator-service", "")),
                                       str(config.get("coordinator-dir", ".")))
    try:
        report = run_federation(grid, service, settings, context=context,
                                while_waiting=warm_payload_checks)
    finally:  # release the coordinator store (one DuckDB writer at a time)
        close = getattr(service, "close", None)
        if callable(close):
            close()
    target = str(config.get("report-file", "") or "")
    if target:
        Path(target).write_text(json.dumps(report.to_json(), indent=2))
    missing = [f for f, o in report.forces.items() if o.share != SUBMITTED]
    log(WARNING if missing else INFO, "federation done: %d shared, %d did not (%s)",
        len(report.shared()), len(missing), ", ".join(missing) or "-")


__all__ = [
    "FederationReport",
    "aggregate",
    "describe_aggregates",
    "ForceOutcome",
    "RoundSettings",
    "app",
    "collect",
    "exchange",
    "notify",
    "online_forces",
    "run_federation",
]
