"""The coordinator store tables linkage reads and writes — tokens and opaque references only.

The column types are the privacy contract made checkable: a reference and a token are
16-byte BLOBs, so no raw name, number or date can reach linkage. `check_linkage_inputs`
refuses anything else before linkage starts.
"""

from __future__ import annotations

import duckdb

from federation.errors import CrossforceError

TOKEN_BYTES = 16

ITEMS_DDL = """
CREATE TABLE IF NOT EXISTS items (
    force VARCHAR NOT NULL,   -- sending force
    ref   BLOB    NOT NULL,   -- opaque reference, random per node/purpose/epoch
    kind  VARCHAR NOT NULL,   -- person, phone, email, handle, vrm, imei
    role  VARCHAR,            -- suspect, victim, ... (policy-allowed only)
    PRIMARY KEY (force, ref)
)"""

TOKENS_DDL = """
CREATE TABLE IF NOT EXISTS tokens (
    force      VARCHAR NOT NULL,
    ref        BLOB    NOT NULL,
    token_kind VARCHAR NOT NULL,  -- 'phone', 'email', ..., 'mk:<match key name>'
    token      BLOB    NOT NULL   -- 16-byte keyed token; the coordinator holds no key
)"""

ENTITIES_DDL = """
CREATE TABLE IF NOT EXISTS entities (
    force     VARCHAR NOT NULL,
    ref       BLOB    NOT NULL,
    kind      VARCHAR NOT NULL,
    entity_id BIGINT  NOT NULL,  -- national entity: references held to be one person/phone/...
    score     DOUBLE             -- best match probability of the links that placed it; NULL alone
)"""

PERSON_LINKS_DDL = """
CREATE TABLE IF NOT EXISTS person_links (
    force_a VARCHAR, ref_a BLOB, force_b VARCHAR, ref_b BLOB,
    agreeing_keys INTEGER,   -- match keys whose tokens agree
    match_weight DOUBLE,     -- Fellegi-Sunter log2 Bayes factor incl. prior
    match_probability DOUBLE
)"""

#: column -> DuckDB type every linkage input must have
REQUIRED_COLUMNS: dict[str, dict[str, str]] = {
    "items": {"force": "VARCHAR", "ref": "BLOB", "kind": "VARCHAR"},
    "tokens": {"force": "VARCHAR", "ref": "BLOB", "token_kind": "VARCHAR", "token": "BLOB"},
}


def create_linkage_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the input tables if missing (the store module may have made them already)."""
    con.execute(ITEMS_DDL)
    con.execute(TOKENS_DDL)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = current_schema()", [table]).fetchall()
    return {name: dtype for name, dtype in rows}


def check_linkage_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to link unless items/tokens hold only opaque 16-byte BLOB refs and tokens."""
    for table, wanted in REQUIRED_COLUMNS.items():
        have = _columns(con, table)
        if not have:
            raise CrossforceError(f"coordinator store has no `{table}` table; submit payloads "
                                  "first")
        for column, dtype in wanted.items():
            if column not in have:
                raise CrossforceError(f"table `{table}` lacks column `{column}`")
            if have[column] != dtype:
                raise CrossforceError(
                    f"table `{table}` column `{column}` is {have[column]}, must be {dtype} "
                    "(linkage accepts opaque tokens only, never raw values)")
    bad = con.execute(f"""
        SELECT 'tokens.token', count(*) FROM tokens WHERE octet_length(token) <> {TOKEN_BYTES}
        UNION ALL
        SELECT 'tokens.ref', count(*) FROM tokens WHERE octet_length(ref) <> {TOKEN_BYTES}
        UNION ALL
        SELECT 'items.ref', count(*) FROM items WHERE octet_length(ref) <> {TOKEN_BYTES}
    """).fetchall()
    for where, n in bad:
        if n:
            raise CrossforceError(f"{n} value(s) in {where} are not {TOKEN_BYTES}-byte tokens")
