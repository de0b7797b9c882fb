"""`crossforce policy` — check and show sharing policies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from federation.errors import CrossforceError

if TYPE_CHECKING:
    from policies.model import SharePolicy

# pydantic (policies.model) and rich are imported when a command runs (issue #12).

app = typer.Typer(
    help="Write, check and show the sharing policy that decides what may leave a node.",
    no_args_is_help=True,
)


def _load(file_or_name: str, *, file_only: bool = False) -> SharePolicy:
    from policies.model import PolicyError, PolicyNotFound, load_policy, resolve_policy

    try:
        return load_policy(file_or_name) if file_only else resolve_policy(file_or_name)
    except PolicyNotFound as exc:
        raise CrossforceError(exc.problems[0]) from None
    except PolicyError as exc:
        n = len(exc.problems)
        raise CrossforceError(
            f"policy {exc.source} is not valid ({n} problem{'s' if n != 1 else ''}):\n"
            + "\n".join(f"  {p}" for p in exc.problems)) from None


@app.command("check")
def check(
    file: Annotated[str, typer.Argument(help="The policy TOML file to validate.")],
) -> None:
    """Validate a policy file: print OK and its version, or every problem with its line."""
    policy = _load(file, file_only=True)
    typer.echo(f"OK {file}: purpose {policy.purpose.code}, version {policy.version}")


@app.command("show")
def show(
    policy_ref: Annotated[str, typer.Argument(
        metavar="FILE|NAME", help="A policy file, or the name of a default (see `list`).")],
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the effective policy and its version as JSON.")] = False,
) -> None:
    """Show in plain words what a policy lets leave the node (and what it never does)."""
    policy = _load(policy_ref)
    if as_json:
        typer.echo(json.dumps({"version": policy.version, **policy.model_dump(mode="json")},
                              indent=2))
        return
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for line in summary_lines(policy):
        console.print(line, markup=False)


@app.command("list")
def list_defaults() -> None:
    """List the default policies shipped with crossforce (usable by name with `show`)."""
    from rich.console import Console
    from rich.table import Table

    from policies.model import default_names, default_policy

    table = Table(title="Default policies")
    for column in ("name", "purpose", "version", "shares"):
        table.add_column(column)
    for name in default_names():
        policy = default_policy(name)
        table.add_row(name, policy.purpose.code, policy.version[:12],
                      ", ".join(policy.share.identifiers)
                      + (" + match keys" if policy.share.match_keys else ""))
    Console(highlight=False, width=120).print(table)


def summary_lines(policy: SharePolicy) -> list[str]:
    """The policy as sentences a data owner can read and sign off."""
    s, links, scope, sdc = policy.share, policy.links, policy.scope, policy.disclosure
    lines = [
        f"Purpose {policy.purpose.code} (policy version {policy.version})",
        f"  lawful basis: {policy.purpose.lawful_basis}",
    ]
    if policy.purpose.description:
        lines.append(f"  {policy.purpose.description}")
    idents = ", ".join(s.identifiers) or "no identifiers"
    lines += [
        "What may leave (as keyed tokens and opaque references only — never raw values):",
        f"  identifiers: {idents}"
        + ("; person match keys" if s.match_keys else "; no person match keys"),
        f"  roles in scope: {', '.join(s.roles)}",
        "  victims: " + ("take part in matching only; marked match-only, never displayed, "
                         "no attributes, never in a network" if s.victims == "match-only"
                         else "never shared"),
        f"  item attributes: {', '.join(s.attributes) or 'none'}",
        f"  links: {', '.join(links.kinds) or 'none'}"
        + (f"; counts bucketed at {links.communication_buckets}" if links.kinds else ""),
        f"  aggregates: by {', '.join(policy.aggregates.dimensions)}; counts under "
        f"{sdc.threshold} suppressed, others rounded to {sdc.rounding}, secondary suppression "
        f"{'on' if sdc.secondary_suppression else 'OFF'}"
        if policy.aggregates.dimensions else "  aggregates: none",
    ]
    if policy.aggregates.dimensions:
        lines.append(
            "  aggregates leave only inside a national secure sum (Flower SecAgg+): the "
            "coordinator sees sums over forces, never this force's counts; "
            + (f"at most one release per purpose every "
               f"{policy.aggregates.release_interval_days} day(s), so two sums cannot be "
               "subtracted to recover this force's counts"
               if policy.aggregates.release_interval_days else
               "NO limit on how often (release_interval_days = 0): two sums over different "
               "sets of forces could be subtracted to recover this force's counts")
            if policy.aggregates.release == "secure-sum" else
            "  aggregates leave in the share set: the coordinator sees this force's "
            "controlled counts; the force takes no part in secure sums (set [aggregates] "
            "release = \"secure-sum\" to send them only inside a national sum)")
    if policy.privacy:
        p = policy.privacy
        lines.append(f"  differential privacy: epsilon {p.epsilon:g} per aggregate table, "
                     f"budget {p.budget:g} for this purpose, up to {p.max_contributions} "
                     "cell(s) per person")
    dates = (f"{scope.date_from or 'any date'} to {scope.date_to or 'now'}")
    lines += [
        "Which records:",
        f"  crime categories: {', '.join(scope.categories) or 'any'}; offence codes: "
        f"{', '.join(scope.offence_codes) or 'any'}"
        + ("; and every crime the national definition of group-based CSE finds "
           "group-based, whatever its flags" if scope.national_definition else "")
        + f"; crimes from {dates}",
        f"  identifiers linked to more than {policy.stop_list.max_distinct_contacts} others "
        "are stop-listed (never link endpoints)",
        "  intelligence: only handling code P; C-coded intelligence never auto-shares",
        f"Retention at the coordinator: {policy.retention.days} days",
    ]
    return lines
