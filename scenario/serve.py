"""`crossforce demo --serve`: after the demo, both web consoles on loopback until Ctrl-C.

The national console is `crossforce coordinator serve` on the demo's coordinator folder,
with one user per role made by `crossforce coordinator users add`; each force's console is
`crossforce node serve-console` on its node folder. The addresses and a login for each role
are printed; every process is stopped on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from federation.errors import CrossforceError
from scenario.demo import LISTENING, crossforce_json

#: the demo's users: name → role (the liaison's force is filled in)
USERS = {"demo-analyst": "analyst", "demo-liaison": "liaison:{force}",
         "demo-auditor": "auditor", "demo-admin": "admin"}
START_TIMEOUT = 90.0


def logins(coordinator: Path, first_force: str) -> list[dict[str, str]]:
    """One user per role (keys valid 7 days), made with the real command."""
    out = []
    for name, role in USERS.items():
        role = role.format(force=first_force)
        made = crossforce_json("coordinator", "users", "add", name, "--role", role, "--dir",
                               coordinator, "--days", 7, "--json")
        out.append({"role": role, "user": name, "key": made["key"]})
    return out


def serve_consoles(root: Path, nodes: Mapping[str, Path], purpose: str,
                   console: Console) -> None:
    """Serve both consoles over the demo in ``root`` until Ctrl-C; prints how to log in."""
    from federation.flower.deployment import BIN, Process

    coordinator = root / "coordinator"
    users = logins(coordinator, next(iter(nodes)))
    # both ends verified once, for the auditor page (the nodes' ledgers and this one)
    crossforce_json("audit", "verify", "--federation", root, "--record", "--json",
                    allow=(0, 1))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = [Process("national-console", [str(BIN / "crossforce"), "coordinator",
                                              "serve", "--dir", str(coordinator), "--port",
                                              "0"], env, logs)]
    for force, node in nodes.items():
        processes.append(Process(f"console-{force}", [
            str(BIN / "crossforce"), "node", "serve-console", "--dir", str(node), "--port",
            "0", "--json"], env, logs))
    try:
        national, forces = _wait(processes, list(nodes))
        _print(console, national, forces, users, purpose)
        while all(p.alive() for p in processes):
            time.sleep(0.5)
        dead = next(p for p in processes if not p.alive())
        raise CrossforceError(f"{dead.name} stopped:\n{dead.tail(8)}")
    except KeyboardInterrupt:
        console.print("consoles stopped")
    finally:
        _stop(processes)


def _stop(processes: list[Any]) -> None:
    """Stop every console; a second Ctrl-C or SIGTERM meanwhile (a terminal or a wrapper
    signalling the whole group) must not leave any behind."""
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)
             } if main else {}
    try:
        for p in processes:
            p.terminate()
        for p in processes:
            p.stop()
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _wait(processes: list[Any], forces: list[str]
          ) -> tuple[str, dict[str, dict[str, str]]]:
    """The national console's URL and each force console's {url, key}, once all listen."""
    deadline = time.monotonic() + START_TIMEOUT
    national, found = None, {}
    while national is None or len(found) < len(forces):
        for p in processes:
            if not p.alive():
                raise CrossforceError(f"{p.name} did not start:\n{p.tail(8)}")
        text = processes[0].tail(20)
        match = LISTENING.search(text)
        national = match.group(1) if match else None
        for force, p in zip(forces, processes[1:], strict=True):
            for line in p.tail(20).splitlines():
                if line.startswith("{"):
                    found[force] = json.loads(line)
        if time.monotonic() > deadline:
            raise CrossforceError(f"the consoles did not start in {START_TIMEOUT:g} s")
        time.sleep(0.1)
    return national, found


def _print(console: Console, national: str, forces: Mapping[str, Mapping[str, str]],
           users: list[dict[str, str]], purpose: str) -> None:
    """Plain lines (keys are copied from them, so never folded into a table)."""
    say = lambda text="": console.print(text, highlight=False, markup=False,  # noqa: E731
                                        soft_wrap=True)
    say("web consoles on loopback (Ctrl-C stops them):")
    say(f"national console  {national}/console/login   purpose code {purpose}, any "
        "justification of 10+ characters (it goes into the ledger)")
    for u in users:
        say(f"  {u['role']:<28} {u['key']}")
    say("  the analyst sees networks and aggregates, the liaison its own force's hits, the "
        "auditor the data flows, the admin the users")
    for force, f in forces.items():
        say(f"force console of {force}  {f['url']}   key {f['key']}")
