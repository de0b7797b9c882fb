"""The one `crossforce` command.

Command groups plug in through the ``crossforce.commands`` entry-point hook (see
pyproject.toml), the same way a third party would add one, so this module never imports
``node`` or ``coordinator`` (DESIGN.md §3 import rules).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click
import typer

from federation.demo import demo
from federation.errors import CrossforceError

app = typer.Typer(
    name="crossforce",
    help=(
        "Privacy-preserving federated analytics for police forces.\n\n"
        "Each force runs a node that keeps its records; only keyed tokens, pseudonymous "
        "links and disclosure-controlled counts leave it. The coordinator links them "
        "across forces and tells each force which of its own records are involved."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

GROUP_ORDER = ("scenario", "node", "coordinator", "policy", "audit")


def _register_groups(root: typer.Typer) -> None:
    found = {ep.name: ep for ep in entry_points(group="crossforce.commands")}
    for name in sorted(found, key=lambda n: (GROUP_ORDER.index(n) if n in GROUP_ORDER
                                             else len(GROUP_ORDER), n)):
        group = found[name].load()
        root.add_typer(group, name=name)


_register_groups(app)
app.command(name="demo")(demo)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user mistakes print one line, no traceback."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="crossforce", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: wrong option, missing argument
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except CrossforceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
