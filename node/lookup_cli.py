"""`crossforce node lookup-tokens` — tokens for a hit / no-hit lookup, made on the node.

A force liaison asks the coordinator service "is this phone known elsewhere?" by sending
*tokens*, never the number: this command normalises each raw value and tokenises it under
the purpose's key, locally, and prints the request body for ``POST /v1/lookups``. The raw
values stay on this machine; the node's ledger records that tokens were made (counts only).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from federation.errors import CrossforceError

KINDS = ("phone", "email", "handle", "vrm", "imei")


def lookup_tokens(
    dir: Path = typer.Option(..., "--dir", help="The node's folder.",  # noqa: A002
                             file_okay=False),
    phone: list[str] | None = typer.Option(None, "--phone", help="A phone number as "
                                           "written (repeat for several)."),
    email: list[str] | None = typer.Option(None, "--email", help="An e-mail address."),
    handle: list[str] | None = typer.Option(None, "--handle", help="An online handle as "
                                            "the node's egress writes it (platform:user)."),
    vrm: list[str] | None = typer.Option(None, "--vrm", help="A vehicle registration."),
    imei: list[str] | None = typer.Option(None, "--imei", help="A handset IMEI."),
    purpose: str | None = typer.Option(None, "--purpose", help="Purpose code the lookup "
                                       "is made under (default: the node policy's)."),
    justification: str = typer.Option(..., "--justification", help="Why (the node's "
                                      "ledger records it, with the count of tokens)."),
    as_json: bool = typer.Option(False, "--json", help="Print only the request body for "
                                 "POST /v1/lookups."),
) -> None:
    """Tokenise identifiers for a hit / no-hit lookup at the coordinator service.

    Prints the body to send (``--json``) with `Authorization`, `X-Purpose` and
    `X-Justification` headers to ``POST /v1/lookups``. Nothing leaves the node here.
    """
    from federation.duckdb_files import transaction
    from federation.keys import NodeKeys
    from federation.ledger import Ledger
    from federation.tokens import Tokeniser
    from node.egress import linkage_secret, node_policy
    from node.store import open_store

    values = [(kind, v) for kind, given in zip(KINDS, (phone, email, handle, vrm, imei),
                                               strict=True) for v in (given or [])]
    if not values:
        raise CrossforceError("give at least one identifier: --phone, --email, --handle, "
                              "--vrm or --imei")
    if len(values) > 100:
        raise CrossforceError(f"{len(values)} identifiers: a lookup takes at most 100")
    with open_store(dir) as (config, con):
        code = purpose or node_policy(dir)[0].purpose.code
        keys = NodeKeys.load(config.keys_dir)
        tokeniser = Tokeniser(linkage_secret(keys).derive(code))
        body = []
        for kind, raw in values:
            tokens, ok = tokeniser.tokens_from_raw(kind, [raw])
            if not ok[0]:
                raise CrossforceError(f"--{kind} {raw!r}: not a {kind} this node can "
                                      "normalise; check it")
            body.append({"kind": kind, "token": bytes(tokens[0]).hex()})
        with transaction(con):
            Ledger(con, keys.signer, config.force).append(
                "consultation", actor=f"{_user()} (lookup-tokens)", purpose=code,
                justification=f"lookup tokens made for the coordinator service: "
                              f"{justification}", counts={"lookup_tokens": len(body)})
    doc = {"tokens": body}
    if as_json:
        typer.echo(json.dumps(doc))
        return
    for (kind, _), item in zip(values, body, strict=True):
        typer.echo(f"{kind:<7} {item['token']}")
    typer.echo(f"send under purpose {code}: POST /v1/lookups with body (--json):\n"
               f"{json.dumps(doc)}")


def _user() -> str:
    from node.egress import actor

    return actor()


def register(app: typer.Typer) -> None:
    """Add `lookup-tokens` to the node command group (idempotent)."""
    if any(c.name == "lookup-tokens" for c in app.registered_commands):
        return
    app.command("lookup-tokens")(lookup_tokens)
