"""`crossforce node analyse <analysis>`: the analyses of ``node/analyses/``, one module each,
found by name and loaded only when run (the group reads each one's help from its source).

Every module in ``node/analyses/`` whose name does not start with ``_`` is an analysis and
exposes ``command`` (a typer command function); shared code goes in ``_name.py`` modules or
in the package itself. ``node/analyses/handovers.py`` is ``crossforce node analyse
handovers``; an underscore in a module name is a dash in the command."""

from __future__ import annotations

import functools
import importlib.util
import pkgutil

import typer

from federation.cli import LazyGroup

#: the order `--help` lists them in; analyses not named here follow, alphabetically
ORDER = ("contacts", "common", "timeline", "handovers", "network", "cse", "completeness",
         "review")


@functools.cache
def analyses() -> dict[str, str]:
    """Command name → "module:command", without importing any analysis."""
    spec = importlib.util.find_spec("node.analyses")
    paths = list(spec.submodule_search_locations or []) if spec else []
    names = sorted(m.name for m in pkgutil.iter_modules(paths) if not m.name.startswith("_"))
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return {n.replace("_", "-"): f"node.analyses.{n}:command" for n in names}


class AnalysesGroup(LazyGroup):
    def lazy_specs(self) -> dict[str, str]:
        return analyses()


app = typer.Typer(
    cls=AnalysesGroup,
    help="Ask questions of the force's own records and seized-phone data, on the node; "
    "nothing leaves it. Each run is logged in the ledger (consultation).",
    no_args_is_help=True,
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="analyse")
