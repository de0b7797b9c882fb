"""A generated multi-force scenario loads into one node per force, exactly as generated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from federation.cli import main

    out = tmp_path_factory.mktemp("scenario") / "s"
    code = main(["scenario", "generate", "--forces", "3", "--persons-per-force", "300",
                 "--seed", "1", "--out", str(out)])
    assert code == 0
    return out


def test_each_force_folder_loads_and_status_matches_the_generator_counts(
        cli, scenario: Path, tmp_path: Path, status) -> None:
    truth = json.loads((scenario / "truth" / "counts.json").read_text())
    assert len(truth) == 3
    for force, counts in truth.items():
        node = tmp_path / force
        assert cli("node", "init", "--force", force, "--dir", node).code == 0
        r = cli("node", "ingest", "--dir", node, scenario / force)
        assert r.code == 0, r
        s = status(node)
        # the generator writes the layout tables; the extraction-only tables stay empty
        assert s["tables"] == {**dict.fromkeys(s["tables"], 0), **counts}, force
        assert s["quarantined"] == 0
        assert len(s["files"]) == len(list((scenario / force).iterdir()))


def test_loading_a_scenario_folder_twice_adds_nothing(cli, scenario: Path, tmp_path: Path,
                                                      status) -> None:
    force = sorted(p.name for p in scenario.iterdir() if p.name != "truth")[0]
    node = tmp_path / "n"
    cli("node", "init", "--force", force, "--dir", node)
    cli("node", "ingest", "--dir", node, scenario / force)
    first = status(node)
    r = cli("node", "ingest", "--dir", node, scenario / force)
    assert r.code == 0 and r.out.count("unchanged") == len(first["files"])
    assert status(node)["tables"] == first["tables"]
