"""`crossforce demo` — the whole story on synthetic data, end to end.

A generated scenario (one input folder per force + the planted truth) goes through exactly
what real forces and a real coordinator would run, command for command: ``node init``,
``node ingest``, ``node keys import-secret``, ``coordinator init`` / ``register``, one
``node serve`` gateway process per force, then one federation round through Flower — by
default the Deployment Engine on loopback (a real SuperLink and one SuperNode per force,
TLS and node authentication on), or the in-process grid with ``--engine inprocess``. The
demo then reads the results back through the same public commands (``coordinator
networks``, ``coordinator hits`` + ``node hits``, ``audit verify``) and scores them
against the truth with :func:`scenario.evaluate.score`.

``federation`` never imports ``node`` or ``coordinator`` (DESIGN.md §3): commands run
in-process through :func:`federation.cli.main`, gateways as ``crossforce node serve``
processes, and the coordinator service is named by its spec string.

Every process the demo starts is stopped on exit, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from federation.errors import CrossforceError
from scenario.custodian import KeyServiceProcess, key_service

Engine = Literal["deployment", "inprocess"]
Say = Callable[[str], None]

COORDINATOR_SERVICE = "coordinator.service:open_service"
DEFAULT_POLICY = "cse-national"
#: the policies the demo federates under, one round each (the first is the main one: its
#: round, aggregates and scores are the summary's top level) — the shipped defaults, and
#: modern slavery from scenario/data (no shipped policy covers it yet)
DEMO_POLICIES = ("cse-national", "county-lines", "modern-slavery", "matching-only")
#: the purposes under which the scenario plants networks: the deployed demo's default
NETWORK_POLICIES = DEMO_POLICIES[:3]
DEMO_POLICY_FILES = {"modern-slavery": Path(__file__).with_name("data") / "modern-slavery.toml"}


def policy_ref(name: str) -> str:
    """What `--policy` and ``resolve_policy`` take for a demo policy name."""
    return str(DEMO_POLICY_FILES[name]) if name in DEMO_POLICY_FILES else name
#: default size: 5 forces x 2,000 persons ran in 69-94 s on 2 shared cores (deployment)
DEFAULT_PERSONS = 2000
EPOCH = 1
GATEWAY_START_TIMEOUT = 90.0
LISTENING = re.compile(r"listening on (\S+)")
#: lines of the Flower run log worth showing as progress (the rest is Flower's own chatter)
RUN_STEPS = re.compile(r"(collect|link|notify|SuperLink up|registered node keys|"
                       r"SuperNodes connected|federation done).*")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class DemoSettings:
    """One demo run: the scenario, the engine, and the purpose the nodes share under."""

    forces: int = 5
    persons_per_force: int = DEFAULT_PERSONS
    seed: int = 7
    engine: Engine = "deployment"
    policy: str = DEFAULT_POLICY
    policies: tuple[str, ...] = DEMO_POLICIES
    share_timeout: float = 180.0
    secure_aggregation: bool = False


@dataclass
class DemoResult:
    """Everything the demo prints, as one JSON-able object (no raw values, no tokens)."""

    settings: DemoSettings
    root: Path
    kept: bool = False  # the folders stay for inspection (--out): commands can point there
    scenario: dict[str, Any] = field(default_factory=dict)
    federation: dict[str, Any] = field(default_factory=dict)
    networks: list[dict[str, Any]] = field(default_factory=list)
    aggregates: list[dict[str, Any]] = field(default_factory=list)
    recording: list[dict[str, Any]] = field(default_factory=list)  # per force + national
    hits: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    makeup: list[dict[str, Any]] = field(default_factory=list)
    #: one entry per purpose: its round, networks found, scores and make-up
    purposes: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    memory_mb: dict[str, float] = field(default_factory=dict)
    scope_source: str = ""
    html: Path | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "settings": {**self.settings.__dict__},
            "out": str(self.root),
            "scenario": self.scenario,
            "federation": self.federation,
            "networks": self.networks,
            "national_aggregates": self.aggregates,
            "recording_consistency": self.recording,
            "hits": self.hits,
            "ledger": self.ledger,
            **self.scores,
            "network_makeup": self.makeup,
            "purposes": self.purposes,
            "scope": self.scope_source,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "peak_memory_mb": self.memory_mb,
            "networks_html": str(self.html) if self.html else None,
        }


# --------------------------------------------------------------------------- the CLI, in-process


def crossforce(*args: object, allow: Sequence[int] = (0,)) -> str:
    """Run ``crossforce ARGS`` in this process and return what it printed; its output is
    captured (the demo shows its own progress) and an exit code not in ``allow`` raises
    with the command's error line."""
    from federation.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    if code not in allow:
        detail = err.getvalue().strip().splitlines() or out.getvalue().strip().splitlines()
        raise CrossforceError(f"`crossforce {' '.join(map(str, args[:2]))}` failed (exit "
                              f"{code}): {detail[-1] if detail else 'no message'}")
    return out.getvalue()


def crossforce_json(*args: object, allow: Sequence[int] = (0,)) -> Any:
    """:func:`crossforce` for a command printing JSON (``audit verify`` exits 1 when it
    finds problems, and still answers)."""
    return json.loads(crossforce(*args, allow=allow))


# --------------------------------------------------------------------------- gateways


class Gateways:
    """One ``crossforce node serve`` process per force (each force's own gateway), on
    loopback with a free port and a fresh relay secret; all stopped on exit."""

    def __init__(self, nodes: Mapping[str, Path], log_dir: Path,
                 policies: Sequence[str] = ()) -> None:
        self.nodes = dict(nodes)
        self.log_dir = log_dir
        self.policies = tuple(policies)
        self.processes: dict[str, Any] = {}
        self.urls: dict[str, str] = {}

    def spawn(self) -> Gateways:
        """Start every gateway process (they take seconds to import: start them early)."""
        from federation.flower.deployment import BIN, Process

        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
               "FLWR_TELEMETRY_ENABLED": "0"}
        for force, node in self.nodes.items():
            self.processes[force] = Process(
                f"gateway-{force}", [str(BIN / "crossforce"), "node", "serve", "--dir",
                                     str(node), "--port", "0", "--secret-file",
                                     str(self.secret_file(force)),
                                     *(a for p in self.policies for a in ("--policy", p))],
                env, self.log_dir)
        return self

    def wait_ready(self, timeout: float = GATEWAY_START_TIMEOUT) -> dict[str, str]:
        """Wait until every gateway printed its address; force → URL."""
        deadline = time.monotonic() + timeout
        while len(self.urls) < len(self.nodes):
            for force, process in self.processes.items():
                if force in self.urls:
                    continue
                found = LISTENING.search(process.tail(50))
                if found:
                    self.urls[force] = found.group(1)
                elif not process.alive():
                    raise CrossforceError(f"the gateway of {force} did not start:\n"
                                          f"{process.tail()}")
            if time.monotonic() > deadline:
                late = sorted(set(self.nodes) - set(self.urls))
                raise CrossforceError(f"gateways not up after {timeout:g} s: {', '.join(late)}")
            time.sleep(0.05)
        return dict(self.urls)

    def secret_file(self, force: str) -> Path:
        return (self.nodes[force] / "federation" / "relay-secret").resolve()

    def node_configs(self) -> dict[str, dict[str, str]]:
        """Each force's SuperNode node config: its gateway and relay secret file."""
        return {force: {"gateway": self.urls[force],
                        "gateway-secret-file": str(self.secret_file(force))}
                for force in self.nodes}

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.stop()
        self.processes.clear()

    def __enter__(self) -> Gateways:
        try:
            return self.spawn()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- the run


class Demo:
    """The demo's steps in order; ``run()`` does them all and returns the result."""

    def __init__(self, settings: DemoSettings, root: Path, say: Say) -> None:
        self.settings = settings
        self.root = Path(root).resolve()
        self.say = say
        self.result = DemoResult(settings, self.root)
        self.scenario_dir = self.root / "scenario"
        self.nodes_dir = self.root / "nodes"
        self.coordinator = self.root / "coordinator"
        self.keyservice = self.root / "key-custodian" / "keyservice"
        self.nodes: dict[str, Path] = {}
        self.purpose = ""
        self.hit_rows: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, dict[str, Any]] = {}

    # -- steps
    def generate(self) -> None:
        from scenario.generate import generate

        s = self.settings
        summary = generate(self.scenario_dir, forces=s.forces,
                           persons_per_force=s.persons_per_force, seed=s.seed,
                           overwrite=True, progress=False)
        self.nodes = {force: self.nodes_dir / force for force in summary.forces}
        self.result.scenario = {
            "forces": summary.forces, "persons": summary.total("persons"),
            "crimes": summary.total("crimes"), "calls": summary.total("calls"),
            "messages": summary.total("messages"),
            "planted_networks": [{"network_id": n, "kind": k, "forces": fs}
                                 for n, k, fs in summary.networks],
            "cross_force_people": summary.cross_force_people,
            "lookalikes": summary.lookalikes}
        self.say(f"scenario: {len(summary.forces)} forces, {summary.total('persons'):,} "
                 f"persons, {len(summary.networks)} planted cross-force networks "
                 f"({summary.cross_force_people} people in several forces, "
                 f"{summary.lookalikes} look-alikes)")

    def init_nodes(self) -> None:
        """One node per force; with secure aggregation each data owner's policy releases
        aggregates only inside the national secure sum."""
        from policies.model import secure_sum_policy_text

        for force, node in self.nodes.items():
            crossforce("node", "init", "--force", force, "--dir", node)
            if self.settings.secure_aggregation:
                (node / "policy.toml").write_text(secure_sum_policy_text(self.settings.policy))
        if self.settings.secure_aggregation:
            self.say(f"nodes: every policy is {self.settings.policy} with aggregates released "
                     "only through the national secure sum (SecAgg+)")

    def load_nodes(self, step: Callable[[str], None], keyservice: KeyServiceProcess) -> None:
        """Ingest each force's files, then give each force its key service credential
        (the key custodian's job: no node holds a key; every token is evaluated online)."""
        for force, node in self.nodes.items():
            crossforce("node", "ingest", "--dir", node, self.scenario_dir / force)
            step(force)
        keyservice.issue(self.nodes)
        self.say(f"nodes: {len(self.nodes)} loaded; key service at {keyservice.url}, one "
                 "credential per force (no force can make a token offline)")

    def set_up_coordinator(self) -> None:
        crossforce("coordinator", "init", "--dir", self.coordinator)
        for force, node in self.nodes.items():
            crossforce("node", "keys", "import-coordinator", "--dir", node,
                       self.coordinator / "keys" / "public.json")
            crossforce("coordinator", "register", "--dir", self.coordinator, "--force", force,
                       "--public-key", node / "keys" / "public.json", "--epoch", EPOCH)
        self.say(f"coordinator: created, {len(self.nodes)} forces registered by their "
                 "signing keys")

    def rounds(self) -> list[tuple[str, str]]:
        """(policy, purpose code) of each round: every shipped purpose, the main one first
        (with secure aggregation only the main one: the nodes' policy.toml)."""
        from policies.model import resolve_policy

        names = ((self.settings.policy,) if self.settings.secure_aggregation
                 else self.settings.policies)
        return [(name, resolve_policy(policy_ref(name)).purpose.code) for name in names]

    def federate(self, gateways: Gateways) -> dict[str, Any]:
        """One round per purpose, sharing process start-up (one grid, or one SuperLink
        with its SuperNodes); after each, every force's hits of that purpose are read.
        Returns the main purpose's round."""
        configs = gateways.node_configs()
        purposes = [code for _, code in self.rounds()]
        reports: dict[str, dict[str, Any]] = {}

        def done(purpose: str, report: Any) -> None:
            data = report.to_json()
            for outcome in data["forces"].values():
                outcome.pop("receipt", None)  # payload ids and hashes: in the ledgers already
                outcome.pop("node_id", None)
            reports[purpose] = data
            self.hit_rows[purpose] = self.read_hits(data, keep=purpose == self.purpose)

        if self.settings.engine == "inprocess":
            self._federate_inprocess(configs, purposes, done)
        else:
            self._federate_deployment(configs, purposes, done)
        self.reports = reports
        return reports[self.purpose]

    def _federate_inprocess(self, configs: Mapping[str, Mapping[str, str]],
                            purposes: Sequence[str], done: Callable[[str, Any], None]) -> None:
        from federation.flower.grid import InProcessGrid
        from federation.flower.protocol import load_coordinator_service
        from federation.flower.serverapp import RoundSettings, run_federation

        service = load_coordinator_service(COORDINATOR_SERVICE, self.coordinator)
        flwr_log = logging.getLogger("flwr")  # SecAgg+ narrates each stage at INFO
        level = flwr_log.level
        flwr_log.setLevel(logging.WARNING)
        try:
            with InProcessGrid(configs) as grid:
                for purpose in purposes:
                    done(purpose, run_federation(grid, service, RoundSettings(
                        purpose, EPOCH, share_timeout=self.settings.share_timeout,
                        secure_aggregation=self.settings.secure_aggregation),
                        progress=self.say))
        finally:
            flwr_log.setLevel(level)
            service.close()

    def _federate_deployment(self, configs: Mapping[str, Mapping[str, str]],
                             purposes: Sequence[str],
                             done: Callable[[str, Any], None]) -> None:
        from federation.flower.deployment import LoopbackDeployment

        def progress(line: str) -> None:
            found = RUN_STEPS.search(line)
            if found:
                self.say(found.group(0))

        workdir = self.root / "flower"
        try:
            with LoopbackDeployment(workdir, configs, progress=progress) as dep:
                for n, purpose in enumerate(purposes):
                    config = {"purpose": purpose, "epoch": EPOCH,
                              "share-timeout": self.settings.share_timeout,
                              "secure-aggregation": self.settings.secure_aggregation,
                              "coordinator-service": COORDINATOR_SERVICE,
                              "coordinator-dir": str(self.coordinator)}
                    # the first run starts SuperLink and SuperNodes; the others reuse them
                    done(purpose, dep.federate(config) if n == 0 else dep.run(
                        {**config, "expected-forces": ",".join(configs),
                         "wait-for-nodes": 60.0}))
                self.result.timings.update({f"deployment_{k}": v
                                            for k, v in dep.timings.items()})
        finally:
            # The SuperLink starts the ServerApp in a session of its own; when the run is cut
            # short it exits by itself once it sees its parent gone: wait for that.
            from federation.flower.deployment import await_exit

            left = await_exit(str(workdir), timeout=20.0)
            if left:
                self.say(f"warning: {len(left)} Flower process(es) still running: {left}")

    def read_networks(self) -> None:
        found = crossforce_json("coordinator", "networks", "--dir", self.coordinator, "--json",
                                "--justification", "demo: show the cross-force networks found")
        self.result.networks = [
            {**{k: n[k] for k in ("network_id", "purpose", "forces", "n_persons",
                                  "n_identifiers", "counts_by_kind", "brokers",
                                  "key_players")},
             "n_links": len(n["edges"])}
            for n in found]
        self._drawn = found  # members (with their forces) and edges, for `draw`

    def read_aggregates(self) -> None:
        """The national counts, as the national analyst reads them."""
        self.result.aggregates = crossforce_json(
            "coordinator", "aggregates", "--dir", self.coordinator, "--purpose", self.purpose,
            "--json", "--justification", "demo: show the national aggregates")
        # recording consistency under the national CSE definition, per force and national
        self.result.recording = crossforce_json(
            "coordinator", "aggregates", "--dir", self.coordinator, "--purpose", self.purpose,
            "--recording", "--json", "--justification",
            "demo: show recording consistency per force")

    def read_hits(self, federation: Mapping[str, Any], keep: bool = True
                  ) -> list[dict[str, Any]]:
        """Each force's resolved hits, as its analyst sees them: the latest batch the node
        received in the round (`crossforce node hits --dir NODE`), kept for the summary
        with ``keep``. Returns the resolved rows with their force."""
        rows: list[dict[str, Any]] = []
        shown: dict[str, dict[str, Any]] = self.result.hits if keep else {}
        for force, node in self.nodes.items():
            received = federation["forces"].get(force, {})
            delivered = received.get("hits") == "delivered"
            if not delivered:
                shown[force] = {"delivered": False, "hits": 0, "resolved": 0,
                                "persons": 0, "identifiers": 0, "networks": 0,
                                "other_forces": []}
                continue
            got = crossforce_json("node", "hits", "--dir", node, "--json")
            shown[force] = {
                "delivered": True,
                "hits": got["hits"], "resolved": got["resolved"],
                "persons": got["persons"], "identifiers": got["identifiers"],
                "networks": got["networks"], "other_forces": got["other_forces"]}
            rows += [{**row, "force": force} for row in got["rows"]]
        return rows

    def exchange_heads(self) -> None:
        """Each side keeps the other's signed ledger head (`node checkpoint`, `coordinator
        checkpoint`), so `crossforce audit verify --federation DIR` catches any ledger of
        the demo cut short at its end, even after the last round's messages."""
        heads = self.root / "heads"
        for force, node in self.nodes.items():
            crossforce("node", "checkpoint", "--dir", node, "--out", heads / f"{force}.json")
        crossforce("coordinator", "checkpoint", "--dir", self.coordinator, "--out",
                   heads / "coordinator.json",
                   *(a for f in self.nodes for a in ("--record", heads / f"{f}.json")))
        for node in self.nodes.values():
            crossforce("node", "checkpoint", "--dir", node, "--record",
                       heads / "coordinator.json")

    def verify_ledgers(self) -> None:
        """``audit verify`` of every ledger (chain and signatures), then, per node, the
        flow check: its disclosures against the coordinator's entries by content hash."""
        coordinator_db = self.coordinator / "coordinator.duckdb"
        coordinator_key = self.coordinator / "keys" / "public.json"
        owners = {**{f: (n / "node.duckdb", n / "keys" / "public.json")
                     for f, n in self.nodes.items()},
                  "coordinator": (coordinator_db, coordinator_key),
                  "keyservice": (self.keyservice / "keyservice.duckdb",
                                 self.keyservice / "keys" / "public.json")}
        for owner, (db, key) in owners.items():
            report = crossforce_json("audit", "verify", db, "--public-key", key, "--json",
                                     allow=(0, 1))
            self.result.ledger[owner] = _ledger_summary(report)
            if owner in ("coordinator", "keyservice"):
                continue
            flows = crossforce_json("audit", "verify", db, "--public-key", key, "--receipts",
                                    coordinator_db, "--coordinator-key", coordinator_key,
                                    "--json", allow=(0, 1))
            self.result.ledger[owner]["flows_matched"] = bool(flows["ok"])
            self.result.ledger[owner]["flow_problems"] = [
                p.get("detail", str(p)) for p in flows["problems"]][:5]

    def score(self) -> None:
        """Per purpose, against the planted truth: the records that purpose's policy
        shared, the hits of its round, the networks found under it."""
        from scenario.evaluate import network_makeup, score

        truth = self.scenario_dir / "truth"
        planted = self.result.scenario.get("planted_networks", [])
        for policy, purpose in self.rounds():
            # the gateways share under the named policies, except with secure aggregation
            # (each node's own policy.toml, made from the main one)
            scope, source = shared_scope(self.scenario_dir, self.nodes, policy_ref(policy),
                                         node_files=self.settings.secure_aggregation)
            resolved = resolved_persons(self.hit_rows.get(purpose, []))
            scores = {name: s.as_dict() for name, s in score(truth, resolved, scope).items()}
            makeup = [m.as_dict() for m in network_makeup(truth, resolved, scope)]
            found = {m["main_network"] for m in makeup if m["main_network"]}
            self.result.purposes.append({
                "purpose": purpose, "policy": policy,
                "round": (self.reports.get(purpose) or {}).get("seconds", {}),
                "networks_found": sum(n.get("purpose") == purpose
                                      for n in self.result.networks),
                "planted_found": sorted(found),
                "planted_kinds_found": sorted({p["kind"] for p in planted
                                               if p["network_id"] in found}),
                **scores, "network_makeup": makeup})
            if purpose == self.purpose:
                self.result.scores, self.result.makeup = scores, makeup
                self.result.scope_source = source

    def draw(self) -> None:
        """networks.html from what `coordinator networks` returned: its members and edges,
        as the coordinator sees them."""
        from scenario.drawing import write_networks_html

        self.result.html = write_networks_html(self.root / "networks.html", self._drawn)

    # -- all of it
    def run(self, progress: Any, draw: bool) -> DemoResult:
        from policies.model import resolve_policy

        self.result.kept = draw
        timings = self.result.timings
        task = progress.add_task("demo", total=8)
        memory = TreeMemory().start()
        try:
            def stage(name: str) -> contextlib.AbstractContextManager[None]:
                progress.update(task, description=name)
                return _timed(timings, name.split(":")[0])

            self.purpose = resolve_policy(policy_ref(self.settings.policy)).purpose.code
            t0 = time.perf_counter()
            with stage("scenario: generating"):
                self.generate()
            progress.advance(task)
            with stage("nodes: init"):
                self.init_nodes()
            # gateway processes take seconds to start: let them start while the nodes load
            policies = (() if self.settings.secure_aggregation
                        else tuple(map(policy_ref, self.settings.policies)))
            with Gateways(self.nodes, self.root / "logs", policies) as gateways, \
                    key_service(self.keyservice, self.root / "logs") as keyservice:
                nodes_task = progress.add_task("  nodes loaded", total=len(self.nodes))
                with stage("nodes: ingest, key service credentials"):
                    self.load_nodes(lambda force: progress.advance(nodes_task), keyservice)
                progress.remove_task(nodes_task)
                progress.advance(task)
                with stage("coordinator: init and register forces"):
                    self.set_up_coordinator()
                progress.advance(task)
                with stage("gateways: waiting for one per force"):
                    gateways.wait_ready()
                self.say(f"gateways: {len(self.nodes)} `crossforce node serve` processes on "
                         "loopback, each with its own relay secret")
                progress.advance(task)
                with stage(f"federation: one round per purpose through Flower "
                           f"({self.settings.engine})"):
                    self.result.federation = self.federate(gateways)
            progress.advance(task)
            with stage("networks: reading the coordinator's findings"):
                self.read_networks()
                self.read_aggregates()
            progress.advance(task)
            with stage("ledgers: verifying every chain and matching flows"):
                self.exchange_heads()
                self.verify_ledgers()
            progress.advance(task)
            with stage("scores: against the planted truth"):
                self.score()
                if draw:
                    self.draw()
            progress.advance(task)
            timings["total"] = time.perf_counter() - t0
            for report in self.reports.values():  # every purpose's round, summed
                for step, seconds in report.get("seconds", {}).items():
                    timings[f"round_{step}"] = timings.get(f"round_{step}", 0.0) + seconds
        finally:
            memory.stop()
        self.result.memory_mb = peak_memory_mb(memory)
        return self.result


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name.rstrip(":")] = timings.get(name.rstrip(":"), 0.0) + (
            time.perf_counter() - t0)


def _ledger_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    return {"ok": bool(report["ok"]), "entries": report["entries"],
            "actions": dict(sorted(report["actions"].items())),
            "problems": [p.get("detail", str(p)) for p in report["problems"]][:5]}


class TreeMemory:
    """Samples the memory of this process and every process it started (gateways,
    SuperLink, SuperNodes, app processes) from /proc; ``peak_mb`` is the largest sum seen.
    Proportional set size (shared pages split between their users), so the sum is real."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-memory", daemon=True)

    def start(self) -> TreeMemory:
        if Path("/proc/self/smaps_rollup").exists():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                self.peak_mb = max(self.peak_mb, tree_pss_mb(os.getpid()))
            self._stop.wait(self.interval)


def tree_pss_mb(root: int) -> float:
    """Proportional set size of ``root`` and all its descendants, in MB (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    total_kb = 0
    for pid in tree:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
    return total_kb / 1024


def peak_memory_mb(tree: TreeMemory | None = None) -> dict[str, float]:
    """Peak memory: this process and the largest child it waited for (resident), and all
    processes of the demo together (sampled, proportional set size)."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    found = {"demo_process": round(self_kb / 1024, 1),
             "largest_child_process": round(child_kb / 1024, 1)}
    if tree is not None and tree.peak_mb:
        found["all_processes"] = round(tree.peak_mb, 1)
    return found


# --------------------------------------------------------------------------- scoring inputs


def resolved_persons(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """(force, person_id, entity_id, network_id) for ``evaluate.score``: each force's
    person hits; a person with no person hit but an identifier hit in a network takes that
    network (membership only, no entity)."""
    # a person hit stands for every record the force resolved into that person
    persons = [(r["force"], p, r["entity_id"], r["network_id"])
               for r in rows if r["kind"] == "person"
               for p in (r["person_ids"] or [r["local_id"]])]
    seen = {(f, p) for f, p, _, _ in persons}
    via_identifiers = {(r["force"], p): r["network_id"] for r in rows
                       if r["kind"] != "person" and r["network_id"] is not None
                       for p in (r["person_ids"] or [])}
    persons += [(f, p, None, n) for (f, p), n in via_identifiers.items() if (f, p) not in seen]
    columns = list(zip(*persons, strict=True)) if persons else [[], [], [], []]
    return pa.table({"force": pa.array(columns[0], pa.string()),
                     "person_id": pa.array(columns[1], pa.string()),
                     "entity_id": pa.array(columns[2], pa.int64()),
                     "network_id": pa.array(columns[3], pa.int64())})


def shared_scope(scenario: Path, nodes: Mapping[str, Path], policy_name: str, *,
                 node_files: bool = True) -> tuple[pa.Table, str]:
    """(force, person_id) of the person records each force shared.

    The node offers no command listing the persons it shared, so this recomputes them
    from the scenario files with the node's policy, as egress selects them: a role the
    policy shares (victims when it matches them) on a crime in the policy's scope (with
    ``national_definition``, also the crimes the national CSE definition finds group-based
    on the node's store); and every other record the node resolved into one of those
    persons."""
    import duckdb

    from policies.model import load_policy, resolve_policy

    parts = []
    con = duckdb.connect()
    try:
        for force, node in nodes.items():
            own = node / "policy.toml"
            policy = (load_policy(own) if node_files and own.exists()
                      else resolve_policy(policy_name))
            roles = sorted(policy.roles_shown | (policy.roles_match_only or set()))
            scope = policy.scope
            conditions = [f"lower(coalesce(CAST(flag_{c} AS VARCHAR), '')) = 'true'"
                          for c in scope.categories]
            if scope.offence_codes:
                conditions.append("list_contains($codes, ho_offence_code)")
            group = (_group_based_crimes(node)
                     if scope.national_definition and conditions else None)
            if group is not None:
                conditions.append("list_contains($group, crime_id)")
            where = [f"({' OR '.join(conditions)})"] if conditions else ["true"]
            if scope.date_from:
                where.append("CAST(coalesce(date_to, date_from) AS DATE) >= $date_from")
            if scope.date_to:
                where.append("CAST(date_from AS DATE) <= $date_to")
            params: dict[str, Any] = {"roles": roles, "force": force,
                                      "shown": sorted(policy.roles_shown)}
            if scope.offence_codes:
                params["codes"] = list(scope.offence_codes)
            if group is not None:
                params["group"] = group
            if scope.date_from:
                params["date_from"] = scope.date_from
            if scope.date_to:
                params["date_to"] = scope.date_to
            folder = scenario / force
            records = con.sql(f"""
                SELECT $force AS force, r.person_id,
                       bool_or(list_contains($shown, r.role)) AS shown
                FROM {_table(folder, 'roles')} r
                JOIN (SELECT crime_id FROM {_table(folder, 'crimes')}
                      WHERE {' AND '.join(where)}) c USING (crime_id)
                JOIN {_table(folder, 'persons')} p USING (person_id)
                WHERE list_contains($roles, r.role)
                GROUP BY r.person_id""", params=params).to_arrow_table()
            parts.append(_with_resolved_records(con, force, node, records))
    finally:
        con.close()
    return (pa.concat_tables(parts), "recomputed from the scenario files with each node's "
            "policy (roles it shares on crimes in its scope); the node has no command that "
            "lists the persons it shared")


def _group_based_crimes(node: Path) -> list[str] | None:
    """The crimes the national CSE definition finds group-based on the node's store (what
    a policy with ``[scope] national_definition`` also shares); None without a store."""
    import duckdb

    from node.analyses._cse_rules import evaluate
    from policies.definition import national_definition

    store = node / "node.duckdb"
    if not store.exists():
        return None
    con = duckdb.connect(str(store), read_only=True)
    try:
        evaluate(con, national_definition())
        return [r[0] for r in con.execute(
            "SELECT crime_id FROM cse_cases WHERE group_based").fetchall()]
    finally:
        con.close()


def _with_resolved_records(con: Any, force: str, node: Path, records: pa.Table) -> pa.Table:
    """A shared person stands for every record the force resolved into it
    (`person_resolution`, read from the node's store after its share), so those records
    are in scope too."""
    store = node / "node.duckdb"
    if not store.exists():
        return records
    con.register("scope_records", records)
    try:
        con.execute(f"ATTACH '{store}' AS node_store (READ_ONLY)")
        has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                          "'node_store' AND table_name = 'person_resolution'").fetchall()[0][0]
        if not has:
            return records
        # every record of a person in scope, shown when any of its records is (egress
        # decides per person); records the node has not resolved stay as they are
        return con.sql("""
            WITH person AS (
                SELECT r.local_person, bool_or(s.shown) AS shown FROM scope_records s
                JOIN node_store.person_resolution r ON r.person_id = s.person_id
                GROUP BY r.local_person)
            SELECT $force AS force, m.person_id, p.shown FROM person p
            JOIN node_store.person_resolution m ON m.local_person = p.local_person
            UNION ALL SELECT force, person_id, shown FROM scope_records
            WHERE person_id NOT IN (SELECT person_id FROM node_store.person_resolution)
            ORDER BY 1, 2""", params={"force": force}).to_arrow_table()
    finally:
        con.execute("DETACH DATABASE IF EXISTS node_store")
        con.unregister("scope_records")


def _table(folder: Path, name: str) -> str:
    for ending, reader in ((".csv", "read_csv"), (".parquet", "read_parquet")):
        path = folder / f"{name}{ending}"
        if path.exists():
            quoted = str(path).replace("'", "''")
            extra = ", header = true, all_varchar = true" if reader == "read_csv" else ""
            return f"{reader}('{quoted}'{extra})"
    raise CrossforceError(f"{folder}: no {name}.csv or {name}.parquet")


# --------------------------------------------------------------------------- printing


def print_result(result: DemoResult, console: Console) -> None:
    networks = Table(title=f"{len(result.networks)} cross-force network(s) found")
    for column in ("network", "purpose", "forces", "persons", "identifiers", "brokers"):
        networks.add_column(column, overflow="fold")
    for n in result.networks[:15]:
        networks.add_row(str(n["network_id"]), str(n.get("purpose") or "-"),
                         ", ".join(n["forces"]), str(n["n_persons"]),
                         str(n["n_identifiers"]),
                         ", ".join(str(b) for b in n["brokers"][:5]) or "-")
    console.print(networks)
    if len(result.networks) > 15:
        console.print(f"… and {len(result.networks) - 15} more"
                      + (f" (`crossforce coordinator networks --dir "
                         f"{result.root / 'coordinator'}`)" if result.kept else
                         " (keep the folders with --out to list them all)"))

    _print_aggregates(result, console)
    _print_recording(result, console)

    hits = Table(title="hits each force received (its own records only)")
    for column in ("force", "hits", "persons", "ids", "networks", "other forces involved"):
        hits.add_column(column, overflow="fold", no_wrap=column == "force",
                        min_width=18 if column == "other forces involved" else None)
    forces = result.federation.get("forces", {})
    for force, h in result.hits.items():
        share = forces.get(force, {}).get("share", "-")
        hits.add_row(force, f"{h['hits']:,}" if h.get("delivered", True) else share,
                     str(h["persons"]), str(h["identifiers"]), str(h["networks"]),
                     "\n".join(h["other_forces"]) or "-")
    console.print(hits)

    ledger = Table(title="ledgers (DPA 2018 s.62) and `crossforce audit verify`")
    for column in ("ledger", "entries per action", "chain + signatures",
                   "flows vs coordinator"):
        ledger.add_column(column, overflow="fold")
    for owner, v in result.ledger.items():
        flows = ("-" if "flows_matched" not in v else "[green]matched[/]"
                 if v["flows_matched"] else f"[yellow]{len(v['flow_problems'])} unmatched[/]")
        ledger.add_row(owner, ", ".join(f"{a} {n}" for a, n in v["actions"].items()),
                       "[green]OK[/]" if v["ok"] else f"[red]FAILED[/] ({len(v['problems'])})",
                       flows)
    console.print(ledger)

    if len(result.purposes) > 1:
        rounds = Table(title="one round per purpose (tokens keyed per purpose, never joined)")
        for column in ("purpose", "networks", "planted found", "person links F1",
                       "membership F1", "round s"):
            rounds.add_column(column, overflow="fold")
        for r in result.purposes:
            rounds.add_row(r["purpose"], str(r["networks_found"]),
                           ", ".join(r["planted_kinds_found"]) or "-",
                           f"{r['person_links']['f1']:.3f}",
                           f"{r['network_membership']['f1']:.3f}",
                           f"{r['round'].get('total', 0):.1f}")
        console.print(rounds)

    scores = Table(title=f"against the planted truth (pairs of person records), "
                   f"{result.purposes[0]['purpose'] if result.purposes else ''}")
    for column in ("", "precision", "recall", "F1", "true pairs found", "false", "missed"):
        scores.add_column(column)
    for name in ("person_links", "network_membership"):
        s = result.scores[name]
        scores.add_row(name.replace("_", " "), f"{s['precision']:.3f}", f"{s['recall']:.3f}",
                       f"{s['f1']:.3f}", str(s["true_positives"]), str(s["false_positives"]),
                       str(s["false_negatives"]))
    console.print(scores)
    if result.makeup:
        makeup = Table(title="who is in each network found: persons of the planted network "
                       "it is, of other planted networks, look-alikes, outsiders")
        for column in ("network", "persons", "planted as", "of it", "of others",
                       "look-alikes", "outsiders"):
            makeup.add_column(column, justify="left" if column == "planted as" else "right")
        for m in result.makeup:
            makeup.add_row(str(m["network_id"]), str(m["persons"]), m["main_network"] or "-",
                           str(m["members"]), str(m["other_networks"]), str(m["lookalikes"]),
                           str(m["outsiders"]))
        console.print(makeup)
    t = result.timings
    console.print(f"scope: {result.scope_source}", style="dim")
    console.print(f"wall time {t['total']:.1f} s (federation {t.get('federation', 0):.1f} s; "
                  f"round: collect {t.get('round_collect', 0):.1f} s, link "
                  f"{t.get('round_link', 0):.1f} s, notify {t.get('round_notify', 0):.1f} s, "
                  f"aggregate {t.get('round_aggregate', 0):.1f} s); "
                  f"peak memory {result.memory_mb.get('all_processes', 0):.0f} MB (all "
                  f"processes together), {result.memory_mb['demo_process']:.0f} MB (this one)")
    if result.html:
        console.print(f"drawing of the largest networks: {result.html}")


def _print_recording(result: DemoResult, console: Console) -> None:
    """Recording consistency per force and nationally (the forces' released counts)."""
    if not result.recording:
        return
    view = Table(title="recording consistency under the national CSE definition: what each "
                 "force released (≥: a part was under its disclosure threshold)")
    for column in ("force", "R3 cases", "flagged", "accuracy", "R3 not flagged",
                   "ethnicity blank"):
        view.add_column(column, overflow="fold")
    for r in result.recording:
        def n(key: str, row: dict[str, Any] = r) -> str:
            value = row[key]
            return "—" if value is None else ("≥" if key in row["suppressed"] else "") + \
                str(value)

        def pct(value: float | None) -> str:
            return "suppressed" if value is None else f"{value:.0%}"

        view.add_row(r["force"], n("r3_cases"), n("r3_flagged"), pct(r["recording_accuracy"]),
                     n("r3_not_flagged"), pct(r["r3_suspect_ethnicity_blank_rate"]))
    console.print(view)


def _print_aggregates(result: DemoResult, console: Console, shown: int = 10) -> None:
    """The national counts any cell of which was released, largest first, and how many
    cells every force held back (its own disclosure control)."""
    rows = result.aggregates
    released = sorted((r for r in rows if r["count"]),
                      key=lambda r: (-r["count"], r["table"], sorted(r["cell"].items())))
    held_back = len(rows) - len(released)
    summary = (f"national aggregates: {len(rows):,} cell(s) in "
               f"{len({r['table'] for r in rows})} table(s); {len(released):,} with a national "
               f"count, {held_back:,} empty or held back by every force (counts under its "
               "disclosure threshold)")
    secure = (result.federation.get("aggregates") or {}).get("secure_sum")
    if secure:
        from federation.flower.serverapp import describe_aggregates

        console.print(describe_aggregates(result.federation["aggregates"]), style="dim")
    where = (f" (`crossforce coordinator aggregates --dir {result.root / 'coordinator'}`)"
             if result.kept else "")
    if not released:
        console.print(summary + where, style="dim")
        return
    methods = sorted({r["method"] for r in released})
    view = Table(title=f"national aggregates ({', '.join(methods)}): sums of what each "
                 "force's gate released, never one force's count")
    view.add_column("table: cell", overflow="fold")
    for column in ("national count", "forces", "suppressed in"):
        view.add_column(column, justify="right")
    for r in released[:shown]:
        view.add_row(f"{r['table'].replace('_', ' ')}: "
                     + ", ".join(f"{k}={v}" for k, v in r["cell"].items()),
                     f"{r['count']:,}", str(r["forces"]),
                     "" if r["forces_suppressed"] is None else str(r["forces_suppressed"]))
    console.print(view)
    console.print(summary + where, style="dim")


# --------------------------------------------------------------------------- the command


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every process started is stopped."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")
        previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run_demo(settings: DemoSettings, root: Path, *, console: Console | None = None,
             draw: bool = True) -> DemoResult:
    """The whole demo in ``root`` (which must be new or empty), with progress on
    ``console`` (stderr by default)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    # bound to the stderr of now: the commands run in-process have theirs redirected
    console = console or Console(file=sys.stderr)
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise CrossforceError(f"--out {root} is not empty; choose a new folder")
    root.mkdir(parents=True, exist_ok=True)
    with _sigterm_as_interrupt(), Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                                                                      "{task.total}"),
            TimeElapsedColumn(), console=console, transient=True) as progress:
        def say(line: str) -> None:
            progress.console.print(f"  {line}", highlight=False, markup=False)

        return Demo(settings, root, say).run(progress, draw)


def demo(
    forces: int = typer.Option(5, min=2, max=43, help="How many forces take part."),
    persons_per_force: int = typer.Option(
        DEFAULT_PERSONS, min=50, help="Person records per force (the default runs in about "
        "a minute on 2 cores)."),
    seed: int = typer.Option(7, help="Seed of the synthetic scenario (same seed, same data)."),
    engine: str = typer.Option(
        "deployment", help="deployment: Flower's Deployment Engine on loopback (a real "
        "SuperLink and one SuperNode per force, TLS and node authentication on); inprocess: "
        "the same ServerApp and relay over an in-process grid (seconds, no Flower "
        "processes)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON "
                                 "object (scores under person_links and network_membership)."),
    out: Path | None = typer.Option(
        None, help="Keep every node and coordinator folder here (must be new or empty), "
        "plus networks.html, a drawing of the largest cross-force networks."),
    purposes: str = typer.Option(
        "", "--purposes", help="Shipped policies to federate under, one round each: 'all' "
        f"({', '.join(DEMO_POLICIES)}) or a comma-separated list. Default: all with "
        "--engine inprocess; with the Deployment Engine the three under which networks "
        f"are planted ({', '.join(NETWORK_POLICIES)}: the demo ends in about 100 s on 2 "
        "cores); 'all' adds matching-only, whose round shares every person (about 45 s "
        "more)."),
    secure_aggregation: bool = typer.Option(
        False, "--secure-aggregation", help="Every force releases its aggregate counts only "
        "inside a national sum made with Flower SecAgg+ (the coordinator never sees one "
        "force's counts); adds about 45-55 s with the Deployment Engine."),
    serve: bool = typer.Option(
        False, "--serve", help="At the end, serve both web consoles on loopback until "
        "Ctrl-C — the national one (`coordinator serve`) and each force's (`node "
        "serve-console`) — and print their addresses and a login for each role."),
) -> None:
    """Run a synthetic multi-force scenario through crossforce, end to end, and score it.

    Generates the scenario, loads one node per force, registers the forces with a
    coordinator, starts each force's gateway, federates one round through Flower (share
    sets in, linkage, hits out), then shows the cross-force networks found, the hits each
    force received, the ledgers (verified at both ends) and precision/recall/F1 of person
    links and network membership against the planted truth. Every process it starts is
    stopped at the end, on error and on Ctrl-C.
    """
    if engine not in ("deployment", "inprocess"):
        raise CrossforceError(f"--engine must be deployment or inprocess, not {engine!r}")
    chosen = _purposes(purposes, engine)
    settings = DemoSettings(forces=forces, persons_per_force=persons_per_force, seed=seed,
                            engine=engine,  # type: ignore[arg-type]
                            policy=chosen[0], policies=chosen,
                            secure_aggregation=secure_aggregation)
    console = Console()
    if out is None:
        tmp = Path(tempfile.mkdtemp(prefix="crossforce-demo-"))
        try:
            result = run_demo(settings, tmp / "demo", draw=False)
            _show(result, as_json, console)
            _then_serve(result, serve, as_json)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    result = run_demo(settings, out, draw=True)
    _show(result, as_json, console)
    _then_serve(result, serve, as_json)


def _then_serve(result: DemoResult, serve: bool, as_json: bool) -> None:
    """Serve the web consoles over the demo (--serve), or say how to (never into the
    JSON on stdout: with --json, on stderr)."""
    root = result.root
    console = Console(stderr=as_json)
    if not serve:
        console.print("to browse it: crossforce demo --out DIR --serve (both web consoles "
                      "on loopback, a login per role)", style="dim", highlight=False)
        return
    from scenario.serve import serve_consoles

    forces = result.scenario.get("forces", [])
    with _sigterm_as_interrupt():
        serve_consoles(root, {f: root / "nodes" / f for f in forces},
                       result.purposes[0]["purpose"] if result.purposes else "", console)


def _purposes(given: str, engine: str) -> tuple[str, ...]:
    """The shipped policies named by --purposes (see its help)."""
    if not given:
        return DEMO_POLICIES if engine == "inprocess" else NETWORK_POLICIES
    if given.strip() == "all":
        return DEMO_POLICIES
    names = tuple(dict.fromkeys(n.strip() for n in given.split(",") if n.strip()))
    unknown = [n for n in names if n not in DEMO_POLICIES]
    if unknown or not names:
        raise CrossforceError(f"--purposes {given!r}: name 'all' or some of "
                              f"{', '.join(DEMO_POLICIES)}")
    return names


def _show(result: DemoResult, as_json: bool, console: Console) -> None:
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2, default=str))
    else:
        print_result(result, console)
