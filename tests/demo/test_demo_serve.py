"""`crossforce demo --serve` ends by serving both consoles on loopback until Ctrl-C: it
prints their addresses and a login per role, the logins work over real HTTP, the auditor
sees both ends verified, and Ctrl-C stops every console it started."""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from demo_processes import processes_mentioning

CROSSFORCE = Path(sys.executable).parent / "crossforce"

# a loaded CI machine answers slowly; the test is about behaviour, not speed
GET = functools.partial(httpx.get, timeout=120)


@pytest.mark.slow
def test_demo_serve_prints_a_login_per_role_that_works_and_ctrl_c_stops_it(
        tmp_path: Path) -> None:
    out = tmp_path / "demo"
    demo = subprocess.Popen(
        [str(CROSSFORCE), "demo", "--engine", "inprocess", "--forces", "2",
         "--persons-per-force", "150", "--out", str(out), "--serve"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        assert demo.stdout is not None
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("force console of") and sum(
                    x.startswith("force console of") for x in lines) == 2:
                break
        text = "".join(lines)
        national = re.search(r"national console\s+(http://127\.0\.0\.1:\d+)/console/login",
                             text)
        assert national, text[-2000:]
        keys = dict(re.findall(r"^\s+(analyst|auditor|admin|liaison:\S+)\s+(\S+)$", text,
                               re.M))
        assert set(keys) >= {"analyst", "auditor", "admin"}, text[-2000:]
        forces = re.findall(r"force console of (\S+)\s+(http://127\.0\.0\.1:\d+)\S*\s+key (\S+)",
                            text)
        assert len(forces) == 2
        headers = {"X-Purpose": "TOEX-CSE", "X-Justification": "checking the demo logins"}
        url = national.group(1)
        nets = GET(f"{url}/v1/networks", headers={
            **headers, "Authorization": f"Bearer {keys['analyst']}"})
        assert nets.status_code == 200 and nets.json()["items"], nets.text
        check = GET(f"{url}/v1/ledger/verify", headers={
            **headers, "Authorization": f"Bearer {keys['auditor']}"}).json()
        assert check["ok"] and check["federation"]["ok"], check
        assert sorted(check["federation"]["nodes"]) == sorted(f for f, _, _ in forces)
        refused = GET(f"{url}/v1/networks", headers={
            **headers, "Authorization": f"Bearer {keys['auditor']}"})
        assert refused.status_code == 403
        for _force, console_url, key in forces:  # each force console: its own key only
            assert GET(f"{console_url}/api/subjects").status_code == 401
            mine = GET(f"{console_url}/api/subjects", headers={
                "Authorization": f"Bearer {key}",
                "X-Justification": "checking the demo logins"})
            assert mine.status_code == 200, mine.text
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    deadline = time.monotonic() + 20
    while processes_mentioning(str(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(out)) == []
