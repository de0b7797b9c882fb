"""UK identifiers as people and systems actually write them.

A real number is an integer (national significant number, e.g. 7700900123); how a record
writes it is a separate choice, so the same number turns up as ``07700 900123``,
``+44 7700 900123``, ``0044-7700-900-123`` ... Everything takes numpy arrays and returns
object arrays of str.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from anyascii import anyascii

Part = np.ndarray | pa.Array | str


def _arrow(part: Part) -> pa.Array | pa.Scalar:
    if isinstance(part, str):
        return pa.scalar(part)
    arr = part if isinstance(part, pa.Array) else pa.array(part)
    return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())


SMALL = 64  # below this many rows, plain Python beats Arrow's per-call overhead


def join(*parts: Part) -> np.ndarray:
    """Concatenate string/int columns and literals element-wise (vectorised, in Arrow)."""
    n = max((len(p) for p in parts if not isinstance(p, str)), default=1)
    if n < SMALL:
        cols = [[p] * n if isinstance(p, str) else
                [str(x) for x in (p.to_pylist() if isinstance(p, pa.Array) else p.tolist())]
                for p in parts]
        out = np.empty(n, dtype=object)
        out[:] = ["".join(t) for t in zip(*cols, strict=True)]
        return out
    joined = pc.binary_join_element_wise(*(_arrow(p) for p in parts), "")
    return joined.to_numpy(zero_copy_only=False).astype(object)


def padded(numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings, e.g. 7 -> '0000007'."""
    return pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()),
                        width, padding="0")


def numbered(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Record ids such as 'WYP-P0000123'."""
    return join(prefix, padded(numbers, width))

#: (format, relative weight). {a}=first 4 digits after the 0, {b}=last 6, {b1}/{b2} halves.
PHONE_FORMATS: tuple[tuple[str, float], ...] = (
    ("0{a}{b}", 30), ("0{a} {b}", 22), ("0{a} {b1} {b2}", 5), ("+44{a}{b}", 14),
    ("+44 {a} {b}", 8), ("0044 {a} {b}", 4), ("0{a}-{b1}-{b2}", 5), ("+44 (0){a} {b}", 4),
    ("44{a}{b}", 4), ("(0{a}) {b}", 4),
)
_PHONE_W = np.array([w for _, w in PHONE_FORMATS]) / sum(w for _, w in PHONE_FORMATS)

# Mobile number space: each force's own residents get a disjoint block, so two forces never
# share a number by accident; the planted (cross-force) people get the block after them.
MOBILE_BASE = 7_400_000_000
BLOCK = 12_000_000
_STRIDE = 7_654_321  # coprime with BLOCK: serial -> scattered but unique number in the block


def mobile_numbers(block: int, serials: np.ndarray) -> np.ndarray:
    """Unique national mobile numbers (int64) for serials in a block."""
    serials = np.asarray(serials, dtype=np.int64)
    return MOBILE_BASE + block * BLOCK + (serials * _STRIDE + block * 104_729) % BLOCK


_TOKEN = re.compile(r"(\{a\}|\{b\}|\{b1\}|\{b2\})")


def phone_formats(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(PHONE_FORMATS), size=n, p=_PHONE_W)


def write_phones(numbers: np.ndarray, rng: np.random.Generator,
                 formats: np.ndarray | None = None) -> np.ndarray:
    """Write national mobile numbers in the common UK ways (one random way each)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if formats is None:
        formats = phone_formats(rng, len(numbers))
    out = np.empty(len(numbers), dtype=object)
    digits = pc.cast(pa.array(numbers), pa.string())
    cols = {"{a}": pc.utf8_slice_codeunits(digits, 0, 4),
            "{b}": pc.utf8_slice_codeunits(digits, 4, 10),
            "{b1}": pc.utf8_slice_codeunits(digits, 4, 7),
            "{b2}": pc.utf8_slice_codeunits(digits, 7, 10)}
    for f, (template, _) in enumerate(PHONE_FORMATS):
        idx = np.flatnonzero(formats == f)
        if len(idx):
            take = pa.array(idx)
            parts = [cols[t].take(take) if t in cols else t
                     for t in _TOKEN.split(template) if t]
            out[idx] = join(*parts)
    return out


def write_landline(area: str, prefix: str, line: int) -> str:
    return f"{area} {prefix} {line:04d}"


def luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Luhn check digit for each row of a (n, 14) digit array."""
    d = body.astype(np.int64).copy()
    # from the right, every second digit of the 14-digit body (positions 13, 11, ...) doubles
    doubled = d[:, 1::2] * 2
    d[:, 1::2] = np.where(doubled > 9, doubled - 9, doubled)
    return (10 - d.sum(axis=1) % 10) % 10


_TACS = np.array(["35209900", "35332510", "86723104", "35875011", "49015420", "35391110",
                  "86891203", "35690811"])


def imeis(rng: np.random.Generator, n: int) -> np.ndarray:
    """Valid 15-digit IMEIs (real-looking TACs, random serials, Luhn check digit)."""
    tac = _TACS[rng.integers(len(_TACS), size=n)]
    serial = rng.integers(0, 1_000_000, size=n)
    body = np.array([list(t + f"{s:06d}") for t, s in zip(tac, serial, strict=True)],
                    dtype=np.int64).reshape(n, 14)
    check = luhn_check_digits(body)
    return np.array([t + f"{s:06d}{c}" for t, s, c in zip(tac, serial, check, strict=True)],
                    dtype=object)


def _one_way(value: str, rng: np.random.Generator,
             ways: tuple[tuple[float, Callable[[str], str]], ...]) -> str:
    """Write a value one of several ways, each with its probability (else as it is)."""
    r, acc = rng.random(), 0.0
    for p, way in ways:
        acc += p
        if r < acc:
            return way(value)
    return value


def _no_spaces(v: str) -> str:
    return v.replace(" ", "")


def write_imei(imei: str, rng: np.random.Generator) -> str:
    return _one_way(imei, rng, (
        (0.15, lambda v: f"{v[:2]} {v[2:8]} {v[8:14]} {v[14]}"),
        (0.10, lambda v: v[:14]),  # check digit left off
    ))


_VRM_LETTERS = np.array(list("ABCDEFGHJKLMNOPRSTUVWXY"))
_VRM_AGES = np.array([f"{y:02d}" for y in list(range(2, 26)) + list(range(51, 75))])


def vrms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Current-format GB registration marks, e.g. ``AB12 CDE``."""
    L = _VRM_LETTERS[rng.integers(len(_VRM_LETTERS), size=(n, 5))]
    age = _VRM_AGES[rng.integers(len(_VRM_AGES), size=n)]
    return np.array([f"{r[0]}{r[1]}{a} {r[2]}{r[3]}{r[4]}" for r, a in zip(L, age, strict=True)],
                    dtype=object)


def write_vrm(vrm: str, rng: np.random.Generator) -> str:
    return _one_way(vrm, rng, ((0.25, _no_spaces), (0.15, str.lower)))


_INWARD = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def postcodes(rng: np.random.Generator, areas: tuple[str, ...], n: int) -> np.ndarray:
    """UK-format postcodes in the given postcode areas, e.g. ``LS6 2AB``."""
    area = np.array(areas, dtype=object)[rng.integers(len(areas), size=n)]
    district = rng.integers(1, 20, size=n)
    sector = rng.integers(0, 10, size=n)
    unit = _INWARD[rng.integers(len(_INWARD), size=(n, 2))].astype(object)
    return join(area, district, " ", sector, unit[:, 0], unit[:, 1])


def write_postcode(pc: str, rng: np.random.Generator) -> str:
    return _one_way(pc, rng, ((0.15, _no_spaces), (0.10, str.lower)))


@lru_cache(maxsize=100_000)
def _ascii(s: str) -> str:
    return "".join(ch for ch in anyascii(s).lower() if ch.isalnum())


def emails(given: np.ndarray, family: np.ndarray, rng: np.random.Generator,
           domains: list[str]) -> np.ndarray:
    """Plausible personal email addresses built from a name."""
    n = len(given)
    num = rng.integers(1, 99, size=n)
    style = rng.integers(4, size=n)
    dom = np.array(domains, dtype=object)[rng.integers(len(domains), size=n)]
    out = np.empty(n, dtype=object)
    for i in range(n):
        g, f = _ascii(given[i]) or "x", _ascii(family[i]) or "y"
        s = style[i]
        local = (f"{g}.{f}" if s == 0 else f"{g}{f}{num[i]}" if s == 1
                 else f"{g[0]}{f}{num[i]}" if s == 2 else f"{f}_{g}")
        out[i] = f"{local}@{dom[i]}"
    return out


def write_email(email: str, rng: np.random.Generator) -> str:
    return _one_way(email, rng, ((0.04, str.upper), (0.08, str.capitalize),
                                 (0.08, lambda v: f" {v} ")))


def handles(given: np.ndarray, family: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Social-media handles loosely derived from a name."""
    n = len(given)
    num = rng.integers(0, 999, size=n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        g, f = _ascii(given[i]) or "x", _ascii(family[i]) or "y"
        out[i] = [f"{g}{num[i]}", f"{g}.{f}", f"{g}_{f[:3]}{num[i] % 100}",
                  f"real{g}{num[i]}"][num[i] % 4]
    return out


def write_handle(handle: str, rng: np.random.Generator) -> str:
    return _one_way(handle, rng, ((0.3, lambda v: f"@{v}"),))
