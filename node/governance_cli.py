"""`crossforce node withdraw | purge | checkpoint` — a force's data owner's governance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from federation.errors import CrossforceError

DirOption = Annotated[Path, typer.Option("--dir", help="The node's folder.", file_okay=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def withdraw(
    dir: DirOption,  # noqa: A002
    purpose: Annotated[str | None, typer.Option(
        "--purpose", help="Withdraw only what was sent for this purpose code (default: "
        "everything this force sent).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Where to write the signed withdrawal for the coordinator.")] = None,
    ack: Annotated[Path | None, typer.Option(
        "--ack", help="Record the coordinator's signed acknowledgement instead "
        "(`crossforce coordinator withdraw` writes it).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Withdraw what this force sent to the coordinator, or record that it was erased.

    Without --ack: sign a withdrawal (one purpose, or everything), log it (erasure asked
    of the coordinator) and write it to --out for the coordinator (`crossforce coordinator
    withdraw --dir C FILE`). With --ack: check the coordinator's signed acknowledgement
    against the coordinator key this node trusts, and record it (counts only)."""
    from node.withdrawal import record_acknowledgement, request_withdrawal

    if ack is not None:
        if out is not None or purpose is not None:
            raise CrossforceError("--ack records an acknowledgement; give it without --out "
                                  "and --purpose")
        done = record_acknowledgement(dir, ack)
        if as_json:
            typer.echo(json.dumps(done.__dict__, indent=1))
        else:
            erased = ", ".join(f"{t} {n:,}" for t, n in done.erased.items() if n) or "nothing"
            typer.echo(f"withdrawal {done.withdrawal_id} {done.status}: the coordinator "
                       f"erased {erased}")
        return
    if out is None:
        raise CrossforceError("give --out FILE (where to write the withdrawal), or --ack "
                              "FILE to record the coordinator's acknowledgement")
    w = request_withdrawal(dir, out, purpose)
    if as_json:
        typer.echo(json.dumps({"withdrawal_id": w.withdrawal_id, "force": w.force,
                               "purposes": w.purposes, "hash": w.hash, "out": str(out)},
                              indent=1))
        return
    typer.echo(f"withdrawal {w.withdrawal_id} of {w.describe()} signed and logged; send "
               f"{out} to the coordinator")


def purge(
    dir: DirOption,  # noqa: A002
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, erase nothing.")] = False,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="With --dry-run: what would be past retention on this date "
        "(YYYY-MM-DD, UTC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Erase the private refs and received hits kept past the policy's retention.

    A ref goes when it has not left in a share set for `[retention] days`, a hits batch's
    resolved rows when it was received that long ago; logged as one erasure (counts)."""
    from federation.audit.period import parse_as_of
    from node.retention import purge_node

    when = parse_as_of(as_of, dry_run)
    done = purge_node(dir, as_of=when, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(done.as_dict(), indent=1))
        return
    verb = "would erase" if dry_run else "erased"
    typer.echo(f"{verb} {done.egress_refs:,} ref(s) and {done.received_hits:,} resolved "
               f"hit(s) kept past {done.retention_days} days")


def checkpoint(
    dir: DirOption,  # noqa: A002
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write this node's signed ledger head here, for the coordinator to "
        "keep (`crossforce coordinator checkpoint --record`).")] = None,
    record: Annotated[Path | None, typer.Option(
        "--record", help="The coordinator's ledger head (`crossforce coordinator "
        "checkpoint --out`) to keep.")] = None,
) -> None:
    """Exchange ledger heads with the coordinator, so a ledger cut short is caught.

    Each side keeps the other's signed head; `crossforce audit verify` checks every ledger
    against them. Writes no ledger entry (one would be a new, unanchored tail)."""
    from federation.checkpoint import checkpoint as sign_head
    from federation.checkpoint import load_checkpoint, record_anchor, write_checkpoint
    from federation.duckdb_files import transaction
    from federation.keys import NodeKeys
    from node.store import coordinator_signing_key, open_store

    if out is None and record is None:
        raise CrossforceError("give --out FILE (this node's head) and/or --record FILE (the "
                              "coordinator's head)")
    head = load_checkpoint(record) if record is not None else None
    with open_store(dir) as (config, con):
        if head is not None:
            if head.owner != "coordinator" or not head.verifies(
                    coordinator_signing_key(config)):
                raise CrossforceError(f"{record}: not the coordinator's ledger head signed by "
                                      "the key this node trusts; nothing was recorded")
            with transaction(con):
                record_anchor(con, head, "checkpoint")
            typer.echo(f"kept the coordinator's ledger head: {head.entries} entries")
        if out is not None:
            mine = sign_head(con, NodeKeys.load(config.keys_dir).signer, config.force)
            write_checkpoint(out, mine)
            typer.echo(f"wrote {config.force}'s ledger head ({mine.entries} entries) to {out}")


def register(app: typer.Typer) -> None:
    """Add the governance commands to the node group (idempotent)."""
    have = {c.name for c in app.registered_commands}
    for name, command in (("withdraw", withdraw), ("purge", purge),
                          ("checkpoint", checkpoint)):
        if name not in have:
            app.command(name)(command)
