"""`crossforce policy` — check and show sharing policies."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Write, check and show the sharing policy that decides what may leave a node.",
    no_args_is_help=True,
)
