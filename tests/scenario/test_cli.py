"""`crossforce scenario generate`: what a user types, and what happens on bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def test_generate_writes_folders_and_prints_a_summary(cli, tmp_path: Path):
    out = tmp_path / "scenario"
    r = cli("scenario", "generate", "--forces", 2, "--persons-per-force", 200, "--seed", 3,
            "--out", out, "--format", "csv")
    assert r.code == 0, r
    assert "planted networks" in r.out and "look-alikes" in r.out
    assert sorted(p.name for p in out.iterdir()) == ["greater-manchester", "truth",
                                                     "west-yorkshire"]
    assert all(p.suffix == ".csv" for p in (out / "west-yorkshire").iterdir())
    counts = json.loads((out / "truth" / "counts.json").read_text())
    assert counts["west-yorkshire"]["persons"] == 200


@pytest.mark.parametrize("args, says", [
    (["--forces", 0], "--forces must be between 1 and 43"),
    (["--forces", 44], "--forces must be between 1 and 43"),
    (["--persons-per-force", -5], "--persons-per-force must be at least 50"),
    (["--seed", -1], "--seed must be 0 or more"),
    (["--flag-accuracy", 1.5], "--flag-accuracy must be between 0 and 1"),
    (["--format", "xml"], "--format must be auto, csv or parquet"),
    (["--duplicates", 1.5], "--duplicates must be between 0 and 0.9"),
    (["--dirty-dobs", -0.1], "--dirty-dobs must be between 0 and 0.5"),
])
def test_impossible_arguments_get_one_line_and_write_nothing(cli, tmp_path: Path, args, says):
    out = tmp_path / "out"
    r = cli("scenario", "generate", "--out", out, *args)
    assert r.code != 0
    assert says in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_folder_is_kept_unless_force_is_given(cli, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = cli("scenario", "generate", "--out", out, "--forces", 2, "--persons-per-force", 100)
    assert r.code == 2 and "--force" in r.err and len(r.err.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    r = cli("scenario", "generate", "--out", out, "--forces", 2, "--persons-per-force", 100,
            "--force")
    assert r.code == 0, r
    assert not (out / "keep.txt").exists() and (out / "truth" / "scenario.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_ctrl_c_leaves_nothing_behind(tmp_path: Path):
    out = tmp_path / "big"
    exe = Path(sys.executable).with_name("crossforce")
    proc = subprocess.Popen([str(exe), "scenario", "generate", "--out", str(out),
                             "--forces", "8", "--persons-per-force", "40000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not any(tmp_path.iterdir()):
        time.sleep(0.1)  # wait until it has started writing
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []
