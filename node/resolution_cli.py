"""`crossforce node resolve | review-duplicates | same-person | separate-person`: the force's
own duplicate records, resolved and reviewed before anything leaves."""

from __future__ import annotations

import json
from pathlib import Path

import typer

DirOption = typer.Option(..., "--dir", help="The node's folder.", file_okay=False)
JsonOption = typer.Option(False, "--json", help="Print as JSON.")


def register(app: typer.Typer) -> None:
    """Add the resolution commands to the `node` group."""

    @app.command()
    def resolve(
        dir: Path = DirOption,  # noqa: A002
        threshold: float = typer.Option(
            0.5, "--threshold", min=0.01, max=0.99,
            help="Records whose pair scores at least this match probability are one "
            "person (0.5: the evidence favours a match)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Resolve the force's own duplicate person records (the same person recorded
        several times, with typos, nicknames or dirty dates of birth) into persons, with
        Splink on the raw records. Analyst decisions (same-person, separate-person) always
        win. `node share` runs this itself when records changed since the last run; run it
        to review the result first. Logged in the ledger (combination)."""
        from node.egress import actor
        from node.resolution import resolve as run
        from node.store import open_store

        with open_store(dir) as (config, con):
            report = run(con, config.keys_dir, config.force, threshold=threshold,
                         actor=actor())
        if as_json:
            typer.echo(json.dumps(report.as_json(), indent=2))
            return
        typer.echo(report.line())
        if report.pairs_to_review:
            typer.echo(f"review them: crossforce node review-duplicates --dir {dir}")

    @app.command("review-duplicates")
    def review_duplicates(
        dir: Path = DirOption,  # noqa: A002
        low: float = typer.Option(0.5, "--from", help="Lowest match probability shown."),
        high: float = typer.Option(0.999, "--to", help="Highest match probability shown."),
        limit: int = typer.Option(50, "--limit", min=1, help="Pairs shown at most."),
        as_json: bool = JsonOption,
    ) -> None:
        """The scored pairs of records the analyst should look at (the least certain
        first), with both records' names and dates of birth and whether they are one
        person now. Decide with same-person / separate-person. Logged (consultation)."""
        from rich.console import Console
        from rich.table import Table as RichTable

        from federation.keys import NodeKeys
        from federation.ledger import Ledger
        from node.egress import actor
        from node.resolution import review
        from node.store import open_store

        with open_store(dir) as (config, con):
            rows = review(con, low=low, high=high, limit=limit)
            Ledger(con, NodeKeys.load(config.keys_dir).signer, config.force).append(
                "consultation", actor=actor(), purpose="resolution",
                justification="node review-duplicates: scored pairs of own records viewed",
                counts={"pairs": len(rows)})
        if as_json:
            typer.echo(json.dumps(rows, indent=2, default=str))
            return
        if not rows:
            typer.echo("no pairs to review (run `crossforce node resolve` first, or widen "
                       "--from/--to)")
            return
        table = RichTable("records", "names and dates of birth", "p", "one person",
                          title="pairs to review (least certain first)")
        for r in rows:
            table.add_row(f"{r['person_id']}\n{r['other_id']}",
                          f"{r['name']} ({r['dob'] or 'no dob'})\n"
                          f"{r['other_name']} ({r['other_dob'] or 'no dob'})",
                          f"{r['match_probability']:.3f}", "yes" if r["same_person"] else "no")
        Console().print(table)

    @app.command("same-person")
    def same_person(
        person_id: str = typer.Argument(..., help="A person record's person_id."),
        other_id: str = typer.Argument(..., help="Another record of the same person."),
        dir: Path = DirOption,  # noqa: A002
        note: str = typer.Option(None, "--note", help="Why (kept with the decision)."),
    ) -> None:
        """Record that two person records are the same person, whatever the model says.
        Takes effect at the next resolve (or share). Logged (alteration)."""
        _decide(dir, "same", person_id, other_id, note)

    @app.command("separate-person")
    def separate_person(
        person_id: str = typer.Argument(..., help="A person record's person_id."),
        dir: Path = DirOption,  # noqa: A002
        note: str = typer.Option(None, "--note", help="Why (kept with the decision)."),
    ) -> None:
        """Record that a person record joins no other record on the model's word (only
        through a same-person decision): splits a wrongly merged record out. Takes effect
        at the next resolve (or share). Logged (alteration)."""
        _decide(dir, "alone", person_id, None, note)


def _decide(node_dir: Path, decision: str, person_id: str, other_id: str | None,
            note: str | None) -> None:
    from node.egress import actor
    from node.resolution import decide
    from node.store import open_store

    with open_store(node_dir) as (config, con):
        decide(con, config.keys_dir, config.force, decision, person_id, other_id, note=note,
               actor=actor())
    typer.echo(f"recorded: {decision} {person_id}{' ' + other_id if other_id else ''}; "
               f"run `crossforce node resolve --dir {node_dir}` to apply it now")
