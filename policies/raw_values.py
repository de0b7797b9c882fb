"""Spotting raw personal data where only codes and keyed tokens belong.

Every string that leaves a node should be a code from a small vocabulary (a role, a kind,
an offence category, an aggregate dimension value). So the gate treats any string that
*looks like* a raw value as a leak: a phone number or IMEI, an email address, a postcode, a
vehicle registration, a date, a hex digest (an unkeyed hash of a raw value is as good as the
value), free text of two or more words, or a personal name (the first and family names
Faker knows for the locales common in England and Wales).

Checks run on the *distinct* values of a column with Arrow's vectorised regex kernels, so a
column of millions of rows costs as much as its vocabulary. Binary tokens get a separate
check: a keyed token is 16 uniformly random bytes, so a run of ASCII digits or a block of
zero bytes means someone put a raw or padded value where a token belongs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from anyascii import anyascii

from federation import layout
from policies import model

#: (why, RE2 pattern) — matched case-insensitively anywhere in the value
PATTERNS: tuple[tuple[str, str], ...] = (
    ("looks like an email address", r"[^\s@]+@[^\s@]+\.[a-z]{2,}"),
    ("looks like a hex digest (an unkeyed hash of a raw value)", r"\b[0-9a-f]{32,}\b"),
    ("looks like a phone number or IMEI (9 or more digits)", r"\+?[0-9](?:[ ().-]*[0-9]){8,}"),
    ("looks like a postcode", r"\b[a-z]{1,2}[0-9][a-z0-9]? ?[0-9][a-z]{2}\b"),
    ("looks like a vehicle registration",
     r"\b(?:[a-z]{2}[0-9]{2} ?[a-z]{3}|[a-z][0-9]{1,3} ?[a-z]{3}|[a-z]{3} ?[0-9]{1,3}[a-z])\b"),
    ("looks like a date (e.g. a date of birth)",
     r"\b(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{2,4})\b"),
    ("looks like free text or a full name (two or more words)",
     r"\p{L}{2,}[\s,]+\p{L}{2,}"),
)
#: a code is short; anything longer is free text whatever it contains
MAX_CODE_LENGTH = 64

_NAME_LOCALES = ("en_GB", "en_US", "en_IE", "en_IN", "en_PK", "en_NG", "ar_AA", "bn_BD",
                 "fa_IR", "hi_IN", "pl_PL", "ro_RO", "lt_LT", "sk_SK", "cs_CZ", "tr_TR")
#: surnames that are also words the system's own vocabularies use
_NOT_NAMES = frozenset({"white", "black", "asian", "mixed", "rom", "other"})


@dataclass(frozen=True)
class RawValue:
    """One distinct raw-looking value: the value, why it looks raw, and how many rows hold it."""

    value: str
    why: str
    rows: int

    @property
    def masked(self) -> str:
        """The value with its middle hidden, safe to print in an error or a log."""
        v = self.value
        return "*" * len(v) if len(v) <= 4 else f"{v[:2]}{'*' * (len(v) - 4)}{v[-2:]}"


@lru_cache(maxsize=1)
def known_names() -> frozenset[str]:
    """Casefolded, transliterated first and family names from Faker's locale data."""
    vocab = {w.casefold() for group in (
        model.ROLES_ALL, model.IDENTIFIER_KINDS, model.LINK_KINDS, model.CRIME_CATEGORIES,
        model.ITEM_ATTRIBUTES, model.AGGREGATE_DIMENSIONS,
        # closed code lists: "USA", "BEN", "GUY" are nationality codes, not names
        layout.NATIONALITY_CODES, layout.ETHNICITY_SELF_CODES,
        layout.ETHNICITY_OFFICER_CODES) for w in group}
    names: set[str] = set()
    for locale in _NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ImportError:  # pragma: no cover - a locale dropped by a Faker release
            continue
        for attr in ("first_names", "first_names_male", "first_names_female", "last_names"):
            found = getattr(provider, attr, None) or ()
            for name in found.keys() if isinstance(found, dict) else found:
                folded = anyascii(name).casefold().strip()
                if len(folded) >= 3 and folded.isalpha():
                    names.add(folded)
    return frozenset(names - _NOT_NAMES - vocab)


@lru_cache(maxsize=1)
def _name_array() -> pa.Array:
    return pa.array(sorted(known_names()), pa.string())


def find_raw_values(values: pa.Array | pa.ChunkedArray) -> list[RawValue]:
    """Distinct values of a string column that look like raw personal data (empty if none)."""
    values = pc.drop_null(values)
    if len(values) == 0:
        return []
    counted = pc.value_counts(values)
    distinct = counted.field("values").cast(pa.string())
    rows = counted.field("counts").to_numpy()
    why = np.full(len(distinct), None, dtype=object)

    def mark(mask: pa.Array, reason: str) -> None:
        hit = np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        why[hit & (why == None)] = reason  # noqa: E711 - numpy elementwise comparison

    for reason, pattern in PATTERNS:
        mark(pc.match_substring_regex(distinct, pattern, ignore_case=True), reason)
    mark(pc.greater(pc.utf8_length(distinct), MAX_CODE_LENGTH), "looks like free text "
         f"(longer than {MAX_CODE_LENGTH} characters)")
    folded = pc.utf8_lower(pc.utf8_trim_whitespace(distinct))
    mark(pc.is_in(folded, value_set=_name_array()), "looks like a personal name")
    return [RawValue(str(distinct[i].as_py()), str(why[i]), int(rows[i]))
            for i in np.flatnonzero(why != None)]  # noqa: E711


def suspicious_tokens(tokens: np.ndarray) -> np.ndarray:
    """Row mask of 16-byte tokens that cannot be keyed-PRF output.

    A uniformly random token has a run of 9 ASCII digits with probability ~2e-12 and six or
    more zero bytes with probability ~3e-11, so at national volume (1e7 tokens) a false
    alarm is practically impossible while a phone number stuffed into a token is caught.
    """
    if tokens.size == 0:
        return np.zeros(len(tokens), dtype=bool)
    digit = (tokens >= ord("0")) & (tokens <= ord("9"))
    run = 9
    width = tokens.shape[1] - run + 1
    digit_run = digit[:, :width].copy()
    for shift in range(1, run):  # 8 vectorised ANDs: positions i..i+8 all digits
        digit_run &= digit[:, shift:shift + width]
    zeros = np.count_nonzero(tokens == 0, axis=1) >= 6
    return digit_run.any(axis=1) | zeros
