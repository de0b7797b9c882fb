"""`crossforce node serve | join` — put a force's node on the federation.

``serve`` runs the node gateway (DESIGN.md §10): the only door from the coordinator's
untrusted relay into the node, on loopback or a Unix socket, behind a per-node relay secret.
``join`` runs the force's Flower SuperNode, which connects *outbound* to the coordinator's
SuperLink and relays its two questions to that gateway; the force opens no inbound port.

Written as plain functions plus :func:`register`, which adds them to the ``node`` command
group (node/cli.py calls it).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from federation.errors import CrossforceError

DirOption = typer.Option(..., "--dir", help="The node's folder.", file_okay=False)

#: relay secret file, gateway call log and SuperNode files inside a node folder
SECRET_FILE = Path("federation") / "relay-secret"
CALL_LOG = Path("federation") / "gateway-calls.jsonl"
SUPERNODE_DIR = Path("federation") / "supernode"
#: gateway outcomes the node's own code already ledgers (egress: disclosure; hits: collection)
LEDGERED_ELSEWHERE = ("shared", "received", "aggregates")


# --------------------------------------------------------------------------- the gateway


def relay_secret(node_dir: Path, secret_file: Path | None) -> Path:
    """The relay secret file (default DIR/federation/relay-secret), created 0600 if missing."""
    from federation.flower.protocol import create_relay_secret, read_relay_secret

    path = Path(secret_file) if secret_file else Path(node_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        create_relay_secret(path)
    read_relay_secret(path)  # refuses a short or world-readable secret now, not per call
    return path


def call_auditor(node_dir: Path, *, wait_s: float | None = None) -> Callable[[str, str], None]:
    """The gateway's ``on_call`` hook: every call gets a line in DIR/federation/
    gateway-calls.jsonl; every call that did not end in a share or a hits receipt (those are
    ledgered by egress and hits themselves) gets a ledger entry (consultation), so governance
    sees refusals, bad secrets and probes too. Outcomes name rules, never data."""
    from federation.keys import NodeKeys
    from federation.ledger import Ledger
    from node.store import load_config, open_store

    node_dir = Path(node_dir)
    config = load_config(node_dir)
    log_path = node_dir / CALL_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    def on_call(endpoint: str, outcome: str) -> None:
        line = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "endpoint": endpoint[:100], "outcome": outcome[:300]}
        with lock:
            with log_path.open("a") as f:
                f.write(json.dumps(line) + "\n")
            if outcome in LEDGERED_ELSEWHERE:
                return
            keys = NodeKeys.load(config.keys_dir)
            with open_store(node_dir, wait_s) as (_, con):
                con.execute("BEGIN TRANSACTION")
                try:
                    Ledger(con, keys.signer, config.force).append(
                        "consultation", actor="node gateway (Flower relay)",
                        purpose="federation", justification=(
                            f"gateway call {line['endpoint']} answered: {line['outcome']}"),
                        counts={"calls": 1}, recipients=["coordinator"])
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise

    return on_call


@contextmanager
def node_gateway(node_dir: Path, *, secret_file: Path | None = None, host: str = "127.0.0.1",
                 port: int = 0, uds: Path | None = None,
                 policy: str | list[str] | None = None,
                 encrypt_to: bytes | None = None, tokens: str | None = None
                 ) -> Iterator[tuple[str, Path]]:
    """Serve one node's gateway in a background thread for a ``with`` block; yields
    ``(url, secret_file)`` — what the force's SuperNode needs in its node config."""
    from federation.flower.gateway import running_gateway
    from federation.flower.protocol import read_relay_secret
    from node.gateway import NodeGateway

    secret = relay_secret(node_dir, secret_file)
    service = NodeGateway(Path(node_dir), policy=policy, encrypt_to=encrypt_to, tokens=tokens)
    with running_gateway(service, read_relay_secret(secret), on_call=call_auditor(node_dir),
                         host=host, port=port, uds=uds) as server:
        yield server.url, secret


def serve(
    dir: Path = DirOption,  # noqa: A002
    port: int = typer.Option(8765, "--port", help="Loopback TCP port (0 = any free port; "
                             "the address is printed)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to listen on "
                             "(127.0.0.1 or ::1); anything else is refused."),
    uds: Path | None = typer.Option(None, "--uds", help="Listen on this Unix socket (0600) "
                                    "instead of TCP.", dir_okay=False),
    secret_file: Path | None = typer.Option(
        None, "--secret-file", help="The relay secret the force's SuperNode presents on "
        "every call; created (0600) if missing. Default DIR/federation/relay-secret.",
        dir_okay=False),
    policy: list[str] | None = typer.Option(
        None, "--policy", help="Policy file or default name (repeat to share under several "
        "purposes, one policy each); default DIR/policy.toml, else 'cse-national'."),
    tokens: str | None = typer.Option(None, "--tokens", help="'keyservice' (default once "
                                      "the node holds a key service credential) or 'secret' "
                                      "(legacy: the federation linkage secret)."),
) -> None:
    """Run the node gateway until Ctrl-C: the only way the coordinator's relay (the Flower
    ClientApp on this force's SuperNode) can reach the node.

    It listens on loopback or a Unix socket only, wants the relay secret on every call and
    answers exactly two questions: "the share set for purpose P" (through egress and the
    policy gate, ledgered as a disclosure) and "here are your hits" (resolved to local
    records, ledgered as a collection). Every call is written to
    DIR/federation/gateway-calls.jsonl; refused and unauthorised calls are ledgered too.
    Prints `gateway FORCE listening on URL` once ready: give URL and the secret file to
    `crossforce node join`.
    """
    from node.store import load_config

    config = load_config(dir)
    if uds is not None and len(str(uds)) > 100:
        raise CrossforceError(f"--uds {uds}: a Unix socket path must be under 100 characters")
    with _until_stopped(), node_gateway(dir, secret_file=secret_file, host=host, port=port,
                                        uds=uds, policy=policy or None, tokens=tokens
                                        ) as (url, secret):
        typer.echo(f"gateway {config.force} listening on {url} (relay secret {secret})")
        sys.stdout.flush()
        _wait_forever()
    typer.echo(f"gateway {config.force} stopped")


# --------------------------------------------------------------------------- the SuperNode


def join(
    dir: Path = DirOption,  # noqa: A002
    superlink: str = typer.Option(..., "--superlink", help="The coordinator's SuperLink "
                                  "fleet address, HOST:PORT (outbound connection)."),
    gateway: str = typer.Option(..., "--gateway", help="This force's gateway, as `crossforce "
                                "node serve` printed it: http://127.0.0.1:PORT or unix:PATH."),
    root_certificates: Path = typer.Option(
        ..., "--root-certificates", help="CA certificate (PEM) that signed the SuperLink's "
        "TLS certificate. Flower needs TLS for node authentication.", dir_okay=False),
    auth_key: Path | None = typer.Option(
        None, "--auth-key", help="This force's SuperNode private key (ECDSA P-384, OpenSSH "
        "format). Default DIR/federation/supernode/FORCE.key, created on first use: give "
        "its .pub to the coordinator to register under the force's name.", dir_okay=False),
    secret_file: Path | None = typer.Option(
        None, "--secret-file", help="The relay secret file the gateway uses. Default "
        "DIR/federation/relay-secret.", dir_okay=False),
    port: int = typer.Option(9094, "--port", help="Local port of the SuperNode's app "
                             "runtime (loopback; one per SuperNode on a machine)."),
    connect_timeout: float = typer.Option(
        120.0, "--connect-timeout", help="Warn if the SuperLink has not accepted this node "
        "after this many seconds (a SuperNode retries forever)."),
    restarts: int = typer.Option(
        5, "--restarts", min=0, help="Restart the SuperNode this many times if it exits "
        "(e.g. its key is not registered yet: the SuperLink refuses it, it gives up)."),
    relay_user: str = typer.Option(
        "crossforce-relay", "--relay-user", help="The unprivileged OS user the SuperNode and "
        "the coordinator's relay app run as (created as a system user if missing). It must "
        "not be able to read DIR; join checks before starting."),
    relay_dir: Path | None = typer.Option(
        None, "--relay-dir", help="The relay user's own folder (0700): copies of the relay "
        "secret, the SuperNode key, the CA and the node config. Default "
        "/var/lib/crossforce-relay/FORCE.", file_okay=False),
    relay_python: Path | None = typer.Option(
        None, "--relay-python", help="Python interpreter the relay user runs, with crossforce "
        "and Flower importable (default: this one).", dir_okay=False),
    approve_relay: list[str] | None = typer.Option(
        None, "--approve-relay", help="SHA-256 of a relay app bundle (FAB) this force lets "
        "run (repeat for several). Default: the lines of DIR/federation/approved-relays, "
        "else this installation's own relay (`crossforce node relay-hash`). Any other app "
        "the coordinator sends is refused with an error reply."),
    insecure_dev: bool = typer.Option(
        False, "--insecure-dev", help="Development only: run the SuperNode and relay as "
        "yourself (no separate user), so a hostile relay app could read this node. The "
        "approved-relay check still applies."),
) -> None:
    """Run this force's Flower SuperNode until Ctrl-C, supervised and contained.

    The SuperNode connects out to the coordinator's SuperLink (TLS, node authentication
    with this force's key). The coordinator ships the relay app, so it is fenced in twice:
    it runs as --relay-user, which cannot read DIR, its keys or its store (only its own
    copy of the relay secret, to ask this force's gateway — `crossforce node serve` — for
    what the policy lets out); and only a relay app whose hash this force approved runs
    at all (--approve-relay). Run as root: join sets the user up and drops privileges for
    every relay process. Stopping this command stops the SuperNode and all it started.
    """
    from federation.flower.containment import (
        RELAY_ROOT,
        check_containment,
        close_node_folder,
        contained_supernode_argv,
        ensure_relay_user,
        executor_argv,
        probe,
        relay_environment,
        stage_relay_files,
    )
    from federation.flower.deployment import Process
    from federation.flower.protocol import read_relay_secret
    from node.store import load_config

    config = load_config(dir)
    node_dir = Path(dir).resolve()
    if not root_certificates.is_file():
        raise CrossforceError(f"--root-certificates {root_certificates}: no such file")
    if not _on_loopback(gateway):
        raise CrossforceError(f"--gateway {gateway!r}: the node gateway is on loopback or a "
                              "Unix socket (http://127.0.0.1:PORT or unix:PATH)")
    secret = relay_secret(dir, secret_file) if secret_file is None else Path(secret_file)
    read_relay_secret(secret)
    work = node_dir / SUPERNODE_DIR
    key = auth_key if auth_key is not None else _supernode_key(work, config.force)
    approved = _approved(node_dir, approve_relay)
    python = str(relay_python or sys.executable)
    user = None
    if insecure_dev:
        typer.echo("warning: --insecure-dev: the relay app runs as you and could read this "
                   "node's folder, keys and store; never use this with a real coordinator",
                   err=True)
        relay = Path(relay_dir) if relay_dir else work / "relay"
    else:
        user = ensure_relay_user(relay_user)
        if user.uid == node_dir.stat().st_uid:
            raise CrossforceError(f"--relay-user {relay_user} owns {node_dir}: the relay must "
                                  "be a user that cannot read the node folder")
        if close_node_folder(node_dir):
            typer.echo(f"made {node_dir} readable by its owner only (0700)")
        relay = Path(relay_dir) if relay_dir else RELAY_ROOT / config.force
        if relay.resolve().is_relative_to(node_dir):
            raise CrossforceError(f"--relay-dir {relay} is inside the node folder; the relay "
                                  "user must not reach the node folder at all")
    files = stage_relay_files(relay.resolve(), user,
                              node_config={"force": config.force, "gateway": gateway},
                              secret_file=secret, auth_key=Path(key),
                              root_certificates=root_certificates)
    env = relay_environment(files.directory)
    if user is not None:
        found = probe(python, user, env, cwd=files.directory, gateway=gateway,
                      deny=[node_dir, node_dir / "node.duckdb", config.keys_dir,
                            Path(secret).resolve(), Path(key).resolve()],
                      allow=[files.secret])
        check_containment(found, user.name)
        typer.echo(f"relay contained: runs as {user.name} (uid {user.uid}), which cannot "
                   f"read {node_dir}; its files are in {files.directory}")
    typer.echo("approved relay apps: " + ", ".join(f"sha256:{h}" for h in sorted(approved)))
    supernode_cmd = contained_supernode_argv(python, superlink, files, port=port)
    executor_cmd = executor_argv(python, f"127.0.0.1:{port}", approved, files.exec_secret)
    kwargs = {"user": user, "cwd": files.directory}
    with _until_stopped():
        for attempt in range(restarts + 1):
            process = Process(f"supernode-{config.force}", supernode_cmd, env, work, **kwargs)
            executor = Process(f"relay-{config.force}", executor_cmd, env, work, **kwargs)
            which = process
            try:
                typer.echo(f"SuperNode for {config.force} connecting to {superlink} "
                           f"(log {process.log})")
                _supervise(process, executor, connect_timeout)
                which = process if not process.alive() else executor
            finally:
                executor.stop()
                process.stop()
            problem = (f"the {'SuperNode' if which is process else 'relay executor'} exited "
                       f"(code {which.popen.returncode}); last log lines:\n{which.tail(8)}")
            if attempt == restarts:
                raise CrossforceError(problem)
            delay = min(30.0, 3.0 * (attempt + 1))
            typer.echo(f"{problem}\nrestarting in {delay:g} s ({attempt + 1} of {restarts})",
                       err=True)
            time.sleep(delay)
    typer.echo(f"SuperNode for {config.force} stopped")


def _approved(node_dir: Path, given: list[str] | None) -> frozenset[str]:
    """--approve-relay values, else DIR/federation/approved-relays, else this
    installation's relay."""
    from federation.flower.containment import APPROVED_FILE, approved_hashes

    if given:
        return approved_hashes(None, given, builtin=False)
    if (node_dir / APPROVED_FILE).is_file():
        found = approved_hashes(node_dir, builtin=False)
        if found:
            return found
    return approved_hashes(None)


def relay_hash() -> None:
    """Print the SHA-256 of this installation's relay app bundle: what `node join`
    approves by default, and what the coordinator's `flwr run` sends when it runs the
    same crossforce version. Approve another with `node join --approve-relay HASH` or a
    line in DIR/federation/approved-relays."""
    from federation.flower.containment import relay_fab_hash

    typer.echo(f"sha256:{relay_fab_hash()}")


def _on_loopback(gateway: str) -> bool:
    """A gateway URL the relay may use: a Unix socket, or plain HTTP to a loopback host."""
    from urllib.parse import urlsplit

    if gateway.startswith("unix:"):
        return len(gateway) > len("unix:")
    try:
        url = urlsplit(gateway)
        url.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost", "::1")


def _supernode_key(work: Path, force: str) -> Path:
    from federation.flower.deployment import write_node_key

    private = work / f"{force}.key"
    if not private.exists():
        _, public = write_node_key(work, force)
        typer.echo(f"made this force's SuperNode key; the coordinator registers {public} "
                   f"with `flwr supernode register {public.name} ... --name {force}`")
    return private


def _supervise(process, executor, connect_timeout: float) -> None:  # noqa: ANN001
    """Wait while the SuperNode and its relay executor run; say when the SuperNode is
    accepted, warn if it is not. Returns when either exits."""
    started = time.monotonic()
    connected = warned = False
    while process.alive() and executor.alive():
        if not connected and "SuperNode ID:" in process.tail(200):
            connected = True
            typer.echo("connected: the SuperLink accepted this force's key")
        if not connected and not warned and time.monotonic() - started > connect_timeout:
            warned = True
            typer.echo(f"warning: not accepted after {connect_timeout:g} s — is the "
                       f"SuperLink reachable and this key registered? last log lines:\n"
                       f"{process.tail(5)}", err=True)
        time.sleep(0.5)


# --------------------------------------------------------------------------- signals


@contextmanager
def _until_stopped() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so a `kill` still runs every ``finally``."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _wait_forever() -> None:
    while True:
        time.sleep(3600)


def register(app: typer.Typer) -> None:
    """Add `serve` and `join` to the node command group (idempotent)."""
    if any(c.name == "serve" for c in app.registered_commands):
        return
    app.command("serve")(serve)
    app.command("join")(join)
    app.command("relay-hash")(relay_hash)
