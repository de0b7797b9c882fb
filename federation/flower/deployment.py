"""Flower's Deployment Engine on loopback: one SuperLink, one SuperNode per force, supervised.

Every process starts in its own process group with a log file under the work folder, and
``stop()`` (also run on error, Ctrl-C and interpreter exit) ends each group: a SuperNode
that cannot reach its SuperLink retries forever (Flower #6250), so nothing here waits
without a deadline. Node authentication is always on: each force gets an ECDSA P-384 key,
registered with its name, and the ServerApp maps nodes to forces by those names.

Real use differs only in addresses and TLS: give ``tls=TlsFiles(...)`` (server
certificate, key, CA) and expose only the fleet path of the SuperLink port to forces.

Each SuperNode runs in process isolation next to the force's own relay executor
(``federation.flower.containment``), which runs only app bundles whose SHA-256 the force
approved (by default this installation's relay). With ``relay_users`` (root only) both run
as that force's unprivileged relay user, from a relay folder only that user can read —
what ``crossforce node join`` does; without, they run as the caller (development).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from federation.errors import CrossforceError

if TYPE_CHECKING:
    from federation.flower.containment import RelayUser
    from federation.flower.serverapp import FederationReport

Progress = Callable[[str], None]
NodeConfig = Mapping[str, bool | float | int | str]

CONNECTION = "crossforce"
APP_NAME = "crossforce-app"
BIN = Path(sys.executable).parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: seconds between the SuperLink's SuperExec's asks for a run to start (a run starts at
#: most this much later; each ask costs the SuperLink ~7 ms of CPU)
SUPEREXEC_POLL = "0.5"
#: the SuperLink's state: a SQLite file, or ``memory`` (default: ``LoopbackDeployment``)
SUPERLINK_DATABASE_ENV = "CROSSFORCE_SUPERLINK_DATABASE"
#: ``1``: relay executors start a fresh interpreter per task instead of forking
RELAY_SPAWN_ENV = "CROSSFORCE_RELAY_SPAWN"
#: what a relay executor logs when a task ends (its CPU seconds, from ``wait4``)
TASK_DONE = re.compile(r"relay executor: task \S+ of run \S+ done: exit (-?\d+), "
                       r"([\d.]+) CPU-s, ([\d.]+) s")

# The run-config keys the ServerApp reads, with defaults (flwr run only accepts
# overrides of keys declared in the app's pyproject.toml).
RUN_CONFIG_DEFAULTS: dict[str, Any] = {
    "purpose": "crossforce",
    "epoch": 1,
    "share-timeout": 120.0,
    "hits-timeout": 60.0,
    "expected-forces": "",
    "wait-for-nodes": 30.0,
    "coordinator-service": "",
    "coordinator-dir": ".",
    "report-file": "",
    "secure-aggregation": False,
    "aggregate-timeout": 120.0,
    "secure-tables": "",
    "secure-years": "",
}


@dataclass(frozen=True)
class TlsFiles:
    """SuperLink certificate, its key, and the CA that signed it (SuperNodes trust the CA)."""

    certfile: Path
    keyfile: Path
    ca_certfile: Path


def make_loopback_tls(directory: Path, days: int = 2) -> TlsFiles:
    """A throwaway CA and a SuperLink certificate for 127.0.0.1/localhost (Flower refuses
    node authentication without TLS). Real deployments bring their own certificates."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from federation.keys import write_private_file

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = (x509.CertificateBuilder().subject_name(name("crossforce loopback CA"))
          .issuer_name(name("crossforce loopback CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA384()))
    key = ec.generate_private_key(ec.SECP384R1())
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(san, critical=False).sign(ca_key, hashes.SHA384()))
    files = TlsFiles(directory / "superlink.pem", directory / "superlink.key",
                     directory / "ca.pem")
    files.certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.ca_certfile.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    write_private_file(files.keyfile, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), overwrite=True)
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_node_key(directory: Path, force: str) -> tuple[Path, Path]:
    """An ECDSA P-384 key pair for SuperNode authentication (OpenSSH formats Flower reads);
    the private key file is 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = directory / f"{force}.key"
    public = directory / f"{force}.key.pub"
    from federation.keys import write_private_file

    write_private_file(private, key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.OpenSSH,
                                                  serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH))
    return private, public


def write_app(directory: Path) -> Path:
    """The Flower App bundle source: only a pyproject.toml naming the installed crossforce
    apps, so the bundle carries no code and no data."""
    app_dir = directory / APP_NAME
    app_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {"name": APP_NAME, "version": "1.0.0", "license": "Proprietary",
                    "description": "crossforce federation rounds", "dependencies": []},
        "tool": {"flwr": {"app": {
            "publisher": "crossforce",
            "components": {"serverapp": "federation.flower.serverapp:app",
                           "clientapp": "federation.flower.clientapp:app"},
            "config": RUN_CONFIG_DEFAULTS,
        }}},
    }
    (app_dir / "pyproject.toml").write_text(tomli_w.dumps(config))
    return app_dir


def write_node_config(path: Path, config: NodeConfig) -> Path:
    """A ``--node-config`` TOML file (Flower accepts one; safer than ``k=v`` text for paths
    with spaces)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(dict(config)))
    return path


def superlink_argv(tls: TlsFiles, *, host: str = "127.0.0.1", port: int = 9092,
                   database: Path | None = None) -> list[str]:
    """``flower-superlink`` as crossforce runs it: TLS, node authentication on, no runtime
    dependency installation, its state in memory unless ``database`` names a file. Put
    only the ``/v1/fleet`` path of this port in front of forces (the control API has no
    login in open-source Flower)."""
    argv = [str(BIN / "flower-superlink"), "--ssl-certfile", str(tls.certfile),
            "--ssl-keyfile", str(tls.keyfile), "--ssl-ca-certfile", str(tls.ca_certfile),
            "--enable-supernode-auth", "--disable-runtime-dependency-installation",
            "--host", host, "--port", str(port)]
    return argv + (["--database", str(database)] if database else [])


def supernode_argv(superlink: str, private_key: Path, node_config: Path,
                   root_certificates: Path, *, port: int = 9094) -> list[str]:
    """``flower-supernode`` for one force (what ``crossforce node join`` runs): outbound
    to ``superlink`` (``host:port``), authenticated by the force's ECDSA key, its node
    config naming the force's gateway and relay secret file, local runtime on ``port``."""
    return [str(BIN / "flower-supernode"), "--root-certificates", str(root_certificates),
            "--superlink", superlink, "--port", str(port),
            "--auth-supernode-private-key", str(private_key),
            "--node-config", str(node_config)]


def superlink_state(choice: Path | str | None, workdir: Path, *,
                    local_nodes: bool) -> Path | None:
    """Where the SuperLink keeps its state: a SQLite file, or None for memory.
    ``choice``: a file, ``memory``, or None for the default (memory when the deployment
    runs its own SuperNodes with fresh keys, else ``workdir/superlink.db``)."""
    if choice is None:
        return None if local_nodes else workdir / "superlink.db"
    if str(choice).strip().lower() == "memory":
        return None
    return Path(choice)


class Process:
    """One supervised server process in its own process group, logging to a file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str],
                 log_dir: Path, *, user: RelayUser | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.user = user
        self.log = log_dir / f"{name}.log"
        self._log_file = self.log.open("ab")
        # ``user``: start as that (unprivileged) user; the log stays the caller's file
        self.popen = subprocess.Popen(list(argv), env=dict(env), stdout=self._log_file,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, cwd=cwd,
                                      **(user.popen_kwargs() if user else {}))

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self) -> None:
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole group, SIGKILL what is left after ``grace`` seconds."""
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(grace)
        _signal_group(self.popen.pid, signal.SIGKILL)  # children that outlived the leader
        if self.popen.poll() is None:
            self.popen.wait(5)
        deadline = time.monotonic() + 5
        while group_alive(self.popen.pid) and time.monotonic() < deadline:
            time.sleep(0.02)  # killed children are reaped by init a moment later
        self._log_file.close()


def group_alive(pgid: int) -> bool:
    """Is any process (a server or anything it spawned) left in this process group?"""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class LoopbackDeployment:
    """A SuperLink and one SuperNode per force on 127.0.0.1.

    ``forces`` maps each force name to its SuperNode's node config (``gateway``,
    ``gateway-secret-file``). TLS and node authentication are always on (Flower requires
    TLS for node authentication); without ``tls`` a throwaway loopback CA is made.

    Use as a context manager — everything started is stopped on exit, whatever happened —
    and either ``federate(run_config)`` (one run, start-up steps overlapped: the fastest)
    or ``start()`` then ``run(run_config)`` as often as needed.

    The relay (``federation.flower.containment``): ``approved`` maps a force to the relay
    app hashes it runs (default: this installation's relay only); ``relay_users`` maps a
    force to the OS user its SuperNode and relay run as (root only; the relay folders then
    live in a fresh folder under ``relay_root``, default the system temp folder, made
    reachable but not listable); ``relay_python`` is the interpreter they run (default
    this one; it must be one the relay users can execute). Each relay executor forks
    every task from itself with Flower and the relay already imported; ``relay_spawn``
    (default: environment ``CROSSFORCE_RELAY_SPAWN=1``) starts a fresh interpreter per
    task instead, as Flower's own SuperExec does (for comparison).

    The SuperLink's state (registered node keys, runs, messages in flight) is Flower's
    SQLite file ``superlink.db`` in ``workdir`` when forces join from elsewhere (no
    ``forces`` here: ``coordinator run``), so keys registered in one run stay registered
    for the next. With local SuperNodes (``forces``: the demo, benches, tests) it is kept
    in memory, since every start registers fresh node keys anyway: a SuperLink that stops
    then loses only the round in flight, which its ServerApp's end loses anyway; the
    coordinator store and the ledgers are durable either way. The SQLite state costs the
    one SuperLink process ~5 ms of CPU per request (a round is hundreds) and keeps message
    contents on disk. ``superlink_database`` (default: environment
    ``CROSSFORCE_SUPERLINK_DATABASE``) overrides the choice: a file, or ``memory``.
    """

    def __init__(self, workdir: Path, forces: Mapping[str, NodeConfig], *,
                 tls: TlsFiles | None = None, pythonpath: Sequence[Path] = (),
                 progress: Progress | None = None, start_timeout: float = 60.0,
                 approved: Mapping[str, Iterable[str]] | None = None,
                 relay_users: Mapping[str, str] | None = None,
                 relay_python: Path | str | None = None,
                 relay_root: Path | None = None,
                 relay_spawn: bool | None = None,
                 superlink_database: Path | str | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.forces = dict(forces)
        self.tls = tls if tls is not None else make_loopback_tls(self.workdir / "tls")
        self.progress: Progress = progress or (lambda line: None)
        self.start_timeout = start_timeout
        self.port = free_port()
        #: where the SuperLink listens (a coordinator facing forces sets its own)
        self.host = "127.0.0.1"
        self.address = f"127.0.0.1:{self.port}"
        self.processes: list[Process] = []
        self.logs = self.workdir / "logs"
        self.home = self.workdir / "flwr-home"
        self.env = self._environment(pythonpath)
        self.node_ids: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._stopped = False
        self._t0 = time.monotonic()
        self._report_file = self.workdir / "report.json"
        self.approved = {f: frozenset(h) for f, h in (approved or {}).items()}
        self.relay_users = dict(relay_users or {})
        self.relay_python = str(relay_python or sys.executable)
        self._relay_root_parent = relay_root
        self.relay_spawn = (os.environ.get(RELAY_SPAWN_ENV) == "1" if relay_spawn is None
                            else relay_spawn)
        self._relay_root: Path | None = None
        #: Flower's SQLite state file, or None: the SuperLink keeps its state in memory
        self.superlink_database = superlink_state(
            superlink_database or os.environ.get(SUPERLINK_DATABASE_ENV) or None,
            self.workdir, local_nodes=bool(self.forces))
        #: force → the relay folder its SuperNode and relay read from
        self.relay_dirs: dict[str, Path] = {}

    # -- the three phases
    def start_superlink(self) -> None:
        """Start the SuperLink (TLS, node authentication) and wait until it listens."""
        self._t0 = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        self._write_flwr_config()
        atexit.register(self.stop)
        superlink = self._spawn("superlink", superlink_argv(
            self.tls, host=self.host, port=self.port, database=self.superlink_database))
        self._wait_port(superlink, self._t0 + self.start_timeout)
        self._mark("superlink")
        self.progress(f"SuperLink up on {self.host}:{self.port} (TLS, node authentication "
                      "on)")

    def start_nodes(self, wait: bool = True) -> None:
        """Register each force's SuperNode key under its name, start each SuperNode, and
        (if ``wait``) wait until each has connected."""
        keys = self.workdir / "node-keys"
        pairs = {force: write_node_key(keys, force) for force in self.forces}
        self.node_ids = self._register_all({f: pub for f, (_, pub) in pairs.items()})
        self._mark("registered")
        self.progress(f"registered node keys: {', '.join(self.forces)}")
        for force, config in self.forces.items():
            self.start_relay(force, config, pairs[force][0])
        if wait:
            self._wait_online(self._t0 + self.start_timeout)
            self._mark("connected")
            self.progress(f"SuperNodes connected: {', '.join(self.forces)}")

    def start_relay(self, force: str, config: NodeConfig, auth_key: Path) -> None:
        """One force's SuperNode (process isolation) and its relay executor, as the
        force's relay user if it has one."""
        from federation.flower.containment import (
            RelayUser,
            contained_supernode_argv,
            executor_argv,
            relay_environment,
            relay_fab_hash,
            stage_relay_files,
        )

        user = None
        if force in self.relay_users:
            user = RelayUser.lookup(self.relay_users[force])
            if user is None:
                raise CrossforceError(f"relay user {self.relay_users[force]!r} of {force} "
                                      "does not exist")
            relay_dir = self._contained_root() / force
        else:
            relay_dir = self.workdir / "relay" / force
        secret = Path(str(config["gateway-secret-file"]))
        files = stage_relay_files(relay_dir, user, node_config=config, secret_file=secret,
                                  auth_key=auth_key, root_certificates=self.tls.ca_certfile)
        self.relay_dirs[force] = relay_dir
        approved = self.approved.get(force) or frozenset({relay_fab_hash()})
        env = relay_environment(relay_dir, base=self.env)
        port = free_port()
        self._spawn(f"supernode-{force}", contained_supernode_argv(
            self.relay_python, self.address, files, port=port), env=env, user=user,
            cwd=relay_dir)
        self._spawn(f"relay-{force}", executor_argv(
            self.relay_python, f"127.0.0.1:{port}", approved, files.exec_secret,
            spawn=self.relay_spawn),
            env=env, user=user, cwd=relay_dir)

    def _contained_root(self) -> Path:
        """A root-owned folder others may pass through but not list (0711), holding one
        0700 relay folder per contained force; removed on stop."""
        if self._relay_root is None:
            self._relay_root = Path(tempfile.mkdtemp(prefix="crossforce-relay-",
                                                     dir=self._relay_root_parent))
            os.chmod(self._relay_root, 0o711)
        return self._relay_root

    def launch_run(self, run_config: Mapping[str, Any], app_dir: Path | None = None,
                   ) -> Process:
        """Submit the crossforce app (or the app in ``app_dir``) with ``flwr run`` (returns
        at once). The crossforce ServerApp writes its FederationReport to ``report-file``
        (default: ``report.json`` here)."""
        if app_dir is None:
            unknown = set(run_config) - set(RUN_CONFIG_DEFAULTS)
            if unknown:
                raise CrossforceError(
                    f"unknown run-config keys: {', '.join(sorted(unknown))}")
            config = {"report-file": str(self.workdir / "report.json"), **run_config}
            self._report_file = Path(str(config["report-file"]))
            self._report_file.unlink(missing_ok=True)
            app_dir = write_app(self.workdir)
        else:
            config = dict(run_config)
        overrides = self.workdir / "run-config.toml"
        overrides.write_text(tomli_w.dumps(config))
        return self._spawn("flwr-run", [
            str(BIN / "flwr"), "run", str(app_dir), CONNECTION, "--stream",
            "--run-config", str(overrides)])

    def wait_process(self, run: Process, timeout: float = 300.0) -> None:
        """Stream a run's log lines to ``progress`` until it ends (stopped, with an
        error, after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        shown = 0
        while run.alive() and time.monotonic() < deadline:
            shown = self._stream(run, shown)
            time.sleep(0.2)
        self._stream(run, shown)
        self._mark("run")
        if run.alive():
            run.stop()
            raise CrossforceError(f"flwr run did not finish in {timeout:g} s; "
                                  f"logs in {self.logs}")

    def wait_run(self, run: Process, timeout: float = 300.0) -> FederationReport:
        """Stream the run's log lines to ``progress`` until it ends, then read the report.
        ``flwr run`` exits 0 even when the ServerApp fails, so a missing report is the
        failure signal: raise with the ServerApp's last error lines."""
        self.wait_process(run, timeout)
        if not self._report_file.exists():
            errors = [ANSI.sub("", line) for line in run.tail(400).splitlines()
                      if "Error" in line or "ERROR" in line]
            raise CrossforceError("the federation run failed: "
                                  + (" | ".join(errors[-3:]) or f"see {run.log}"))
        from federation.flower.serverapp import FederationReport

        return FederationReport.from_json(json.loads(self._report_file.read_text()))

    # -- the usual combinations
    def start(self) -> LoopbackDeployment:
        """SuperLink up, nodes registered and connected: ready for ``run``."""
        self.start_superlink()
        self.start_nodes(wait=True)
        return self

    def run(self, run_config: Mapping[str, Any], timeout: float = 300.0) -> FederationReport:
        return self.wait_run(self.launch_run(run_config), timeout)

    def federate(self, run_config: Mapping[str, Any],
                 timeout: float = 300.0) -> FederationReport:
        """Start everything and do one run, overlapping the slow start-ups: the run is
        submitted while node keys register and SuperNodes connect (the ServerApp waits up
        to ``wait-for-nodes`` seconds for ``expected-forces``)."""
        config = {"expected-forces": ",".join(self.forces), "wait-for-nodes": 60.0,
                  **run_config}
        self.start_superlink()
        run = self.launch_run(config)
        self.start_nodes(wait=False)
        return self.wait_run(run, timeout)

    # -- helpers
    def _mark(self, step: str) -> None:
        self.timings[step] = time.monotonic() - self._t0

    def _environment(self, pythonpath: Sequence[Path]) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "FLWR_HOME": str(self.home),
            "FLWR_TELEMETRY_ENABLED": "0",
            # the SuperLink's SuperExec asks for a ServerApp to start (Flower: every 1 s);
            # each ask is an HTTPS request the SuperLink serves, so not every 0.1 s
            "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": SUPEREXEC_POLL,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        })
        if pythonpath:
            extra = os.pathsep.join(str(Path(p).resolve()) for p in pythonpath)
            env["PYTHONPATH"] = extra + (os.pathsep + env["PYTHONPATH"]
                                         if env.get("PYTHONPATH") else "")
        return env

    def _write_flwr_config(self) -> None:
        connection = {"address": self.address, "root-certificates": str(self.tls.ca_certfile)}
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config.toml").write_text(tomli_w.dumps(
            {"superlink": {"default": CONNECTION, CONNECTION: connection}}))

    def _spawn(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
               user: RelayUser | None = None, cwd: Path | None = None) -> Process:
        if self._stopped:
            raise CrossforceError("this deployment has been stopped")
        process = Process(name, argv, self.env if env is None else env, self.logs,
                          user=user, cwd=cwd)
        self.processes.append(process)
        return process

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.name != "flwr-run" and not process.alive():
                raise CrossforceError(f"{process.name} exited (code {process.popen.returncode})"
                                      f"; last log lines:\n{process.tail()}")

    def _wait_port(self, superlink: Process, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise CrossforceError(f"SuperLink not listening on {self.address} after "
                              f"{self.start_timeout:g} s:\n{superlink.tail()}")

    def _register_all(self, public_keys: Mapping[str, Path]) -> dict[str, int]:
        """``flwr supernode register KEY.pub --name FORCE`` for every force, in parallel
        (each ``flwr`` call is seconds of start-up); returns force → node id."""
        calls = {force: subprocess.Popen(
            [str(BIN / "flwr"), "supernode", "register", str(key), CONNECTION, "--name", force],
            env=self.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=self.workdir, start_new_session=True) for force, key in public_keys.items()}
        node_ids: dict[str, int] = {}
        try:
            for force, call in calls.items():
                out, _ = call.communicate(timeout=self.start_timeout)
                found = re.search(r"SuperNode (\d+) registered", out or "")
                if not found:
                    raise CrossforceError(f"could not register {force}'s SuperNode key: "
                                          f"{(out or '').strip()[-500:]}")
                node_ids[force] = int(found.group(1))
        finally:
            for call in calls.values():
                if call.poll() is None:
                    _signal_group(call.pid, signal.SIGKILL)
                    call.wait()
        return node_ids

    def relay_task_cpu(self) -> list[float]:
        """CPU seconds of every relay task so far (all forces), as each executor logged
        it: what one message costs on the force's side, Flower's SuperNode aside."""
        return [float(m.group(2)) for p in self.processes if p.name.startswith("relay-")
                for m in TASK_DONE.finditer(p.log.read_text(errors="replace"))]

    def online(self) -> set[str]:
        """The forces whose SuperNode is connected now (asks the SuperLink)."""
        result = subprocess.run([str(BIN / "flwr"), "supernode", "list", CONNECTION,
                                 "--format", "json"], env=self.env, text=True,
                                capture_output=True, timeout=60, cwd=self.workdir)
        if result.returncode != 0:
            raise CrossforceError(f"flwr supernode list failed: {result.stdout[-300:]}")
        status = {int(n["node-id"]): n.get("status")
                  for n in json.loads(result.stdout).get("nodes", [])}
        return {f for f, node_id in self.node_ids.items() if status.get(node_id) == "online"}

    def _wait_online(self, deadline: float) -> None:
        """Each SuperNode logs its node id once the SuperLink has accepted its key."""
        waiting = {p for p in self.processes if p.name.startswith("supernode-")}
        while waiting and time.monotonic() < deadline:
            self._check_alive()
            waiting = {p for p in waiting if "SuperNode ID:" not in p.tail(200)}
            time.sleep(0.1)
        if waiting:
            names = ", ".join(sorted(p.name.removeprefix("supernode-") for p in waiting))
            raise CrossforceError(f"SuperNodes not connected after {self.start_timeout:g} s: "
                                  f"{names}")

    def _stream(self, run: Process, shown: int) -> int:
        lines = run.log.read_text(errors="replace").splitlines()
        for line in lines[shown:]:
            if line.strip():
                self.progress(ANSI.sub("", line))
        return len(lines)

    # -- teardown
    def stop(self) -> None:
        """Stop every process started: SIGTERM all groups at once, then wait for each
        (SIGKILL after a grace period)."""
        if self._stopped:
            return
        self._stopped = True
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            process.stop()
        if self._relay_root is not None:
            shutil.rmtree(self._relay_root, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> LoopbackDeployment:
        # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so __exit__ still stops all.
        self._previous_sigterm = None
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


__all__ = ["RUN_CONFIG_DEFAULTS", "LoopbackDeployment", "TlsFiles", "group_alive",
           "make_loopback_tls", "superlink_argv", "supernode_argv", "write_app",
           "write_node_config", "write_node_key"]


def await_exit(marker: str, timeout: float) -> list[int]:
    """Wait until no process whose command line mentions ``marker`` (a folder only this
    run uses) is alive; returns the pids still alive after ``timeout`` (Linux /proc)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for entry in (os.scandir("/proc") if Path("/proc").exists() else []):
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                with contextlib.suppress(OSError, IndexError):
                    state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z" and marker.encode() in Path(entry.path,
                                                                 "cmdline").read_bytes():
                        alive.append(int(entry.name))
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.2)
