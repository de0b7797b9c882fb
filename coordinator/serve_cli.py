"""`crossforce coordinator serve` and `crossforce coordinator users` — the HTTP service and
who may use it. Plugged into the coordinator group by :func:`register` (coordinator/cli.py);
FastAPI, uvicorn and the store are imported only when a command runs (issue #12)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated

import typer

from federation.errors import CrossforceError

DirOption = Annotated[Path, typer.Option("--dir", help="The coordinator folder (made by "
                                         "`crossforce coordinator init`).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

users_app = typer.Typer(
    help="Who may call `crossforce coordinator serve`: add users with a role (analyst, "
    "liaison:FORCE, auditor, admin), list them, revoke their keys. Keys are shown once and "
    "stored only as salted scrypt hashes. While the service runs it holds the store: "
    "manage users through its API then (POST /v1/users with an admin key).",
    no_args_is_help=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    directory: DirOption,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port (0: any free port, printed).")] = 8600,
    certfile: Annotated[Path | None, typer.Option(
        "--certfile", help="TLS certificate (PEM); with --keyfile, serve HTTPS.")] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile", help="Its private key.")]
        = None,
    ca_certfile: Annotated[Path | None, typer.Option(
        "--ca-certfile", help="The CA that signed --certfile, for a federation round on this "
        "machine to check it (default: the certificate itself).")] = None,
    insecure_http: Annotated[bool, typer.Option(
        "--insecure-http", help="Allow plain HTTP on an address other than loopback (keys "
        "and answers would cross the network unencrypted).")] = False,
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", help="A web origin allowed to call the API from a browser (repeat; "
        "default none: CORS off).")] = None,
    lookups_per_minute: Annotated[float, typer.Option(
        "--lookups-per-minute", min=1, help="Hit / no-hit lookups each liaison may make per "
        "minute.")] = 60.0,
    requests_per_minute: Annotated[float, typer.Option(
        "--requests-per-minute", min=1, help="Other requests each user may make per "
        "minute.")] = 600.0,
    max_body_kb: Annotated[int, typer.Option(
        "--max-body-kb", min=1, max=10_240, help="Largest request body on /v1 (KB).")] = 64,
    no_console: Annotated[bool, typer.Option(
        "--no-console", help="Serve the API only, without the national web console at "
        "/console (which needs `make console` to have installed its libraries).")] = False,
) -> None:
    """Serve the coordinator's HTTP API (OpenAPI at /docs) and the national web console
    (/console, same keys and roles) until Ctrl-C.

    The service holds the store while it runs: a federation round on this machine hands
    its payloads to it, and a `link` never blocks readers. Every request needs a key
    (`crossforce coordinator users add`), an X-Purpose and an X-Justification header, and
    becomes a ledger consultation — refused ones too.
    """
    import signal
    import socket

    import uvicorn

    from coordinator.api import ApiSettings, create_app
    from coordinator.serve_state import clear_state, internal_secret, write_state
    from coordinator.served import ServedStore

    if (certfile is None) != (keyfile is None):
        raise CrossforceError("give both --certfile and --keyfile (or neither)")
    for path in (certfile, keyfile, ca_certfile):
        if path is not None and not path.is_file():
            raise CrossforceError(f"TLS file {path} not found")
    tls = certfile is not None
    if not no_console:
        from federation.console import check_assets

        check_assets()  # before the port and the store: say at once what to install
    if not tls and not _loopback(host) and not insecure_http:
        raise CrossforceError(f"--host {host} is not loopback: give --certfile and --keyfile "
                              "(or --insecure-http to send keys in the clear)")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # connections queue from now on, before uvicorn accepts them
    except OSError as exc:
        raise CrossforceError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    served = ServedStore(directory)
    try:
        settings = ApiSettings(max_body_bytes=max_body_kb * 1024,
                               requests_per_minute=requests_per_minute,
                               lookups_per_minute=lookups_per_minute,
                               cors_origins=tuple(cors_origin or ()), tls=tls)
        app = create_app(served, settings, internal_secret(directory),
                         console=not no_console)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"{'https' if tls else 'http'}://{shown}:{bound}"
        write_state(directory, url, (ca_certfile or certfile) if tls else None)
        config = uvicorn.Config(app, log_level="warning", access_log=False,
                                ssl_certfile=str(certfile) if certfile else None,
                                ssl_keyfile=str(keyfile) if keyfile else None,
                                timeout_keep_alive=30, server_header=False,
                                # callers connect directly (no proxy's X-Forwarded-For to trust)
                                proxy_headers=False)
        typer.echo(f"listening on {url}  (API /v1, OpenAPI {url}/docs"
                   + ("" if no_console else f", console {url}/console") + "; Ctrl-C stops)")
        # uvicorn stops gracefully on SIGTERM, then raises it again: end as on Ctrl-C, so
        # the store is closed and serve.json removed
        signal.signal(signal.SIGTERM, _exit_quietly)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        clear_state(directory)
        served.close()
        sock.close()


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _open(directory: Path):  # noqa: ANN202
    from coordinator.serve_state import serving_note
    from coordinator.store import open_store

    note = serving_note(directory)
    if note:
        raise CrossforceError(f"{note}; manage users through it (GET/POST /v1/users, DELETE "
                              "/v1/users/NAME with an admin key)")
    return open_store(directory)


def _actor() -> str:
    from coordinator.cli import _actor as cli_actor

    return cli_actor()


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name (who the ledger names).")],
    directory: DirOption,
    role: Annotated[str, typer.Option(
        "--role", help="analyst | liaison:FORCE | auditor | admin.")],
    days: Annotated[int, typer.Option("--days", help="Days until the key expires "
                                      "(1-366).")] = 90,
    as_json: JsonOption = False,
) -> None:
    """Add a user with a role; prints their API key ONCE (only its hash is kept)."""
    from coordinator.users import add_user

    with _open(directory) as store:
        user, key = add_user(store.con, store.ledger, name, role, days=days, actor=_actor())
    if as_json:
        typer.echo(json.dumps({"user": user.as_dict(), "key": key}, indent=1))
        return
    typer.echo(f"added {user.name} as {user.role_spec}, key {user.key_id}, expires "
               f"{user.as_dict()['expires_at']}")
    typer.echo(f"API key (shown once; send it as 'Authorization: Bearer KEY'):\n{key}")


@users_app.command("list")
def users_list(directory: DirOption, as_json: JsonOption = False) -> None:
    """Users, their roles and the state of their keys (active, expired, revoked)."""
    from rich.console import Console
    from rich.table import Table

    from coordinator.users import list_users

    with _open(directory) as store:
        users = [u.as_dict() for u in list_users(store.con)]
    if as_json:
        typer.echo(json.dumps(users, indent=1))
        return
    if not users:
        typer.echo("no users yet: `crossforce coordinator users add NAME --role ROLE --dir "
                   f"{directory}`")
        return
    table = Table(title=f"{len(users)} user key(s)")
    for column in ("name", "role", "key", "state", "expires", "revoked"):
        table.add_column(column, overflow="fold")
    for u in users:
        table.add_row(u["name"], u["role"], u["key_id"], u["state"], u["expires_at"][:10],
                      (u["revoked_at"] or "")[:10])
    Console(highlight=False).print(table)


@users_app.command("revoke")
def users_revoke(
    name: Annotated[str, typer.Argument(help="The user whose keys to revoke.")],
    directory: DirOption,
) -> None:
    """Revoke every active key of a user (the user stays listed; the ledger names them)."""
    from coordinator.users import revoke_user

    with _open(directory) as store:
        n = revoke_user(store.con, store.ledger, name, actor=_actor())
    typer.echo(f"revoked {n} key(s) of {name}")


def register(app: typer.Typer) -> None:
    """Add `serve` and the `users` group to the coordinator command group (idempotent)."""
    if any(c.name == "serve" for c in app.registered_commands):
        return
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
