"""`crossforce coordinator run` — the coordinator's side of a federation round, over Flower.

Starts a SuperLink (TLS, node authentication on, no runtime dependency installation),
registers the SuperNode keys forces sent in (``--register FORCE=KEY.pub``: the name a
force's key registers under is the name the ServerApp trusts for it), submits the crossforce
ServerApp with the coordinator service named by its spec string, waits for the round
(collect → link → notify) and stops everything it started.

Written as a plain function plus :func:`register`, which adds it to the ``coordinator``
command group (coordinator/cli.py calls it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from federation.errors import CrossforceError

if TYPE_CHECKING:
    from federation.flower.deployment import TlsFiles

# Flower, the coordinator service and the demo are imported when `run` runs, not when the
# command is registered (issue #12): `crossforce coordinator --help` does not pay for them.

SERVICE = "coordinator.service:open_service"


@functools.cache
def _superlink_class() -> type:
    from federation.flower.deployment import LoopbackDeployment

    class CoordinatorSuperLink(LoopbackDeployment):
        """A SuperLink for a real federation: the given address and TLS files, no local
        SuperNodes (forces run theirs with ``crossforce node join``)."""

        def __init__(self, workdir: Path, *, tls: TlsFiles | None, host: str, port: int,
                     control_address: str = "", progress: Callable[[str], None] | None = None,
                     start_timeout: float = 60.0) -> None:
            super().__init__(workdir, {}, tls=tls, progress=progress,
                             start_timeout=start_timeout)
            self.host = host
            self.port = port
            # the control API (flwr run, flwr supernode register) is reached from this machine:
            # on loopback when listening on every interface, else at the certificate's address
            self.address = control_address or (
                f"127.0.0.1:{port}" if host in ("0.0.0.0", "::", "") else f"{host}:{port}")

        def register_keys(self, keys: dict[str, Path]) -> dict[str, int]:
            """Register each force's SuperNode public key under the force's name."""
            if not keys:
                return {}
            self.node_ids = self._register_all(keys)
            self._mark("registered")
            self.progress(f"registered SuperNode keys: {', '.join(keys)}")
            return self.node_ids

    return CoordinatorSuperLink


def __getattr__(name: str) -> Any:  # noqa: ANN401
    """``CoordinatorSuperLink`` is made on first use, so importing this module (to register
    the command) does not import Flower."""
    if name == "CoordinatorSuperLink":
        return _superlink_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parse_registrations(items: list[str]) -> dict[str, Path]:
    keys: dict[str, Path] = {}
    for item in items:
        force, sep, path = item.partition("=")
        if not sep or not force.strip() or not path.strip():
            raise CrossforceError(f"--register {item!r}: write FORCE=PATH/TO/KEY.pub")
        key = Path(path.strip())
        if not key.is_file():
            raise CrossforceError(f"--register {item!r}: no such key file {key}")
        if not key.read_text(errors="replace").startswith("ecdsa-sha2-nistp384 "):
            raise CrossforceError(f"--register {item!r}: {key} is not an ECDSA P-384 public "
                                  "key in OpenSSH format (what `crossforce node join` makes)")
        keys[force.strip()] = key
    return keys


def _tls(certfile: Path | None, keyfile: Path | None, ca_certfile: Path | None
         ) -> TlsFiles | None:
    given = [p for p in (certfile, keyfile, ca_certfile) if p is not None]
    if not given:
        return None
    if len(given) != 3:
        raise CrossforceError("give all three of --certfile, --keyfile and --ca-certfile (or "
                              "none, for a throwaway loopback CA)")
    for path in given:
        if not path.is_file():
            raise CrossforceError(f"TLS file {path} not found")
    from federation.flower.deployment import TlsFiles

    return TlsFiles(certfile, keyfile, ca_certfile)  # type: ignore[arg-type]


def run(
    directory: Annotated[Path, typer.Option("--dir", help="The coordinator folder (made by "
                                            "`crossforce coordinator init`).")],
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose code the forces are "
                                         "asked to share under (their policy's, e.g. "
                                         "TOEX-CSE).")],
    forces: Annotated[str, typer.Option(
        "--forces", help="Comma-separated force names to wait for (as registered); the round "
        "goes ahead with those online after --wait-for-nodes.")] = "",
    register_keys: Annotated[list[str] | None, typer.Option(
        "--register", help="FORCE=KEY.pub: register a force's SuperNode public key under "
        "its name before the round (repeat per force). Keys registered in an earlier run "
        "stay in the SuperLink database.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="Only 'deployment' (Flower's "
                                        "Deployment Engine).")] = "deployment",
    host: Annotated[str, typer.Option("--host", help="Address the SuperLink listens on. "
                                      "Forces reach its fleet path only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="SuperLink port.")] = 9092,
    control_address: Annotated[str, typer.Option(
        "--control-address", help="HOST:PORT this machine reaches the SuperLink at to submit "
        "the run and register keys; the TLS certificate must name HOST. Default --host:--port "
        "(127.0.0.1 when --host is 0.0.0.0).")] = "",
    certfile: Annotated[Path | None, typer.Option(
        "--certfile", help="SuperLink TLS certificate (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option(
        "--keyfile", help="Its private key (PEM, mode 0600).")] = None,
    ca_certfile: Annotated[Path | None, typer.Option(
        "--ca-certfile", help="The CA that signed it; forces pass it to `node join "
        "--root-certificates`.")] = None,
    epoch: Annotated[int, typer.Option("--epoch", help="Key epoch asked for (0 = each "
                                       "node's current).")] = 1,
    wait_for_nodes: Annotated[float, typer.Option(
        "--wait-for-nodes", help="Seconds to wait for the --forces to connect.")] = 120.0,
    share_timeout: Annotated[float, typer.Option(
        "--share-timeout", help="Seconds a force has to answer with its share set.")] = 300.0,
    secure_aggregation: Annotated[bool, typer.Option(
        "--secure-aggregation", help="Also sum aggregates with Flower SecAgg+: forces whose "
        "policy says [aggregates] release = \"secure-sum\" send masked count vectors, and "
        "only the national sum is ever seen or stored.")] = False,
    aggregate_timeout: Annotated[float, typer.Option(
        "--aggregate-timeout", help="Seconds for each of SecAgg+'s round trips.")] = 120.0,
    settings_file: Annotated[Path | None, typer.Option(
        "--settings", help="A TOML file of linkage settings for the round's link step "
        "(as `crossforce coordinator link --settings`).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the round's report as "
                                          "JSON.")] = False,
) -> None:
    """Run one federation round through Flower: start the SuperLink, ask every connected
    force for its share set under PURPOSE, link, send each force its hits, sum the
    national aggregates (optionally by SecAgg+), stop.

    Real deployment: give the SuperLink a certificate from your CA (--certfile, --keyfile,
    --ca-certfile) and listen on the interface forces reach (--host); put only the fleet
    API path (/v1/fleet) of --port in front of forces — the control API has no login in
    open-source Flower. Register each force's SuperNode key (--register FORCE=KEY.pub, the
    .pub `crossforce node join` made); unregistered nodes are refused. Without TLS files a
    throwaway loopback CA is made in DIR/flower/tls (for trials on one machine).
    """
    from rich.console import Console
    from rich.table import Table

    from coordinator.service import ROUND_LINKAGE_SETTINGS
    from coordinator.settings import LinkageSettings
    from federation.flower.deployment import await_exit
    from federation.flower.serverapp import describe_aggregates

    if engine != "deployment":
        raise CrossforceError(f"--engine {engine!r}: only 'deployment' runs a real "
                              "federation (`crossforce demo --engine inprocess` shows the "
                              "in-process grid)")
    if not (directory / "coordinator.duckdb").is_file():
        raise CrossforceError(f"{directory} is not a coordinator folder (no "
                              "coordinator.duckdb); run `crossforce coordinator init` first")
    if settings_file is not None:  # refuse a bad file before anything starts
        LinkageSettings.from_file(settings_file)
    keys = _parse_registrations(register_keys or [])
    tls = _tls(certfile, keyfile, ca_certfile)
    expected = [f.strip() for f in forces.split(",") if f.strip()]
    console = Console(stderr=True, highlight=False)
    config = {"purpose": purpose, "epoch": epoch, "expected-forces": ",".join(expected),
              "wait-for-nodes": wait_for_nodes if expected else 0.0,
              "share-timeout": share_timeout, "coordinator-service": SERVICE,
              "coordinator-dir": str(directory.resolve()),
              "secure-aggregation": secure_aggregation, "aggregate-timeout": aggregate_timeout}
    # the ServerApp reads the round's linkage settings from the coordinator folder
    round_settings = directory / ROUND_LINKAGE_SETTINGS
    if settings_file is not None:
        round_settings.parent.mkdir(parents=True, exist_ok=True)
        round_settings.write_text(settings_file.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        round_settings.unlink(missing_ok=True)

    def say(line: str) -> None:
        console.print(f"  {line}", markup=False)

    workdir = directory / "flower"
    try:
        with _superlink_class()(workdir, tls=tls, host=host, port=port,
                                  control_address=control_address, progress=say) as link:
            link.start_superlink()
            link.register_keys(keys)
            console.print(f"  forces join with: crossforce node join --superlink "
                          f"{host}:{port} --root-certificates {link.tls.ca_certfile} ...",
                          markup=False)
            report = link.run(config, timeout=wait_for_nodes + share_timeout + 600
                              + (5 * aggregate_timeout if secure_aggregation else 0))
    finally:
        # a ServerApp cut short exits by itself once its SuperLink is gone: wait for it
        await_exit(str(workdir), timeout=20.0)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    table = Table(title=f"federation round: purpose {report.purpose}, epoch {report.epoch}")
    for column in ("force", "share", "hits", "detail"):
        table.add_column(column, overflow="fold")
    for force, o in sorted(report.forces.items()):
        table.add_row(force, o.share, o.hits or "-", o.detail or "")
    out = Console(highlight=False)
    out.print(table)
    link_counts = report.link.get("counts", report.link)
    out.print(f"linked: {json.dumps(link_counts, default=str)[:300]}")
    out.print(describe_aggregates(report.aggregates))
    out.print("round time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()))
    if not report.shared():
        raise CrossforceError("no force shared anything in this round")


def register(app: typer.Typer) -> None:
    """Add `run` to the coordinator command group (idempotent)."""
    if any(c.name == "run" for c in app.registered_commands):
        return
    app.command("run")(run)
