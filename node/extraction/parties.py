"""The other party of a call or message, and a contact entry: which kind of identifier it
is, and its normalised form in the device's region.

A handset's address book and its apps hold phone numbers, e-mail addresses, app user ids
and web addresses side by side; each kind goes to its own normaliser (a web address is
kept as written, never a "number"). A phone number is read in the device's region
(``node.extraction.region``): one written without a country code on a device whose region
is unknown stays raw and is flagged ``no_region``, never assumed British.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from federation.normalise import (
    normalise_array,
    normalise_email,
    normalise_handle,
    normalise_many,
    normalise_phone,
)

#: party_kind values
KINDS = ("phone", "email", "handle", "web")
#: number_flag codes: why a number was kept raw
NUMBER_FLAGS = {
    "no_region": "written without a country code, and the device's country is unknown",
    "not_a_number": "a word, not a number (Voicemail, Private, Unknown)",
    "invalid": "not a valid number in the device's country",
}

_JID = re.compile(r"^\+?(\d{6,15})@(?:s\.whatsapp\.net|c\.us)$", re.IGNORECASE)
_EMAILISH = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_WEB = re.compile(r"^(?:https?://|www\.)\S+$", re.IGNORECASE)
_PHONEISH = re.compile(r"^[+(]?[\d\s\-./()]{3,}$")

#: Cellebrite contact-entry model types → kind
ENTRY_TYPES = {"PhoneNumber": "phone", "EmailAddress": "email", "UserID": "handle",
               "WebAddress": "web"}


#: apps whose parties are numbers or addresses, never app user ids
_NOT_HANDLE_APPS = {"phone", "sms", "mms", "sim", "call", "calls", "facetime", "email",
                    "mail", "imessage", "native", "voicemail"}


def kind_of(value: str | None, hint: str | None = None, app: str | None = None
            ) -> str | None:
    """The kind of identifier ``value`` is: the tool's ``hint`` (an entry type or an app's
    category) when it names one, else its shape; a value of no known shape in a messaging
    app (Snapchat, Telegram) is that app's user id. WhatsApp ids carry a phone number."""
    if not value:
        return None
    text = value.strip()
    if _JID.match(text):
        return "phone"
    if hint in KINDS:
        return hint
    if _EMAILISH.match(text):
        return "email"
    if _WEB.match(text):
        return "web"
    if _PHONEISH.match(text):
        return "phone"
    if hint == "handle" or (app and app.strip().lower() not in _NOT_HANDLE_APPS
                            and not any(c.isspace() for c in text)):
        return "handle"
    return None


def phone_text(value: str) -> str:
    """What the phone normaliser reads: a WhatsApp id's number with its ``+``."""
    m = _JID.match(value.strip())
    return "+" + m.group(1) if m else value


def phones_in_region(rows: Sequence[tuple[str | None, str | None]]) -> list[str | None]:
    """(number as written, device region) → E.164 or None; each distinct pair once. With
    no region only numbers written with their country code normalise."""
    out: list[str | None] = [None] * len(rows)
    by_region: dict[str | None, list[int]] = {}
    for i, (number, region) in enumerate(rows):
        if number:
            by_region.setdefault(region or None, []).append(i)
    for region, idx in by_region.items():
        texts = [phone_text(str(rows[i][0])) for i in idx]
        if region == "GB":
            norms = normalise_many("phone", texts)
        else:
            norms = [_international_only(t) if region is None else normalise_phone(t, region)
                     for t in texts]
        for i, n in zip(idx, norms, strict=True):
            out[i] = n
    return out


def phones_in_region_arrow(numbers: Any, regions: Any) -> Any:
    """``phones_in_region`` over two Arrow string arrays (number, device region), the same
    values: ingest's distinct numbers stay in Arrow, those of a British device are read by
    the vectorised normaliser, and only WhatsApp ids and other countries go one by one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = numbers.combine_chunks() if isinstance(numbers, pa.ChunkedArray) else numbers
    regions = regions.combine_chunks() if isinstance(regions, pa.ChunkedArray) else regions
    texts = numbers
    jid = pc.fill_null(pc.match_substring(numbers, "@"), False)  # every WhatsApp id has one
    if pc.any(jid).as_py():
        texts = pc.replace_with_mask(numbers, jid, pa.array(
            [phone_text(v) for v in numbers.filter(jid).to_pylist()], pa.string()))
    out = pa.nulls(len(numbers), pa.string())
    present = pc.fill_null(pc.not_equal(numbers, ""), False)
    for region in pc.unique(regions).to_pylist():
        mine = (pc.is_null(regions) if region is None
                else pc.fill_null(pc.equal(regions, region), False))
        mask = pc.and_(mine, present)
        if not pc.any(mask).as_py():
            continue
        part = texts.filter(mask)
        if region == "GB":
            norms = normalise_array("phone", part)
        else:
            norms = pa.array([_international_only(t) if region is None
                              else normalise_phone(t, region) for t in part.to_pylist()],
                             pa.string())
        out = pc.replace_with_mask(out, mask, norms)
    return out


def _international_only(text: str) -> str | None:
    compact = re.sub(r"[\s\-./()\[\]]", "", text)
    return normalise_phone(compact, "ZZ") if compact.startswith("+") else None


def normalise_party(kind: str | None, value: str | None, region: str | None,
                    app: str | None) -> str | None:
    """The normalised form of one party identifier of any kind (phones: E.164 in the
    device's region; e-mail lower-case; app ids ``app:handle``; web addresses none)."""
    if not value or kind in (None, "web"):
        return None
    if kind == "phone":
        return phones_in_region([(value, region)])[0]
    if kind == "email":
        return normalise_email(value)
    return normalise_handle(app, value)


def number_flag_sql(number: str, e164: str, region: str) -> str:
    """SQL: why ``number`` was kept raw (a NUMBER_FLAGS code), NULL when it normalised."""
    return (f"CASE WHEN {number} IS NULL OR {e164} IS NOT NULL THEN NULL "
            f"WHEN regexp_matches({number}, '[A-Za-z]') "
            f"AND NOT regexp_matches({number}, '@(s\\.whatsapp\\.net|c\\.us)$') "
            "THEN 'not_a_number' "
            f"WHEN {region} IS NULL AND NOT regexp_matches(trim({number}), '^\\+') "
            "THEN 'no_region' ELSE 'invalid' END")
