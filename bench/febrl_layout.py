"""FEBRL4 through the product's own commands: two node folders, egress, coordinator, hits.

Egress shares a person only for a role in an in-scope crime, so each FEBRL record becomes a
suspect in a crime of its own (CSE-flagged, HO code 88A, 2020: inside the default
`cse-national` scope, so no custom policy is needed). One crime per person keeps the
co-suspect links empty: one shared crime would join unrelated people into one network.
No social-security number is written anywhere.

    febrl4_forces(seed, subset)             -> {"force-a": dfA, "force-b": dfB}
    write_force(df, folder, addresses)      persons.csv, crimes.csv, roles.csv, addresses.csv
    real_path(people, work, run, addresses) -> RealPathRun (predicted pairs, seconds per step)
    pairwise(predicted, truth)              -> precision, recall, F1
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

FORCES = ("force-a", "force-b")
OFFENCE_CODE = "88A"

#: runs `crossforce ARGS...` and returns (exit code, stdout)
Runner = Callable[[list[str]], tuple[int, str]]


def febrl4_forces(seed: int = 42, subset: int | None = None) -> dict[str, Any]:
    """FEBRL4 A and B, half of A's records dropped (half of B has no partner): the very
    draw `bench_linkage` links directly, so the two paths score the same people."""
    from bench.bench_linkage import febrl4_people

    people = febrl4_people(seed=seed, subset=subset)
    return dict(zip(FORCES, people.values(), strict=True))


def write_force(df: Any, folder: Path, addresses: bool = True) -> Path:
    """Write one force's input folder in the node layout. Dates of birth that are not real
    dates (FEBRL has some) are left blank, as a force would record them."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("febrl", df.reset_index().rename(columns={"rec_id": "person_id"}))
    con.execute("""
        CREATE TEMP TABLE f AS
        SELECT person_id, given_name, surname, suburb, postcode,
               try_strptime(date_of_birth, '%Y%m%d')::DATE AS dob,
               -- as the direct bench writes it: empty lines kept, so the last line is
               -- always the suburb (the locality) even when it is missing
               trim(concat_ws(' ', street_number, address_1)) || ', '
                   || coalesce(address_2, '') || ', ' || coalesce(suburb, '') AS address
        FROM febrl""")

    def copy(sql: str, name: str) -> None:
        con.execute(f"COPY ({sql}) TO '{folder / name}' (HEADER, DELIMITER ',')")

    copy("SELECT person_id, given_name AS given_names, surname AS family_name, dob FROM f",
         "persons.csv")
    copy(f"""SELECT 'crime-' || person_id AS crime_id, '{OFFENCE_CODE}' AS ho_offence_code,
                    DATE '2020-01-01' AS date_from, true AS flag_cse FROM f""", "crimes.csv")
    copy("SELECT 'crime-' || person_id AS crime_id, person_id, 'suspect' AS role FROM f",
         "roles.csv")
    if addresses:
        copy("SELECT person_id, address, suburb AS town, postcode FROM f "
             "WHERE address <> ', , '", "addresses.csv")
    con.close()
    return folder


def true_pairs(people: dict[str, Any]) -> set[tuple[str, str]]:
    """(A rec_id, B rec_id) of one FEBRL person: rec-N-org ~ rec-N-dup-0."""
    a, b = (people[f] for f in FORCES)
    by_number = {i.split("-")[1]: i for i in a.index}
    return {(by_number[i.split("-")[1]], i) for i in b.index
            if i.split("-")[1] in by_number}


def cli_runner() -> Runner:
    """`crossforce` in this process, its stdout captured (no process start-up timed)."""
    from federation.cli import main

    def run(args: list[str]) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(args)
        return code, out.getvalue()

    return run


@dataclass
class RealPathRun:
    """What the real path produced: the pairs both nodes resolved to one national entity,
    and wall seconds per step (a step over both forces sums them)."""

    predicted: set[tuple[str, str]]
    seconds: dict[str, float] = field(default_factory=dict)


def real_path(people: dict[str, Any], work: Path, run: Runner | None = None,
              addresses: bool = True) -> RealPathRun:
    """Ingest each force in its own node, share, submit, link, and resolve the hits back
    to each node's own person ids; only the public CLI is used."""
    run = run or cli_runner()
    seconds: dict[str, float] = {}

    def step(name: str, *args: object) -> str:
        t0 = time.perf_counter()
        code, out = run([str(a) for a in args])
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"crossforce {' '.join(map(str, args))} exited {code}: "
                               f"{out[-500:]}")
        return out

    secret, coordinator = work / "linkage.secret", work / "coordinator"
    step("setup", "node", "keys", "generate-secret", secret)
    step("setup", "coordinator", "init", "--dir", coordinator)
    resolved: dict[str, dict[int, list[str]]] = {}
    for force in FORCES:
        node = work / force
        write_force(people[force], work / f"{force}-input", addresses)
        step("setup", "node", "init", "--force", force, "--dir", node)
        step("setup", "node", "keys", "import-secret", "--dir", node, secret)
        step("setup", "coordinator", "register", "--dir", coordinator, "--force", force,
             "--public-key", node / "keys" / "public.json")
        step("ingest", "node", "ingest", "--dir", node, work / f"{force}-input")
        step("share", "node", "share", "--dir", node, "--out", work / f"{force}.cfsub")
    step("submit", "coordinator", "submit", "--dir", coordinator,
         *(work / f"{f}.cfsub" for f in FORCES))
    step("link", "coordinator", "link", "--dir", coordinator)
    for force in FORCES:
        step("hits", "coordinator", "hits", "--dir", coordinator, "--force", force,
             "--out", work / f"{force}-hits.json")
        out = step("node_hits", "node", "hits", "--dir", work / force,
                   work / f"{force}-hits.json", "--json")
        by_entity = resolved[force] = {}
        for row in json.loads(out)["rows"]:
            if row["kind"] == "person":
                by_entity.setdefault(row["entity_id"], []).append(row["local_id"])
    a, b = (resolved[f] for f in FORCES)
    predicted = {(x, y) for entity, xs in a.items() for x in xs for y in b.get(entity, [])}
    return RealPathRun(predicted, seconds)


def pairwise(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]
             ) -> dict[str, float]:
    """Pairwise precision, recall and F1 of cross-force pairs against the truth."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "true_pairs": len(truth), "found_pairs": len(predicted)}
