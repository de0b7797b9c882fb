"""Any set of person records through the product's own commands, for any number of forces.

Shared by `bench_febrl_real_path` (FEBRL4, two forces) and `bench_linkage_real` (open data
sets split into three forces). Egress shares a person only for a role in an in-scope crime,
so each record becomes a suspect in a crime of its own (CSE-flagged, HO code 88A, 2020:
inside the default `cse-national` scope, no custom policy). One crime per record keeps the
co-suspect links empty: one shared crime would join unrelated people into one network.

Records come as one pandas frame per force in a common layout (missing columns are blank):

    record_id  given_name  surname  dob  street_number  address_1  address_2  city  postcode
    email

``dob`` is the raw value as ISO text (``1971-06-24``), possibly impossible (``1971-02-30``)
or blank.

    write_records(df, folder, addresses, raw_dobs)  persons, crimes, roles, addresses, identifiers
    run_real_path(forces, work, run)                -> RealPathRecords (record -> entity, seconds)
    cli_runner() / process_runner()                 in this process / one process per command
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

OFFENCE_CODE = "88A"
REPO = Path(__file__).resolve().parents[1]

#: runs `crossforce ARGS...` and returns (exit code, stdout; stderr appended on failure)
Runner = Callable[[list[str]], tuple[int, str]]

#: the common record layout (the columns a frame may have; all text)
COLUMNS = ("record_id", "given_name", "surname", "dob", "street_number", "address_1",
           "address_2", "city", "postcode", "email")


def cli_runner() -> Runner:
    """`crossforce` in this process, its stdout captured (no process start-up timed)."""
    from federation.cli import main

    def run(args: list[str]) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(args)
        return code, out.getvalue()

    return run


def process_runner() -> Runner:
    """`crossforce` as its own process per command, as a force would run it (this checkout's
    code: `python -m federation.cli` with the repository on PYTHONPATH)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)

    def run(args: list[str]) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "federation.cli", *args],
                              capture_output=True, text=True, env=env, check=False)
        out = done.stdout if done.returncode == 0 else done.stdout + done.stderr
        return done.returncode, out

    return run


def write_records(df: Any, folder: Path, addresses: bool = True,
                  raw_dobs: bool = True) -> Path:
    """Write one force's input folder in the node layout from a frame in the common layout.

    Dates of birth go to the node as written (ingest keeps a bad one raw and flags it);
    `raw_dobs=False` blanks those that are not real dates or lie outside 1880..today, as
    a force whose system refuses them would hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    # a frame without street lines (a city only) writes the city as the one address line
    structured = bool({"street_number", "address_1", "address_2"} & set(df.columns))
    frame = df.copy()
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[list(COLUMNS)].astype(object).where(frame[list(COLUMNS)].notna(), None)
    con = duckdb.connect()
    con.register("src", frame)
    parsed = "CAST(try_strptime(CAST(dob AS VARCHAR), '%Y-%m-%d') AS DATE)"
    dob = ("nullif(trim(CAST(dob AS VARCHAR)), '')" if raw_dobs
           else f"CASE WHEN {parsed} BETWEEN DATE '1880-01-01' AND current_date "
                   f"THEN {parsed} END")
    con.execute(f"""
        CREATE TEMP TABLE f AS
        SELECT CAST(record_id AS VARCHAR) AS person_id, given_name, surname, city,
               postcode, email, {dob} AS dob,
               -- empty lines kept, so the last line is always the locality (the city)
               -- even when it is missing
               CASE WHEN NOT {structured} THEN city
                    ELSE trim(concat_ws(' ', street_number, address_1)) || ', '
                         || coalesce(address_2, '') || ', ' || coalesce(city, '') END
                   AS address
        FROM src""")

    def copy(sql: str, name: str) -> None:
        con.execute(f"COPY ({sql}) TO '{folder / name}' (HEADER, DELIMITER ',')")

    copy("SELECT person_id, given_name AS given_names, surname AS family_name, dob FROM f",
         "persons.csv")
    copy(f"""SELECT 'crime-' || person_id AS crime_id, '{OFFENCE_CODE}' AS ho_offence_code,
                    DATE '2020-01-01' AS date_from, true AS flag_cse FROM f""", "crimes.csv")
    copy("SELECT 'crime-' || person_id AS crime_id, person_id, 'suspect' AS role FROM f",
         "roles.csv")
    if addresses:
        copy("SELECT person_id, address, city AS town, postcode FROM f "
             "WHERE address IS NOT NULL AND address <> ', , '", "addresses.csv")
    if con.execute("SELECT count(*) FROM f WHERE email IS NOT NULL").fetchone()[0]:
        copy("SELECT person_id, 'email' AS kind, email AS value FROM f "
             "WHERE email IS NOT NULL", "identifiers.csv")
    con.close()
    return folder


@dataclass
class RealPathRecords:
    """What the real path produced: each record's national entity (records no node heard
    a hit for are absent), and wall seconds per step (a step over all forces sums them)."""

    entity: dict[tuple[str, str], int]
    seconds: dict[str, float] = field(default_factory=dict)
    resolve: bool = False  # whether `node resolve` was run


def node_commands(run: Runner) -> set[str]:
    """The `node` sub-commands this build of the product offers."""
    _, out = run(["node", "--help"])
    names = set()
    for line in out.splitlines():
        # a command's row starts "│ name   help"; wrapped help lines are indented further
        match = re.match(r"(?:│ |  )([a-z][a-z-]*)\s{2,}", line)
        if match:
            names.add(match.group(1))
    return names


def local_person(node: Path) -> dict[str, str]:
    """record person_id -> the node's resolved person, when the node resolves its own
    duplicates (table `person_resolution`); empty when it does not."""
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if "person_resolution" not in tables:
            return {}
        return dict(con.execute("SELECT CAST(person_id AS VARCHAR), "
                                "CAST(local_person AS VARCHAR) "
                                "FROM person_resolution").fetchall())
    finally:
        con.close()


def run_real_path(forces: Mapping[str, Any], work: Path, run: Runner | None = None,
                  addresses: bool = True, raw_dobs: bool = True) -> RealPathRecords:
    """Each force's records into a node of its own (init, keys, the coordinator's key,
    ingest, resolve when the product has it, share), then coordinator submit, link and
    hits, and each node resolves its hits; only the public CLI is used. Returns
    (force, record_id) -> entity id."""
    run = run or cli_runner()
    seconds: dict[str, float] = {}

    def step(name: str, *args: object) -> str:
        t0 = time.perf_counter()
        code, out = run([str(a) for a in args])
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"crossforce {' '.join(map(str, args))} exited {code}: "
                               f"{out[-800:]}")
        return out

    has_resolve = "resolve" in node_commands(run)
    secret, coordinator = work / "linkage.secret", work / "coordinator"
    step("setup", "node", "keys", "generate-secret", secret)
    step("setup", "coordinator", "init", "--dir", coordinator)
    for force, df in forces.items():
        node = work / force
        write_records(df, work / f"{force}-input", addresses, raw_dobs)
        step("setup", "node", "init", "--force", force, "--dir", node)
        step("setup", "node", "keys", "import-secret", "--dir", node, secret)
        # hits are signed by the coordinator: each node trusts its key once
        step("setup", "node", "keys", "import-coordinator", "--dir", node,
             coordinator / "keys" / "public.json")
        step("setup", "coordinator", "register", "--dir", coordinator, "--force", force,
             "--public-key", node / "keys" / "public.json")
        step("ingest", "node", "ingest", "--dir", node, work / f"{force}-input")
        if has_resolve:
            step("resolve", "node", "resolve", "--dir", node)
        step("share", "node", "share", "--dir", node, "--out", work / f"{force}.cfsub")
    step("submit", "coordinator", "submit", "--dir", coordinator,
         *(work / f"{f}.cfsub" for f in forces))
    step("link", "coordinator", "link", "--dir", coordinator)
    entity: dict[tuple[str, str], int] = {}
    for force, df in forces.items():
        step("hits", "coordinator", "hits", "--dir", coordinator, "--force", force,
             "--out", work / f"{force}-hits.json")
        out = step("node_hits", "node", "hits", "--dir", work / force,
                   work / f"{force}-hits.json", "--json")
        of_local = {row["local_id"]: row["entity_id"]
                    for row in json.loads(out)["rows"] if row["kind"] == "person"}
        resolved = local_person(work / force)
        for record in df["record_id"].astype(str):
            local = resolved.get(record, record)
            if local in of_local:
                entity[(force, record)] = of_local[local]
    return RealPathRecords(entity, seconds, has_resolve)
