"""The country a seized device dials in, from what its extraction says.

A number written without its country code (``2404378277``, ``07700 900123``) means
something only in the country of the handset's network. Tools write that country in
several places; in order of trust: the device's own number with its country code, the
SIM's IMSI (its mobile country code, MCC, and network code), the SIM's ICCID (``89`` +
the country calling code), the handset's locale, and the country codes of the numbers it
called. The first that answers is the device's region; the sources that disagree with it
are kept in the note. When none answers the region stays unknown, and national numbers
stay raw and flagged: the normaliser never assumes a country.

MCC → country comes from ``mcc-mnc-p1`` (the ITU-T E.212 tables, MNC-level where one MCC
serves several territories); country calling code → country from ``phonenumbers``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import phonenumbers


@dataclass
class RegionEvidence:
    """What an extraction says about its device's country, gathered while parsing."""

    own_numbers: list[str] = field(default_factory=list)
    imsis: list[str] = field(default_factory=list)
    iccids: list[str] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    call_countries: Counter[str] = field(default_factory=Counter)

    def add_call_number(self, raw: str | None) -> None:
        """Count the country of a number written with its country code."""
        region = region_of_international(raw)
        if region:
            self.call_countries[region] += 1


@dataclass(frozen=True)
class DeviceRegion:
    region: str | None       # ISO 3166 alpha-2, or None: unknown
    source: str              # how it was found ("imsi 310260…", "none")
    note: str = ""           # sources that disagree, for the analyst


def region_of_international(raw: str | None) -> str | None:
    """The country of a number written with its country code (+1..., 0044...)."""
    if not raw:
        return None
    text = re.sub(r"[\s\-./()\[\]]", "", str(raw))
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+") or not text[1:].isdigit():
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region and region != "ZZ":
        return region
    main = phonenumbers.region_code_for_country_code(number.country_code)
    return main if main and main != "ZZ" else None


@cache
def _mcc_table() -> dict[str, list[tuple[str | None, list[str]]]]:
    from mcc_mnc_lut.p1_mcc import P1_MCC  # the E.212 tables

    out: dict[str, list[tuple[str | None, list[str]]]] = {}
    for mcc, entries in P1_MCC.items():
        rows = entries if isinstance(entries, list) else [entries]
        out[mcc] = [(e.get("cc2"), list(e.get("mncs") or [])) for e in rows]
    return out


def region_of_imsi(imsi: str | None) -> str | None:
    """The SIM's home country from its IMSI (MCC, then MCC+MNC where an MCC is shared)."""
    digits = re.sub(r"\D", "", imsi or "")
    if len(digits) < 6:
        return None
    entries = _mcc_table().get(digits[:3])
    if not entries:
        return None
    countries = {cc for cc, _ in entries if cc}
    if len(countries) == 1:
        return next(iter(countries))
    for width in (6, 5):  # three-digit MNCs first (North America)
        owners = {cc for cc, mncs in entries if cc and digits[:width] in mncs}
        if len(owners) == 1:
            return next(iter(owners))
    # shared MCC and an MNC several territories list: the territory that uses the calling
    # code of the MCC's main country (US for 310, GB for 234)
    mains = [cc for cc in countries
             if phonenumbers.region_code_for_country_code(
                 phonenumbers.country_code_for_region(cc)) == cc]
    return mains[0] if len(mains) == 1 else None


def region_of_iccid(iccid: str | None) -> str | None:
    """The SIM issuer's country from its ICCID: ``89`` then the country calling code."""
    digits = re.sub(r"\D", "", iccid or "")
    if len(digits) < 10 or not digits.startswith("89"):
        return None
    for width in (1, 2, 3):
        code = int(digits[2:2 + width])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            main = phonenumbers.region_code_for_country_code(code)
            return main if main != "ZZ" else None
    return None


def region_of_locale(locale: str | None) -> str | None:
    """``en_US``, ``en-GB``, ``de_DE.UTF-8`` → the country part."""
    m = re.match(r"^[A-Za-z]{2,3}[_-]([A-Za-z]{2})\b", (locale or "").strip())
    if not m:
        return None
    region = m.group(1).upper()
    return region if phonenumbers.country_code_for_region(region) else None


def derive_region(evidence: RegionEvidence, declared: str | None = None) -> DeviceRegion:
    """The device's region: ``declared`` (a region the extraction or the force states)
    first, then the sources in order of trust."""
    found: list[tuple[str, str]] = []
    if declared and phonenumbers.country_code_for_region(declared.strip().upper()):
        found.append((declared.strip().upper(), "declared"))
    for n in evidence.own_numbers:
        _add(found, region_of_international(n), f"own number {n}")
    for i in evidence.imsis:
        _add(found, region_of_imsi(i), f"IMSI {i[:6]}…")
    for c in evidence.iccids:
        _add(found, region_of_iccid(c), f"ICCID {c[:6]}…")
    for loc in evidence.locales:
        _add(found, region_of_locale(loc), f"locale {loc}")
    if evidence.call_countries:
        top, n = evidence.call_countries.most_common(1)[0]
        total = sum(evidence.call_countries.values())
        if n >= 3 and n / total >= 0.6:
            found.append((top, f"{n} of {total} numbers written with a country code"))
    if not found:
        return DeviceRegion(None, "none")
    region, source = found[0]
    others = sorted({f"{s} says {r}" for r, s in found[1:] if r != region})
    return DeviceRegion(region, source, "; ".join(others))


def _add(found: list[tuple[str, str]], region: str | None, source: str) -> None:
    if region:
        found.append((region, source))


def month_first(region: str | None) -> bool:
    """Slashed dates are month first on handsets of these regions."""
    return region in ("US", "PH", "FM", "MH", "PW", "AS", "GU", "MP", "PR", "VI", "CA")
