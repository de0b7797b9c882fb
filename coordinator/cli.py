"""`crossforce coordinator` — the national coordinator: submissions, linkage, networks, hits."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Run the national coordinator: accept signed submissions, link tokens across "
    "forces, find cross-force networks and tell each force its own hits.",
    no_args_is_help=True,
)
