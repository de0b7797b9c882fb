"""The audit report as one self-contained HTML page: plotly charts (library inlined, so it
opens offline) and the report's tables. Counts and names only, never content."""

from __future__ import annotations

import html
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from federation.audit.report import COLUMNS, TITLES, FlowReport, cell, verdict

if TYPE_CHECKING:
    import plotly.graph_objects as go

COORDINATOR = "coordinator"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0 0 2em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2}.ok{color:#176f2c}.failed{color:#b00020}
"""


def flows_over_time(report: FlowReport) -> go.Figure:
    """Stacked bars: records crossing the boundary per day, one colour per direction."""
    import plotly.graph_objects as go

    series: dict[str, dict[Any, int]] = defaultdict(dict)
    for r in report.sections["daily"]:
        series[r["direction"]][r["day"]] = int(r["count"])
    fig = go.Figure([go.Bar(name=direction, x=list(days), y=list(days.values()))
                     for direction, days in sorted(series.items())])
    fig.update_layout(barmode="stack", title="Flows over time (records per day)",
                      xaxis_title="day (UTC)", yaxis_title="records", height=420,
                      legend_title="direction")
    return fig


def flow_diagram(report: FlowReport) -> go.Figure:
    """Sankey: each force → coordinator (what it sent), coordinator → each force (hits)."""
    import plotly.graph_objects as go

    sent: dict[str, int] = defaultdict(int)
    hits: dict[str, int] = defaultdict(int)
    for r in report.sections["flows"]:
        target = hits if r["direction"].startswith(COORDINATOR) else sent
        target[r["force"]] += int(r["count"])
    forces = sorted(set(sent) | set(hits))
    labels = [f"{f} (sent)" for f in forces] + [COORDINATOR] + [f"{f} (hits)" for f in forces]
    middle = len(forces)
    source = [forces.index(f) for f in sent] + [middle for _ in hits]
    target = [middle for _ in sent] + [middle + 1 + forces.index(f) for f in hits]
    fig = go.Figure(go.Sankey(
        node={"label": labels, "pad": 20, "thickness": 18},
        link={"source": source, "target": target,
              "value": list(sent.values()) + list(hits.values())}))
    fig.update_layout(title="Force → coordinator flows (records sent, hits returned)",
                      height=420)
    return fig


def _table(name: str, rows: list[dict[str, Any]]) -> str:
    columns = COLUMNS[name]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(r[c]))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    content = (f"<table><tr>{head}</tr>{body}</table>" if rows
               else "<p>None in this period.</p>")
    return f'<h2 id="{name}">{TITLES[name]} ({len(rows)})</h2>{content}'


def to_html(report: FlowReport) -> str:
    v = report.verification
    charts = [flows_over_time(report).to_html(full_html=False, include_plotlyjs=True,
                                              div_id="flows-over-time"),
              flow_diagram(report).to_html(full_html=False, include_plotlyjs=False,
                                           div_id="flow-diagram")]
    findings = "".join(f"<li>{html.escape(str(f))}</li>" for f in v.findings)
    title = f"crossforce audit report — {report.period.label}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            f"<p>Made {report.made_at:%Y-%m-%d %H:%M} UTC from {len(report.ledgers)} "
            f'ledgers. Verification: <strong id="verdict" class="{"ok" if v.ok else "failed"}"'
            f">{html.escape(verdict(report))}</strong></p>"
            + (f"<ul>{findings}</ul>" if findings else "")
            + "".join(charts)
            + "".join(_table(name, report.sections[name]) for name in COLUMNS)
            + "</body></html>\n")
