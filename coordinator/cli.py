"""`crossforce coordinator` — the national coordinator: submissions, linkage, networks, hits."""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from federation.errors import CrossforceError

if TYPE_CHECKING:
    from rich.console import Console

# Each command imports what it needs when it runs (issue #12): `crossforce coordinator
# status` does not pay for linkage, networks or Flower, nor `--help` for any of them.

app = typer.Typer(
    help="Run the national coordinator: accept signed submissions, link tokens across "
    "forces, find cross-force networks and tell each force its own hits.",
    no_args_is_help=True,
)

DirOption = Annotated[Path, typer.Option("--dir", help="The coordinator folder (made by "
                                         "`crossforce coordinator init`).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JustificationOption = Annotated[str | None, typer.Option(
    "--justification", help="Why you are looking (ledger consultation entry). "
    "Default: names the command and user.")]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _actor() -> str:
    return f"{_user()} (cli)"


def _out() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


# --------------------------------------------------------------------------- init/register

@app.command()
def init(directory: DirOption) -> None:
    """Create a coordinator: its store and keys. Refuses to overwrite one.

    Makes DIR/coordinator.duckdb (the national store and ledger) and DIR/keys/ (files
    0600): an Ed25519 key that signs the coordinator's ledger and an X25519 key nodes may
    encrypt payloads to. DIR/keys/public.json holds the public halves to give to nodes.
    """
    from coordinator.store import init_store

    store = init_store(directory)
    try:
        keys = store.keys
        print(f"coordinator created in {directory}")
        print(f"  ledger signing key  {keys.signer.fingerprint}")
        print(f"  encryption key      {keys.encryption.fingerprint} "
              f"(public: {keys.encryption.public_key.hex()})")
        print(f"  give nodes {directory / 'keys' / 'public.json'}; register each force with "
              f"`crossforce coordinator register --dir {directory} --force NAME "
              "--public-key FILE`")
    finally:
        store.close()


@app.command()
def register(
    directory: DirOption,
    force: Annotated[str, typer.Option("--force", help="The force's name, as its node "
                                       "signs it (e.g. 'Lancashire').")],
    public_key: Annotated[str, typer.Option(
        "--public-key", help="The force's Ed25519 public key: its node's keys/public.json, "
        "its keys folder, or 64 hex digits.")],
    epoch: Annotated[list[int] | None, typer.Option(
        "--epoch", help="Key epoch(s) accepted from this force (repeat for several; "
        "default 1). Payloads of other epochs are rejected as old.")] = None,
    replace_key: Annotated[bool, typer.Option(
        "--replace-key", help="Replace a registered force's key (after a key change).")] = False,
) -> None:
    """Register a force that may submit payloads (or change its accepted key epochs)."""
    from coordinator.registry import register_force
    from coordinator.store import open_store
    from federation.keys import load_public_key

    key = load_public_key(public_key)
    _check_owner(public_key, force)
    with open_store(directory) as store:
        entry = register_force(store.con, store.ledger, force, key, epoch or [1],
                               replace_key=replace_key, actor=_actor())
    print(f"registered {entry.force}: key {entry.fingerprint}, epochs "
          f"{', '.join(map(str, entry.epochs))}")


def _check_owner(spec: str, force: str) -> None:
    """A public.json names its owner: refuse to register it under another force's name."""
    path = Path(spec)
    if path.is_dir():
        path = path / "public.json"
    if path.suffix != ".json" or not path.is_file():
        return
    try:
        owner = json.loads(path.read_text()).get("owner")
    except (OSError, ValueError, AttributeError):
        return
    if owner and owner != force.strip():
        raise CrossforceError(f"{path} is the key of {owner!r}, not {force!r}")


# --------------------------------------------------------------------------- submit

@app.command()
def submit(
    directory: DirOption,
    files: Annotated[list[Path], typer.Argument(help="Payload files written by node egress.",
                                                show_default=False)],
) -> None:
    """Verify and ingest node payload files, each all or nothing.

    Each accepted payload is written with its ledger entry (collection); a later payload
    from the same force for the same purpose replaces the earlier one. A payload with a
    bad signature, an unregistered force, an old key epoch, a reused payload id, a wrong
    schema version, or a truncated or unreadable body is rejected with the reason and
    changes nothing. Sending the same payload again changes nothing. Exit code 2 if any
    file was rejected.
    """
    from coordinator.store import open_store
    from coordinator.submit import submit_payload
    from federation.payload import PayloadRejected

    rejected = 0
    with open_store(directory) as store, _err().status("verifying…") as spinner:
        for n, path in enumerate(files, 1):
            spinner.update(f"verifying and storing {path} ({n}/{len(files)})")
            try:
                data = path.read_bytes()
            except OSError as exc:
                print(f"error: {path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
                rejected += 1
                continue
            try:
                receipt = submit_payload(store, data, via="file", actor=_actor())
            except PayloadRejected as exc:
                print(f"error: {path}: rejected ({exc.reason}): {exc}", file=sys.stderr)
                rejected += 1
                continue
            print(f"{path}: {receipt.message()}")
    if rejected:
        if len(files) > 1:
            print(f"error: {rejected} of {len(files)} file(s) rejected; the others were "
                  "processed", file=sys.stderr)
        raise typer.Exit(2)


# --------------------------------------------------------------------------- link

@app.command(name="link")
def link_command(
    directory: DirOption,
    justification: Annotated[str, typer.Option(
        "--justification", help="Why this linkage run (recorded as a combination).")]
        = "national linkage of the payloads held",
    settings_file: Annotated[Path | None, typer.Option(
        "--settings", help="A TOML file of linkage settings (LinkageSettings fields, e.g. "
        "`match_probability = 0.9`); unset fields keep their defaults.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Link everything held into national entities and find cross-force networks.

    Replaces the previous results; logged as a combination with its counts.
    """
    from coordinator.consult import link_store
    from coordinator.settings import LinkageSettings
    from coordinator.store import open_store

    settings = (LinkageSettings.from_file(settings_file) if settings_file
                else LinkageSettings())
    err = _err()
    with open_store(directory) as store, err.status("linking…") as status:
        summary = link_store(store, actor=_actor(), justification=justification,
                             linkage=settings, progress=lambda msg: status.update(msg))
    if as_json:
        print(json.dumps({**summary.as_dict(), "settings": settings.model_dump(mode="json")},
                         indent=2))
        return
    c = summary.counts
    print(f"linked {c['items']:,} references into {c['entities']:,} national entities "
          f"({c['cross_force_entities']:,} held by 2+ forces); {c['person_links']:,} person "
          f"links from {c['candidate_pairs']:,} candidate pairs; {c['networks']:,} cross-force "
          "network(s)")


# --------------------------------------------------------------------------- entities

@app.command()
def entities(
    directory: DirOption,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    force: Annotated[str | None, typer.Option(
        "--force", help="Only this force's own references (its victims included).")] = None,
    cross_force: Annotated[bool, typer.Option(
        "--cross-force", help="Only entities held by two or more forces.")] = False,
    justification: JustificationOption = None,
) -> None:
    """List national entities: force, opaque reference, kind, entity id, score.

    Victim (match-only) references are never listed, except a force's own with --force.
    Logged as a consultation.
    """
    from coordinator.consult import entity_rows, log
    from coordinator.store import open_store

    if fmt not in ("csv", "json"):
        raise CrossforceError(f"--format must be csv or json, not {fmt!r}")
    with open_store(directory) as store:
        table = entity_rows(store, force, cross_force=cross_force)
        log(store, "consultation", actor=_actor(),
            justification=justification or _default_justification("entities"),
            counts={"entities": table.num_rows}, force=force)
    rows = table.to_pylist()
    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=table.column_names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _default_justification(command: str) -> str:
    return f"`crossforce coordinator {command}` run by {_user()}"


# --------------------------------------------------------------------------- networks

@app.command()
def networks(
    directory: DirOption,
    purpose: Annotated[str | None, typer.Option(
        "--purpose", help="Only networks found in what was shared under this purpose code "
        "(tokens are keyed per purpose, so every network belongs to one).")] = None,
    as_json: JsonOption = False,
    justification: JustificationOption = None,
) -> None:
    """Show the cross-force networks found by the last `link`.

    Per network: purpose, forces, persons, identifiers, brokers (entity ids, highest
    betweenness first), key players, active period. `--json` adds every member (with the
    forces holding it) and every edge (two member entity ids, the link kinds and the forces
    whose links join them). Victims and stop-listed hubs are never members, so never end an
    edge. Logged as a consultation.
    """
    from rich.table import Table

    from coordinator.consult import log, network_purposes
    from coordinator.networks import load_networks
    from coordinator.store import open_store

    with open_store(directory) as store:
        of = network_purposes(store.con)
        found = [n for n in load_networks(store.con)
                 if purpose is None or of.get(n.network_id) == purpose]
        log(store, "consultation", actor=_actor(),
            justification=justification or _default_justification("networks"),
            counts={"networks": len(found)})
    if as_json:
        print(json.dumps([{**n.as_dict(), "purpose": of.get(n.network_id)} for n in found],
                         indent=1))
        return
    if not found:
        print("no cross-force network found" + (f" under {purpose}" if purpose else ""))
        return
    table = Table(title=f"{len(found)} cross-force network(s)")
    several = len({of.get(n.network_id) for n in found}) > 1  # else the title says it
    if not several and purpose is None and of:
        table.title += f" under {of.get(found[0].network_id, '?')}"
    for column in ("network", *(("purpose",) if several else ()), "forces", "persons",
                   "identifiers", "brokers", "key players", "active"):
        table.add_column(column, overflow="fold")
    for n in found:
        active = (f"{n.first_activity or '?'} – {n.last_activity or '?'}"
                  if n.first_activity or n.last_activity else "")
        table.add_row(str(n.network_id), *((of.get(n.network_id, "?"),) if several else ()),
                      ", ".join(n.forces), str(n.n_persons),
                      str(n.n_identifiers), ", ".join(str(m.entity_id) for m in n.brokers),
                      ", ".join(str(m.entity_id) for m in n.key_players), active)
    _out().print(table)


# --------------------------------------------------------------------------- hits

@app.command()
def hits(
    directory: DirOption,
    force: Annotated[str, typer.Option("--force", help="The force whose hits to show.")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the hits file for the force (.json, else Arrow IPC) instead "
        "of printing; `crossforce node hits` reads it.")] = None,
    as_json: JsonOption = False,
    justification: JustificationOption = None,
) -> None:
    """Show or write one force's hits: its OWN references that others know too.

    A hit is a reference of the force held by another force or in a cross-force network,
    with entity id, network id, the other forces' names and strength — never another
    force's references. Logged as a consultation.
    """
    from rich.table import Table

    from coordinator.consult import head, hits_table, log
    from coordinator.hits import hits_arrow_bytes, hits_as_json, sign_hits
    from coordinator.store import open_store

    with open_store(directory) as store:
        table = hits_table(store, force, for_force=out is not None)
        data = None
        if out is not None:  # signed: a node accepts hits only under the coordinator's key
            data = sign_hits((json.dumps(hits_as_json(force, table), indent=1) + "\n"
                              ).encode(), force, store.keys.signer, head(store)) \
                if out.suffix == ".json" else hits_arrow_bytes(force, table, store.keys.signer,
                                                               head(store))
        log(store, "consultation", actor=_actor(),
            justification=justification or _default_justification(f"hits --force {force}"),
            counts={"hits": table.num_rows}, force=force,
            payload_hash=hashlib.sha256(data).hexdigest() if data is not None else None)
    if out is not None and data is not None:
        _write_atomic(out, data)
        print(f"wrote {table.num_rows:,} hit(s) for {force} to {out}")
        return
    doc = hits_as_json(force, table)
    if as_json:
        print(json.dumps(doc, indent=1))
        return
    if not doc["hits"]:
        print(f"no hit for {force}")
        return
    view = Table(title=f"{len(doc['hits'])} hit(s) for {force}")
    view.add_column("reference", no_wrap=True)
    for column in ("kind", "entity", "network", "other forces", "strength", "reason"):
        view.add_column(column, overflow="fold")
    for h in doc["hits"]:
        view.add_row(h["ref"], h["kind"], str(h["entity_id"]),
                     "" if h["network_id"] is None else str(h["network_id"]),
                     ", ".join(h["other_forces"]), f"{h['strength']:.3f}", h["reason"])
    _out().print(view)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# --------------------------------------------------------------------------- status

@app.command()
def status(directory: DirOption, as_json: JsonOption = False) -> None:
    """Registered forces and their submissions, rows per table, the last linkage run."""
    from rich.table import Table

    from coordinator.consult import store_status
    from coordinator.store import open_store

    with open_store(directory) as store:
        info = store_status(store)
    if as_json:
        print(json.dumps(info, indent=2))
        return
    out = _out()
    out.print(f"coordinator {info['dir']}  (ledger key {info['signing_key']})")
    forces = Table(title="forces")
    for column in ("force", "epochs", "current payloads", "received", "items",
                   "last received"):
        forces.add_column(column)
    for f in info["forces"]:
        forces.add_row(f["force"], ", ".join(map(str, f["epochs"])),
                       str(f["current_submissions"]), str(f["submissions_received"]),
                       f"{f['items']:,}", f["last_received"] or "never")
    out.print(forces if info["forces"] else
              "no force registered yet: `crossforce coordinator register --dir "
              f"{info['dir']} --force NAME --public-key FILE`")
    out.print("rows: " + ", ".join(f"{t} {n:,}" for t, n in info["tables"].items()))
    last = info["last_link"]
    out.print(f"last link: {last['at']} — {last.get('entities', 0):,} entities, "
              f"{last.get('networks', 0):,} networks" if last else "last link: never")


# --------------------------------------------------------------------------- aggregates

@app.command()
def aggregates(
    directory: DirOption,
    purpose: Annotated[str | None, typer.Option(
        "--purpose", help="Only this purpose code (default: every purpose held).")] = None,
    table_name: Annotated[str | None, typer.Option(
        "--table", help="Only this aggregate table, e.g. crimes_by_category_year.")] = None,
    method: Annotated[str | None, typer.Option(
        "--method", help="Only 'share-sets' (summed from the forces' share sets) or "
        "'secure-sum' (a SecAgg+ round: the coordinator saw only the national sum).")] = None,
    recording: Annotated[bool, typer.Option(
        "--recording", help="The national view of recording consistency instead: per force "
        "and nationally, cases meeting R3 of the national CSE definition, the share the "
        "force flagged (recording accuracy), mis-flags, and R3 suspects' ethnicity and "
        "nationality blank rates.")] = False,
    as_json: JsonOption = False,
    justification: JustificationOption = None,
) -> None:
    """National aggregates: counts per category summed over forces.

    Each part already passed its force's disclosure control (suppressed
    under the threshold, rounded), so a national figure is a sum of
    released counts; 'suppressed in' says how many forces held a cell
    back (the sum is then a lower bound). Per-force counts are never
    shown. Logged as a consultation.
    """
    from rich.table import Table

    from coordinator.aggregates import national_aggregates, rows_for_reading
    from coordinator.consult import log
    from coordinator.store import open_store

    if recording:
        _recording(directory, purpose, as_json, justification)
        return
    with open_store(directory) as store:
        found = national_aggregates(store.con, purpose=purpose, table=table_name,
                                    method=method)
        log(store, "consultation", actor=_actor(),
            justification=justification or _default_justification("aggregates"),
            counts={"cells": found.num_rows})
    rows = rows_for_reading(found)
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    if not rows:
        print("no national aggregate held" + (f" for purpose {purpose}" if purpose else "")
              + ": forces share aggregates only where their policy's [aggregates] allows")
        return
    out = _out()
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["purpose"], r["table"], r["method"]), []).append(r)
    for (purpose_code, name, how), cells in groups.items():
        dims = list(dict.fromkeys(k for r in cells for k in r["cell"]))
        view = Table(title=f"{name} — {purpose_code} ({how}, {len(cells):,} cells)")
        for dim in dims:
            view.add_column(dim.replace("_", " "), overflow="fold")
        for column in ("national count", "forces", "suppressed in"):
            view.add_column(column, justify="right")
        for r in cells:
            view.add_row(*(str(r["cell"].get(d, "")) for d in dims),
                         "suppressed" if r["count"] is None else f"{r['count']:,}",
                         str(r["forces"]),
                         "" if r["forces_suppressed"] is None else str(r["forces_suppressed"]))
        out.print(view)


def _recording(directory: Path, purpose: str | None, as_json: bool,
               justification: str | None) -> None:
    """`aggregates --recording`: recording consistency per force and nationally."""
    from rich.table import Table

    from coordinator.aggregates import recording_consistency
    from coordinator.consult import log
    from coordinator.store import open_store

    with open_store(directory) as store:
        rows = recording_consistency(store.con, purpose)
        log(store, "consultation", actor=_actor(),
            justification=justification or _default_justification("aggregates"),
            counts={"forces": max(len(rows) - 1, 0)})
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    if not rows:
        print("no recording-consistency aggregates held: forces send them when their "
              "policy's [aggregates] dimensions include rule, flagged and completeness")
        return

    def n(row: dict, key: str) -> str:
        value = row[key]
        if value is None:
            return "—"
        return f"≥{value:,}" if key in row["suppressed"] else f"{value:,}"

    def pct(value: float | None) -> str:
        return "suppressed" if value is None else f"{value:.0%}"

    view = Table(title="recording consistency under the national CSE definition (R3, R5, R6)")
    for column in ("force", "R3 cases", "flagged", "accuracy", "R3 not flagged",
                   "flagged, fails R1", "ethnicity blank", "nationality blank"):
        view.add_column(column, justify="left" if column == "force" else "right",
                        overflow="fold")
    for r in rows:
        view.add_row(r["force"], n(r, "r3_cases"), n(r, "r3_flagged"),
                     pct(r["recording_accuracy"]), n(r, "r3_not_flagged"),
                     n(r, "flagged_failing_r1"), pct(r["r3_suspect_ethnicity_blank_rate"]),
                     pct(r["r3_suspect_nationality_blank_rate"]))
    out = _out()
    out.print(view)
    out.print("Counts are each force's released ones (under its threshold suppressed, the "
              "rest rounded): ≥ marks a sum with a suppressed part, a share of rounded counts "
              "is approximate. accuracy = R3 cases the force flagged as group-based CSE / R3 "
              "cases; blank rates are of R3 suspects (self-defined ethnicity, nationality).",
              style="dim")

@app.command(name="retire-epoch")
def retire_epoch(
    directory: DirOption,
    before: Annotated[int, typer.Option("--before", help="The first key epoch still "
                                        "accepted; every earlier one is retired.")],
    as_json: JsonOption = False,
) -> None:
    """After a key rotation and a round under the new epoch: refuse payloads of older
    epochs from now on and purge the tokens, items and links they carried (a ledger
    erasure entry with counts)."""
    from coordinator.epochs import retire_epochs
    from coordinator.store import open_store

    with open_store(directory) as store:
        done = retire_epochs(store, before, actor=_actor())
    if as_json:
        print(json.dumps(done.as_json(), indent=1))
        return
    print(f"epochs before {before} retired for {done.forces} force(s); purged "
          f"{done.payloads} payload(s): " + ", ".join(f"{n:,} {t}" for t, n in
                                                    done.removed.items()))


# `coordinator run` (the Flower round), `serve` and `users` plug in here.
from coordinator.run_cli import register as _register_run  # noqa: E402
from coordinator.serve_cli import register as _register_serve  # noqa: E402

_register_run(app)
_register_serve(app)


# `coordinator withdraw | purge | checkpoint` (governance, issue #18) plug in here.
from coordinator.governance_cli import register as _register_governance  # noqa: E402

_register_governance(app)
