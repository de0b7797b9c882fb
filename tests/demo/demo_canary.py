"""The demo canary: every raw value a scenario's forces hold, and a search for them in
every byte of a folder and every value of a DuckDB file."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from federation.normalise import normalise_phone

#: byte strings shorter than this can turn up by chance among random tokens
MIN_NEEDLE = 6


def _read(path: Path) -> pa.Table:
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


def text_of_every_table(db: Path) -> str:
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


def leaks(folder: Path, needles: set[str]) -> list[str]:
    """Where any needle appears: in the bytes of any file under ``folder``, or in any value
    of any DuckDB file there. Empty when nothing raw is there."""
    ordered = sorted(needles, key=len, reverse=True)
    pattern = re.compile(b"|".join(re.escape(n.encode()) for n in ordered))
    text_pattern = re.compile("|".join(re.escape(n) for n in ordered))
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        match = pattern.search(path.read_bytes())
        if match:
            found.append(f"{match.group().decode(errors='replace')!r} in {path}")
        if path.suffix == ".duckdb":
            found += [f"{m.group()!r} in a table of {path}"
                      for m in text_pattern.finditer(text_of_every_table(path))][:5]
    return found
