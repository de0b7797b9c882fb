"""Printing audit results for a person: rich tables that fit 100 columns."""

from __future__ import annotations

from federation.audit.findings import AuditReport

WIDTH = 100


def print_verification(report: AuditReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=min(Console().width, WIDTH), highlight=False)
    ledgers = Table(title="ledgers checked")
    for column in ("ledger", "entries", "key", "key pinned by", "head"):
        ledgers.add_column(column, no_wrap=True, min_width=18 if column == "ledger" else None)
    for item in report.ledgers:
        ledgers.add_row(str(item["owner"]), str(item["entries"]), str(item["key"])[:16] + "…",
                        str(item["key_source"]), str(item["head"])[:12] + "…")
    console.print(ledgers)
    console.print("checks: " + ", ".join(f"{name} {n:,}" for name, n in report.checks.items()))
    if report.ok:
        console.print(f"[green]verified[/green]: {len(report.ledgers)} ledger(s), every flow "
                      "matched at both ends, nothing held past retention")
        return
    table = Table(title=f"FAILED: {len(report.findings)} finding(s)")
    for column, width in (("side", 18), ("finding", 10), ("entry", 6), ("detail", 62)):
        table.add_column(column, max_width=width, overflow="fold")
    for f in report.findings:
        table.add_row(f.side, f.kind, "" if f.seq is None else str(f.seq), f.detail)
    console.print(table)
