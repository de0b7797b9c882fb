"""The one normaliser per identifier kind.

Node ingest and tokenisation both call these, so a number written ``07700 900123`` in one
force and ``+44 (0)7700-900-123`` in another becomes the same token (DESIGN.md §6). A value
that cannot be normalised (a short code, "Voicemail", a foreign number written without its
country code) gives ``None``: it is not an error, it just never becomes a token.

Every function is idempotent: normalising a normalised value returns it unchanged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import phonenumbers
from anyascii import anyascii

__all__ = [
    "NORMALISERS",
    "normalise_date",
    "normalise_email",
    "normalise_handle",
    "normalise_imei",
    "normalise_array",
    "normalise_distinct",
    "normalise_many",
    "normalise_name",
    "normalise_phone",
    "normalise_phone_array",
    "normalise_postcode",
    "normalise_vrm",
    "register_duckdb_functions",
]

# --------------------------------------------------------------------------- phone

#: Ofcom ranges reserved for drama and test use. ``phonenumbers`` calls most of them
#: invalid, but synthetic scenarios and training data use exactly these, so they count.
_OFCOM_DRAMA_NSN_PREFIXES = (
    "7700900", "1632960", "1134960", "1144960", "1154960", "1164960", "1174960",
    "1184960", "1214960", "1314960", "1414960", "1514960", "1614960", "1914980",
    "2079460", "2896496", "2920180", "8081570", "9098790", "3069990",
)

#: Separators people and tools write inside numbers; removed before parsing.
_PHONE_SEPARATORS = str.maketrans("", "", " \t\u00a0-./()[]")
#: A GB number in any of its usual written forms, once separators are gone:
#: 07..., +447..., +4407... (from "+44 (0)7..."), 00447..., 004407...
_GB_FORM = re.compile(r"(?:\+44|0044)?0?([1-9]\d{8,9})")


@lru_cache(maxsize=1 << 20)
def _parse_e164(text: str, region: str) -> str | None:
    """The slow, exact path: phonenumbers parse + validity check (cached per text)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code == 44:
        nsn = phonenumbers.national_significant_number(number)
        if len(nsn) == 10 and nsn.startswith(_OFCOM_DRAMA_NSN_PREFIXES):
            return "+44" + nsn
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(raw: str | None, region: str = "GB") -> str | None:
    """E.164 (``+447700900123``), or None for short codes, words and invalid numbers.

    Common GB forms are folded to one national significant number before the (cached)
    phonenumbers call, so ten ways of writing one number cost one parse.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    compact = text.translate(_PHONE_SEPARATORS)
    if region == "GB" and text[0] in "0+(":
        gb = _GB_FORM.fullmatch(compact)
        # "0..." national form, or an explicit +44/0044 prefix
        if gb and (compact.startswith(("+44", "0044")) or compact[0] == "0"):
            return _parse_e164("+44" + gb.group(1), "GB")
    return _parse_e164(compact or text, region)


_Check = tuple[str, tuple[int, ...]]  # anchored pattern, possible lengths (empty = any)


def _region_checks(region: str) -> tuple[_Check, list[_Check], str | None]:
    """(general, [per type], leading digits) from phonenumbers' own metadata for one region,
    mirroring its ``_number_type_helper``."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert meta is not None

    def check(desc: Any) -> _Check:
        return f"^(?:{desc.national_number_pattern})$", tuple(desc.possible_length or ())

    types = [check(d) for d in (meta.premium_rate, meta.toll_free, meta.shared_cost,
                                meta.voip, meta.personal_number, meta.pager, meta.uan,
                                meta.voicemail, meta.fixed_line, meta.mobile)
             if d is not None and d.national_number_pattern]
    return check(meta.general_desc), types, meta.leading_digits


#: +44 is shared by GB, GG, IM and JE; phonenumbers tries them in this order.
_REGIONS_44 = tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[44])
_CHECKS_44 = {r: _region_checks(r) for r in _REGIONS_44}


def _typed(nsn: Any, region: str) -> np.ndarray:
    """Bool mask: ``_number_type_helper(nsn, region) != UNKNOWN`` (nsn non-null strings).

    Types are tried mobile-first on a shrinking set of rows, so the common case costs one
    regex pass per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    general, types, _ = _CHECKS_44[region]

    def matches(arr: Any, check: _Check) -> np.ndarray:
        pattern, lengths = check
        ok = pc.match_substring_regex(arr, pattern=pattern)
        if lengths:
            ok = pc.and_kleene(ok, pc.is_in(pc.utf8_length(arr), pa.array(lengths, pa.int32())))
        return np.asarray(pc.fill_null(ok, False), dtype=bool)

    out = np.zeros(len(nsn), dtype=bool)
    todo = np.flatnonzero(matches(nsn, general))
    for check in reversed(types):  # mobile, fixed line, then the rare kinds
        if not len(todo):
            break
        hit = matches(nsn.take(pa.array(todo)), check)
        out[todo[hit]] = True
        todo = todo[~hit]
    return out


def _valid_44(nsn: Any) -> np.ndarray:
    """Vectorised ``is_valid_number`` for +44 national significant numbers (non-null Arrow
    strings), following phonenumbers' choice of region among GB, GG, IM, JE."""
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = np.zeros(len(nsn), dtype=bool)
    undecided = np.arange(len(nsn))  # rows with no region chosen yet
    for region in _REGIONS_44:  # as phonenumbers' _region_code_for_number_from_list
        if not len(undecided):
            break
        sub = nsn.take(pa.array(undecided))
        typed = _typed(sub, region)
        leading = _CHECKS_44[region][2]
        if leading is None:
            chosen = typed
        else:
            chosen = np.asarray(pc.fill_null(pc.match_substring_regex(
                sub, pattern=f"^(?:{leading})"), False), dtype=bool)
        valid[undecided[chosen & typed]] = True
        undecided = undecided[~chosen]
    return valid


def normalise_phone_array(values: Any, region: str = "GB") -> Any:
    """``normalise_phone`` over an Arrow string array, vectorised (Arrow C++ kernels).

    The usual GB forms are folded and validated against phonenumbers' +44 metadata in bulk;
    anything else (foreign, unusual, invalid) goes through ``normalise_phone`` one by one,
    so the result always equals ``[normalise_phone(v) for v in values]``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    n = len(arr)
    if n == 0 or region != "GB":
        return pa.array([normalise_phone(v, region) for v in arr.to_pylist()], pa.string())
    text = pc.utf8_trim(arr, characters=" \t\n\r\x0b\x0c")
    compact = text
    for ch in " \t\u00a0-./()[]":  # literal replaces beat one regex replace ~2x
        compact = pc.replace_substring(compact, ch, "")
    nsn = pc.struct_field(pc.extract_regex(
        compact, pattern=r"^(?:\+44|0044)?0?(?P<nsn>[1-9][0-9]{8,9})$"), [0])
    fast = pc.and_kleene(pc.match_substring_regex(text, pattern=r"^[0+(]"),
                         pc.match_substring_regex(compact, pattern=r"^(?:\+44|0044|0)"))
    drama = pc.and_kleene(pc.equal(pc.utf8_length(nsn), 10), pc.match_substring_regex(
        nsn, pattern="^(?:" + "|".join(_OFCOM_DRAMA_NSN_PREFIXES) + ")"))
    # rows in a GB form are decided here, valid or not; the rest take the exact path
    decided = np.asarray(pc.fill_null(pc.and_kleene(fast, pc.is_valid(nsn)), False),
                         dtype=bool)
    rows = np.flatnonzero(decided)
    accept = np.asarray(pc.fill_null(drama, False), dtype=bool) & decided
    if len(rows):
        distinct = nsn.take(pa.array(rows)).dictionary_encode()  # validate each NSN once
        ok = _valid_44(distinct.dictionary)[distinct.indices.to_numpy(zero_copy_only=False)]
        accept[rows[ok]] = True
    result = pc.if_else(pa.array(accept), pc.binary_join_element_wise("+44", nsn, ""), None)
    rest = np.flatnonzero(~decided)
    if len(rest):
        slow = pa.array([normalise_phone(v) for v in arr.take(pa.array(rest)).to_pylist()],
                        pa.string())
        mask = np.zeros(n, dtype=bool)
        mask[rest] = True
        # scatter the exact results into their rows without a Python pass over all rows
        positions = np.cumsum(mask) - 1
        slow_full = slow.take(pa.array(np.where(mask, positions, 0)))
        result = pc.if_else(pa.array(mask), slow_full, result)
    return result


# --------------------------------------------------------------------------- email

_EMAIL = re.compile(r"[^@\s<>(),;:\"\[\]]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)+")


def normalise_email(raw: str | None) -> str | None:
    """Trimmed and lower-cased; ``mailto:`` and ``<...>`` wrappers removed; None if not an email."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip().lower()
    if text.startswith("mailto:"):
        text = text[7:]
    text = text.strip().strip("<>").strip().rstrip(".")
    return text if _EMAIL.fullmatch(text) else None


# --------------------------------------------------------------------------- handle

#: Short and alternative platform names seen in records, mapped to one name.
_PLATFORM_ALIASES = {
    "ig": "instagram", "insta": "instagram",
    "snap": "snapchat", "sc": "snapchat",
    "fb": "facebook", "messenger": "facebook", "facebook messenger": "facebook",
    "wa": "whatsapp", "whats app": "whatsapp",
    "twitter": "x", "x.com": "x",
    "tg": "telegram",
    "tt": "tiktok", "tik tok": "tiktok",
}
_HANDLE_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?[a-z0-9.-]+\.[a-z]{2,}/+(?:add/+)?@?([^/?#]+)")


def normalise_handle(platform: str | None, handle: str | None) -> str | None:
    """``platform:handle`` lower-cased (``instagram:some.user``); None if either is missing.

    A handle with no platform is not linkable (``jay`` on Snapchat is not ``jay`` on
    Instagram), so it gives None rather than a token that would match the wrong person.
    """
    if platform is None or handle is None:
        return None
    plat = " ".join(unicodedata.normalize("NFKC", str(platform)).casefold().split())
    plat = _PLATFORM_ALIASES.get(plat, plat)
    text = unicodedata.normalize("NFKC", str(handle)).strip().casefold()
    if text.startswith(plat + ":"):  # already normalised
        text = text[len(plat) + 1:]
    url = _HANDLE_URL.match(text)
    if url:
        text = url.group(1)
    text = text.lstrip("@").strip()
    if not plat or not text or any(c.isspace() for c in text) or ":" in plat:
        return None
    return f"{plat}:{text}"


# --------------------------------------------------------------------------- vehicle

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def normalise_vrm(raw: str | None) -> str | None:
    """Upper case, no spaces or punctuation (``AB12CDE``); None if not 2–8 letters/digits."""
    if raw is None:
        return None
    text = _NOT_ALNUM.sub("", anyascii(str(raw)).upper())
    return text if 2 <= len(text) <= 8 else None


# --------------------------------------------------------------------------- IMEI

def _luhn_check_digit(digits14: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits14)):
        d = int(ch)
        if i % 2 == 0:  # rightmost payload digit is doubled
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def normalise_imei(raw: str | None) -> str | None:
    """15 digits with a valid Luhn check digit; 14 digits get it computed; an IMEISV (16)
    is reduced to its IMEI. None if the check digit is wrong or the length is not 14–16."""
    if raw is None:
        return None
    text = re.sub(r"[\s\-/.]", "", str(raw))
    if not text.isdigit() or not text.isascii():
        return None
    if len(text) == 14:
        return text + _luhn_check_digit(text)
    if len(text) == 15:
        return text if _luhn_check_digit(text[:14]) == text[14] else None
    if len(text) == 16:  # IMEISV: 14 digits + 2-digit software version, no check digit
        return text[:14] + _luhn_check_digit(text[:14])
    return None


# --------------------------------------------------------------------------- postcode

_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?|GIR)([0-9][A-Z]{2})")


def normalise_postcode(raw: str | None) -> str | None:
    """Canonical UK postcode, upper case with one space (``SW1A 1AA``); None if not one."""
    if raw is None:
        return None
    text = re.sub(r"[^0-9A-Z]", "", str(raw).upper())
    m = _POSTCODE.fullmatch(text)
    return f"{m.group(1)} {m.group(2)}" if m else None


# --------------------------------------------------------------------------- names

_TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "master", "dr", "doctor", "prof", "professor", "sir",
    "dame", "lord", "lady", "rev", "revd", "reverend", "fr", "father", "sr", "jr", "snr",
    "jnr", "hon", "capt", "sgt", "haji", "hajji", "esq", "rt", "honourable", "mstr", "mister",
    "ii", "iii", "iv",
})
#: What records write for a name nobody knows, as normalised: never a name, so never a
#: token (two "UNK UNK" persons must not share a name key). ``N/K`` becomes ``n k``.
_NAME_SENTINELS = frozenset({
    "ns", "n s", "unk", "unkn", "unknown", "nk", "n k", "notknown", "not known", "not stated",
    "notstated", "none", "null", "nil", "na", "n a", "x", "xx", "xxx", "fnu", "lnu", "nfn",
    "nln", "tbc", "tba", "no name", "noname", "unknown unknown", "unk unk",
})
_APOSTROPHES = re.compile(r"['`\u2019\u2018\u02bc]")
_NOT_LETTER = re.compile(r"[^a-z]+")


def normalise_name(raw: str | None) -> str | None:
    """NFKC, transliterated to Latin, case-folded, titles and punctuation removed, parts
    kept in order: ``"Dr. Mohammed  ALI"`` → ``"mohammed ali"``; ``O'Brien`` → ``obrien``.
    A placeholder for an unknown name (``NS``, ``UNK``, ``N/K``, ``Not stated``, ``-``) is
    None, like an empty one."""
    if raw is None:
        return None
    text = anyascii(unicodedata.normalize("NFKC", str(raw))).casefold()
    text = _APOSTROPHES.sub("", text)
    parts = [p for p in _NOT_LETTER.sub(" ", text).split() if p not in _TITLES]
    name = " ".join(parts)
    return name if name and name not in _NAME_SENTINELS else None


# --------------------------------------------------------------------------- dates

#: Accepted written forms, day before month (UK order) where ambiguous.
_DATE_FORMATS = (
    "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y%m%d", "%Y/%m/%d",
    "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y", "%d/%m/%y",
)


def normalise_date(raw: Any) -> dt.date | None:
    """A ``datetime.date`` from ISO, UK day-first forms or a date/datetime; None otherwise."""
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = " ".join(str(raw).replace(",", " ").split())
    if "T" in text[8:11] or (len(text) > 10 and text[4:5] == "-"):
        text = text[:10]  # ISO timestamp: keep the date part
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------- bulk

NORMALISERS: dict[str, Callable[[str | None], str | None]] = {
    "phone": normalise_phone,
    "email": normalise_email,
    "vrm": normalise_vrm,
    "imei": normalise_imei,
    "postcode": normalise_postcode,
    "name": normalise_name,
}


def normalise_many(kind: str, values: Sequence[str | None]) -> list[str | None]:
    """Normalise a column, each DISTINCT value once.

    Extractions repeat the same few numbers millions of times, so the cost follows the
    number of distinct values, not rows. ``kind`` is a key of NORMALISERS.
    """
    fn = _normaliser(kind)
    if len(values) >= _ARROW_THRESHOLD:
        return normalise_array(kind, values).to_pylist()
    seen: dict[str | None, str | None] = {}
    out: list[str | None] = []
    append = out.append
    for v in values:
        try:
            append(seen[v])
        except KeyError:
            seen[v] = r = fn(v)
            append(r)
    return out


def normalise_distinct(kind: str, distinct: Any, threads: int | None = None) -> Any:
    """Normalise an Arrow string array of (already distinct) values; phones vectorised,
    on ``threads`` threads (default: every core)."""
    import pyarrow as pa

    workers = threads or os.cpu_count() or 1
    if kind == "phone":
        if workers == 1 or len(distinct) < 2 * _PARALLEL_CHUNK:
            return normalise_phone_array(distinct)
        # Arrow kernels release the GIL: chunks on threads use every core
        from concurrent.futures import ThreadPoolExecutor

        chunks = [distinct.slice(i, _PARALLEL_CHUNK)
                  for i in range(0, len(distinct), _PARALLEL_CHUNK)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(normalise_phone_array, chunks))
        return pa.concat_arrays(parts)
    fn = _normaliser(kind)
    return pa.array([fn(v) for v in distinct.to_pylist()], pa.string())


def normalise_array(kind: str, values: Any) -> Any:
    """``normalise_many`` for Arrow: a string array in, a string array (nulls where not
    normalisable) out, each distinct value normalised once."""
    import pyarrow as pa

    _normaliser(kind)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    arr = values if isinstance(values, pa.Array) else pa.array(
        values if isinstance(values, list) else list(values), pa.string())
    encoded = arr.dictionary_encode()
    return normalise_distinct(kind, encoded.dictionary).take(encoded.indices)


#: Rows per thread when normalising a large column of phone numbers.
_PARALLEL_CHUNK = 50_000
#: From this many values the Arrow path (dictionary encode + vectorised) is the faster one.
_ARROW_THRESHOLD = 50_000


def _normaliser(kind: str) -> Callable[[str | None], str | None]:
    try:
        return NORMALISERS[kind]
    except KeyError:
        raise ValueError(f"no normaliser for kind {kind!r}; "
                         f"known kinds: {', '.join(sorted(NORMALISERS))}") from None


def register_duckdb_functions(con: Any) -> None:
    """Make ``normalise_<kind>(VARCHAR) -> VARCHAR`` callable from DuckDB SQL.

    Arrow-vectorised UDFs over normalise_many, so SQL ingest can write
    ``SELECT normalise_phone(value) FROM read_csv(...)`` without a per-row Python chain.
    Idempotent per connection.
    """
    import pyarrow as pa

    def _udf(kind: str) -> Callable[[Any], Any]:
        def fn(col):  # type: ignore[no-untyped-def]  # DuckDB reads real annotations
            return pa.array(normalise_many(kind, col.to_pylist()), type=pa.string())
        return fn

    for kind in NORMALISERS:
        name = f"normalise_{kind}"
        with contextlib.suppress(Exception):  # not registered yet
            con.remove_function(name)
        con.create_function(name, _udf(kind), ["VARCHAR"], "VARCHAR", type="arrow",
                            null_handling="special", side_effects=False)
