"""Load input files into the node store: all-or-nothing per file, idempotent, logged.

Each file is one DuckDB transaction holding its rows, its ``source_files`` record and its
ledger entry (collection, or alteration when it replaces an earlier version), so a crash
mid-load leaves the store as it was before that file. A file is known by its SHA-256: the
same content twice adds nothing; new content at a known path replaces that path's rows.

A data-quality problem in one field is not a bad file: an impossible or imprecise date of
birth, or a name written as "not stated", keeps its record and its raw value, is flagged,
and is counted in the report (``FileReport.flags``).
"""

from __future__ import annotations

import difflib
import getpass
import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from federation.errors import CrossforceError
from federation.keys import NodeKeys
from federation.layout import BY_NAME, FILE_ENDINGS, TABLES, Table, table_for_file
from federation.ledger import Ledger
from node.extraction import ENDINGS as EXTRACTION_ENDINGS
from node.extraction import LAYOUTS as EXTRACTION_LAYOUTS
from node.extraction import bounded_memory, read_extraction
from node.extraction import layout_of as extraction_layout_of
from node.extraction import load as extraction
from node.extraction.rows import LAYOUT_TABLES as EXTRACTION_TABLES
from node.extraction.scratch import Scratch
from node.language.settings import LanguageSettings, language_settings
from node.migrations import DATA_TABLES
from node.normalise_columns import (
    data_quality,
    insert_normalised,
    parse_dob,
    start_normalising,
)
from node.party_columns import PARTY_COLUMNS, number_flags
from node.sources import Problem, Staged, stage_csv, stage_json, stage_parquet, stage_relation
from node.store import NodeConfig
from node.validate import (
    code_list_flags,
    dangling_after_replace,
    duplicate_problems,
    reference_problems,
    row_problems,
)

#: how many problems an error message names before "and N more"
SHOWN = 10
STAGES = ("hash", "read", "check", "write", "commit")

Step = Callable[[str], None]


@dataclass
class FileReport:
    """What happened to one file: shown to the user and returned as JSON."""

    path: str
    layout: str
    status: str  # loaded | replaced | unchanged | rejected | skipped
    rows: dict[str, int] = field(default_factory=dict)
    unnormalised: int = 0
    quarantined: int = 0
    message: str = ""
    errors: list[str] = field(default_factory=list)
    #: data-quality flags on kept records, per field and reason:
    #: ``{"dob": {"year_only": 12, "impossible": 3}, "family_name": {"not_stated": 1}}``
    flags: dict[str, dict[str, int]] = field(default_factory=dict)

    def line(self) -> str:
        name = Path(self.path).name
        if self.status in ("loaded", "replaced"):
            total = sum(self.rows.values())
            parts = ", ".join(f"{n} {t}" for t, n in self.rows.items())
            text = f"{name}: {self.status} {total} rows ({parts})"
            if self.status == "replaced":
                text += "; the previous version's rows were replaced"
            other = self.unnormalised - sum(self.flags.get("number", {}).values())
            if other > 0:
                text += f"; {other} identifiers kept raw (not normalisable)"
            if self.quarantined:
                text += f"; {self.quarantined} bad rows quarantined"
            dob = sum(self.flags.get("dob", {}).values())
            if dob:
                text += f"; {dob} dates of birth imprecise or invalid (kept raw)"
            names = sum(n for f in ("given_names", "family_name")
                        for n in self.flags.get(f, {}).values())
            if names:
                text += f"; {names} names not stated"
            text += _device_flags(self.flags)
            text += _language_flags(self.flags.get("language", {}))
            codes = sum(self.flags.get(f, {}).get("not_on_code_list", 0)
                        for f in ("nationality", "ethnicity_self", "ethnicity_officer"))
            if codes:
                text += (f"; {codes} nationality or ethnicity values off their code list "
                         "(kept as written, shared as 'other')")
            return text
        return f"{name}: {self.status}" + (f" — {self.message}" if self.message else "")


def device_id_of(path: Path) -> str:
    """An extraction's device id: its file name without the ending."""
    return path.name.rsplit(".", 1)[0]


def _needs_region(con: duckdb.DuckDBPyConnection, layout: str, path: Path, loaded_from: str,
                  region: str | None) -> bool:
    """An extraction loaded before without a country, loaded again from the same path with
    ``--region``: it is read again (its numbers can now be read)."""
    if not region or layout not in EXTRACTION_LAYOUTS.values() or loaded_from != str(path):
        return False
    found = con.execute("SELECT region FROM devices WHERE device_id = ?",
                        [device_id_of(path)]).fetchall()
    return bool(found) and found[0][0] is None


def check_region(region: str | None) -> str | None:
    """``--region`` as an ISO 3166 alpha-2 code phone numbers know (GB, US, NL, ...)."""
    if region is None:
        return None
    import phonenumbers

    code = region.strip().upper()
    if not phonenumbers.country_code_for_region(code):
        raise CrossforceError(f"--region {region!r}: not a country code phone numbers use; "
                              "write ISO 3166 alpha-2, e.g. GB, US, NL")
    return code


def _device_flags(flags: dict[str, dict[str, int]]) -> str:
    """The load report's words for what a device file kept raw, and why."""
    parts = []
    words = {"no_region": "no country code and the device's country unknown",
             "not_a_number": "not a number", "invalid": "not a valid number",
             "device_zone": "read in the device's time zone",
             "assumed_utc": "no offset and no device time zone: taken as UTC",
             "ambiguous_day_month": "day and month ambiguous", "unparsed": "unreadable",
             "out_of_range": "year out of range"}
    numbers = flags.get("number", {})
    if numbers:
        parts.append(f"{sum(numbers.values())} numbers kept raw (" + ", ".join(
            f"{n} {words.get(k, k)}" for k, n in sorted(numbers.items())) + ")")
    times = flags.get("time", {})
    if times:
        parts.append(f"{sum(times.values())} times without a written offset or unreadable ("
                     + ", ".join(f"{n} {words.get(k, k)}" for k, n in sorted(times.items()))
                     + ")")
    if flags.get("region", {}).get("unknown"):
        parts.append(f"{flags['region']['unknown']} device(s) of unknown country: numbers "
                     "without a country code kept raw")
    header = flags.get("extraction_date", {})
    if header:
        parts.append("header kept raw: " + ", ".join(
            f"extraction_date {words.get(k, k)}" for k in sorted(header)))
    return "".join(f"; {p}" for p in parts)


def _language_flags(languages: dict[str, int]) -> str:
    """The load report's words for the languages its messages were found in."""
    if not languages:
        return ""
    ranked = sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{n} {'undetermined' if k == 'und' else k}" for k, n in ranked[:6]]
    more = f" and {len(ranked) - 6} more" if len(ranked) > 6 else ""
    return "; message languages: " + ", ".join(shown) + more


class Rejected(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def layout_of(path: Path) -> str | None:
    """The layout table name, 'ufdr' or 'axiom' (extractions), or None for a file in no
    known layout."""
    if found := extraction_layout_of(path):
        return found
    table = table_for_file(path.name)
    return table.name if table else None


def discover(paths: Sequence[Path]) -> list[Path]:
    """Files to load, in load order: layout tables first to last, then extractions (UFDR, AXIOM).

    A folder means its own files (not sub-folders, so a scenario's truth/ or another
    force's folder is never swept in); files with other endings (notes, READMEs) are skipped.
    """
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise CrossforceError(f"{p}: no such file or folder")
        if p.is_dir():
            files.extend(f for f in sorted(p.iterdir()) if f.is_file()
                         and not f.name.startswith(".")
                         and f.name.lower().endswith((*FILE_ENDINGS, *EXTRACTION_ENDINGS)))
        else:
            files.append(p)
    order = {t.name: i for i, t in enumerate(TABLES)} | dict.fromkeys(
        EXTRACTION_LAYOUTS.values(), len(TABLES))
    unique = list(dict.fromkeys(f.resolve() for f in files))
    return sorted(unique, key=lambda f: (order.get(layout_of(f) or "", -1), str(f)))


def ingest(con: duckdb.DuckDBPyConnection, config: NodeConfig, paths: Sequence[Path], *,
           quarantine: bool = False, progress: Callable[[Path], Step] | None = None,
           region: str | None = None) -> list[FileReport]:
    """Load every file under ``paths``; one report per file, rejected files included.
    ``region``: the country of the extractions' devices when a report does not say it."""
    region = check_region(region)
    keys = NodeKeys.load(config.keys_dir)
    ledger = Ledger(con, keys.signer, config.force)
    languages = language_settings(config.dir)  # a bad [language] table: before any file
    reports = []
    for path in discover(paths):
        step = progress(path) if progress else (lambda _s: None)
        reports.append(_load_file(con, ledger, config, path, quarantine, step, languages,
                                  region))
    return reports


def _actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown-user"


def _load_file(con: duckdb.DuckDBPyConnection, ledger: Ledger, config: NodeConfig,
               path: Path, quarantine: bool, step: Step,
               languages: LanguageSettings, region: str | None = None) -> FileReport:
    layout = layout_of(path)
    if layout is None:
        known = ", ".join(t.name for t in TABLES)
        stem = path.name.split(".", 1)[0].split("-", 1)[0]
        close = difflib.get_close_matches(stem, [t.name for t in TABLES], n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}{path.suffix}'?)" if close else ""
        return FileReport(str(path), "?", "rejected", message=(
            f"unknown layout: the file name must be one of {known} (or a .ufdr or AXIOM "
            ".xml extraction)"
            f"{hint}"), errors=[f"{path}: unknown layout{hint}"])
    step("hash")
    old = con.execute("SELECT file_id, sha256 FROM source_files WHERE path = ?",
                      [str(path)]).fetchone()
    with ThreadPoolExecutor(1) as hasher:
        pending = hasher.submit(sha256_file, path)
        if old or layout in EXTRACTION_LAYOUTS.values():
            # a path loaded before is most likely unchanged: know before reading it
            digest = pending.result()
            if unchanged := _unchanged(con, layout, path, digest, region):
                return unchanged
        else:  # a first load: hash while the file is read (only a copy under another
            digest = None  # path is "unchanged", found once the hash is known)
        return _load_new(con, ledger, config, path, layout, old, digest, pending,
                         quarantine, step, languages, region)


def _unchanged(con: duckdb.DuckDBPyConnection, layout: str, path: Path, digest: str,
               region: str | None) -> FileReport | None:
    """The report for content already loaded (from this path or another), else None."""
    same = con.execute("SELECT path, loaded_at FROM source_files WHERE sha256 = ?",
                       [digest]).fetchone()
    if not same or _needs_region(con, layout, path, same[0], region):
        return None
    where = "" if same[0] == str(path) else f" from {same[0]}"
    return FileReport(str(path), layout, "unchanged",
                      message=f"already loaded{where} at {same[1]:%Y-%m-%d %H:%M:%S}; "
                              f"nothing added")


def _load_new(con: duckdb.DuckDBPyConnection, ledger: Ledger, config: NodeConfig,
              path: Path, layout: str, old: tuple | None, digest: str | None,
              pending: Future[str], quarantine: bool, step: Step,
              languages: LanguageSettings, region: str | None) -> FileReport:
    """Load one file in one transaction. ``digest`` None: the hash is still being
    computed (``pending``), and content found already loaded rolls the load back."""
    con.execute("BEGIN TRANSACTION")
    try:
        file_id = int(con.execute("SELECT nextval('source_file_ids')").fetchone()[0])  # type: ignore[index]
        if old:
            _forget(con, int(old[0]))
        flags: dict[str, dict[str, int]] = {}
        if layout in EXTRACTION_LAYOUTS.values():
            rows, unnorm, quarantined = _load_extraction(con, path, file_id, quarantine,
                                                         step, flags, region, languages)
        else:
            rows, unnorm, quarantined = _load_table(con, path, BY_NAME[layout], file_id,
                                                    quarantine, old is not None, step, flags)
        if layout == "messages" or layout in EXTRACTION_LAYOUTS.values():
            _flag(flags, "language", extraction.finish_languages(con, file_id, languages))
        if digest is None:
            digest = pending.result()
            if unchanged := _unchanged(con, layout, path, digest, region):
                con.execute("ROLLBACK")
                return unchanged
        step("commit")
        _drop_staging(con)
        fmt = layout if layout in EXTRACTION_LAYOUTS.values() else \
            path.suffix.lstrip(".").lower()
        con.execute("INSERT INTO source_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                    "now()::TIMESTAMP, ?)",
                    [file_id, str(path), digest, layout, fmt, sum(rows.values()), unnorm,
                     quarantined, old[1] if old else None])
        action = "alteration" if old else "collection"
        what = "replaced a changed" if old else "loaded a"
        ledger.append(action, actor=_actor(), purpose="ingest",
                      justification=f"node ingest {what} {layout} file",
                      counts={**rows, "unnormalised": unnorm, "quarantined": quarantined},
                      payload_hash=digest, force=config.force)
        con.execute("COMMIT")
    except Rejected as exc:
        con.execute("ROLLBACK")
        return _copy_of_loaded(con, layout, path, digest, pending, region) or \
            _rejected(path, layout, exc.problems)
    except CrossforceError as exc:
        con.execute("ROLLBACK")
        return _copy_of_loaded(con, layout, path, digest, pending, region) or \
            FileReport(str(path), layout, "rejected", message=str(exc), errors=[str(exc)])
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return FileReport(str(path), layout, "replaced" if old else "loaded", rows, unnorm,
                      quarantined, flags=flags)


def _copy_of_loaded(con: duckdb.DuckDBPyConnection, layout: str, path: Path,
                    digest: str | None, pending: Future[str],
                    region: str | None) -> FileReport | None:
    """A first load refused while its hash was still being computed: "unchanged" when the
    same content was loaded before from another path (as if hashed first), else None."""
    return None if digest is not None else \
        _unchanged(con, layout, path, pending.result(), region)


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Free the staged copy now rather than when the connection closes."""
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary"
                               ).fetchall():
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def _rejected(path: Path, layout: str, problems: list[Problem]) -> FileReport:
    errors = [p.describe(str(path)) for p in problems]
    shown = errors[:SHOWN] + ([f"... and {len(errors) - SHOWN} more"]
                              if len(errors) > SHOWN else [])
    return FileReport(str(path), layout, "rejected",
                      message=f"{len(errors)} problem(s), nothing loaded from this file",
                      errors=shown)


def _forget(con: duckdb.DuckDBPyConnection, file_id: int) -> None:
    """Remove a file's earlier version (inside the caller's transaction)."""
    for t in DATA_TABLES:
        con.execute(f"DELETE FROM {t} WHERE source_file = ?", [file_id])
    con.execute("DELETE FROM quarantine WHERE file_id = ?", [file_id])
    con.execute("DELETE FROM source_files WHERE file_id = ?", [file_id])


def _stage(con: duckdb.DuckDBPyConnection, path: Path, table: Table) -> Staged:
    name = f"stg_{table.name}"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return stage_csv(con, path, table, name)
    if suffix == ".parquet":
        return stage_parquet(con, path, table, name)
    return stage_json(con, path, table, name)


def _load_table(con: duckdb.DuckDBPyConnection, path: Path, table: Table, file_id: int,
                quarantine: bool, replacing: bool, step: Step,
                flags: dict[str, dict[str, int]]) -> tuple[dict[str, int], int, int]:
    """Stage, check and insert one layout file; ``flags`` receives its data-quality counts."""
    step("read")
    staged = _stage(con, path, table)
    step("check")
    with ThreadPoolExecutor(1) as pool:
        pending = (start_normalising(con, table.name, staged.name, staged.present, pool)
                   if not _header_problems(staged) else [])
        quarantined = _check(con, staged, path, file_id, quarantine)
        step("write")
        present = staged.present
        if table.name == "persons":  # never refused for these: flagged and counted
            present = parse_dob(con, staged.name, present)
            flags.update(data_quality(con, staged.name, present))
            flags.update(code_list_flags(con, staged.name, present))
        parties = table.name in PARTY_COLUMNS
        rows, unnorm = insert_normalised(con, table.name, staged.name, present,
                                         file_id, pending, parties=parties)
        if table.name == "devices":
            _flag(flags, "region", extraction.finish_devices(con, file_id))
        elif parties:  # kinds and forms written by the INSERT; count why numbers stayed raw
            counts = number_flags(con, table.name, file_id)
            _flag(flags, "number", counts)
            unnorm += sum(counts.values())
    if replacing:
        _check_dependants(con, [table])
    return {table.name: rows}, unnorm, quarantined


def _check(con: duckdb.DuckDBPyConnection, staged: Staged, path: Path, file_id: int,
           quarantine: bool) -> int:
    """Validate; reject, or quarantine the bad rows. Returns rows quarantined."""
    file_level = _header_problems(staged)
    if file_level:
        raise Rejected(file_level)
    problems = [*staged.problems, *row_problems(con, staged),
                *duplicate_problems(con, staged, None),
                *reference_problems(con, staged)]
    if not problems:
        return 0
    if not quarantine:
        raise Rejected(problems)
    ids = sorted({p.rowid for p in problems if p.rowid is not None})
    raw = staged.raw_rows(ids)
    con.executemany(
        "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[file_id, str(path), staged.table.name, p.location, p.field, p.reason,
          p.raw if p.raw is not None else raw.get(p.rowid) if p.rowid is not None else None]
         for p in problems])
    if ids:
        con.execute(f"DELETE FROM {staged.name} WHERE rowid IN (SELECT unnest(?::BIGINT[]))",
                    [ids])
    return staged.dropped + len(ids)


def _header_problems(staged: Staged) -> list[Problem]:
    return [p for p in staged.problems if p.location == "header"]


def _check_dependants(con: duckdb.DuckDBPyConnection, tables: Iterable[Table]) -> None:
    for table in tables:
        referrers = [(t.name, col, tcol) for t in TABLES
                     for col, target, tcol in t.references if target == table.name]
        problems = dangling_after_replace(con, table, referrers)
        if problems:
            raise Rejected(problems)


def _load_extraction(con: duckdb.DuckDBPyConnection, path: Path, file_id: int,
                     quarantine: bool, step: Step, flags: dict[str, dict[str, int]],
                     region: str | None = None, languages: LanguageSettings | None = None
                     ) -> tuple[dict[str, int], int, int]:
    """An extraction, loaded with DuckDB's memory capped (``bounded_memory``), read first
    into a scratch file beside the store (``Scratch``), removed whatever happens."""
    scratch = Scratch(con)
    try:
        with bounded_memory(con):
            return _extraction_rows(con, scratch, path, file_id, quarantine, step, flags,
                                    region, languages or LanguageSettings())
    finally:
        scratch.remove()


def _extraction_rows(con: duckdb.DuckDBPyConnection, scratch: Scratch, path: Path,
                     file_id: int, quarantine: bool, step: Step,
                     flags: dict[str, dict[str, int]], region: str | None = None,
                     languages: LanguageSettings | None = None
                     ) -> tuple[dict[str, int], int, int]:
    """An extraction: stream it into ``scratch``, finish its times, chats and message
    languages there, then
    stage and check the layout tables as any file, and insert the tables only extractions
    fill. ``region`` (given by the analyst) applies when the report itself says no country."""
    device_id = device_id_of(path)
    # A device already described by a devices file keeps that row (owner attribution), and
    # its zone; the extraction's region fills a region that row left unknown.
    known = con.execute("SELECT timezone, region FROM devices WHERE device_id = ?",
                        [device_id]).fetchall()
    step("read")
    with scratch.writing() as sc:
        device = read_extraction(sc, path, device_id, temp=False)
        if region and not device.get("region"):
            device["region"], device["region_source"] = region, "given at ingest (--region)"
            sc.execute("UPDATE x_devices SET region = ?, region_source = ?",
                       [region, device["region_source"]])
        extraction.finish_times(sc, (known[0][0] if known else None) or device.get("timezone"))
        extraction.link_chats(sc)
        extraction.detect_languages(sc, languages or LanguageSettings())
        if known:
            sc.execute("DELETE FROM x_devices")
    scratch.attach(con)
    if known and not known[0][1] and device.get("region"):
        con.execute("UPDATE devices SET region = ?, region_source = ? WHERE device_id = ?",
                    [device["region"], device.get("region_source"), device_id])
    rows: dict[str, int] = {}
    unnorm = quarantined = 0
    for name in EXTRACTION_TABLES:
        table = BY_NAME[name]
        step("check")
        staged = stage_relation(con, path, table, f"stg_{name}", extraction.layout_source(name),
                                "element", extra=extraction.stored_extra(name))
        quarantined += _check(con, staged, path, file_id, quarantine)
        step("write")
        n, u = insert_normalised(con, name, staged.name, staged.present, file_id)
        for t in (staged.name, f"{staged.name}_raw"):  # stored now: free before the next
            con.execute(f'DROP TABLE IF EXISTS temp."{t}"')
        rows[name], unnorm = n, unnorm + u
        if name == "devices":
            _flag(flags, "region", extraction.finish_devices(con, file_id))
    rows.update(extraction.insert_own(con, file_id))
    unnorm += _finish_device_tables(con, file_id, flags)
    _flag(flags, "language", extraction.language_counts(con, file_id))
    header = device.get("metadata_flags")
    if header and not known:
        import json

        for fld, flag in json.loads(header).items():
            _flag(flags, fld, {flag: 1})
    return {k: v for k, v in rows.items() if v or k in EXTRACTION_TABLES}, unnorm, quarantined


def _finish_device_tables(con: duckdb.DuckDBPyConnection, file_id: int,
                          flags: dict[str, dict[str, int]]) -> int:
    """Parties and time flags of one file's device rows, counted into ``flags``; returns
    the numbers kept raw."""
    kept_raw = 0
    for t in ("calls", "messages", "contacts", "event_parties", "device_accounts"):
        counts = extraction.finish_parties(con, t, file_id)
        _flag(flags, "number", counts)
        kept_raw += sum(counts.values())
    for t in ("calls", "messages", "device_locations"):
        _flag(flags, "time", extraction.time_flags(con, t, file_id))
    return kept_raw


def _flag(flags: dict[str, dict[str, int]], field: str, counts: dict[str, int]) -> None:
    for k, n in counts.items():
        if n:
            flags.setdefault(field, {})
            flags[field][k] = flags[field].get(k, 0) + n
