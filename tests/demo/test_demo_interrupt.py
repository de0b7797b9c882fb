"""Ctrl-C in the middle of `crossforce demo` stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from demo_processes import processes_mentioning

CROSSFORCE = Path(sys.executable).parent / "crossforce"


def _wait_for(condition, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_stops_the_gateways_it_started(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    demo = subprocess.Popen(
        [str(CROSSFORCE), "demo", "--engine", "inprocess", "--forces", "2",
         "--persons-per-force", "100", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        gateway_processes = lambda: [c for c in processes_mentioning(str(out))  # noqa: E731
                                     if " node serve " in c]
        assert _wait_for(lambda: len(gateway_processes()) == 2, 90), \
            "the demo never started its gateways"
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode != 0
    assert "Aborted" in err or "Traceback" not in err
    assert _wait_for(lambda: processes_mentioning(str(out)) == [], 10), \
        processes_mentioning(str(out))
