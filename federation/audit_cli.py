"""`crossforce audit` — governance: verify ledgers and report data flows."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="For governance and audit staff: verify the hash-chained, signed ledgers at both "
    "ends and report every data flow (DPA 2018 s.62).",
    no_args_is_help=True,
)
