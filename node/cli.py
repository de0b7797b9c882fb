"""`crossforce node` — a force's own node: its store, ingest, status, egress and hits."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Run a force's node: create it, load records and phone extractions, see what is "
    "held, preview and send what the sharing policy allows.",
    no_args_is_help=True,
)
