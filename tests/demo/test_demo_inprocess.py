"""`crossforce demo --engine inprocess`: the whole story, run once for this module.

A 3-force scenario goes through the real commands (node init/ingest/keys, coordinator
init/register, one `crossforce node serve` gateway process per force), one federation round
over the in-process grid with the real ClientApp relay and the real coordinator service,
then is read back and scored. These tests check what a user is promised: networks that
cross force borders, person links close to the planted truth, hits for every force,
ledgers that verify, nothing raw at the coordinator, and no process left behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from demo_processes import processes_mentioning

from federation.cli import main
from federation.normalise import normalise_phone

FORCES, PERSONS, SEED = 3, 300, 7
#: measured 0.889 (8 of 10 true cross-force pairs, no false pair) at this size and seed
PERSON_LINK_F1_FLOOR = 0.75
#: byte strings shorter than this can turn up by chance among random tokens
MIN_NEEDLE = 6


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("demo") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["demo", "--engine", "inprocess", "--forces", str(FORCES),
                     "--persons-per-force", str(PERSONS), "--seed", str(SEED), "--json",
                     "--out", str(out)])
    assert code == 0, printed.getvalue()[-2000:]
    return json.loads(printed.getvalue()), out


def test_the_networks_found_cross_force_borders(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    assert summary["networks"], "no cross-force network found"
    for network in summary["networks"]:
        assert len(network["forces"]) >= 2
        assert network["n_persons"] + network["n_identifiers"] >= 2
    assert max(len(n["forces"]) for n in summary["networks"]) >= 2


def test_person_links_agree_with_the_planted_truth(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    links = summary["person_links"]
    assert links["f1"] >= PERSON_LINK_F1_FLOOR, links
    assert links["true_positives"] > 0
    for name in ("person_links", "network_membership"):
        assert {"precision", "recall", "f1"} <= summary[name].keys()
        assert 0.0 <= summary[name]["f1"] <= 1.0


def test_every_force_shared_and_got_its_hits(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    forces = summary["scenario"]["forces"]
    assert len(forces) == FORCES
    for force in forces:
        outcome = summary["federation"]["forces"][force]
        assert outcome["share"] == "submitted"
        assert outcome["hits"] == "delivered"
        hits = summary["hits"][force]
        assert hits["hits"] > 0 and hits["resolved"] == hits["hits"]
        assert hits["other_forces"] and force not in hits["other_forces"]


def test_every_ledger_verifies(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    ledger = summary["ledger"]
    assert set(ledger) == {*summary["scenario"]["forces"], "coordinator"}
    for owner, report in ledger.items():
        assert report["ok"], (owner, report["problems"])
    for force in summary["scenario"]["forces"]:
        assert ledger[force]["actions"]["disclosure"] == 1  # the one share set sent
    coordinator = ledger["coordinator"]["actions"]
    assert coordinator["collection"] == FORCES  # one payload received per force
    assert coordinator["disclosure"] == FORCES  # one hits answer sent per force
    assert coordinator["combination"] == 1      # one linkage run


def test_the_timings_and_memory_are_reported(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    assert {"total", "federation", "round_collect", "round_link",
            "round_notify"} <= summary["timings"].keys()
    assert summary["peak_memory_mb"]["demo_process"] > 0


def test_no_process_is_left_running(demo_run: tuple[dict, Path]) -> None:
    _, out = demo_run
    assert processes_mentioning(str(out)) == []


# --------------------------------------------------------------------------- the canary


def _read(path: Path):  # noqa: ANN202 - pyarrow.Table
    if path.with_suffix(".csv").exists():
        return pacsv.read_csv(path.with_suffix(".csv"), convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True))
    return pq.read_table(path.with_suffix(".parquet"))


def raw_values(scenario: Path, forces: list[str]) -> set[str]:
    """Raw values every force holds: names, person ids, phone numbers as recorded and in
    E.164, emails, handles, postcodes, addresses, VRMs, IMEIs and message bodies."""
    values: set[str] = set()
    for force in forces:
        folder = scenario / force
        persons = _read(folder / "persons").to_pylist()
        values |= {f"{p['given_names']} {p['family_name']}" for p in persons}
        values |= {p["family_name"] for p in persons}
        values |= {p["person_id"] for p in persons}
        identifiers = _read(folder / "identifiers").column("value").to_pylist()
        values |= set(identifiers)
        values |= {normalise_phone(v) or "" for v in identifiers}
        addresses = _read(folder / "addresses").to_pylist()
        values |= {a["postcode"] for a in addresses} | {a["address"] for a in addresses}
        values |= set(_read(folder / "vehicles").column("vrm").to_pylist())
        devices = _read(folder / "devices").to_pylist()
        values |= {str(d["imei"]) for d in devices if d.get("imei")}
        messages = _read(folder / "messages")
        values |= set(messages.column("body").to_pylist())
        values |= set(messages.column("number").to_pylist())
        values |= {normalise_phone(v) or "" for v in messages.column("number").to_pylist()}
    return {v for v in values if v and len(v) >= MIN_NEEDLE}


def _text_of_every_table(db: Path) -> str:
    """Every value of every table as text: DuckDB compresses strings on disk, so raw
    bytes alone could hide a leak."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        parts = []
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                parts.extend(str(v) for v in row if not isinstance(v, bytes | bytearray))
        return "\n".join(parts)
    finally:
        con.close()


def test_no_raw_value_reaches_the_coordinator(demo_run: tuple[dict, Path]) -> None:
    summary, out = demo_run
    needles = raw_values(out / "scenario", summary["scenario"]["forces"])
    assert len(needles) > 1000  # the canary is real: thousands of values looked for
    pattern = re.compile(b"|".join(re.escape(n.encode()) for n in sorted(needles)))
    coordinator = out / "coordinator"
    files = [p for p in coordinator.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files)
    for path in files:
        found = pattern.search(path.read_bytes())
        assert found is None, f"{found.group().decode()!r} is in {path}"
    text = _text_of_every_table(coordinator / "coordinator.duckdb")
    leaked = sorted(n for n in needles if n in text)
    assert leaked == [], f"raw values in the coordinator's tables: {leaked[:5]}"


def test_the_drawing_is_self_contained_and_holds_no_raw_value(tmp_path: Path,
                                                               demo_run: tuple[dict, Path]
                                                               ) -> None:
    summary, out = demo_run
    drawing = Path(summary["networks_html"])
    assert drawing == out / "networks.html"
    page = drawing.read_text()
    assert page.count("<svg") == min(len(summary["networks"]), 6)
    assert "<script" not in page and "src=" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\"' )]+", page)) <= {"http://www.w3.org/2000/svg"}
    for force in summary["scenario"]["forces"]:
        assert force in page
    needles = raw_values(out / "scenario", summary["scenario"]["forces"])
    assert [n for n in needles if n in page] == []


# --------------------------------------------------------------------------- bad input


def test_a_folder_in_use_is_refused(cli, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "something.txt").write_text("keep me")
    result = cli("demo", "--engine", "inprocess", "--out", tmp_path)
    assert result.code == 2
    assert "not empty" in result.err
    assert [p.name for p in tmp_path.iterdir()] == ["something.txt"]


def test_an_unknown_engine_is_refused(cli) -> None:  # noqa: ANN001
    result = cli("demo", "--engine", "simulation")
    assert result.code == 2
    assert "deployment or inprocess" in result.err
