"""Versioned schema of the node store: numbered SQL steps, each applied once.

The POLE tables carry the layout's columns (federation/layout.py) under the same names, plus
what ingest adds: the normalised form beside every raw identifier, a ``normalised`` flag, and
``source_file`` so a changed file re-loaded replaces exactly its own rows. A new column or
table is a new numbered step, never an edit of an applied one.
"""

from __future__ import annotations

import duckdb

from federation.checkpoint import ANCHORS_DDL
from federation.duckdb_files import Migration
from federation.duckdb_files import migrate as apply_migrations

_POLE = """
CREATE SEQUENCE source_file_ids START 1;

CREATE TABLE source_files (
    file_id      INTEGER PRIMARY KEY,
    path         VARCHAR NOT NULL,   -- absolute path when loaded
    sha256       VARCHAR NOT NULL,   -- content hash: the idempotence key
    layout       VARCHAR NOT NULL,   -- layout table name, or 'ufdr'
    format       VARCHAR NOT NULL,   -- csv, parquet, json, jsonl, ufdr
    rows         BIGINT NOT NULL,    -- rows loaded, all tables
    unnormalised BIGINT NOT NULL,    -- identifiers kept raw only
    quarantined  BIGINT NOT NULL,
    loaded_at    TIMESTAMP NOT NULL,
    replaces     VARCHAR             -- sha256 of the version this load replaced
);

CREATE TABLE quarantine (
    file_id   INTEGER NOT NULL,
    path      VARCHAR NOT NULL,
    layout    VARCHAR NOT NULL,
    location  VARCHAR NOT NULL,      -- 'line 12', 'row 3', or an XML element
    field     VARCHAR,
    reason    VARCHAR NOT NULL,
    raw_row   VARCHAR
);

-- Person (a nominal). Roles are per case (table roles), never a person attribute.
CREATE TABLE persons (
    person_id VARCHAR NOT NULL, given_names VARCHAR, family_name VARCHAR, aliases VARCHAR,
    dob DATE, dob_known BOOLEAN, age_min INTEGER, age_max INTEGER, sex VARCHAR,
    ethnicity_self VARCHAR,     -- ONS 18+1 self-defined code, or NS
    ethnicity_officer VARCHAR,  -- IC1..IC6, IC9, or NS
    nationality VARCHAR,        -- ISO alpha-3, NS or UNK
    deceased BOOLEAN,
    name_norm VARCHAR,          -- federation.normalise.normalise_name(given family)
    source_file INTEGER NOT NULL
);

CREATE TABLE crimes (
    crime_id VARCHAR NOT NULL, crime_ref VARCHAR, ho_offence_code VARCHAR,
    offence_description VARCHAR, date_from DATE, date_to DATE, outcome_code VARCHAR,
    outcome_date DATE, flag_cse BOOLEAN, flag_csa BOOLEAN, flag_cce BOOLEAN,
    flag_online BOOLEAN, flag_group BOOLEAN, exchange_indicator VARCHAR,
    previously_reviewed BOOLEAN,
    source_file INTEGER NOT NULL
);

CREATE TABLE roles (
    crime_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, role VARCHAR NOT NULL,
    valid_from DATE, valid_to DATE, source_ref VARCHAR,
    source_file INTEGER NOT NULL
);

-- Phones, emails, online handles and IMEIs of a person: raw as recorded + normalised.
CREATE TABLE identifiers (
    person_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, value VARCHAR, platform VARCHAR,
    first_seen DATE, last_seen DATE,
    value_norm VARCHAR,         -- E.164 / lower-case email / platform:handle / 15-digit IMEI
    normalised BOOLEAN NOT NULL,
    source_file INTEGER NOT NULL
);

-- Locations linked to a person.
CREATE TABLE addresses (
    person_id VARCHAR NOT NULL, address VARCHAR, town VARCHAR, postcode VARCHAR,
    uprn BIGINT, latitude DOUBLE, longitude DOUBLE, location_type VARCHAR,
    valid_from DATE, valid_to DATE,
    postcode_norm VARCHAR,
    source_file INTEGER NOT NULL
);

CREATE TABLE vehicles (
    person_id VARCHAR NOT NULL, vrm VARCHAR, make VARCHAR, model VARCHAR, colour VARCHAR,
    vin VARCHAR,
    vrm_norm VARCHAR,
    source_file INTEGER NOT NULL
);

CREATE TABLE intel (
    intel_id VARCHAR NOT NULL, report_date DATE, submitter VARCHAR,
    source_evaluation VARCHAR, intelligence_assessment VARCHAR, handling_code VARCHAR,
    gsc_marking VARCHAR, text VARCHAR,
    source_file INTEGER NOT NULL
);

CREATE TABLE intel_links (
    intel_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL,
    source_file INTEGER NOT NULL
);

-- Seized devices and extraction metadata.
CREATE TABLE devices (
    device_id VARCHAR NOT NULL, exhibit_ref VARCHAR, person_id VARCHAR, make VARCHAR,
    model VARCHAR, imei VARCHAR, owner_number VARCHAR, tool VARCHAR, tool_version VARCHAR,
    extraction_type VARCHAR, extraction_date TIMESTAMP, timezone VARCHAR,
    imei_norm VARCHAR, owner_number_e164 VARCHAR,
    source_file INTEGER NOT NULL
);

-- Communication events: calls and messages, UTC.
CREATE TABLE calls (
    device_id VARCHAR NOT NULL, call_id VARCHAR NOT NULL, timestamp_utc TIMESTAMP,
    direction VARCHAR, number VARCHAR, name VARCHAR, duration_s INTEGER, app VARCHAR,
    deleted BOOLEAN,
    status VARCHAR,             -- from UFDR (Established, Missed, ...) when known
    number_e164 VARCHAR, number_normalised BOOLEAN NOT NULL,
    source_file INTEGER NOT NULL
);

CREATE TABLE messages (
    device_id VARCHAR NOT NULL, message_id VARCHAR NOT NULL, timestamp_utc TIMESTAMP,
    direction VARCHAR, number VARCHAR, name VARCHAR, app VARCHAR, chat_id VARCHAR,
    body VARCHAR, deleted BOOLEAN,
    status VARCHAR,
    language VARCHAR,           -- detected language: left empty until translation lands
    number_e164 VARCHAR, number_normalised BOOLEAN NOT NULL,
    source_file INTEGER NOT NULL
);

CREATE TABLE contacts (
    device_id VARCHAR NOT NULL, contact_id VARCHAR NOT NULL, name VARCHAR, number VARCHAR,
    times_contacted INTEGER, last_contacted TIMESTAMP, source_app VARCHAR,
    number_e164 VARCHAR, number_normalised BOOLEAN NOT NULL,
    source_file INTEGER NOT NULL
);

-- POLE views over the tables above, for analyses and egress.
CREATE VIEW phones AS
    SELECT person_id, value AS raw, value_norm AS e164, normalised, first_seen, last_seen,
           source_file
    FROM identifiers WHERE kind = 'phone';
CREATE VIEW emails AS
    SELECT person_id, value AS raw, value_norm AS email, normalised, source_file
    FROM identifiers WHERE kind = 'email';
CREATE VIEW online_handles AS
    SELECT person_id, platform, value AS raw, value_norm AS handle, normalised, source_file
    FROM identifiers WHERE kind = 'handle';
CREATE VIEW locations AS
    SELECT person_id, address, town, postcode AS postcode_raw, postcode_norm AS postcode, uprn,
           latitude, longitude, location_type, valid_from, valid_to, source_file
    FROM addresses;
CREATE VIEW communication_events AS
    SELECT device_id, 'call' AS event_kind, call_id AS event_id, timestamp_utc, direction,
           number, number_e164, number_normalised, name, app, duration_s, NULL AS body, deleted
    FROM calls
    UNION ALL
    SELECT device_id, 'message', message_id, timestamp_utc, direction, number, number_e164,
           number_normalised, name, app, NULL, body, deleted
    FROM messages;
"""

# Egress (the private map ref → local record, never sent) and the hits received back.
_EGRESS = """
CREATE TABLE egress_refs (
    purpose VARCHAR NOT NULL, epoch INTEGER NOT NULL,
    kind VARCHAR NOT NULL,       -- person, phone, email, handle, vrm, imei
    local_id VARCHAR NOT NULL,   -- person_id, or the normalised identifier value
    ref BLOB NOT NULL,           -- 16 random bytes
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (purpose, epoch, kind, local_id)
);

CREATE TABLE hit_batches (
    batch VARCHAR PRIMARY KEY,        -- SHA-256 of the bytes received
    received_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL,
    hits BIGINT NOT NULL, resolved BIGINT NOT NULL, unknown_refs BIGINT NOT NULL
);

CREATE TABLE received_hits (
    batch VARCHAR NOT NULL, ref BLOB NOT NULL,
    purpose VARCHAR NOT NULL, epoch INTEGER NOT NULL,
    kind VARCHAR NOT NULL,          -- person, phone, email, handle, vrm, imei
    local_id VARCHAR NOT NULL,      -- person_id, or the normalised identifier
    person_ids VARCHAR[],           -- for identifiers: the persons holding it
    entity_id BIGINT NOT NULL, network_id BIGINT, other_forces VARCHAR[],
    strength DOUBLE, reason VARCHAR
);
"""

# Resolution of the force's own duplicate records (node/resolution): which records are one
# person, the scored pairs an analyst reviews, and the analyst's decisions, which win.
_RESOLUTION = """
CREATE TABLE resolution_runs (
    run_id INTEGER PRIMARY KEY, resolved_at TIMESTAMP NOT NULL,
    records BIGINT NOT NULL, persons BIGINT NOT NULL, pairs BIGINT NOT NULL,
    model VARCHAR NOT NULL,         -- trained | default
    threshold DOUBLE NOT NULL,      -- pairs at or above this are one person
    fingerprint VARCHAR NOT NULL,   -- of the records and decisions it was run on
    seconds DOUBLE NOT NULL, model_json VARCHAR NOT NULL
);

CREATE TABLE person_resolution (
    person_id VARCHAR PRIMARY KEY,
    local_person VARCHAR NOT NULL,  -- the smallest person_id of the person's records
    records INTEGER NOT NULL,       -- records of that person
    run_id INTEGER NOT NULL
);

CREATE TABLE resolution_pairs (
    person_id_l VARCHAR NOT NULL, person_id_r VARCHAR NOT NULL,
    match_weight DOUBLE NOT NULL, match_probability DOUBLE NOT NULL,
    run_id INTEGER NOT NULL
);

CREATE TABLE resolution_decisions (
    decided_at TIMESTAMP NOT NULL, analyst VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,      -- same (two records are one person) | alone (a record
                                    -- is nobody else's unless confirmed)
    person_id VARCHAR NOT NULL, other_id VARCHAR, note VARCHAR
);
"""

# A date of birth as written, and how much of it is usable (issue #11). ``dob`` stays the
# DATE readers use: the exact day ('day'), the 1st of the month ('month'), 1 January
# ('year'), NULL when nothing is usable. Rows loaded before this step get the same marks
# from their (already valid) dob.
_DOB_PRECISION = """
ALTER TABLE persons ADD COLUMN dob_raw VARCHAR;        -- the value exactly as written
ALTER TABLE persons ADD COLUMN dob_precision VARCHAR;  -- day | month | year | NULL
ALTER TABLE persons ADD COLUMN dob_flag VARCHAR;       -- NULL when clean, else a reason code
UPDATE persons SET
    dob_raw = strftime(dob, '%Y-%m-%d'),
    dob_precision = CASE WHEN month(dob) = 1 AND day(dob) = 1 THEN 'year' ELSE 'day' END,
    dob_flag = CASE WHEN month(dob) = 1 AND day(dob) = 1 THEN 'jan1_padded'
                    WHEN dob_known = false THEN 'estimate' END
WHERE dob IS NOT NULL;
"""

# Seized-phone extractions as the tools write them (issue #21): the device's region (the
# country its national numbers are read in) and SIM identifiers; each time kept as written
# with its offset and a flag when it was not written with one; the kind of each party's
# identifier and why a number stayed raw; MMS, e-mail, chats with their participants,
# locations (with their precision), the owner's app accounts and SIM data.
_EXTRACTIONS = """
ALTER TABLE devices ADD COLUMN region VARCHAR;          -- ISO 3166 alpha-2, NULL: unknown
ALTER TABLE devices ADD COLUMN region_source VARCHAR;   -- declared | own number | IMSI ...
ALTER TABLE devices ADD COLUMN imsi VARCHAR;
ALTER TABLE devices ADD COLUMN iccid VARCHAR;
ALTER TABLE devices ADD COLUMN extraction_date_raw VARCHAR;
ALTER TABLE devices ADD COLUMN metadata_flags VARCHAR;  -- JSON {field: flag} of header
                                                        -- values kept raw
ALTER TABLE calls ADD COLUMN timestamp_raw VARCHAR;     -- as written, when not plain UTC
ALTER TABLE calls ADD COLUMN utc_offset_min INTEGER;    -- the offset it was written with
ALTER TABLE calls ADD COLUMN time_flag VARCHAR;         -- node.extraction.times.TIME_FLAGS
ALTER TABLE calls ADD COLUMN party_kind VARCHAR;        -- phone | email | handle | web
ALTER TABLE calls ADD COLUMN party_norm VARCHAR;        -- normalised, any kind
ALTER TABLE calls ADD COLUMN number_flag VARCHAR;       -- why a number stayed raw
ALTER TABLE messages ADD COLUMN timestamp_raw VARCHAR;
ALTER TABLE messages ADD COLUMN utc_offset_min INTEGER;
ALTER TABLE messages ADD COLUMN time_flag VARCHAR;
ALTER TABLE messages ADD COLUMN party_kind VARCHAR;
ALTER TABLE messages ADD COLUMN party_norm VARCHAR;
ALTER TABLE messages ADD COLUMN number_flag VARCHAR;
ALTER TABLE messages ADD COLUMN kind VARCHAR;           -- sms | mms | im | email
ALTER TABLE messages ADD COLUMN subject VARCHAR;
ALTER TABLE contacts ADD COLUMN entry_kind VARCHAR;     -- phone | email | handle | web
ALTER TABLE contacts ADD COLUMN entry_value VARCHAR;    -- the entry as written (any kind)
ALTER TABLE contacts ADD COLUMN entry_norm VARCHAR;     -- normalised, any kind
ALTER TABLE contacts ADD COLUMN number_flag VARCHAR;

-- Every party of a call, message or chat (a group message has several recipients).
CREATE TABLE event_parties (
    device_id VARCHAR NOT NULL, event_kind VARCHAR NOT NULL,  -- call | message | chat
    event_id VARCHAR NOT NULL, role VARCHAR,                  -- from | to | cc | bcc |
                                                              -- participant
    identifier VARCHAR, name VARCHAR, is_owner BOOLEAN, party_kind VARCHAR,
    party_norm VARCHAR, source_file INTEGER NOT NULL
);
CREATE TABLE chats (
    device_id VARCHAR NOT NULL, chat_id VARCHAR NOT NULL, name VARCHAR, app VARCHAR,
    account VARCHAR, started_utc TIMESTAMP, last_activity_utc TIMESTAMP,
    participants INTEGER, messages INTEGER, deleted BOOLEAN,
    source_file INTEGER NOT NULL
);
-- A place the device was, with how precisely: a cell tower places it in an area, never at
-- a point (precision 'cell', radius unknown unless the tool gives one).
CREATE TABLE device_locations (
    device_id VARCHAR NOT NULL, location_id VARCHAR NOT NULL, timestamp_utc TIMESTAMP,
    timestamp_raw VARCHAR, time_flag VARCHAR, latitude DOUBLE, longitude DOUBLE,
    accuracy_m DOUBLE,          -- radius the tool gives, if any
    precision VARCHAR,          -- point | cell | area | unknown
    kind VARCHAR,               -- Location | CellTower | ...
    origin VARCHAR, category VARCHAR, name VARCHAR, address VARCHAR, app VARCHAR,
    cell_mcc VARCHAR, cell_mnc VARCHAR, cell_lac VARCHAR, cell_id VARCHAR,
    deleted BOOLEAN, source_file INTEGER NOT NULL
);
-- The owner's own accounts on the device (their app handles, e-mail, numbers).
CREATE TABLE device_accounts (
    device_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, app VARCHAR, username VARCHAR,
    name VARCHAR, entry_kind VARCHAR, value VARCHAR, value_norm VARCHAR,
    source_file INTEGER NOT NULL
);
CREATE TABLE sim_data (
    device_id VARCHAR NOT NULL, name VARCHAR, value VARCHAR, category VARCHAR,
    source VARCHAR, source_file INTEGER NOT NULL
);

CREATE OR REPLACE VIEW communication_events AS
    SELECT device_id, 'call' AS event_kind, call_id AS event_id, timestamp_utc, direction,
           number, number_e164, number_normalised, name, app, duration_s, NULL AS body,
           deleted, party_kind, party_norm, time_flag, NULL AS chat_id
    FROM calls
    UNION ALL
    SELECT device_id, 'message', message_id, timestamp_utc, direction, number, number_e164,
           number_normalised, name, app, NULL, body, deleted, party_kind, party_norm,
           time_flag, chat_id
    FROM messages;
"""

# PRF outputs the key service gave this node, per epoch (and epoch public key): a later
# share asks only for values it has not seen. Raw values stay in the node like every
# other table here; an output is useless without the value and never leaves.
_PRF_OUTPUTS = """
CREATE TABLE prf_outputs (
    epoch INTEGER NOT NULL, public_key BLOB NOT NULL, kind VARCHAR NOT NULL,
    value VARCHAR NOT NULL, y BLOB NOT NULL, made_at TIMESTAMP NOT NULL
);
"""

# Languages of message bodies and their translations (issue #19). ``messages.language``
# (migration 1) is the BCP-47 tag, 'und' when undetermined; beside it the script, the
# confidence and what decided. A translation belongs to a message's body as it was
# (body_md5): a replaced file with a changed body shows no stale translation. Every row
# says which backend, model and model hash made it; a message the force's translators must
# read is queued as 'needs_translator'. translation_runs: one per `node translate`, with
# whether its ledger entry is written (a run killed mid-way is logged by the next one).
_LANGUAGES = """
ALTER TABLE messages ADD COLUMN language_script VARCHAR;     -- ISO 15924; Zyyy: no letters
ALTER TABLE messages ADD COLUMN language_confidence DOUBLE;  -- 0-1
ALTER TABLE messages ADD COLUMN language_method VARCHAR;     -- script | model | rules:... |
                                                             -- short | mixed | no-text ...
CREATE TABLE translation_runs (
    run_id INTEGER PRIMARY KEY, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP,
    backend VARCHAR NOT NULL, model_id VARCHAR NOT NULL, model_sha256 VARCHAR,
    scope VARCHAR NOT NULL,          -- the --device/--person/--case chosen, or 'all'
    messages BIGINT NOT NULL,        -- rows written so far
    logged BOOLEAN NOT NULL          -- its ledger entry (alteration) is written
);
CREATE TABLE translations (
    device_id VARCHAR NOT NULL, message_id VARCHAR NOT NULL,
    body_md5 VARCHAR NOT NULL,       -- md5 of the body translated
    language VARCHAR NOT NULL,       -- the body's detected language
    status VARCHAR NOT NULL,         -- machine_translation | needs_translator
    text VARCHAR,                    -- the machine translation (NULL when queued)
    input VARCHAR,                   -- what the model read when not the body (Roman Urdu
                                     -- transliterated to Urdu script)
    truncated BOOLEAN NOT NULL,      -- the body was longer than the model reads
    backend VARCHAR NOT NULL, model_id VARCHAR NOT NULL, model_sha256 VARCHAR,
    label VARCHAR NOT NULL,          -- 'machine translation, not evidence' or the queue note
    run_id INTEGER NOT NULL, translated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (device_id, message_id, body_md5, backend, model_id)
);
"""

# Governance (issue #18): the coordinator's signed ledger heads (federation/checkpoint.py),
# when each ref last left (its retention runs from then), and this force's withdrawals.
_GOVERNANCE = f"""
{ANCHORS_DDL};
ALTER TABLE egress_refs ADD COLUMN last_shared_at TIMESTAMP;
UPDATE egress_refs SET last_shared_at = created_at;
CREATE TABLE withdrawals (
    withdrawal_id VARCHAR PRIMARY KEY,
    purposes VARCHAR[] NOT NULL,        -- ['*']: everything this force sent
    withdrawal_hash VARCHAR NOT NULL,   -- SHA-256 of the signed request (both ledgers)
    created_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,          -- when the coordinator's acknowledgement came
    erased VARCHAR                      -- its counts, canonical JSON
);
"""

# Calls, messages and contacts store a party read as a phone number once (issue 12 item 3).
# ``number_e164`` is the stored reading; ``party_kind``/``party_norm`` (contacts:
# ``entry_kind``/``entry_norm``) and ``number_normalised`` become generated columns over
# it, so readers see the same columns and values while ingest writes ~2 columns fewer per
# row (writing 10 M calls was half the load's time). ``kind_stored``/``norm_stored`` hold
# the kind and normalised form only where they are not "a phone, read as number_e164": an
# e-mail, app id, web address, or a number that stayed raw. Rows loaded before migration 5
# (kind and form never set, a number read) read as the phones they are, as the analyses
# already read them. Each table is rebuilt in place, its rows kept in order.
_PARTY_KIND = "coalesce(kind_stored, CASE WHEN number_e164 IS NOT NULL THEN 'phone' END)"
_PARTY_NORM = ("CASE WHEN coalesce(kind_stored, 'phone') = 'phone' AND number_e164 IS NOT NULL "
               "THEN number_e164 ELSE norm_stored END")
#: the stored part of an old kind ``{k}`` / form ``{n}``: NULL for a phone read as E.164
_KEEP = ("CASE WHEN coalesce({k}, 'phone') = 'phone' AND number_e164 IS NOT NULL THEN NULL "
         "ELSE {v} END")


def _rebuild(table: str, columns: str, kind: str, norm: str) -> str:
    """SQL rebuilding ``table`` as ``columns`` (DDL body), its rows copied in order."""
    stored = [c.split()[0] for c in columns.splitlines() if " AS (" not in c]
    old = {"kind_stored": _KEEP.format(k=kind, v=kind),
           "norm_stored": _KEEP.format(k=kind, v=norm)}
    select = ", ".join(old.get(c, c) for c in stored)
    return f"""
CREATE TABLE {table}_v9 (
{columns}
);
INSERT INTO {table}_v9 ({", ".join(stored)}) SELECT {select} FROM {table};
DROP TABLE {table};
ALTER TABLE {table}_v9 RENAME TO {table};
"""


_PARTY_TIMES = """    timestamp_raw VARCHAR,
    utc_offset_min INTEGER,
    time_flag VARCHAR,"""
_PARTY_GENERATED = "    number_normalised BOOLEAN AS (number_e164 IS NOT NULL),"
# a call's or message's other party, as migration 9 stores it (one column order for both)
_PARTY_TAIL = f"""    number_e164 VARCHAR,
{_PARTY_GENERATED}
    source_file INTEGER NOT NULL,
{_PARTY_TIMES}
    party_kind VARCHAR AS ({_PARTY_KIND}),
    party_norm VARCHAR AS ({_PARTY_NORM}),
    number_flag VARCHAR,"""
_CALLS_V9 = f"""    device_id VARCHAR NOT NULL,
    call_id VARCHAR NOT NULL,
    timestamp_utc TIMESTAMP,
    direction VARCHAR,
    number VARCHAR,
    name VARCHAR,
    duration_s INTEGER,
    app VARCHAR,
    deleted BOOLEAN,
    status VARCHAR,
{_PARTY_TAIL}
    kind_stored VARCHAR,
    norm_stored VARCHAR"""
_MESSAGES_V9 = f"""    device_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    timestamp_utc TIMESTAMP,
    direction VARCHAR,
    number VARCHAR,
    name VARCHAR,
    app VARCHAR,
    chat_id VARCHAR,
    body VARCHAR,
    deleted BOOLEAN,
    status VARCHAR,
    language VARCHAR,
{_PARTY_TAIL}
    kind VARCHAR,
    subject VARCHAR,
    language_script VARCHAR,
    language_confidence DOUBLE,
    language_method VARCHAR,
    kind_stored VARCHAR,
    norm_stored VARCHAR"""
_CONTACTS_V9 = f"""    device_id VARCHAR NOT NULL,
    contact_id VARCHAR NOT NULL,
    name VARCHAR,
    number VARCHAR,
    times_contacted INTEGER,
    last_contacted TIMESTAMP,
    source_app VARCHAR,
    number_e164 VARCHAR,
{_PARTY_GENERATED}
    source_file INTEGER NOT NULL,
    entry_kind VARCHAR AS ({_PARTY_KIND}),
    entry_value VARCHAR,
    entry_norm VARCHAR AS ({_PARTY_NORM}),
    number_flag VARCHAR,
    kind_stored VARCHAR,
    norm_stored VARCHAR"""
_PARTIES_ONCE = (_rebuild("calls", _CALLS_V9, "party_kind", "party_norm")
                 + _rebuild("messages", _MESSAGES_V9, "party_kind", "party_norm")
                 + _rebuild("contacts", _CONTACTS_V9, "entry_kind", "entry_norm"))

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "pole store", (_POLE,)),
    Migration(2, "egress refs and received hits", (_EGRESS,)),
    Migration(3, "persons: raw date of birth, precision and flag", (_DOB_PRECISION,)),
    Migration(4, "resolution of the force's own duplicate records", (_RESOLUTION,)),
    Migration(5, "seized-phone extractions: regions, times, parties, chats, locations",
              (_EXTRACTIONS,)),
    Migration(6, "key service PRF outputs per epoch", (_PRF_OUTPUTS,)),
    Migration(7, "message languages and translations", (_LANGUAGES,)),
    Migration(8, "governance: ledger heads, ref retention, withdrawals", (_GOVERNANCE,)),
    Migration(9, "calls, messages, contacts: a party read as a phone number stored once",
              (_PARTIES_ONCE,)),
)

#: The tables that hold ingested rows (each has ``source_file``), in layout load order.
DATA_TABLES: tuple[str, ...] = (
    "persons", "crimes", "roles", "identifiers", "addresses", "vehicles", "intel",
    "intel_links", "devices", "calls", "messages", "contacts", "event_parties", "chats",
    "device_locations", "device_accounts", "sim_data",
)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration not yet applied, each in its own transaction; return the version."""
    return apply_migrations(con, MIGRATIONS)
