"""Containing the relay: the coordinator's app runs as a separate OS user, and only if the
force approved it.

Flower ships the ClientApp (the relay) from the coordinator and runs it on the force's
SuperNode, so whoever controls the SuperLink (the coordinator, anyone who compromises it,
anyone who reaches its control API — which has no login in open-source Flower) chooses
code that runs on the force's machine. Two locks, both on by default in ``node join``:

1. **An unprivileged relay user.** The SuperNode and every ClientApp process run as a
   dedicated OS user (default ``crossforce-relay``) that cannot read the node folder, the
   keys or the store. What the relay needs is copied into its own folder (0700, owned by
   that user): the relay secret, the SuperNode's node-authentication key, the SuperLink's
   CA certificate and the node config. The node folder is made 0700, and before starting,
   a probe run as the relay user must fail to read it.
2. **Only approved relay code runs.** The SuperNode runs with ``--isolation process``: it
   starts no app process itself. The force's own executor (``run_executor``, this module,
   started and supervised by ``node join``) takes each task from the SuperNode's local
   runtime API and runs ``run_task``, which hashes the app bundle (FAB) it is given and
   runs it only if that SHA-256 is one the force approved; otherwise it answers with an
   error reply naming the hash, and the coordinator's round records the refusal. Flower's
   own ``--trusted-entities`` check cannot do this offline: in flwr 1.42 it accepts only
   FABs the SuperLink attached Flower Hub signatures to, so a locally submitted app is
   refused outright.

The crossforce relay bundle carries no code (only a ``pyproject.toml`` naming the
installed ``federation.flower.clientapp:app``), so its hash is reproducible from the
installed version: :func:`relay_fab_hash`. A force approves it by default, and any other
hash with ``node join --approve-relay HASH`` or a line in ``DIR/federation/approved-relays``.

Run as ``python -m federation.flower.containment executor|task|probe ...`` (as the relay
user); the rest of this module is what ``node join`` and ``LoopbackDeployment`` use to
set that up.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.errors import CrossforceError
from federation.flower.pulls import env_seconds
from federation.flower.wake import WAKE_ENV, WAKE_FILE, Wake

#: the relay user ``node join`` creates or uses unless told ``--relay-user``
RELAY_USER = "crossforce-relay"
#: approved relay FAB hashes, one a line (``#`` comments), inside a node folder
APPROVED_FILE = Path("federation") / "approved-relays"
#: where ``node join`` keeps each force's relay folder unless told ``--relay-dir``
RELAY_ROOT = Path("/var/lib/crossforce-relay")
#: files inside a relay folder
RELAY_SECRET = "relay-secret"
RELAY_KEY = "supernode.key"
RELAY_CA = "superlink-ca.pem"
RELAY_NODE_CONFIG = "node-config.toml"
EXEC_SECRET = "superexec-secret"
#: environment variable carrying a task token to ``run_task`` (not on the command line)
TOKEN_ENV = "CROSSFORCE_RELAY_TOKEN"
#: seconds between the relay executor's asks for a task from its local SuperNode (it
#: also asks as soon as the SuperNode wakes it: ``federation.flower.wake``)
RELAY_POLL_ENV = "CROSSFORCE_RELAY_POLL"
#: the ask interval with a wake-up pipe, and without one (polling alone)
RELAY_POLL_WOKEN, RELAY_POLL_ALONE = 1.0, 0.1
#: how often finished tasks are collected while some run (a local syscall, no request)
REAP_INTERVAL = 0.1
HASH = re.compile(r"^[0-9a-f]{64}$")
#: how ``flower-supernode`` is started from a given interpreter (with shorter waits:
#: ``federation.flower.supernode``)
SUPERNODE_BOOT = ("import sys; from federation.flower.supernode import main; "
                  "sys.exit(main())")


# --------------------------------------------------------------------------- approval


@functools.cache
def relay_fab_hash() -> str:
    """SHA-256 of the crossforce relay bundle as ``flwr run`` builds it from
    ``deployment.write_app`` (deterministic: Flower fixes the zip dates)."""
    import warnings

    from flwr.cli.build import build_fab_from_disk

    from federation.flower.deployment import write_app

    with tempfile.TemporaryDirectory(prefix="crossforce-fab-") as tmp, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pathspec, inside Flower
        return hashlib.sha256(build_fab_from_disk(write_app(Path(tmp)))).hexdigest()


def normalise_hash(value: str) -> str:
    """``sha256:HEX`` or ``HEX`` → lower-case hex; anything else is refused."""
    text = value.strip().lower().removeprefix("sha256:")
    if not HASH.match(text):
        raise CrossforceError(f"{value!r} is not a relay app hash (64 hex digits, as "
                              "`crossforce node relay-hash` prints)")
    return text


def approved_hashes(node_dir: Path | None, extra: Iterable[str] = (), *,
                    builtin: bool = True) -> frozenset[str]:
    """The relay bundles a force runs: this installation's own relay (``builtin``), the
    lines of ``DIR/federation/approved-relays`` and ``extra``."""
    found = {normalise_hash(h) for h in extra}
    if builtin:
        found.add(relay_fab_hash())
    if node_dir is not None and (Path(node_dir) / APPROVED_FILE).is_file():
        for line in (Path(node_dir) / APPROVED_FILE).read_text().splitlines():
            if line.split("#", 1)[0].strip():
                found.add(normalise_hash(line.split("#", 1)[0]))
    return frozenset(found)


# --------------------------------------------------------------------------- the relay user


@dataclass(frozen=True)
class RelayUser:
    """The OS user the SuperNode and its app processes run as."""

    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, name: str) -> RelayUser | None:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        return cls(name, entry.pw_uid, entry.pw_gid)

    def popen_kwargs(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments that start a process as this user (no
        supplementary groups, files private by default)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": 0o077}


def ensure_relay_user(name: str) -> RelayUser:
    """The relay user, created (system user, no login, no home) if missing. Needs root to
    create it or to start processes as it."""
    if name in ("root", "") or (RelayUser.lookup(name) or RelayUser(name, 1, 1)).uid == 0:
        raise CrossforceError(f"--relay-user {name!r}: the relay must run as an "
                              "unprivileged user, not root")
    if os.geteuid() != 0:
        raise CrossforceError(
            "`node join` runs the Flower SuperNode and the coordinator's relay app as a "
            f"separate unprivileged user ({name}) that cannot read this node's folder, keys "
            "or store, so the coordinator's code never runs with the node's rights. That "
            "needs root to set up: start `crossforce node join` as root (it drops "
            "privileges for the SuperNode at once), or, on a development machine only, add "
            "--insecure-dev to run the relay as yourself.")
    user = RelayUser.lookup(name)
    if user is None:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                                 "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                                 name], capture_output=True, text=True, check=False)
        user = RelayUser.lookup(name)
        if user is None:
            raise CrossforceError(f"could not create the relay user {name!r}: "
                                  f"{(result.stderr or result.stdout).strip()[-300:]}")
    if user.uid == 0:
        raise CrossforceError(f"relay user {name!r} has uid 0; pick an unprivileged user")
    return user


def relay_environment(relay_dir: Path, *, pythonpath: str | None = None,
                      base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for relay processes: nothing of the caller's but the Python
    path and Flower settings (an environment can carry secrets)."""
    base = os.environ if base is None else base
    env = {"HOME": str(relay_dir), "FLWR_HOME": str(relay_dir / "flwr-home"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
           "FLWR_TELEMETRY_ENABLED": "0", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
           "LANG": base.get("LANG", "C.UTF-8"), "TMPDIR": str(relay_dir / "tmp")}
    if pythonpath or base.get("PYTHONPATH"):
        env["PYTHONPATH"] = pythonpath or base["PYTHONPATH"]
    env[WAKE_ENV] = str(relay_dir / WAKE_FILE)  # the SuperNode wakes the executor
    for name in (RELAY_POLL_ENV, "CROSSFORCE_SUPERNODE_POLL",
                 "CROSSFORCE_SUPERNODE_BUSY_POLL", "CROSSFORCE_PULL_BACKOFF",
                 "CROSSFORCE_PULL_BACKOFF_CAP"):
        if base.get(name):
            env[name] = base[name]
    return env


@dataclass(frozen=True)
class RelayFiles:
    """What a contained SuperNode and its executor read, all inside the relay folder."""

    directory: Path
    secret: Path
    key: Path
    ca: Path
    node_config: Path
    exec_secret: Path


def stage_relay_files(relay_dir: Path, user: RelayUser | None, *, node_config: Mapping[str, Any],
                      secret_file: Path, auth_key: Path, root_certificates: Path) -> RelayFiles:
    """Copy what the relay needs into ``relay_dir`` (0700, owned by ``user``): the relay
    secret (0600), the SuperNode key (0600), the CA certificate, the node config pointing at
    the copied secret, and a fresh SuperExec secret that keeps other local users from
    taking this SuperNode's tasks. With no ``user`` (development) the files stay the
    caller's, still 0600."""
    import secrets

    import tomli_w

    relay_dir = Path(relay_dir)
    relay_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _owned_tree(relay_dir, user)
    os.chmod(relay_dir, 0o700)
    for sub in ("flwr-home", "tmp"):
        (relay_dir / sub).mkdir(exist_ok=True)
    files = RelayFiles(relay_dir, relay_dir / RELAY_SECRET, relay_dir / RELAY_KEY,
                       relay_dir / RELAY_CA, relay_dir / RELAY_NODE_CONFIG,
                       relay_dir / EXEC_SECRET)
    _write(files.secret, Path(secret_file).read_bytes(), 0o600)
    _write(files.key, Path(auth_key).read_bytes(), 0o600)
    _write(files.ca, Path(root_certificates).read_bytes(), 0o644)
    _write(files.exec_secret, secrets.token_hex(32).encode(), 0o600)
    config = {**dict(node_config), "gateway-secret-file": str(files.secret)}
    _write(files.node_config, tomli_w.dumps(config).encode(), 0o600)
    if user is not None:
        _owned_tree(relay_dir, user)
    return files


def _write(path: Path, data: bytes, mode: int) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _owned_tree(root: Path, user: RelayUser) -> None:
    os.chown(root, user.uid, user.gid)
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(base, name), user.uid, user.gid, follow_symlinks=False)


def close_node_folder(node_dir: Path) -> bool:
    """Make the node folder 0700 (owner only) if group or others had any access; True if
    it changed. Its files then cannot be reached by the relay user, whatever their mode."""
    mode = stat.S_IMODE(Path(node_dir).stat().st_mode)
    if mode & 0o077:
        os.chmod(node_dir, mode & 0o700)
        return True
    return False


# --------------------------------------------------------------------------- commands


def executor_argv(python: str, runtime_address: str, approved: Iterable[str],
                  exec_secret: Path, *, spawn: bool = False) -> list[str]:
    """The relay executor; ``spawn``: a fresh interpreter per task (the default forks
    each task from the preloaded executor)."""
    argv = [python, "-m", "federation.flower.containment", "executor",
            "--runtime-api-address", runtime_address, "--superexec-secret-file",
            str(exec_secret)] + (["--spawn"] if spawn else [])
    for digest in sorted(approved):
        argv += ["--approve", digest]
    return argv


def contained_supernode_argv(python: str, superlink: str, files: RelayFiles, *,
                             port: int) -> list[str]:
    """``flower-supernode`` in process isolation (it starts no app process; the force's
    executor does), everything read from the relay folder."""
    return [python, "-c", SUPERNODE_BOOT, "--root-certificates", str(files.ca),
            "--superlink", superlink, "--host", "127.0.0.1", "--port", str(port),
            "--auth-supernode-private-key", str(files.key),
            "--node-config", str(files.node_config), "--isolation", "process",
            "--superexec-auth-secret-file", str(files.exec_secret)]


def probe(python: str, user: RelayUser | None, env: Mapping[str, str], *,
          deny: Sequence[Path], allow: Sequence[Path], gateway: str | None = None,
          cwd: Path | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """Run :func:`_probe_main` as the relay user: which of ``deny`` / ``allow`` it can
    read, and whether it can reach ``gateway``."""
    spec = {"deny": [str(p) for p in deny], "allow": [str(p) for p in allow],
            "gateway": gateway}
    kwargs = user.popen_kwargs() if user is not None else {}
    try:
        result = subprocess.run([python, "-m", "federation.flower.containment", "probe",
                                 json.dumps(spec)], env=dict(env), capture_output=True,
                                text=True, timeout=timeout, cwd=cwd, check=False, **kwargs)
        problem = (result.stderr or result.stdout).strip()[-400:]
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        ok = result.returncode == 0 and bool(lines)
    except (OSError, subprocess.SubprocessError) as exc:
        problem, lines, ok = str(exc), [], False
    if not ok:
        raise CrossforceError(
            f"the relay user {user.name if user else '(you)'} cannot run {python} with "
            f"crossforce and Flower importable ({problem}). Install crossforce where that "
            "user can read and run it (e.g. a system-wide venv), or name an interpreter it "
            "can run with --relay-python.")
    return dict(json.loads(lines[-1]))


def check_containment(found: Mapping[str, Any], user_name: str) -> None:
    """Refuse to go on if the relay user could read anything of the node, or could not
    read its own secret or reach the gateway."""
    readable = [p for p, ok in found["deny"].items() if ok]
    if readable:
        raise CrossforceError(
            f"the relay user {user_name} can read {', '.join(readable)}: the coordinator's "
            "code would run with access to this node. Make the node folder (and any secret "
            "file outside it) readable by the node's owner only (chmod 700 DIR) or pick "
            "another --relay-user.")
    unreadable = [p for p, ok in found["allow"].items() if not ok]
    if unreadable:
        raise CrossforceError(f"the relay user {user_name} cannot read {', '.join(unreadable)}")
    if found.get("gateway") not in (None, "ok"):
        raise CrossforceError(
            f"the relay user {user_name} cannot reach the gateway: {found['gateway']}. With "
            "--uds, put the socket where that user can reach it and let it connect (e.g. "
            f"chown {user_name} SOCKET), or serve the gateway on 127.0.0.1.")


# --------------------------------------------------------------------------- as the relay user


def _probe_main(spec: Mapping[str, Any]) -> dict[str, Any]:
    def readable(path: str) -> bool:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as f:
                    f.read(1)
            return True
        except OSError:
            return False

    import federation.flower.clientapp  # noqa: F401 - the relay must import

    result: dict[str, Any] = {"uid": os.getuid(),
                              "deny": {p: readable(p) for p in spec["deny"]},
                              "allow": {p: readable(p) for p in spec["allow"]}}
    gateway = spec.get("gateway")
    if gateway:
        import httpx

        try:
            if gateway.startswith("unix:"):
                client = httpx.Client(transport=httpx.HTTPTransport(uds=gateway[5:]),
                                      base_url="http://gateway", timeout=10)
            else:
                client = httpx.Client(base_url=gateway, timeout=10)
            with client:
                client.get("/")
            result["gateway"] = "ok"
        except httpx.HTTPError as exc:
            result["gateway"] = f"{type(exc).__name__}: {exc}"
    return result


def _runtime_client(address: str, interceptors: list[Any]) -> Any:
    from flwr.supercore.retry import make_simple_http_retry_invoker
    from flwr.supercore.runtime import RuntimeHttpClient

    return RuntimeHttpClient.from_server_address(
        server_address=address, insecure=True, root_certificates=None,
        interceptors=interceptors, retry_invoker=make_simple_http_retry_invoker())


def preload_relay() -> None:
    """Import, once in the executor, everything a relay task runs — Flower's runtime and
    the installed relay module — so each task forked from it starts with them loaded:
    the ~1 CPU-s of imports is paid once per node, not once per message."""
    import flwr.app  # noqa: F401
    import flwr.cli.install  # noqa: F401
    import flwr.clientapp.utils  # noqa: F401
    import flwr.common.constant  # noqa: F401
    import flwr.supercore.app_utils  # noqa: F401
    import flwr.supercore.heartbeat  # noqa: F401
    import flwr.supercore.interceptors  # noqa: F401
    import flwr.supernode.runtime.run_clientapp  # noqa: F401

    import federation.flower.clientapp  # noqa: F401
    import federation.flower.pulls  # noqa: F401
    import federation.keys  # noqa: F401  (reading the relay secret: pycryptodome, ~0.1 CPU-s)


def _fork_task(runtime_address: str, token: str, approved: frozenset[str]) -> int:
    """Run one task in a child forked from this (preloaded) executor; its pid. The child
    shares nothing with the next task: it exits when its task is done."""
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = run_task(runtime_address, token, approved, parent)
    except BaseException as exc:  # noqa: BLE001 - the child must never return to the loop
        print(f"relay task failed: {type(exc).__name__}: {exc}", flush=True)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # no atexit or finalisers of the parent's objects in the child


@dataclass
class _Running:
    """A task process the executor started, until it is reaped."""

    task: str
    started: float
    popen: subprocess.Popen[bytes] | None = None


def _reap(children: dict[int, _Running]) -> None:
    """Collect finished tasks and log each one's exit code, CPU and wall seconds."""
    import time

    for pid, running in list(children.items()):
        try:
            done, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            done, status, usage = pid, 0, None
        if done == 0:
            continue
        del children[pid]
        cpu = f"{usage.ru_utime + usage.ru_stime:.3f}" if usage is not None else "?"
        code = os.waitstatus_to_exitcode(status) if usage is not None else "?"
        if running.popen is not None:
            running.popen.returncode = code if isinstance(code, int) else None
        print(f"relay executor: task {running.task} done: exit {code}, {cpu} CPU-s, "
              f"{time.monotonic() - running.started:.2f} s", flush=True)


def run_executor(runtime_address: str, approved: frozenset[str], exec_secret: bytes,
                 poll_interval: float | None = None, *, fork: bool = True,
                 wake: Wake | None = None) -> None:
    """Flower's SuperExec, narrowed: take each ClientApp task from the local SuperNode and
    run it as :func:`run_task` (this user, this interpreter) — never Flower's own
    ``flwr-clientapp``, which would run any bundle the SuperLink names.

    With ``fork`` (default where the OS has it) each task runs in a child forked from
    this process after :func:`preload_relay`; otherwise in a fresh interpreter
    (``python -m federation.flower.containment task``), paying all imports per message.
    Between asks it waits on ``wake`` (the SuperNode's wake-up pipe) for up to
    ``poll_interval`` seconds (default 1 s with a pipe, 0.1 s without)."""
    import time

    from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611
    from flwr.supercore.constant import TaskType
    from flwr.supercore.interceptors import (
        RuntimeVersionHttpInterceptor,
        SuperExecAuthHttpInterceptor,
    )

    fork = fork and hasattr(os, "fork")
    if fork:
        preload_relay()
    client = _runtime_client(runtime_address, [
        RuntimeVersionHttpInterceptor(component_name="SuperExec"),
        SuperExecAuthHttpInterceptor(master_secret=exec_secret, protected_methods=frozenset(
            {"/flwr.proto.Runtime/AcquireTask"}))])
    argv = [sys.executable, "-m", "federation.flower.containment", "task",
            "--runtime-api-address", runtime_address, "--parent-pid", str(os.getpid())]
    for digest in sorted(approved):
        argv += ["--approve", digest]
    print(f"relay executor ({'fork' if fork else 'spawn'} per task, "
          f"{'woken by its SuperNode' if wake else 'polling'}): approved relay apps "
          f"{', '.join(sorted(approved))}", flush=True)
    children: dict[int, _Running] = {}
    while True:
        response = client.AcquireTask(AcquireTaskRequest(
            supported_task_types=[TaskType.CLIENT_APP.value], agentapp_fab_hashes=[]))
        if response.HasField("task") and response.token:
            task = f"{response.task.task_id} of run {response.task.run_id}"
            print(f"relay executor: task {task}", flush=True)
            if fork:
                children[_fork_task(runtime_address, response.token, approved)] = _Running(
                    task, time.monotonic())
            else:
                popen = subprocess.Popen(argv, env={**os.environ, TOKEN_ENV: response.token})
                children[popen.pid] = _Running(task, time.monotonic(), popen)
            continue  # another task may be waiting: ask again at once
        _reap(children)
        _wait(wake, children, poll_interval if poll_interval is not None else
              RELAY_POLL_WOKEN if wake is not None else RELAY_POLL_ALONE)


def _wait(wake: Wake | None, children: dict[int, _Running], seconds: float) -> None:
    """Until the SuperNode wakes us or ``seconds`` pass, collecting finished tasks every
    ``REAP_INTERVAL`` while any run (their log lines say what each message cost)."""
    import time

    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        step = min(left, REAP_INTERVAL) if children else left
        if wake is not None:
            woke = wake.wait(step)
        else:
            time.sleep(step)
            woke = False
        _reap(children)
        if woke:
            return


def run_task(runtime_address: str, token: str, approved: frozenset[str],
             parent_pid: int | None = None) -> int:
    """One ClientApp task, as ``flwr-clientapp`` runs it, except that the bundle's SHA-256
    (computed here from its bytes, not taken from the SuperLink's word) must be approved:
    otherwise nothing of it is installed or loaded and the message gets an error reply."""
    from flwr.app import Error, Message
    from flwr.cli.install import install_from_fab
    from flwr.clientapp.utils import get_load_client_app_fn
    from flwr.common.constant import ErrorCode, SubStatus
    from flwr.supercore.app_utils import start_parent_process_monitor
    from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
    from flwr.supercore.interceptors import (
        RuntimeTokenHttpInterceptor,
        RuntimeVersionHttpInterceptor,
    )
    from flwr.supernode.runtime.run_clientapp import (
        pull_task_input,
        push_message,
        push_task_output,
    )

    from federation.flower.pulls import shorten_object_pulls

    shorten_object_pulls()  # the question's objects from the SuperNode: no 1 s retry
    if parent_pid is not None:
        start_parent_process_monitor(parent_pid)
    client = _runtime_client(runtime_address, [
        RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
        RuntimeTokenHttpInterceptor(token)])
    heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
    heartbeat.start()
    message = context = reply = None
    sub_status, details, code = SubStatus.FAILED, "relay task failed", 1
    try:
        message, context, run, fab = pull_task_input(client)
        digest = hashlib.sha256(fab.content).hexdigest()
        if digest not in approved:
            details = (f"refused by this force: relay app sha256:{digest} ({run.fab_id or '?'}"
                       f" {run.fab_version or ''}) is not one it approved")
            print(details, flush=True)
            reply = Message(Error(code=ErrorCode.INVALID_FAB, reason=details),
                            reply_to=message)
        else:
            install_from_fab(fab.content, skip_prompt=True)
            load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
            reply = load(run.fab_id, run.fab_version, digest)(message=message,
                                                              context=context)
            sub_status, details, code = SubStatus.COMPLETED, "", 0
    except Exception as exc:  # noqa: BLE001 - any failure becomes an error reply
        details = f"{type(exc)}:<'{exc}'>"
        print(f"relay task failed: {details}", flush=True)
        if message is not None:
            reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION,
                                  reason=details), reply_to=message)
    finally:
        try:
            if reply is not None and context is not None:
                push_message(client, reply, context)
        finally:
            push_task_output(client=client, context=context, sub_status=sub_status,
                             details=details)
            heartbeat.stop()
            client.close()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m federation.flower.containment")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("executor", "task"):
        p = sub.add_parser(name)
        p.add_argument("--runtime-api-address", required=True)
        p.add_argument("--approve", action="append", default=[])
        p.add_argument("--superexec-secret-file")
        p.add_argument("--parent-pid", type=int)
        p.add_argument("--spawn", action="store_true",
                       help="start a fresh interpreter per task instead of forking")
    p = sub.add_parser("probe")
    p.add_argument("spec")
    args = parser.parse_args(argv)
    if args.command == "probe":
        print(json.dumps(_probe_main(json.loads(args.spec))), flush=True)
        return 0
    approved = frozenset(normalise_hash(h) for h in args.approve)
    if args.command == "executor":
        secret = Path(args.superexec_secret_file).read_bytes()
        wake = Wake.listen(os.environ.get(WAKE_ENV))
        poll = env_seconds(os.environ, RELAY_POLL_ENV,
                           RELAY_POLL_WOKEN if wake else RELAY_POLL_ALONE, 0.01, 3.0)
        try:
            run_executor(args.runtime_api_address, approved, secret, poll,
                         fork=not args.spawn, wake=wake)
        finally:
            if wake is not None:
                wake.close()
        return 0
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        print(f"no task token in {TOKEN_ENV}", file=sys.stderr)
        return 2
    return run_task(args.runtime_api_address, token, approved, args.parent_pid)


if __name__ == "__main__":
    sys.exit(main())
