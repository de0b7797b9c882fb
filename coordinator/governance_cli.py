"""`crossforce coordinator withdraw | purge | checkpoint` — erasure and ledger heads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from federation.errors import CrossforceError

DirOption = Annotated[Path, typer.Option("--dir", help="The coordinator folder.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _actor() -> str:
    import getpass

    try:
        return f"{getpass.getuser()} (cli)"
    except (KeyError, OSError):
        return "unknown (cli)"


def withdraw(
    directory: DirOption,
    request: Annotated[Path, typer.Argument(help="The force's signed withdrawal file "
                                            "(`crossforce node withdraw --out`).")],
    ack: Annotated[Path | None, typer.Option(
        "--ack", help="Where to write the signed acknowledgement for the force (default: "
        "beside the request, ending .ack.json).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Apply a force's signed withdrawal and write the acknowledgement.

    Erases every item, token, link, aggregate and hit of that force for the purposes it
    names, re-derives entities and networks without them, logs an erasure (counts only)
    and writes the signed acknowledgement the force records with `crossforce node withdraw
    --dir DIR --ack FILE`. Applying it twice changes nothing."""
    from coordinator.store import open_store
    from coordinator.withdrawal import apply_withdrawal

    try:
        data = request.read_bytes()
    except OSError as exc:
        raise CrossforceError(f"{request}: cannot read the withdrawal ({exc.strerror})") from None
    with open_store(directory) as store:
        done = apply_withdrawal(store, data, actor=_actor(), source=str(request))
    out = ack or request.with_name(request.name.removesuffix(".json") + ".ack.json")
    out.write_bytes(done.to_bytes())
    if as_json:
        typer.echo(json.dumps({"acknowledgement": str(out), "withdrawal_id":
                               done.withdrawal_id, "force": done.force,
                               "erased": done.erased}, indent=1))
        return
    erased = ", ".join(f"{t} {n:,}" for t, n in done.erased.items() if n)
    typer.echo(f"withdrawal {done.withdrawal_id} from {done.force}: erased "
               f"{erased or 'nothing (nothing was held)'}; acknowledgement written to {out}")


def purge(
    directory: DirOption,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="With --dry-run: what would be past retention on this date "
        "(YYYY-MM-DD, UTC).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what is past retention, "
                                          "erase nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Erase every payload held past its force's retention period.

    The period is the days the force's policy declared in the submission. Logs an erasure
    per force and purpose (counts only) and re-derives entities and networks. Every
    federation round does this before it links."""
    from coordinator.retention import purge_expired
    from coordinator.store import open_store
    from federation.audit.period import parse_as_of

    when = parse_as_of(as_of, dry_run)
    with open_store(directory) as store:
        result = purge_expired(store, actor=_actor(), as_of=when, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=1))
        return
    verb = "would erase" if dry_run else "erased"
    if not result.erased:
        typer.echo(f"nothing held past retention (as of {result.as_of:%Y-%m-%d %H:%M} UTC)")
    for e in result.erased:
        rows = e.get("items", e.get("payloads"))
        typer.echo(f"{verb}: {e['force']} / {e['purpose']} (kept {e['retention_days']} days): "
                   f"{e['payloads']} payload(s)" + (f", {rows:,} items" if "items" in e else ""))


def checkpoint(
    directory: DirOption,
    record: Annotated[list[Path] | None, typer.Option(
        "--record", help="A force's ledger head (`crossforce node checkpoint --out`) to "
        "keep; repeat for each force.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the coordinator's own signed ledger head here, for the "
        "forces to keep (`crossforce node checkpoint --record`).")] = None,
) -> None:
    """Exchange ledger heads with the forces, so a ledger cut short is caught.

    Keeps each force's signed head (checked against its registered key) and signs the
    coordinator's own, so `crossforce audit verify` can tell a ledger cut short at its
    end. Writes no ledger entry (one would be a new, unanchored tail)."""
    from coordinator.registry import registered_forces
    from coordinator.store import OWNER, open_store
    from federation.checkpoint import checkpoint as sign_head
    from federation.checkpoint import load_checkpoint, record_anchor, write_checkpoint
    from federation.duckdb_files import transaction

    if not record and out is None:
        raise CrossforceError("give --record FILE (a force's head) and/or --out FILE")
    heads = [(path, load_checkpoint(path)) for path in record or []]
    with open_store(directory) as store:
        forces = registered_forces(store.con)
        with transaction(store.con):
            for path, head in heads:
                known = forces.get(head.owner)
                if known is None or not head.verifies(known.public_key):
                    raise CrossforceError(f"{path}: not a ledger head signed by a registered "
                                          f"force ({head.owner!r}); nothing was recorded")
                record_anchor(store.con, head, "checkpoint")
        mine = sign_head(store.con, store.keys.signer, OWNER) if out is not None else None
    for path, head in heads:
        typer.echo(f"kept {head.owner}'s ledger head: {head.entries} entries, "
                   f"{head.head[:16]}… ({path})")
    if out is not None and mine is not None:
        write_checkpoint(out, mine)
        typer.echo(f"wrote the coordinator's ledger head ({mine.entries} entries) to {out}")


def register(app: typer.Typer) -> None:
    """Add the governance commands to the coordinator group (idempotent)."""
    have = {c.name for c in app.registered_commands}
    for name, command in (("withdraw", withdraw), ("purge", purge),
                          ("checkpoint", checkpoint)):
        if name not in have:
            app.command(name)(command)
