"""`crossforce node` — a force's own node: its store, ingest, status, egress and hits."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from federation.errors import CrossforceError

# Each command imports what it needs when it runs (issue #12): rich, DuckDB, the keys,
# linkage and Flower are not paid for by `--help` or by commands that do not use them.

app = typer.Typer(
    help="Run a force's node: create it, load records and phone extractions, see what is "
    "held, preview and send what the sharing policy allows.",
    no_args_is_help=True,
)

DirOption = typer.Option(..., "--dir", help="The node's folder.", file_okay=False)


@app.command()
def init(
    force: str = typer.Option(..., "--force", help="The police force this node belongs to."),
    dir: Path = DirOption,  # noqa: A002
) -> None:
    """Create a node: DIR/node.toml, the DuckDB store DIR/node.duckdb and signing keys in
    DIR/keys. Refuses to overwrite an existing node."""
    from node.store import init_node

    config = init_node(dir, force)
    typer.echo(f"created node for {config.force} in {dir}")


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders in the node input layout "
                                       "(CSV, Parquet, JSON/JSONL) or phone extractions "
                                       "(Cellebrite .ufdr/.zip, Magnet AXIOM .xml)."),
    dir: Path = DirOption,  # noqa: A002
    quarantine: bool = typer.Option(False, "--quarantine", help="Load a file's good rows and "
                                    "put its bad rows in the quarantine table, instead of "
                                    "rejecting the whole file."),
    as_json: bool = typer.Option(False, "--json", help="Print the load report as JSON."),
    region: str = typer.Option(None, "--region", help="The country (ISO code, e.g. GB) of "
                               "the extractions' phones, for a report that does not say it "
                               "(no own number with its country code, IMSI or ICCID). "
                               "Without it such a report's national numbers stay raw."),
) -> None:
    """Load files into the node. A folder loads at once, in the layout's order. Each file
    is all-or-nothing and logged in the ledger; re-loading the same file adds nothing, and
    a changed file at the same path replaces that file's rows.

    PATHS are files or folders in the node input layout (persons.csv, calls.parquet,
    crimes.json, ...) or seized-phone extractions: Cellebrite UFDR (.ufdr/.zip holding
    report.xml) or a Magnet AXIOM XML report (.xml, AXIOM Process's XML export). The
    file name, without its ending, becomes the device id."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from node.ingest import STAGES
    from node.ingest import ingest as run_ingest
    from node.store import open_store

    console = Console(stderr=True)
    with open_store(dir) as (config, con), Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[stage]}"),
        console=console, transient=not console.is_terminal,
    ) as bar:
        state: dict[str, int] = {}

        def progress(path: Path):  # noqa: ANN202
            task = bar.add_task(path.name, total=len(STAGES), stage="")

            def step(stage: str) -> None:
                state[path.name] = state.get(path.name, 0) + 1
                bar.update(task, completed=min(state[path.name], len(STAGES)), stage=stage)
            return step

        reports = run_ingest(con, config, paths, quarantine=quarantine, progress=progress,
                             region=region)
    rejected = [r for r in reports if r.status == "rejected"]
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in reports], indent=2))
    else:
        for r in reports:
            typer.echo(r.line())
            for e in r.errors:
                typer.echo(f"  {e}")
    if rejected:
        names = ", ".join(Path(r.path).name for r in rejected)
        first = rejected[0].errors[0] if rejected[0].errors else rejected[0].message
        raise CrossforceError(f"{len(rejected)} file(s) rejected, store unchanged for them "
                              f"({names}); first problem: {first}")


@app.command()
def status(
    dir: Path = DirOption,  # noqa: A002
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Rows per entity table, files loaded, quarantined rows and the last load."""
    from rich.console import Console
    from rich.table import Table as RichTable

    from node.status import status as node_status
    from node.store import open_store

    with open_store(dir) as (config, con):
        info = node_status(con, config)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    console = Console()
    console.print(f"node [bold]{info['force']}[/] in {info['dir']} "
                  f"(schema v{info['schema_version']}); last load: {info['last_load'] or '-'}")
    rows = RichTable("table", "rows", title="records held")
    for name, n in info["tables"].items():
        rows.add_row(name, f"{n:,}")
    console.print(rows)
    files = RichTable("file", "layout", "rows", "kept raw", "quarantined", "loaded at",
                      "sha256", title="files loaded")
    for f in info["files"]:
        files.add_row(f["path"], f["layout"], f"{f['rows']:,}", str(f["unnormalised"]),
                      str(f["quarantined"]), f["loaded_at"], f["sha256"][:12])
    console.print(files)
    if info["quarantined"]:
        q = RichTable("file", "where", "field", "reason",
                      title=f"quarantined rows ({info['quarantined']})")
        for row in info["quarantine"]:
            q.add_row(Path(row["path"]).name, row["location"], row["field"] or "",
                      row["reason"])
        console.print(q)


# Command modules of other parts of the node plug in here (each adds its commands).
from node.analyse_cli import register as _register_analyse  # noqa: E402
from node.console_cli import register as _register_console  # noqa: E402
from node.egress_cli import register as _register_egress  # noqa: E402
from node.governance_cli import register as _register_governance  # noqa: E402
from node.lookup_cli import register as _register_lookup  # noqa: E402
from node.resolution_cli import register as _register_resolution  # noqa: E402
from node.serve_cli import register as _register_serve  # noqa: E402
from node.translate_cli import register as _register_translate  # noqa: E402

_register_resolution(app)
_register_egress(app)
_register_lookup(app)
_register_serve(app)
_register_analyse(app)
_register_translate(app)
_register_governance(app)
_register_console(app)
