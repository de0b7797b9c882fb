"""The privacy canary (DESIGN.md §1): after real payloads from two forces are submitted,
linked and looked at in every way the CLI offers, no raw value — nor its unkeyed SHA-256
or MD5, nor the token key — is anywhere in the coordinator's folder or in any output.

Raw values go in at the node end (names, dates of birth, postcodes, phone numbers in the
form a force records them), through the real normalisers, match keys and tokeniser.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
from coordinator_payloads import (
    AMY,
    DEAN,
    KYLE,
    LANCS,
    MARCUS,
    RAW_VALUES,
    TOKEN_KEY,
    WYP,
    Federation,
    Person,
    federation,  # noqa: F401  (fixture)
    federation_template,  # noqa: F401  (fixture)
)

from coordinator.store import STORE_FILE
from federation.normalise import normalise_name, normalise_postcode

#: byte strings shorter than this can turn up by chance in a megabyte of random tokens;
#: they are still looked for in every text column and every output
MIN_BINARY_NEEDLE = 5


def needles() -> dict[str, bytes]:
    """Every form of every raw value that must never reach the coordinator."""
    values = set(RAW_VALUES)
    for p in (KYLE, MARCUS, DEAN, AMY):
        values |= {normalise_name(f"{p.given_names} {p.family_name}") or "",
                   normalise_name(p.family_name) or "", normalise_postcode(p.postcode) or "",
                   p.postcode.replace(" ", "")}
    found: dict[str, bytes] = {}
    for v in filter(None, values):
        raw = v.encode()
        found[v] = raw
        for algo in ("sha256", "md5"):
            digest = hashlib.new(algo, raw)
            found[f"{algo}({v}) hex"] = digest.hexdigest().encode()
            found[f"{algo}({v}) bytes"] = digest.digest()[:16]
    found["token key"] = TOKEN_KEY
    found["token key hex"] = TOKEN_KEY.hex().encode()
    return found


def _leaks(haystack: bytes, *, binary: bool) -> list[str]:
    low = haystack.lower()
    hits = []
    for name, needle in needles().items():
        if binary and len(needle) < MIN_BINARY_NEEDLE:
            continue
        if needle in haystack or (len(needle) >= 4 and needle.lower() in low):
            hits.append(name)
    return hits


def _text_columns(path: Path) -> bytes:
    """Every VARCHAR/JSON-ish value of every table, as one byte string."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        parts = []
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            cols = [c for c, t in con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?",
                [table]).fetchall() if t != "BLOB"]
            select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)
            for row in con.execute(f"SELECT {select} FROM {table}").fetchall():
                parts.extend(str(v) for v in row)
        return "\x1f".join(parts).encode()
    finally:
        con.close()


def test_no_raw_value_or_unkeyed_hash_reaches_the_coordinator(federation: Federation,  # noqa: F811
                                                              cli) -> None:
    amy_elsewhere = Person("W7", AMY.given_names, AMY.family_name, AMY.dob, AMY.postcode,
                           AMY.phone, "witness")
    with federation.store() as store:
        public = store.keys.encryption.public_key
    lancs = federation.write("lancs.cfsub", federation.lancs.payload([KYLE, DEAN, AMY]))
    wyp = federation.write("wyp.cfsub", federation.wyp.payload([KYLE, MARCUS, amy_elsewhere],
                                                               encrypt_to=public))
    d = federation.dir
    outputs: list[str] = []

    def run(*args: object) -> None:
        result = cli("coordinator", *args)
        assert result.code == 0, result
        outputs.extend([result.out, result.err])

    run("submit", "--dir", d, lancs, wyp)
    run("link", "--dir", d)
    run("entities", "--dir", d, "--format", "csv")
    run("entities", "--dir", d, "--format", "json")
    run("entities", "--dir", d, "--format", "json", "--force", LANCS)
    run("networks", "--dir", d)
    run("networks", "--dir", d, "--json")
    for force in (LANCS, WYP):
        run("hits", "--dir", d, "--force", force)
        run("hits", "--dir", d, "--force", force, "--json")
        run("hits", "--dir", d, "--force", force, "--out", federation.root / f"{force}.arrow")
        run("hits", "--dir", d, "--force", force, "--out", federation.root / f"{force}.json")
    run("status", "--dir", d)
    run("status", "--dir", d, "--json")

    assert "Kyle" not in "".join(outputs)  # the scan below finds what this would
    text = _text_columns(d / STORE_FILE)
    assert b"West Yorkshire" in text and b"collection" in text  # the dump is not empty
    leaks = {"output": _leaks("\n".join(outputs).encode(), binary=False),
             "store text columns": _leaks(text, binary=False)}
    for path in [*d.rglob("*"), *federation.root.glob("*.arrow"),
                 *federation.root.glob("*.json")]:
        if path.is_file():
            leaks[str(path)] = _leaks(path.read_bytes(), binary=path.suffix != ".json")
    assert {where: found for where, found in leaks.items() if found} == {}
    # and the canary can sing: the same scan finds a value planted in the store
    assert _leaks(b"...Okonjo-Hale...", binary=True) == ["Okonjo-Hale"]
