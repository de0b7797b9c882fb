"""Supervision: whatever the deployment started is gone afterwards, also after an error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from federation.errors import CrossforceError
from federation.flower.deployment import (
    LoopbackDeployment,
    Process,
    group_alive,
    write_app,
    write_node_config,
)


def test_stopping_a_process_stops_its_children_too(tmp_path: Path) -> None:
    # a server that spawns a worker and ignores SIGTERM, as a stuck SuperNode might
    script = ("import signal, subprocess, sys, time\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
              "print('ready', flush=True)\n"
              "time.sleep(300)\n")
    process = Process("stubborn", [sys.executable, "-c", script], os.environ, tmp_path)
    while "ready" not in process.tail():
        time.sleep(0.05)
    process.stop(grace=0.5)
    assert not group_alive(process.popen.pid)


def test_a_failed_start_leaves_no_process_behind(tmp_path: Path) -> None:
    forces = {"north": {"gateway": "http://127.0.0.1:9", "gateway-secret-file": "/none"}}
    deployment = LoopbackDeployment(tmp_path, forces, start_timeout=0.01)
    with pytest.raises(CrossforceError, match="SuperLink not listening"), deployment:
        deployment.start()
    assert deployment.processes
    assert not [p.name for p in deployment.processes if group_alive(p.popen.pid)]


def test_unknown_run_config_is_refused_before_anything_runs(tmp_path: Path) -> None:
    deployment = LoopbackDeployment(tmp_path, {})
    with pytest.raises(CrossforceError, match="unknown run-config keys: purpse"):
        deployment.launch_run({"purpse": "typo"})
    assert deployment.processes == []


def test_the_app_bundle_carries_no_code_only_the_component_names(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    assert [p.name for p in app.iterdir()] == ["pyproject.toml"]
    components = tomllib.loads((app / "pyproject.toml").read_text())["tool"]["flwr"]["app"]
    assert components["components"] == {"serverapp": "federation.flower.serverapp:app",
                                         "clientapp": "federation.flower.clientapp:app"}


def test_node_config_paths_with_spaces_survive(tmp_path: Path) -> None:
    from flwr.common.config import parse_config_args

    path = write_node_config(tmp_path / "north.toml", {
        "gateway": "http://127.0.0.1:8765", "gateway-secret-file": "/srv/my node/secret"})
    assert parse_config_args([str(path)]) == {
        "gateway": "http://127.0.0.1:8765", "gateway-secret-file": "/srv/my node/secret"}


@pytest.mark.deployment
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_stops_the_superlink(tmp_path: Path, sig: signal.Signals) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from federation.flower.deployment import LoopbackDeployment\n"
        "with LoopbackDeployment(Path(sys.argv[1]), {}) as d:\n"
        "    d.start_superlink()\n"
        "    print('pgid', d.processes[0].popen.pid, flush=True)\n"
        "    time.sleep(120)\n")
    driver = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = driver.stdout.readline() if driver.stdout else ""
        assert line.startswith("pgid "), "the SuperLink did not start"
        superlink = int(line.split()[1])
        assert group_alive(superlink)
        driver.send_signal(sig)
        driver.wait(30)
    finally:
        driver.kill()
    assert not group_alive(superlink)
