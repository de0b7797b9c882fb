"""`crossforce scenario` — synthetic data for trying, testing and measuring crossforce."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Generate synthetic multi-force scenarios (node input files plus the planted truth).",
    no_args_is_help=True,
)
