"""The one `crossforce` command.

Command groups plug in through the ``crossforce.commands`` entry-point hook (see
pyproject.toml), the same way a third party would add one, so this module never imports
``node`` or ``coordinator`` (DESIGN.md §3 import rules).

Every command is loaded lazily (issue #12): the top-level command lists the entry points by
NAME and loads only the group that runs, so ``crossforce node status`` never imports the
coordinator, Flower or the demo. ``crossforce --help`` reads each group's one-line help
from its module's source (the literal ``help=`` of its ``typer.Typer``, or the docstring of
a command function) without importing it, and falls back to loading the group if the help
is not a plain string there.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import sys
from difflib import get_close_matches
from importlib.metadata import entry_points

import click
import typer
from typer.core import TyperCommand, TyperGroup

from federation.errors import CrossforceError

GROUP_ORDER = ("scenario", "node", "coordinator", "policy", "audit")
ENTRY_POINTS = "crossforce.commands"
#: commands of the `crossforce` command itself (not plug-ins), shown before the groups
OWN_COMMANDS = {"demo": "scenario.demo:demo"}


@functools.cache
def _lazy_commands() -> dict[str, str]:
    """Command name -> "module:attribute", in the order `--help` shows them (read once:
    scanning the installed distributions' entry points is not free)."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINTS)}
    order = sorted(found, key=lambda n: (GROUP_ORDER.index(n) if n in GROUP_ORDER
                                         else len(GROUP_ORDER), n))
    return {**OWN_COMMANDS, **{name: found[name] for name in order if name not in
                               OWN_COMMANDS}}


def _load(name: str, spec: str) -> click.Command:
    """Import `spec` ("module:attribute") and make it the click command `name`."""
    module, _, attr = spec.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, typer.Typer):
        command: click.Command = typer.main.get_group(obj)
    elif isinstance(obj, click.Command):
        command = obj
    elif callable(obj):  # a plain typer command function
        single = typer.Typer(add_completion=False)
        single.command(name=name)(obj)
        command = typer.main.get_command(single)
    else:
        raise TypeError(f"{spec} is not a command")
    command.name = name
    return command


def _static_help(spec: str) -> tuple[str, bool] | None:
    """(help text, is a group) of `spec`, read from its source without importing it; None
    when it is not a literal there (then the caller loads the command)."""
    module, _, attr = spec.partition(":")
    if "." in attr:
        return None
    try:
        found = importlib.util.find_spec(module)
        if found is None or not found.origin or not found.origin.endswith(".py"):
            return None
        with open(found.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read(), found.origin)
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            doc = ast.get_docstring(node)
            return (doc, False) if doc else None
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets)):
            for kw in node.value.keywords:
                if (kw.arg == "help" and isinstance(kw.value, ast.Constant)
                        and isinstance(kw.value.value, str)):
                    return kw.value.value, True
            return None
    return None


class LazyGroup(TyperGroup):
    """The `crossforce` group: lists its commands by name, imports one only to run it.

    Other groups reuse it by overriding ``lazy_specs`` (``crossforce node analyse`` lists
    its analyses this way)."""

    _listing = False

    def lazy_specs(self) -> dict[str, str]:
        """Command name -> "module:attribute", in the order help shows them."""
        return _lazy_commands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(self.lazy_specs())
        return names + [n for n in super().list_commands(ctx) if n not in names]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = self.lazy_specs().get(cmd_name)
        if spec is None:
            return None
        if self._listing:  # only its name and help are needed
            found = _static_help(spec)
            if found is not None:
                help_text, is_group = found
                return (TyperGroup if is_group else TyperCommand)(name=cmd_name,
                                                                  help=help_text)
        command = _load(cmd_name, spec)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return click.Group.resolve_command(self, ctx, args)
        except click.UsageError as e:
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches:
                e.message = (e.message.rstrip(".") + ". Did you mean "
                             + ", ".join(f"{m!r}" for m in matches) + "?")
            raise


app = typer.Typer(
    name="crossforce",
    cls=LazyGroup,
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


@app.callback()
def _root() -> None:
    pass


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
    except Exception as exc:
        if not interrupted(exc):
            raise
        print("Aborted.", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def interrupted(exc: BaseException) -> bool:
    """Was this Ctrl-C? DuckDB turns a SIGINT that lands during a query into
    ``RuntimeError('Query interrupted')`` (``InterruptException`` when interrupted by
    ``con.interrupt()``) and swallows the KeyboardInterrupt, so click never sees one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, KeyboardInterrupt) or (
                isinstance(current, RuntimeError) and str(current) == "Query interrupted") or (
                type(current).__name__ == "InterruptException"
                and type(current).__module__.lstrip("_").startswith("duckdb")):
            return True
        current = current.__cause__ or current.__context__
    return False


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
