"""`crossforce node serve-console` — the force console: the node's own analyses in a
browser, for the force's analysts, on loopback only (node/console_app.py)."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

import typer

from federation.errors import CrossforceError


def serve_console(
    dir: Path = typer.Option(..., "--dir", help="The node's folder.", file_okay=False),  # noqa: A002
    port: int = typer.Option(8700, "--port", min=0, max=65535, help="Loopback TCP port "
                             "(0: any free port; the address is printed)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address (127.0.0.1 or "
                             "::1); anything else is refused: the console is the force's own."),
    as_json: bool = typer.Option(False, "--json", help="Print the address and key as one "
                                 "JSON line once listening (for tools)."),
) -> None:
    """Serve the force console until Ctrl-C: a person's or device's page (top contacts,
    night-time contact, handovers, hour x weekday heat, an interactive timeline), the
    local link chart with find path, the CSE definition results, the review list with its
    explanations, and the hits received — the same analyses as `node analyse`, each page a
    ledger consultation with the justification given at login.

    Loopback only, on its own port, behind its own key (DIR/console/console-key, 0600),
    so the coordinator's relay — which can reach loopback ports but not the node folder —
    cannot use it. Prints the address and the key to log in with.
    """
    import socket

    import uvicorn

    from federation.console import check_assets
    from node.console_app import KEY_FILE, create_console_app
    from node.store import load_config

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise CrossforceError(f"--host {host}: the force console listens on loopback only "
                              "(127.0.0.1 or ::1)")
    config = load_config(dir)
    check_assets()
    app = create_console_app(dir)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        raise CrossforceError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    key = (Path(dir) / KEY_FILE).read_text().strip()
    if as_json:
        typer.echo(json.dumps({"force": config.force, "url": f"{url}/console/login",
                               "key": key}))
    else:
        typer.echo(f"force console of {config.force} listening on {url}/console/login "
                   f"(loopback only; Ctrl-C stops)\nconsole key ({Path(dir) / KEY_FILE}): "
                   f"{key}")
    sys.stdout.flush()
    config_ = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
    try:
        uvicorn.Server(config_).run(sockets=[sock])
    finally:
        sock.close()


def register(app: typer.Typer) -> None:
    """Add `serve-console` to the node command group (idempotent)."""
    if not any(c.name == "serve-console" for c in app.registered_commands):
        app.command("serve-console")(serve_console)
