"""`crossforce scenario` — synthetic data for trying, testing and measuring crossforce."""

from __future__ import annotations

from pathlib import Path

import typer

from scenario.defaults import DEFAULT_DIRTY_DOBS, DEFAULT_DUPLICATES

#: HMICFRS (2025): 37% of child exploitation cases accurately identified. Kept here (and
#: passed explicitly) so `crossforce --help` does not import numpy/pyarrow/Faker.
DEFAULT_FLAG_ACCURACY = 0.37

app = typer.Typer(
    help="Generate synthetic multi-force scenarios (node input files plus the planted truth).",
    no_args_is_help=True,
)


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Folder to write (one sub-folder per force "
                             "plus truth/). Must be new or empty unless --force."),
    forces: int = typer.Option(5, "--forces", help="How many forces (1-43), taken in a fixed "
                               "order that keeps neighbouring forces together."),
    persons_per_force: int = typer.Option(2000, "--persons-per-force",
                                          help="Person records per force (at least 50)."),
    seed: int = typer.Option(7, "--seed", help="Same seed, byte-identical files."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it is not empty."),
    fmt: str = typer.Option("auto", "--format", help="auto (Parquet for calls/messages and "
                            "any table over 100,000 rows, CSV otherwise), csv or parquet."),
    flag_accuracy: float = typer.Option(
        DEFAULT_FLAG_ACCURACY, "--flag-accuracy",
        help="Share of truly group-based CSE cases that forces flag correctly (HMICFRS: 37%)."),
    duplicates: float = typer.Option(
        DEFAULT_DUPLICATES, "--duplicates",
        help="Share of real people with 2 or more records (duplicate nominals) in one force; "
             "most have 2-3, a few prolific offenders up to 15. 0 = one record each."),
    dirty_dobs: float = typer.Option(
        DEFAULT_DIRTY_DOBS, "--dirty-dobs",
        help="Share of dates of birth written in a form a date column cannot hold "
             "('1985', '1997-21-25', day 31 of a 30-day month); above 0, persons.dob is "
             "text. Realistic: 0.03-0.05."),
) -> None:
    """Write a synthetic multi-force scenario in the node input layout, with planted
    cross-force networks, look-alikes, inconsistent flags and the truth to score against."""
    from rich.console import Console

    from scenario.generate import generate as run_generate

    summary = run_generate(out, forces=forces, persons_per_force=persons_per_force,
                           seed=seed, overwrite=force, fmt=fmt,  # type: ignore[arg-type]
                           flag_accuracy=flag_accuracy, duplicates=duplicates,
                           dirty_dobs=dirty_dobs)
    Console().print(summary.describe())


@app.command()
def ufdr(
    folder: Path = typer.Argument(..., help="A generated force folder (scenario/<force>).",
                                  exists=True, file_okay=False),
    device: str = typer.Option(..., "--device", help="The device id to write (see the "
                               "folder's devices file)."),
    out: Path = typer.Option(..., "--out", help="The .ufdr file to write.", dir_okay=False),
    version: str = typer.Option("current", "--version", help="current (DeviceInfo names, "
                                "Direction, formattedTimestamp, chats) or older (old header "
                                "names, direction only in Type, '…PM(UTC+0)' times)."),
) -> None:
    """Write one generated seized phone as a Cellebrite UFDR in the shape an older or a
    current version of the tool writes, to try `node ingest` on an extraction."""
    from federation.errors import CrossforceError
    from scenario.extraction import write_ufdr

    if version not in ("current", "older"):
        raise CrossforceError(f"--version {version!r}: write current or older")
    counts = write_ufdr(folder, device, out, version)  # type: ignore[arg-type]
    typer.echo(f"wrote {out} ({version} report): {counts['calls']} calls, "
               f"{counts['messages']} messages, {counts['contacts']} contacts")
