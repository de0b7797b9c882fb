"""`LinkageSettings`: every knob of a linkage run in one validated, declarative object.

Splink-style: a run is reproducible from its settings alone, and a bad setting is refused
before any data is touched (a `CrossforceError` naming the field).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from federation.errors import CrossforceError

IDENTIFIER_KINDS: tuple[str, ...] = ("phone", "email", "handle", "vrm", "imei")
MATCH_KEY_PREFIX = "mk:"


class Settings(BaseModel):
    """A validated, frozen settings object; `parse` turns pydantic errors into one line."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    what: ClassVar[str] = "settings"

    @classmethod
    def parse(cls, values: dict[str, Any] | None = None) -> Self:
        """Validate user-supplied settings, turning pydantic errors into one clear message."""
        try:
            return cls(**(values or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors())
            raise CrossforceError(f"bad {cls.what}: {problems}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Read a TOML file of settings (top-level `key = value` lines, or the same under
        a `[linkage]` table); any problem is one error naming the file and the field."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CrossforceError(f"{path}: cannot read {cls.what} file: "
                                  f"{exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CrossforceError(f"{path}: not a valid TOML file: {exc}") from None
        if set(data) == {"linkage"} and isinstance(data["linkage"], dict):
            data = data["linkage"]
        try:
            return cls.parse(data)
        except CrossforceError as exc:
            raise CrossforceError(f"{path}: {exc}") from None


class LinkageSettings(Settings):
    """How the coordinator turns shared tokens into national entities."""

    what: ClassVar[str] = "linkage settings"

    match_probability: float = Field(
        0.5, gt=0.0, lt=1.0,
        description="a person pair links when its Fellegi-Sunter match probability is at "
        "least this (0.5: the evidence, weighed against how rare matches are, favours a "
        "match; precision is held by per-key u and one partner per force)")
    min_agreeing_keys: int = Field(
        1, ge=1, description="a person pair needs at least this many agreeing match keys")
    max_token_frequency: int = Field(
        100, ge=2,
        description="match-key tokens held by more PEOPLE than this are too common to "
        "block on (a household postcode, a frequent name); they count as missing. People, "
        "not references: references sharing a fingerprint (name+DOB token) count once")
    max_token_references: int = Field(
        1000, ge=2,
        description="hard limit on references holding one token, whoever they are: bounds "
        "the pairs one token can make (max_token_frequency counts people, so a prolific "
        "person's own repeated name still blocks)")
    passes: int = Field(
        2, ge=1, le=5,
        description="scoring passes: pass 1 learns chance agreement (u) from pairs of "
        "references with different fingerprints (name+DOB token); each later pass from "
        "pairs of different entities of the pass before, so a person's own duplicates "
        "are not counted as chance")
    veto_weight: float | None = Field(
        -10.0,
        description="a pair whose strict weight (each chance agreement counted once) is "
        "below this (bits) never ends in one entity: a cluster "
        "holding such a pair is rebuilt, strongest links first, leaving out links that "
        "would join its two sides (no chaining of namesakes); None = plain connected "
        "components")
    cross_force_only: bool = Field(
        False, description="compare persons across forces only. Off (default): pairs inside "
        "a force are candidates too, so duplicates a force's own resolution missed can "
        "join one entity (at within_force_weight); FEBRL3 split in 3 forces F1 0.69 -> "
        "0.95, raw fake_1000 0.41 -> 0.47")
    within_force_weight: float = Field(
        60.0, description="a pair of references of ONE force links only when its strict "
        "weight (each chance agreement counted once) is at least this (bits): a force "
        "resolves its own duplicates first, so the pairs it left apart need strong "
        "evidence, and namesakes in one force are not joined. FEBRL4 (no duplicates in a "
        "file) joins namesakes born in the same year at up to ~51 bits with the current "
        "match keys, so 60 keeps its precision at 1.0; 15 gives FEBRL3 0.98 instead of 0.95 "
        "but FEBRL4 precision 0.998")
    one_to_one: bool = Field(
        True, description="a reference links to at most one reference of each other force "
        "(a force holds one nominal per person); off = any pair above threshold links")
    one_to_one_exempt_weight: float | None = Field(
        None, description="pairs scoring at least this (bits) link whatever one_to_one "
        "says: a force may hold one person twice, and each record may then link to the "
        "same record elsewhere; None (default) = no exemption: at 20 bits FEBRL4 precision "
        "fell 1.0 -> 0.996 (namesakes score high when implied keys count)")
    one_to_one_rounds: int = Field(
        4, ge=1, le=20, description="rounds of mutual-best assignment when one_to_one is on")
    identifier_kinds: tuple[str, ...] = Field(
        IDENTIFIER_KINDS, min_length=1,
        description="token kinds where the same token means the same entity")
    identifier_support_bits: float = Field(
        10.0, ge=0.0,
        description="extra match weight (bits) per identifier token two person references "
        "share (a phone or email recorded against both), counted at most twice")
    term_frequency: bool = Field(
        True, description="adjust each agreeing key by how common its token is (rare "
        "values are stronger evidence)")
    count_implied_keys: bool = Field(
        True, description="chance (u) side: count every agreeing key, even one another "
        "agreeing key implies (fn_ny+sn_ny beside fn+sn: one chance event, counted twice). "
        "False = each chance agreement once, so a wholly different date of birth outweighs "
        "a name-only agreement (a false pair of namesakes no longer links); it also drops "
        "FEBRL4 pairs whose date of birth was replaced wholesale (names+DOB F1 0.938 -> "
        "0.927, full 0.9988 -> 0.9982; measured again with entity-level u: FEBRL4 recall "
        "0.9971 -> 0.9959, names+DOB F1 0.937 -> 0.927), which is why it is not the default. "
        "Pairs inside one force and the veto always use the strict count")
    em_iterations: int = Field(100, ge=1, le=10_000)
    em_tolerance: float = Field(1e-7, gt=0.0)
    prior_match_rate: float | None = Field(
        None, gt=0.0, lt=1.0,
        description="fix the share of candidate pairs that are matches instead of "
        "estimating it by EM")

    @model_validator(mode="after")
    def _kinds_are_not_match_keys(self) -> LinkageSettings:
        bad = [k for k in self.identifier_kinds if k.startswith(MATCH_KEY_PREFIX)]
        if bad:
            raise ValueError(f"identifier_kinds must not be match keys: {bad}")
        return self
