"""`crossforce keyservice init | register | serve | status | rotate` — the token key service.

Run by a key custodian that is neither a force nor the coordinator. Crypto libraries, DuckDB
and rich are imported when a command runs (keep `crossforce --help` fast, issue #12).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from federation.errors import CrossforceError

app = typer.Typer(
    help="The token key service (for the key custodian): evaluates the oblivious PRF that "
    "makes every token, so no force can make tokens offline; counts, limits and logs "
    "every evaluation.",
    no_args_is_help=True,
)

DirOption = typer.Option(..., "--dir", help="The key service's folder.", file_okay=False)


@app.command()
def init(
    dir: Path = DirOption,  # noqa: A002
    max_batch: int = typer.Option(4096, "--max-batch", help="Most blinded points one "
                                  "request may carry."),
    default_quota: int = typer.Option(1_000_000, "--default-quota", help="Evaluations a "
                                      "force may ask for per UTC day unless registered with "
                                      "its own --quota."),
) -> None:
    """Create a key service folder: its signing key (for its ledger) and the PRF key of
    epoch 1 (a secret seed, 0600, that never leaves the folder)."""
    from federation.keyservice.store import current_epoch, init_service
    from federation.keyservice.suite import fingerprint

    service = init_service(dir, max_batch=max_batch, default_quota=default_quota)
    with service.open() as con:
        epoch, public_key = current_epoch(con)
    typer.echo(f"key service created in {dir}: epoch {epoch}, public key "
               f"{fingerprint(public_key)}; batch limit {max_batch:,}, default quota "
               f"{default_quota:,} a day")


@app.command()
def register(
    holder: str = typer.Argument(..., help="The force the credential is for (or "
                                 "'coordinator' with --role coordinator)."),
    dir: Path = DirOption,  # noqa: A002
    out: Path = typer.Option(..., "--out", help="Where to write the credential file (0600) "
                             "to hand to the force.", dir_okay=False),
    url: str = typer.Option(..., "--url", help="The service's address as the force will "
                            "reach it, e.g. https://keys.example:8700."),
    quota: int | None = typer.Option(None, "--quota", help="Evaluations per UTC day; size it "
                                     "to the force's declared volume (default: the "
                                     "service's --default-quota)."),
    role: str = typer.Option("force", "--role", help="'force' (may evaluate) or "
                             "'coordinator' (reads epochs only: no evaluation right)."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="CA certificate the holder "
                                        "should trust for the service's TLS certificate."),
) -> None:
    """Issue a credential (revoking the holder's earlier ones). The service keeps only its
    hash; the file goes to the force, which installs it with `crossforce node keys
    import-keyservice`."""
    from federation.keyservice.client import Credential
    from federation.keyservice.store import KeyServiceDir
    from federation.keyservice.store import register as issue

    secret = issue(KeyServiceDir(dir), holder, role=role, quota=quota)
    Credential(url, holder.strip(), role, secret,
               str(ca_file.resolve()) if ca_file else None).save(out)
    typer.echo(f"credential for {holder.strip()} ({role}) written to {out}")


@app.command()
def serve(
    dir: Path = DirOption,  # noqa: A002
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8700, "--port", help="Port to listen on."),
    ssl_certfile: Path | None = typer.Option(None, "--ssl-certfile", help="TLS certificate "
                                             "(PEM); with --ssl-keyfile serves HTTPS."),
    ssl_keyfile: Path | None = typer.Option(None, "--ssl-keyfile", help="TLS private key."),
) -> None:
    """Serve evaluations over HTTP(S) until Ctrl-C. Forces reach it with their credential;
    it never sees a value, only blinded points. Prints `key service listening on URL` once
    ready (--port 0 picks a free port)."""
    import socket
    import sys

    import uvicorn

    from federation.keyservice.service import keyservice_app
    from federation.keyservice.store import KeyServiceDir

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise CrossforceError("give both --ssl-certfile and --ssl-keyfile, or neither")
    KeyServiceDir(dir).settings()  # a clear error before binding anything
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise CrossforceError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    scheme = "https" if ssl_certfile else "http"
    server = uvicorn.Server(uvicorn.Config(
        keyservice_app(dir), log_level="warning", access_log=False, ws="none",
        lifespan="off", ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None))
    typer.echo(f"key service listening on {scheme}://{shown}:{sock.getsockname()[1]} "
               "(Ctrl-C stops it)")
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


@app.command()
def status(
    dir: Path = DirOption,  # noqa: A002
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Epochs, credentials with their quotas, evaluations per force, purpose and epoch
    (counts only), and volume alerts."""
    from federation.keyservice.status import service_status

    info = service_status(dir)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    _print_status(info)


def _print_status(info: dict) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    console = Console(width=100)
    epochs = Table("epoch", "public key", "started (UTC)", "retired (UTC)", title="epochs")
    for e in info["epochs"]:
        epochs.add_row(str(e["epoch"]), e["fingerprint"], e["started_at"][:19],
                       (e["retired_at"] or "-")[:19])
    console.print(epochs)
    holders = Table("holder", "role", "daily quota", "used today", "registered (UTC)",
                    title="credentials")
    for h in info["holders"]:
        holders.add_row(h["holder"], h["role"], f"{h['daily_quota']:,}",
                        f"{h['used_today']:,}", h["registered_at"][:19])
    console.print(holders)
    usage = Table("day", "holder", "purpose", "epoch", "requests", "evaluations", "refused",
                  title="evaluations (counts only)")
    for u in info["usage"]:
        usage.add_row(u["day"], u["holder"], u["purpose"], str(u["epoch"]),
                      f"{u['requests']:,}", f"{u['evaluations']:,}",
                      f"{u['refused_evaluations']:,}")
    console.print(usage)
    for alert in info["alerts"]:
        console.print(f"[bold yellow]alert[/]: {alert}")
    console.print(f"ledger: {info['ledger_entries']:,} signed entries; verify with `crossforce "
                  f"audit verify {info['store']} --public-key {info['keys']}`", soft_wrap=True)


@app.command()
def rotate(dir: Path = DirOption) -> None:  # noqa: A002
    """Start a new key epoch: the current key stops evaluating, nodes re-tokenise on their
    next share, and the coordinator (told with `coordinator retire-epoch`) refuses and
    purges tokens of the old one."""
    from federation.keyservice.store import KeyServiceDir
    from federation.keyservice.store import rotate as start_epoch

    old, new = start_epoch(KeyServiceDir(dir))
    typer.echo(f"epoch {old} retired; epoch {new} is current. Next: register epoch {new} "
               f"at the coordinator, run a round (nodes re-tokenise), then `crossforce "
               f"coordinator retire-epoch --before {new}` purges epoch {old}'s tokens")
