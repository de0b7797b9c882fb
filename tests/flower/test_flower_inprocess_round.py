"""A whole federation over the in-process grid: real ServerApp logic, real relay, real
gateways on loopback, real signed payloads, real DuckDB at the coordinator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flower_services import EAST_SHARED, NORTH_ONLY, SHARED, Forces, TokenCoordinator, TokenNode

from federation.flower.grid import InProcessGrid
from federation.flower.protocol import load_coordinator_service
from federation.flower.serverapp import FederationReport, RoundSettings, run_federation
from federation.keys import Signer

SETTINGS = RoundSettings(purpose="op-nightjar", epoch=3, share_timeout=20, hits_timeout=20)


def test_each_force_shares_and_gets_only_its_own_hits(forces: Forces, tmp_path: Path) -> None:
    coordinator = forces.coordinator(tmp_path / "coordinator")
    with InProcessGrid(forces.node_configs) as grid:
        report = run_federation(grid, coordinator, SETTINGS)

    assert report.shared() == ["east", "north", "south"]
    assert report.link == {"shared_tokens": 2}
    assert {f: o.hits for f, o in report.forces.items()} == {
        "north": "delivered", "south": "delivered", "east": "delivered"}
    # every node was asked exactly once, for the purpose and epoch of the round
    assert all(node.asked == [("op-nightjar", 3)] for node in forces.nodes.values())

    north, south, east = (forces.nodes[f].received[0] for f in ("north", "south", "east"))
    assert north.column("ref").to_pylist() == [forces.nodes["north"].ref_of(SHARED)]
    assert north.column("other_forces").to_pylist() == [["south"]]
    assert forces.nodes["north"].ref_of(NORTH_ONLY) not in north.column("ref").to_pylist()
    assert sorted(south.column("other_forces").to_pylist()) == [["east"], ["north"]]
    assert east.column("ref").to_pylist() == [forces.nodes["east"].ref_of(EAST_SHARED)]
    assert report.forces["north"].hits_receipt == {"hits": 1}


def test_gateway_audits_every_call(forces: Forces, tmp_path: Path) -> None:
    with InProcessGrid(forces.node_configs) as grid:
        run_federation(grid, forces.coordinator(tmp_path / "c"), SETTINGS)
    assert forces.calls["north"] == [("/share", "shared"), ("/hits", "received")]


def test_a_refusing_node_is_recorded_and_the_round_goes_on(forces: Forces,
                                                          tmp_path: Path) -> None:
    forces.nodes["east"].refuse = "purpose op-nightjar is not in our sharing policy"
    with InProcessGrid(forces.node_configs) as grid:
        report = run_federation(grid, forces.coordinator(tmp_path / "c"), SETTINGS)

    east = report.forces["east"]
    assert (east.share, east.detail) == ("refused",
                                         "purpose op-nightjar is not in our sharing policy")
    assert east.hits == ""  # a force that shared nothing is not notified
    assert report.shared() == ["north", "south"]
    assert report.link == {"shared_tokens": 1}
    assert forces.calls["east"] == [
        ("/share", "refused: purpose op-nightjar is not in our sharing policy")]


def test_a_slow_node_times_out_and_the_round_goes_on(forces: Forces, tmp_path: Path,
                                                    release) -> None:
    forces.nodes["east"].block = release  # east answers only after the test ends
    # long enough for north and south to answer on a loaded machine; east never does
    settings = RoundSettings(purpose="op-nightjar", epoch=3, share_timeout=10.0,
                             hits_timeout=20)
    with InProcessGrid(forces.node_configs) as grid:
        report = run_federation(grid, forces.coordinator(tmp_path / "c"), settings)

    assert report.forces["east"].share == "timeout"
    assert report.shared() == ["north", "south"]
    assert report.forces["north"].hits == "delivered"


def test_a_node_whose_gateway_is_down_is_an_error_not_a_crash(forces: Forces,
                                                               tmp_path: Path) -> None:
    configs = dict(forces.node_configs)
    configs["east"] = {**configs["east"], "gateway": "http://127.0.0.1:9"}  # nothing there
    with InProcessGrid(configs) as grid:
        report = run_federation(grid, forces.coordinator(tmp_path / "c"), SETTINGS)
    assert report.forces["east"].share == "error"
    detail = report.forces["east"].detail
    assert "could not reach the node gateway at http://127.0.0.1:9" in detail, detail
    assert "ConnectionRefusedError" in detail
    assert report.shared() == ["north", "south"]


def test_an_expected_force_that_is_not_online_is_absent(forces: Forces,
                                                        tmp_path: Path) -> None:
    settings = RoundSettings(purpose="op-nightjar", epoch=3, share_timeout=20,
                             hits_timeout=20, expected_forces=("north", "wales"),
                             wait_for_nodes=0.2)
    with InProcessGrid(forces.node_configs) as grid:
        report = run_federation(grid, forces.coordinator(tmp_path / "c"), settings)
    assert report.forces["wales"].share == "absent"
    assert report.forces["north"].share == "submitted"


def test_a_payload_the_coordinator_rejects_is_recorded(tmp_path: Path) -> None:
    nodes = {"north": TokenNode("north", [SHARED]), "west": TokenNode("west", [SHARED])}
    forces = Forces(tmp_path, nodes).start()
    try:
        # the coordinator knows a different key for west than the one west signs with
        coordinator = TokenCoordinator(tmp_path / "c", {
            "north": nodes["north"].signer.public_key, "west": Signer.generate().public_key})
        with InProcessGrid(forces.node_configs) as grid:
            report = run_federation(grid, coordinator, SETTINGS)
    finally:
        forces.close()
    assert report.forces["west"].share == "rejected"
    assert "BadSignature" in report.forces["west"].detail
    assert report.shared() == ["north"]
    assert report.forces["west"].hits == ""


def test_the_report_survives_json(forces: Forces, tmp_path: Path) -> None:
    with InProcessGrid(forces.node_configs) as grid:
        report = run_federation(grid, forces.coordinator(tmp_path / "c"), SETTINGS)
    again = FederationReport.from_json(report.to_json())
    assert again.shared() == report.shared()
    assert again.forces["north"].receipt["rows"] == 2


def test_the_flwr_run_entry_point_loads_the_coordinator_from_run_config(
        forces: Forces, tmp_path: Path) -> None:
    """What `flwr run` executes, minus the processes: settings and the coordinator
    service come from run-config, and the report lands in report-file."""
    from federation.flower.serverapp import app

    coordinator_dir = tmp_path / "coordinator"
    coordinator_dir.mkdir()
    (coordinator_dir / "keys.json").write_text(json.dumps(
        {f: n.signer.public_key.hex() for f, n in forces.nodes.items()}))
    run_config = {"purpose": "op-nightjar", "epoch": 3, "expected-forces": "north,south,east",
                  "coordinator-service": "flower_services:make_coordinator",
                  "coordinator-dir": str(coordinator_dir),
                  "report-file": str(tmp_path / "report.json")}
    with InProcessGrid(forces.node_configs) as grid:
        grid.run_server_app(app, run_config)
    report = FederationReport.from_json(json.loads((tmp_path / "report.json").read_text()))
    assert report.shared() == ["east", "north", "south"]
    assert (report.purpose, report.epoch) == ("op-nightjar", 3)


def test_a_missing_coordinator_service_is_named() -> None:
    with pytest.raises(LookupError, match="coordinator-service='module:factory'"):
        load_coordinator_service("", ".")
    with pytest.raises(ValueError, match="must look like 'package.module:factory'"):
        load_coordinator_service("flower_services", ".")


def test_run_config_names_the_secure_sum_settings_and_refuses_bad_years() -> None:
    from federation.flower.serverapp import SECURE_TABLES

    settings = RoundSettings.from_run_config({
        "purpose": "TOEX-CSE", "secure-aggregation": True, "aggregate-timeout": 30,
        "secure-tables": "crimes_by_category_year, persons_by_role_year",
        "secure-years": "2015-2020"})
    assert settings.secure_aggregation and settings.aggregate_timeout == 30
    assert settings.secure_tables == ("crimes_by_category_year", "persons_by_role_year")
    assert settings.secure_years == (2015, 2020)
    default = RoundSettings.from_run_config({"purpose": "TOEX-CSE"})
    assert not default.secure_aggregation and default.secure_tables == SECURE_TABLES
    for bad, message in (("twenty-twenty", "must look like 2010-2026"),
                         ("2020-2015", "the first year is after the last")):
        with pytest.raises(ValueError, match=message):
            RoundSettings.from_run_config({"purpose": "P", "secure-years": bad})
