"""`crossforce audit` — governance: verify ledgers and report data flows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from federation.errors import CrossforceError

if TYPE_CHECKING:
    import duckdb

    from federation.ledger import VerifyReport

# DuckDB, the keys, the ledger and rich are imported when a command runs (issue #12).

app = typer.Typer(
    help="For governance and audit staff: verify the hash-chained, signed ledgers at both "
    "ends and report every data flow (DPA 2018 s.62).",
    no_args_is_help=True,
)


def _open_read_only(db: Path) -> duckdb.DuckDBPyConnection:
    import duckdb

    if not db.exists():
        raise CrossforceError(f"{db}: no such DuckDB file")
    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise CrossforceError(f"{db} is open for writing by another process; run the "
                                  f"check when it is closed ({str(exc).splitlines()[0]})") from None
        raise CrossforceError(f"{db}: cannot open ({exc})") from None
    except duckdb.Error as exc:
        raise CrossforceError(f"{db}: not a DuckDB file ({exc})") from None


NodesOption = typer.Option(None, "--node", help="A node folder; repeat for each force.")
CoordinatorOption = typer.Option(None, "--coordinator", help="The coordinator folder.")
FederationOption = typer.Option(
    None, "--federation", "-f", help="A folder holding node folders and the coordinator "
    "folder (e.g. `crossforce demo --out D`'s D): everything in it is checked.")


@app.command()
def verify(
    db: Path | None = typer.Argument(None, help="One DuckDB file holding a `ledger` table "
                                     "(the single-ledger check; needs --public-key)."),
    nodes: list[Path] | None = NodesOption,
    coordinator: Path | None = CoordinatorOption,
    federation: Path | None = FederationOption,
    ledgers: list[Path] | None = typer.Option(
        None, "--ledger", help="Another ledger's DuckDB file (a key service's, say), checked "
        "with the keys/public.json beside it; repeat for each."),
    public_key: str | None = typer.Option(
        None, "--public-key", "-k",
        help="With DB: the ledger owner's Ed25519 public key: 64 hex digits, a public.json "
             "file, or a keys folder."),
    expect_head: str | None = typer.Option(
        None, "--expect-head",
        help="With DB: entry hash of the last entry seen at an earlier check: catches a "
             "ledger cut short at the end, which the chain alone cannot show."),
    receipts: Path | None = typer.Option(
        None, "--receipts",
        help="With DB: the coordinator's DuckDB file: also match every disclosure in DB "
             "with the coordinator's entry for the same payload (by content hash), both "
             "ways."),
    coordinator_key: str | None = typer.Option(
        None, "--coordinator-key",
        help="The coordinator's public key (needed with --receipts; its ledger is verified "
             "too)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    record: bool = typer.Option(
        False, "--record", help="With a coordinator folder: also keep the result in "
        "COORDINATOR/audit/verified.json (counts and findings, never content), where the "
        "national console's auditor page shows it beside the coordinator's own check."),
) -> None:
    """Verify the ledgers and every data flow, at both ends.

    With --node DIR ... --coordinator DIR (or --federation DIR for all of a folder): each
    ledger's chain and signatures under the key the other side pinned; each ledger against
    the signed heads of it the other side keeps (a ledger cut short is caught); every node
    disclosure matched with a coordinator collection by payload hash and every hits
    message with the node's receipt; every withdrawal with its erasure and acknowledgement;
    every payload the coordinator holds traced to a ledger entry; nothing held past its
    retention or left of a withdrawal. Each finding names the side, the entry and what is
    wrong.

    With one DB and --public-key: that ledger alone (and, with --receipts, its flows).

    Exit code 0 when everything checks, 1 on any finding, 2 on bad input.
    """
    if db is None:
        _verify_federation(nodes or [], coordinator, federation, ledgers or [], as_json,
                           record)
        return
    if public_key is None:
        raise CrossforceError("give --public-key with a DB file, or check a whole federation "
                              "with --node DIR ... --coordinator DIR (or --federation DIR)")
    from federation.keys import load_public_key
    from federation.ledger import LedgerProblem, match_flows, read_entries, verify_ledger
    from federation.ledger_journal import fold_store_file

    key = load_public_key(public_key)
    if db.exists():  # a coordinator's journal beside it: its entries in the table first
        fold_store_file(db)
    con = _open_read_only(db)
    try:
        report = verify_ledger(con, key)
        if expect_head and expect_head not in {
                e.entry_hash for e in (read_entries(con) if report.entries else [])}:
            report.problems.append(LedgerProblem(
                "removed", None, None,
                f"the entry with hash {expect_head[:16]}… seen at an earlier check is no "
                "longer in the ledger (cut short or rewritten)"))
        node_entries = read_entries(con) if receipts and report.entries else []
    finally:
        con.close()
    if receipts:
        if not coordinator_key:
            raise CrossforceError("--receipts needs --coordinator-key (the coordinator's "
                                  "public key)")
        ckey = load_public_key(coordinator_key)
        if receipts.exists():
            fold_store_file(receipts)
        ccon = _open_read_only(receipts)
        try:
            creport = verify_ledger(ccon, ckey)
            coord_entries = read_entries(ccon) if creport.entries else []
        finally:
            ccon.close()
        report.problems += [LedgerProblem(p.kind, p.seq, p.entry_id, f"coordinator: {p.detail}")
                            for p in creport.problems]
        report.problems += match_flows(node_entries, coord_entries)
    if as_json:
        typer.echo(json.dumps({
            "ok": report.ok, "entries": report.entries, "head": report.head,
            "public_key": report.public_key_fingerprint, "actions": report.actions,
            "problems": [p.__dict__ for p in report.problems]}, indent=2))
    else:
        _print(report, db)
    if not report.ok:
        raise typer.Exit(code=1)


def _print(report: VerifyReport, db: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    actions = ", ".join(f"{k} {v}" for k, v in sorted(report.actions.items())) or "none"
    if report.ok:
        console.print(f"[green]ledger OK[/green]: {db} — {report.entries} entries ({actions}), "
                      f"signed by {report.public_key_fingerprint}; head {report.head}",
                      soft_wrap=True)
        return
    table = Table(title=f"ledger FAILED: {db} — {len(report.problems)} problem(s)")
    for col in ("problem", "seq", "entry id", "detail"):
        table.add_column(col)
    for p in report.problems:
        table.add_row(p.kind, "" if p.seq is None else str(p.seq), p.entry_id or "", p.detail)
    console.print(table)
    console.print(f"{report.entries} entries checked against key "
                  f"{report.public_key_fingerprint}")


def _verify_federation(nodes: list[Path], coordinator: Path | None, federation: Path | None,
                       ledgers: list[Path], as_json: bool, record: bool = False) -> None:
    from federation.audit.verify_all import record_verification, verify_federation

    if not nodes and coordinator is None and federation is None:
        raise CrossforceError("nothing to verify: give a DB file with --public-key, or "
                              "--node DIR ... --coordinator DIR, or --federation DIR")
    nodes, coordinator, others = _folders(nodes, coordinator, federation, ledgers)
    report = verify_federation(nodes, coordinator, others, progress=_progress(as_json))
    if record:
        if coordinator is None:
            raise CrossforceError("--record keeps the result in the coordinator folder: give "
                                  "--coordinator DIR or a --federation folder holding one")
        kept = record_verification(report, coordinator, nodes)
        if not as_json:
            typer.echo(f"result kept in {kept}")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        from federation.audit.render import print_verification

        print_verification(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _progress(quiet: bool):  # noqa: ANN202 - a callable or None
    if quiet:
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return lambda step: console.print(f"[dim]checking {step}…[/dim]")


def _folders(nodes: list[Path] | None, coordinator: Path | None, federation: Path | None,
             ledgers: list[Path] | None = None) -> tuple[list[Path], Path | None, list[Path]]:
    """The node folders, coordinator folder and other ledgers an audit command covers."""
    from federation.audit.sources import discover

    nodes, others = list(nodes or []), list(ledgers or [])
    if federation is not None:
        found_nodes, found_coordinator, found_others = discover(federation)
        nodes += [n for n in found_nodes if n not in nodes]
        coordinator = coordinator or found_coordinator
        others += found_others
    if not nodes and coordinator is None:
        raise CrossforceError("nothing to read: give --node DIR ... --coordinator DIR, or "
                              "--federation DIR")
    for folder in (*nodes, *([coordinator] if coordinator else [])):
        if not folder.is_dir():
            raise CrossforceError(f"{folder}: no such folder")
    return nodes, coordinator, others


PeriodOption = typer.Option(
    None, "--period", help="YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, last-month, this-month or all "
    "(default: all).")


@app.command()
def report(
    nodes: list[Path] | None = NodesOption,
    coordinator: Path | None = CoordinatorOption,
    federation: Path | None = FederationOption,
    period: str | None = PeriodOption,
    fmt: str = typer.Option("md", "--format", help="md, html (charts, opens offline) or "
                            "csv."),
    out: Path | None = typer.Option(None, "--out", help="Write here (default: print md and "
                                    "csv; html needs --out)."),
) -> None:
    """Report the data flows of a period: per force, kind, purpose and month.

    Sections: flows (identifier kinds, links and aggregates each force sent, hits it got
    back), consultations per actor and purpose, refusals, erasures, and the result of
    `audit verify`. The HTML page has a chart of flows over time and a force →
    coordinator flow diagram, drawn with plotly and inlined so it opens offline."""
    from federation.audit.period import parse_period
    from federation.audit.report import build_report, to_csv, to_markdown, write_report

    if fmt not in ("md", "html", "csv"):
        raise CrossforceError(f"--format {fmt!r}: give md, html or csv")
    if fmt == "html" and out is None:
        raise CrossforceError("--format html needs --out FILE.html")
    chosen = parse_period(period)
    folders = _folders(nodes, coordinator, federation)
    made = build_report(*folders, chosen)
    if out is None:
        typer.echo(to_markdown(made) if fmt == "md" else to_csv(made), nl=False)
        return
    write_report(made, fmt, out)
    typer.echo(f"wrote the {fmt} report for {chosen.label} to {out} "
               f"({sum(len(r) for r in made.sections.values())} rows; verification: "
               f"{'ok' if made.verification.ok else 'FAILED'})")


@app.command()
def export(
    ico: bool = typer.Option(False, "--ico", help="The s.62 log for the ICO (the one "
                             "export there is; required)."),
    nodes: list[Path] | None = NodesOption,
    coordinator: Path | None = CoordinatorOption,
    federation: Path | None = FederationOption,
    period: str | None = PeriodOption,
    out: Path | None = typer.Option(None, "--out", help="The CSV file (default: print)."),
) -> None:
    """Export the s.62 log of a period as CSV, one row per logged action.

    Columns: action, at_utc, actor, force, log, purpose, justification, recipients,
    counts, payload_hash, policy_hash, entry_id, entry_hash (the README documents each).
    Never content: counts, hashes and names only."""
    from federation.audit.flows import entry_rows
    from federation.audit.ico import ico_csv
    from federation.audit.period import parse_period
    from federation.audit.sources import open_ledgers

    if not ico:
        raise CrossforceError("say which export: --ico (the s.62 log for the ICO)")
    chosen = parse_period(period)
    with open_ledgers(*_folders(nodes, coordinator, federation)) as ledgers:
        text, rows = ico_csv(entry_rows(ledgers), chosen)
    _emit(text, out, f"wrote {rows:,} logged action(s) for {chosen.label} to {out}")


@app.command()
def dpia(
    nodes: list[Path] | None = NodesOption,
    coordinator: Path | None = CoordinatorOption,
    federation: Path | None = FederationOption,
    out: Path | None = typer.Option(None, "--out", help="Write the Markdown here (default: "
                                    "print)."),
) -> None:
    """Describe the processing for a DPIA, as Markdown to complete.

    From the sharing policies of the nodes and the coordinator's registry: what flows,
    from whom, for which purpose, under which lawful basis, retention and safeguards;
    the risk and measures sections are left for a person (DPA 2018 s.64)."""
    from federation.audit.dpia import dpia_markdown

    folders, coord, _others = _folders(nodes, coordinator, federation)
    text = dpia_markdown(folders, coord)
    _emit(text, out, f"wrote the DPIA description to {out}")


def _emit(text: str, out: Path | None, done: str) -> None:
    """Print ``text``, or write it to ``out`` and say so."""
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(done)
