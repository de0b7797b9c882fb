"""`crossforce audit report`: flows, consultations, refusals, erasures and the verification
of a federation for one period, as Markdown, CSV or a self-contained HTML page.

The HTML page draws, with plotly (not hand-written SVG), the flows over time and a force →
coordinator flow diagram (a Sankey of what each force sent and the hits it got back); the
plotly library is inlined, so the page opens offline.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.audit.findings import AuditReport
from federation.audit.flows import entry_rows, sections
from federation.audit.period import Period
from federation.audit.sources import open_ledgers
from federation.audit.verify_all import verify_federation

#: the columns shown per section (and their order)
COLUMNS: dict[str, tuple[str, ...]] = {
    "flows": ("month", "force", "direction", "purpose", "kind", "count", "messages"),
    "consultations": ("ledger", "actor", "purpose", "consultations", "first", "last"),
    "refusals": ("at_utc", "ledger", "actor", "purpose", "justification"),
    "erasures": ("at_utc", "ledger", "force", "purpose", "rows_counted", "justification"),
}
TITLES = {"flows": "Data flows", "consultations": "Consultations",
          "refusals": "Refusals", "erasures": "Erasures"}


@dataclass
class FlowReport:
    period: Period
    made_at: dt.datetime
    ledgers: list[dict[str, Any]]
    sections: dict[str, list[dict[str, Any]]]
    verification: AuditReport


def build_report(nodes: Sequence[Path], coordinator: Path | None, others: Sequence[Path],
                 period: Period) -> FlowReport:
    verification = verify_federation(nodes, coordinator, others)
    with open_ledgers(nodes, coordinator, others) as ledgers:
        rows = entry_rows(ledgers)
    return FlowReport(period, dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
                      verification.ledgers, sections(rows, period), verification)


def cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def verdict(report: FlowReport) -> str:
    v = report.verification
    if v.ok:
        return (f"verified: {len(v.ledgers)} ledgers, every flow matched at both ends, "
                "nothing held past retention")
    return f"FAILED: {len(v.findings)} finding(s)"


def to_markdown(report: FlowReport) -> str:
    out = [f"# crossforce audit report — {report.period.label}", "",
           f"Made {report.made_at:%Y-%m-%d %H:%M} UTC from {len(report.ledgers)} ledgers. "
           f"Verification: **{verdict(report)}**.", ""]
    for name, columns in COLUMNS.items():
        rows = report.sections[name]
        out += [f"## {TITLES[name]} ({len(rows)})", ""]
        if not rows:
            out += ["None in this period.", ""]
            continue
        out += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        out += ["| " + " | ".join(cell(r[c]).replace("|", "\\|") for c in columns) + " |"
                for r in rows]
        out.append("")
    out += ["## Verification", ""]
    out += [f"- {f}" for f in report.verification.findings] or [
        "- " + ", ".join(f"{k} {n:,}" for k, n in report.verification.checks.items())]
    return "\n".join(out) + "\n"


def to_csv(report: FlowReport) -> str:
    """One table: a ``section`` column, then every section's columns (blank if not its)."""
    columns = list(dict.fromkeys(c for cs in COLUMNS.values() for c in cs))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", *columns])
    for name in COLUMNS:
        for r in report.sections[name]:
            writer.writerow([name, *(cell(r.get(c)) for c in columns)])
    for f in report.verification.findings:
        writer.writerow(["finding", *("" for _ in columns[:-1]), str(f)])
    return buf.getvalue()


def write_report(report: FlowReport, fmt: str, out: Path) -> None:
    if fmt == "html":
        from federation.audit.report_html import to_html

        text = to_html(report)
    else:
        text = to_markdown(report) if fmt == "md" else to_csv(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
