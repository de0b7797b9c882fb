"""`crossforce node share | hits | keys` — what leaves a node, what comes back, and the keys.

Written as plain functions plus :func:`register`, which adds them to the ``node`` command
group (node/cli.py calls it).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from federation.errors import CrossforceError

# rich, the keys (and their crypto libraries) and the node's code are imported when a
# command runs (issue #12).

DirOption = typer.Option(..., "--dir", help="The node's folder.", file_okay=False)


def share(
    dir: Path = DirOption,  # noqa: A002
    dry_run: bool = typer.Option(False, "--dry-run", help="Show exactly what would leave "
                                 "(counts per kind, role and link kind, aggregates, sample "
                                 "tokens) and change nothing: no payload, no ledger entry."),
    out: Path | None = typer.Option(None, "--out", help="Write the signed payload to this "
                                    "file (for forces that deliver offline).", dir_okay=False),
    purpose: str | None = typer.Option(None, "--purpose", help="Purpose code; must be the "
                                       "policy's own (a check against sharing by mistake)."),
    policy: str | None = typer.Option(None, "--policy", help="Policy file or default name; "
                                      "default DIR/policy.toml, else 'cse-national'."),
    encrypt_to: str | None = typer.Option(None, "--encrypt-to", help="Encrypt the payload "
                                          "to the coordinator's X25519 key: 64 hex digits or "
                                          "its public.json."),
    tokens: str | None = typer.Option(None, "--tokens", help="Where tokens come from: "
                                      "'keyservice' (the default once the node holds a key "
                                      "service credential: every value is evaluated online, "
                                      "counted and cached per epoch) or 'secret' (legacy: the "
                                      "federation linkage secret on this node)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Build the share set the policy allows, pass it through the policy gate and either
    show it (--dry-run) or sign it into a payload file (--out). A real share is one
    transaction with its ledger entry (disclosure, counts per kind, payload hash)."""
    from rich.console import Console

    from federation.keys import load_public_key
    from node.egress import egress

    if dry_run == (out is not None):
        raise CrossforceError("give exactly one of --dry-run (show what would leave) or "
                              "--out FILE (write the signed payload)")
    try:
        key = load_public_key(encrypt_to, "encryption_public_key") if encrypt_to else None
    except CrossforceError as exc:
        raise CrossforceError(f"--encrypt-to: {exc}") from None
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("building the share set…", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, description="key service evaluations", completed=done,
                       total=total)

        result = egress(dir, policy=policy, purpose=purpose, dry_run=dry_run, out=out,
                        encrypt_to=key, tokens=tokens, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
        return
    _print_share(result)


def _print_share(result) -> None:  # noqa: ANN001 - node.egress.EgressResult
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    s = result.summary
    head = "DRY RUN — nothing was shared" if result.dry_run else "shared"
    console.print(f"[bold]{head}[/]: {result.force}, purpose {result.purpose}, key epoch "
                  f"{result.epoch}")
    console.print(f"policy: {result.policy_source}, version {result.policy_version[:16]}…",
                  soft_wrap=True)  # a path must stay copyable
    for title, key in (("items by kind", "items_by_kind"), ("items by role", "items_by_role"),
                       ("tokens by kind", "tokens_by_kind"), ("links by kind", "links_by_kind"),
                       ("aggregate rows by table", "aggregates_by_table")):
        table = RichTable("", "count", title=title)
        counts = dict(s[key])
        if key == "tokens_by_kind":  # 27 match-key kinds: one row says enough
            keyed = {k: counts.pop(k) for k in list(counts) if k.startswith("mk:")}
            if keyed:
                counts[f"person match keys ({len(keyed)} kinds)"] = sum(keyed.values())
        for name, n in sorted(counts.items()):
            table.add_row(str(name), f"{n:,}")
        console.print(table)
    console.print(f"items {s['items']:,} ({s['match_only']:,} match-only: matched, never "
                  f"displayed), tokens {s['tokens']:,}, links {s['links']:,}, aggregate rows "
                  f"{s['aggregate_rows']:,} ({s['aggregates_suppressed']:,} suppressed)")
    if s.get("aggregates_release") == "secure-sum":
        console.print("aggregates: none in the share set — this policy releases them only "
                      "inside the national secure sum ([aggregates] release = \"secure-sum\")")
    if result.samples:
        console.print("sample tokens: " + ", ".join(f"{k} {t}" for k, t in result.samples))
    if result.submission is not None:
        console.print(f"payload {result.submission.payload_id}: {len(result.payload):,} "
                      f"bytes, sha256 {result.submission.content_hash} → {result.out}",
                      soft_wrap=True)


def hits(
    file: Path | None = typer.Argument(
        None, help="A hits file from the coordinator (Arrow or JSON). Without it: the "
        "latest hits this node received (e.g. through `node serve` in a round).",
        exists=False, dir_okay=False),
    dir: Path = DirOption,  # noqa: A002
    as_json: bool = typer.Option(False, "--json", help="Print the resolved hits as JSON."),
) -> None:
    """Resolve the coordinator's hits to this force's own records (person ids, phones, …)
    with their national entity and network ids and the other forces involved. Recorded in
    the node (table received_hits) and the ledger; the same file twice adds nothing."""
    from rich.console import Console
    from rich.table import Table as RichTable

    from node.hits import receive_hits_file, received_hits

    receipt = received_hits(dir) if file is None else receive_hits_file(dir, file)
    if as_json:
        typer.echo(json.dumps(receipt.as_json(), indent=2, default=str))
        return
    console = Console()
    console.print(f"{receipt.hits:,} hits ({receipt.status}): {receipt.resolved:,} resolved "
                  f"to {receipt.persons:,} persons and {receipt.identifiers:,} identifiers, "
                  f"{receipt.entities:,} entities, {receipt.networks:,} networks; other "
                  f"forces: {', '.join(receipt.other_forces) or '-'}")
    if receipt.unknown_refs:
        console.print(f"[yellow]{receipt.unknown_refs:,} refs are not in this node's map "
                      "(shared from another node, or the map was erased)[/]")
    table = RichTable("kind", "record", "persons", "entity", "network", "other forces",
                      "strength", title="hits")
    for row in receipt.rows:
        table.add_row(row["kind"], row["local_id"], ", ".join(row["person_ids"] or []),
                      str(row["entity_id"]),
                      "-" if row["network_id"] is None else str(row["network_id"]),
                      ", ".join(row["other_forces"] or []),
                      f"{row['strength']:.3f}" if row["strength"] is not None else "-")
    console.print(table)


# --------------------------------------------------------------------------- keys

keys_app = typer.Typer(help="The node's keys: signing key, the key service credential "
                       "tokens are made with (or the legacy linkage secret).",
                       no_args_is_help=True)


@keys_app.command("import-keyservice")
def import_keyservice(
    file: Path = typer.Argument(..., help="The credential file the key custodian issued "
                                "(`crossforce keyservice register`, mode 0600).",
                                dir_okay=False),
    dir: Path = DirOption,  # noqa: A002
    replace: bool = typer.Option(False, "--replace", help="Replace a credential the node "
                                 "already holds."),
) -> None:
    """Install the key service credential in DIR/keys (0600). From then on tokens come from
    the key service: every value is evaluated online (blinded: the service never sees it),
    counted against the force's quota and cached in the node per epoch."""
    from federation.keyservice.client import Credential, KeyServiceClient
    from federation.keyservice.suite import fingerprint
    from node.prf_tokens import credential_path
    from node.store import load_config

    config = load_config(dir)
    credential = Credential.load(file)
    if credential.role != "force":
        raise CrossforceError(f"{file} is a {credential.role} credential; a node needs a "
                              "force credential")
    target = credential_path(config)
    if target.exists() and not replace:
        raise CrossforceError(f"{target} already holds a key service credential; use "
                              "--replace to change it")
    with KeyServiceClient(credential) as client:
        info = client.epochs()  # proves the credential works before it is kept
    credential.save(target, overwrite=replace)
    typer.echo(f"{config.force} makes tokens through the key service at {credential.url}: "
               f"epoch {info['current']}, public key "
               f"{fingerprint(bytes.fromhex(info['public_key']))}, quota "
               f"{info['daily_quota']:,} evaluations a day")


@keys_app.command("import-secret")
def import_secret(
    file: Path = typer.Argument(..., help="The linkage secret file the federation issued "
                                "(crossforce-linkage-secret/1, mode 0600).", dir_okay=False),
    dir: Path = DirOption,  # noqa: A002
    replace: bool = typer.Option(False, "--replace", help="Replace a secret the node "
                                 "already holds (a rotation to a new epoch)."),
) -> None:
    """LEGACY: install the federation linkage secret in DIR/keys (0600). Anyone holding
    it can tokenise every phone number offline; prefer `import-keyservice`. Used only
    when the node has no key service credential, or with `node share --tokens secret`."""
    from federation.keys import LinkageSecret, NodeKeys
    from node.store import load_config

    config = load_config(dir)
    keys = NodeKeys.load(config.keys_dir)
    secret = LinkageSecret.load(file)
    if keys.linkage_secret is not None and not replace:
        raise CrossforceError(f"{config.keys_dir} already holds a linkage secret "
                              f"(epoch {keys.linkage_secret.epoch}); use --replace to rotate")
    keys.install_linkage_secret(secret, overwrite=replace)
    typer.echo(f"installed linkage secret {secret.fingerprint} (epoch {secret.epoch}) "
               f"for {config.force}")


@keys_app.command("import-coordinator")
def import_coordinator(
    file: Path = typer.Argument(..., help="The coordinator's public keys: its keys/"
                                "public.json (or its keys folder)."),
    dir: Path = DirOption,  # noqa: A002
) -> None:
    """Trust the coordinator's signing key: hits are accepted only when signed by it
    (kept as DIR/keys/coordinator.json)."""
    from federation.keys import fingerprint
    from node.store import install_coordinator_key, load_config

    config = load_config(dir)
    key = install_coordinator_key(config.dir, file)
    typer.echo(f"{config.force} now accepts hits signed by the coordinator key "
               f"{fingerprint(key)}")


@keys_app.command("generate-secret")
def generate_secret(
    file: Path = typer.Argument(..., help="Where to write the new secret (must not exist).",
                                dir_okay=False),
) -> None:
    """Make a new federation linkage secret (for the key custodian; every node of the
    federation imports the same file)."""
    from federation.keys import LinkageSecret

    secret = LinkageSecret.generate()
    secret.save(file)
    typer.echo(f"wrote linkage secret {secret.fingerprint} (epoch {secret.epoch}) to {file}")


@keys_app.command("show")
def show_keys(
    dir: Path = DirOption,  # noqa: A002
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Key fingerprints (never key material): signing, encryption, linkage secret."""
    from federation.keys import NodeKeys
    from node.store import load_config

    config = load_config(dir)
    keys = NodeKeys.load(config.keys_dir)
    info = {"force": config.force, **keys.fingerprints(),
            "signing_public_key": keys.signer.public_key.hex(),
            "has_linkage_secret": keys.linkage_secret is not None}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for name, value in info.items():
        typer.echo(f"{name}: {value}")


@keys_app.command("rotate")
def rotate_keys(dir: Path = DirOption) -> None:  # noqa: A002
    """Move the node to the next key epoch. Every node of the federation rotates together
    (the same secret at the next epoch gives the same new token keys everywhere); tokens
    of the old epoch no longer join new ones, and the coordinator accepts only the epochs
    registered for the force."""
    from federation.keys import NodeKeys
    from node.store import load_config

    config = load_config(dir)
    new = NodeKeys.load(config.keys_dir).rotate_linkage()
    typer.echo(f"{config.force}: linkage secret {new.fingerprint} now at epoch {new.epoch}")


def register(app: typer.Typer) -> None:
    """Add `share`, `hits` and `keys` to the node command group (idempotent)."""
    if any(c.name == "share" for c in app.registered_commands):
        return
    app.command("share")(share)
    app.command("hits")(hits)
    app.add_typer(keys_app, name="keys")
