"""The node input layout: the published file format a force delivers its records in.

One declarative description shared by the scenario generator (which writes it) and node
ingest (which validates and loads it), so the two can never drift apart. Each table is one
file per force folder, named ``<table>.csv``, ``<table>.parquet`` or ``<table>.json``
(JSON = an array of objects, or JSON lines with the ``.jsonl`` ending).

Types are DuckDB type names. ``required`` columns must be present in the header; optional
ones may be absent (read as NULL). Values that are blank in CSV are NULL.
Explicit "not stated" codes are used instead of blanks where DOMAIN.md §1 asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Codes meaning "asked, but no value" — kept distinct from a blank (never asked).
NOT_STATED = "NS"  # not stated / refused
UNKNOWN = "UNK"  # not known to the recorder
#: What recorders write for "no value" in a free-text field such as a name (compared after
#: trimming, upper-case). Ingest keeps such values as written and counts them; they are a
#: data-quality flag, never a reason to refuse a row.
NOT_STATED_CODES = ("NS", "UNK", "N/K", "NK", "UNKNOWN", "NOT STATED", "NOT KNOWN", "-", "?")

ROLES = ("victim", "suspect", "offender", "witness", "reporting_person", "facilitator",
         "associate")
IDENTIFIER_KINDS = ("phone", "email", "handle", "imei")
DIRECTIONS = ("incoming", "outgoing", "missed", "unknown")
SEXES = ("M", "F", "X", "U")

#: ONS 18+1 self-defined ethnicity (2011 census groups, as police forces record them)
ONS_ETHNICITY = ("A1", "A2", "A3", "A4", "A9", "B1", "B2", "B9", "M1", "M2", "M3", "M9",
                 "O1", "O9", "W1", "W2", "W3", "W9")
#: officer-observed ethnicity (IC codes)
IC_ETHNICITY = ("IC1", "IC2", "IC3", "IC4", "IC5", "IC6", "IC9")
#: ISO 3166-1 alpha-3: the 249 officially assigned codes, written out here rather than read
#: from a library so every force and the coordinator hold the very same closed list (a
#: library release that adds or drops a code would make two forces' layouts disagree)
ISO3166_ALPHA3 = (
    "ABW", "AFG", "AGO", "AIA", "ALA", "ALB", "AND", "ARE", "ARG", "ARM", "ASM", "ATA",
    "ATF", "ATG", "AUS", "AUT", "AZE", "BDI", "BEL", "BEN", "BES", "BFA", "BGD", "BGR",
    "BHR", "BHS", "BIH", "BLM", "BLR", "BLZ", "BMU", "BOL", "BRA", "BRB", "BRN", "BTN",
    "BVT", "BWA", "CAF", "CAN", "CCK", "CHE", "CHL", "CHN", "CIV", "CMR", "COD", "COG",
    "COK", "COL", "COM", "CPV", "CRI", "CUB", "CUW", "CXR", "CYM", "CYP", "CZE", "DEU",
    "DJI", "DMA", "DNK", "DOM", "DZA", "ECU", "EGY", "ERI", "ESH", "ESP", "EST", "ETH",
    "FIN", "FJI", "FLK", "FRA", "FRO", "FSM", "GAB", "GBR", "GEO", "GGY", "GHA", "GIB",
    "GIN", "GLP", "GMB", "GNB", "GNQ", "GRC", "GRD", "GRL", "GTM", "GUF", "GUM", "GUY",
    "HKG", "HMD", "HND", "HRV", "HTI", "HUN", "IDN", "IMN", "IND", "IOT", "IRL", "IRN",
    "IRQ", "ISL", "ISR", "ITA", "JAM", "JEY", "JOR", "JPN", "KAZ", "KEN", "KGZ", "KHM",
    "KIR", "KNA", "KOR", "KWT", "LAO", "LBN", "LBR", "LBY", "LCA", "LIE", "LKA", "LSO",
    "LTU", "LUX", "LVA", "MAC", "MAF", "MAR", "MCO", "MDA", "MDG", "MDV", "MEX", "MHL",
    "MKD", "MLI", "MLT", "MMR", "MNE", "MNG", "MNP", "MOZ", "MRT", "MSR", "MTQ", "MUS",
    "MWI", "MYS", "MYT", "NAM", "NCL", "NER", "NFK", "NGA", "NIC", "NIU", "NLD", "NOR",
    "NPL", "NRU", "NZL", "OMN", "PAK", "PAN", "PCN", "PER", "PHL", "PLW", "PNG", "POL",
    "PRI", "PRK", "PRT", "PRY", "PSE", "PYF", "QAT", "REU", "ROU", "RUS", "RWA", "SAU",
    "SDN", "SEN", "SGP", "SGS", "SHN", "SJM", "SLB", "SLE", "SLV", "SMR", "SOM", "SPM",
    "SRB", "SSD", "STP", "SUR", "SVK", "SVN", "SWE", "SWZ", "SXM", "SYC", "SYR", "TCA",
    "TCD", "TGO", "THA", "TJK", "TKL", "TKM", "TLS", "TON", "TTO", "TUN", "TUR", "TUV",
    "TWN", "TZA", "UGA", "UKR", "UMI", "URY", "USA", "UZB", "VAT", "VCT", "VEN", "VGB",
    "VIR", "VNM", "VUT", "WLF", "WSM", "YEM", "ZAF", "ZMB", "ZWE",
)
#: the code lists of the persons columns below; a value outside its list is kept raw in
#: the node and leaves only as ``OTHER_CODE`` (it may be a date, a phone number, a name)
ETHNICITY_SELF_CODES = (*ONS_ETHNICITY, NOT_STATED)
ETHNICITY_OFFICER_CODES = (*IC_ETHNICITY, NOT_STATED)
NATIONALITY_CODES = (*ISO3166_ALPHA3, NOT_STATED, UNKNOWN)
OTHER_CODE = "other"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    doc: str = ""
    #: allowed values (checked at ingest) — None means any value of the type
    choices: tuple[str, ...] | None = None
    #: read as written and kept raw: a value that is not a valid ``type`` is flagged and
    #: counted at ingest, never a reason to refuse the row (persons.dob)
    kept_raw: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    #: (column, table, column) foreign references checked at ingest
    references: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    #: large tables the generator writes as Parquet
    large: bool = False

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _c(name: str, type_: str, required: bool = True, doc: str = "",
       choices: tuple[str, ...] | None = None, kept_raw: bool = False) -> Column:
    return Column(name, type_, required, doc, choices, kept_raw)


PERSONS = Table(
    "persons",
    "One row per person record held by the force (a nominal).",
    (
        _c("person_id", "VARCHAR", doc="force-local id, unique within the force"),
        _c("given_names", "VARCHAR", doc="given and middle names in order, space separated"),
        _c("family_name", "VARCHAR"),
        _c("aliases", "VARCHAR", False, "other names used, separated by a vertical bar"),
        _c("dob", "DATE", False, "date of birth, ISO YYYY-MM-DD preferred; any written "
           "form is kept raw and never refused, its precision marked; blank when unknown",
           kept_raw=True),
        _c("dob_known", "BOOLEAN", False, "false when dob is an estimate or missing"),
        _c("age_min", "INTEGER", False, "approximate age range when DOB unknown"),
        _c("age_max", "INTEGER", False),
        _c("sex", "VARCHAR", False, "M, F, X (other) or U (unknown)", SEXES),
        _c("ethnicity_self", "VARCHAR", False,
           "self-defined ethnicity, ONS 18+1 code (A1..W9, O9) or NS; any other value is "
           "kept as written and leaves the node only as 'other'"),
        _c("ethnicity_officer", "VARCHAR", False,
           "officer-observed ethnicity IC1..IC6, IC9 or NS (else kept, shared as 'other')"),
        _c("nationality", "VARCHAR", False,
           "ISO 3166-1 alpha-3, NS or UNK (else kept, shared as 'other')"),
        _c("deceased", "BOOLEAN", False, "true when the person is known to have died"),
    ),
    key=("person_id",),
)

CRIMES = Table(
    "crimes",
    "Crimes and offences recorded by the force.",
    (
        _c("crime_id", "VARCHAR", doc="force-local id"),
        _c("crime_ref", "VARCHAR", False, "the force's crime reference number"),
        _c("ho_offence_code", "VARCHAR", doc="Home Office offence classification, e.g. 88A"),
        _c("offence_description", "VARCHAR", False),
        _c("date_from", "DATE"),
        _c("date_to", "DATE", False),
        _c("outcome_code", "VARCHAR", False, "HO outcome code, e.g. OC01, OC15, OC16, OC18; "
           "blank while open"),
        _c("outcome_date", "DATE", False, "date the outcome (e.g. NFA) was recorded"),
        _c("flag_cse", "BOOLEAN", False, "force's own CSE flag"),
        _c("flag_csa", "BOOLEAN", False),
        _c("flag_cce", "BOOLEAN", False),
        _c("flag_online", "BOOLEAN", False),
        _c("flag_group", "BOOLEAN", False, "force's own group-based flag"),
        _c("exchange_indicator", "VARCHAR", False,
           "recorded exchange/benefit: gift, money, drugs, alcohol, accommodation, status"),
        _c("previously_reviewed", "BOOLEAN", False),
    ),
    key=("crime_id",),
)

ROLE_LINKS = Table(
    "roles",
    "Per-case role of a person in a crime (a person may hold different roles in "
    "different cases).",
    (
        _c("crime_id", "VARCHAR"),
        _c("person_id", "VARCHAR"),
        _c("role", "VARCHAR", choices=ROLES),
        _c("valid_from", "DATE", False),
        _c("valid_to", "DATE", False),
        _c("source_ref", "VARCHAR", False),
    ),
    key=("crime_id", "person_id", "role"),
    references=(("crime_id", "crimes", "crime_id"), ("person_id", "persons", "person_id")),
)

IDENTIFIERS = Table(
    "identifiers",
    "Phones, emails, online handles and IMEIs attributed to a person, as recorded (raw).",
    (
        _c("person_id", "VARCHAR"),
        _c("kind", "VARCHAR", doc="phone, email, handle or imei", choices=IDENTIFIER_KINDS),
        _c("value", "VARCHAR", doc="as written in the source record"),
        _c("platform", "VARCHAR", False, "for handles: snapchat, instagram, whatsapp, ..."),
        _c("first_seen", "DATE", False),
        _c("last_seen", "DATE", False),
    ),
    key=("person_id", "kind", "value"),
    references=(("person_id", "persons", "person_id"),),
)

ADDRESSES = Table(
    "addresses",
    "Addresses linked to a person over time.",
    (
        _c("person_id", "VARCHAR"),
        _c("address", "VARCHAR", doc="address lines, comma separated"),
        _c("town", "VARCHAR", False),
        _c("postcode", "VARCHAR", False, "as written"),
        _c("uprn", "BIGINT", False),
        _c("latitude", "DOUBLE", False),
        _c("longitude", "DOUBLE", False),
        _c("location_type", "VARCHAR", False, "home, hotel, takeaway, taxi office, ..."),
        _c("valid_from", "DATE", False),
        _c("valid_to", "DATE", False),
    ),
    key=("person_id", "address", "valid_from"),
    references=(("person_id", "persons", "person_id"),),
)

VEHICLES = Table(
    "vehicles",
    "Vehicles linked to a person.",
    (
        _c("person_id", "VARCHAR"),
        _c("vrm", "VARCHAR", doc="registration mark as written"),
        _c("make", "VARCHAR", False),
        _c("model", "VARCHAR", False),
        _c("colour", "VARCHAR", False),
        _c("vin", "VARCHAR", False),
    ),
    key=("person_id", "vrm"),
    references=(("person_id", "persons", "person_id"),),
)

INTEL = Table(
    "intel",
    "Intelligence reports, graded 3x5x2.",
    (
        _c("intel_id", "VARCHAR"),
        _c("report_date", "DATE"),
        _c("submitter", "VARCHAR", False),
        _c("source_evaluation", "VARCHAR", doc="1 reliable, 2 untested, 3 not reliable",
           choices=("1", "2", "3")),
        _c("intelligence_assessment", "VARCHAR", doc="A..E",
           choices=("A", "B", "C", "D", "E")),
        _c("handling_code", "VARCHAR", doc="P lawful sharing permitted; C with conditions",
           choices=("P", "C")),
        _c("gsc_marking", "VARCHAR", False, "OFFICIAL or OFFICIAL-SENSITIVE"),
        _c("text", "VARCHAR", False, "sanitised text"),
    ),
    key=("intel_id",),
)

INTEL_LINKS = Table(
    "intel_links",
    "Persons an intelligence report mentions.",
    (
        _c("intel_id", "VARCHAR"),
        _c("person_id", "VARCHAR"),
    ),
    key=("intel_id", "person_id"),
    references=(("intel_id", "intel", "intel_id"), ("person_id", "persons", "person_id")),
)

DEVICES = Table(
    "devices",
    "Seized devices and their extraction metadata.",
    (
        _c("device_id", "VARCHAR"),
        _c("exhibit_ref", "VARCHAR", False),
        _c("person_id", "VARCHAR", False, "attributed owner"),
        _c("make", "VARCHAR", False),
        _c("model", "VARCHAR", False),
        _c("imei", "VARCHAR", False),
        _c("owner_number", "VARCHAR", False, "the device's own number as written"),
        _c("tool", "VARCHAR", False, "extraction tool, e.g. Cellebrite UFED"),
        _c("tool_version", "VARCHAR", False),
        _c("extraction_type", "VARCHAR", False, "logical, file system, full file system"),
        _c("extraction_date", "TIMESTAMP", False),
        _c("timezone", "VARCHAR", False, "device time zone, e.g. Europe/London"),
        _c("region", "VARCHAR", False, "the country the device's numbers are dialled in "
           "(ISO 3166 alpha-2, e.g. GB); without it, or an own number, IMSI or ICCID to "
           "derive it from, numbers written without a country code stay raw"),
        _c("imsi", "VARCHAR", False, "the SIM's IMSI (its first digits give the country)"),
        _c("iccid", "VARCHAR", False, "the SIM's ICCID"),
    ),
    key=("device_id",),
    references=(("person_id", "persons", "person_id"),),
)

CALLS = Table(
    "calls",
    "Call log entries from a device extraction.",
    (
        _c("device_id", "VARCHAR"),
        _c("call_id", "VARCHAR"),
        _c("timestamp_utc", "TIMESTAMP"),
        _c("direction", "VARCHAR", choices=DIRECTIONS),
        _c("number", "VARCHAR", doc="the other party, as written on the handset"),
        _c("name", "VARCHAR", False, "the other party's name as saved"),
        _c("duration_s", "INTEGER", False),
        _c("app", "VARCHAR", False, "Phone, WhatsApp, ..."),
        _c("deleted", "BOOLEAN", False),
    ),
    key=("device_id", "call_id"),
    references=(("device_id", "devices", "device_id"),),
    large=True,
)

MESSAGES = Table(
    "messages",
    "Messages (SMS and instant messages) from a device extraction.",
    (
        _c("device_id", "VARCHAR"),
        _c("message_id", "VARCHAR"),
        _c("timestamp_utc", "TIMESTAMP"),
        _c("direction", "VARCHAR", choices=DIRECTIONS),
        _c("number", "VARCHAR", doc="the other party's identifier, as written"),
        _c("name", "VARCHAR", False),
        _c("app", "VARCHAR", False, "SMS, WhatsApp, Telegram, ..."),
        _c("chat_id", "VARCHAR", False),
        _c("body", "VARCHAR", False),
        _c("deleted", "BOOLEAN", False),
    ),
    key=("device_id", "message_id"),
    references=(("device_id", "devices", "device_id"),),
    large=True,
)

CONTACTS = Table(
    "contacts",
    "Address-book entries from a device extraction.",
    (
        _c("device_id", "VARCHAR"),
        _c("contact_id", "VARCHAR"),
        _c("name", "VARCHAR", False, "display name as saved"),
        _c("number", "VARCHAR", doc="identifier as saved"),
        _c("times_contacted", "INTEGER", False),
        _c("last_contacted", "TIMESTAMP", False),
        _c("source_app", "VARCHAR", False),
    ),
    key=("device_id", "contact_id"),
    references=(("device_id", "devices", "device_id"),),
)

#: In load order: a table comes after every table it references.
TABLES: tuple[Table, ...] = (
    PERSONS, CRIMES, ROLE_LINKS, IDENTIFIERS, ADDRESSES, VEHICLES, INTEL, INTEL_LINKS,
    DEVICES, CALLS, MESSAGES, CONTACTS,
)
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
FILE_ENDINGS = (".csv", ".parquet", ".json", ".jsonl")


def table_for_file(filename: str) -> Table | None:
    """The layout table a file name stands for, if any.

    ``calls.parquet`` and ``calls-2024-part1.csv`` both stand for CALLS: anything after the
    first ``-`` lets a force split a large table over several files.
    """
    for ending in FILE_ENDINGS:
        if filename.endswith(ending):
            return BY_NAME.get(filename[: -len(ending)].split("-", 1)[0])
    return None
