"""A generated seized phone written as a UFDR (`crossforce scenario ufdr`) in an older and a
current report shape loads back to exactly the calls and messages it was generated with."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def force(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from federation.cli import main

    out = tmp_path_factory.mktemp("scenario") / "s"
    assert main(["scenario", "generate", "--forces", "1", "--persons-per-force", "200",
                 "--seed", "3", "--out", str(out)]) == 0
    return next(p for p in out.iterdir() if p.name != "truth")


@pytest.mark.parametrize("version", ["current", "older"])
def test_each_report_shape_loads_back_to_the_generated_events(cli, node: Path, force: Path,
                                                              tmp_path: Path, query,
                                                              version: str) -> None:
    device = query(node, f"SELECT min(device_id) FROM read_csv('{force}/devices.csv')")[0][0]
    ufdr = tmp_path / f"EXH-{version}.ufdr"
    r = cli("scenario", "ufdr", force, "--device", device, "--out", ufdr, "--version", version)
    assert r.code == 0 and "calls" in r.out, r
    r = cli("node", "ingest", "--dir", node, ufdr)
    assert r.code == 0, r
    calls = f"(SELECT * FROM read_parquet('{force}/calls.parquet') WHERE device_id = '{device}')"
    messages = (f"(SELECT * FROM read_parquet('{force}/messages.parquet') "
                f"WHERE device_id = '{device}')")
    cols = "call_id, timestamp_utc, direction, number, duration_s"
    assert query(node, f"SELECT {cols} FROM calls ORDER BY call_id") == query(
        node, f"SELECT {cols} FROM {calls} ORDER BY call_id")
    cols = "message_id, timestamp_utc, direction, number, body"
    assert query(node, f"SELECT {cols} FROM messages ORDER BY message_id") == query(
        node, f"SELECT {cols} FROM {messages} ORDER BY message_id")
    assert query(node, "SELECT count(*) FROM calls WHERE number_flag = 'no_region'") == [(0,)]
