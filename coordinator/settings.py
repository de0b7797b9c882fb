"""`LinkageSettings`: every knob of a linkage run in one validated, declarative object.

Splink-style: a run is reproducible from its settings alone, and a bad setting is refused
before any data is touched (a `CrossforceError` naming the field).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from federation.errors import CrossforceError

IDENTIFIER_KINDS: tuple[str, ...] = ("phone", "email", "handle", "vrm", "imei")
MATCH_KEY_PREFIX = "mk:"
#: identifiers recorded against persons, compared as keys: ``mk:id_email``, ``mk:id_phone``
ID_PREFIX = "id_"
#: which fields a differing key counts against (`LinkageSettings.disagreement`)
Disagreement = Literal["shown", "equal", "any"]


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
    veto_groups: bool = Field(
        True, description="the veto weighs groups, not one pair: two groups of references "
        "are kept apart when the strict weights of the accepted links between them plus "
        "their vetoed pairs sum below veto_weight (a record so mangled that one pair "
        "scores -20 still joins the three records of its person it shares 30 bits with). "
        "Off: one vetoed pair keeps the groups apart whatever links them. Measured "
        "(bench_linkage_real, seed 42, F1 off/on): FEBRL3 0.989 -> 0.992, fake_1000 0.861 "
        "-> 0.865, FEBRL4 and the scenario unchanged")
    cross_force_only: bool = Field(
        False, description="compare persons across forces only. Off (default): pairs inside "
        "a force are candidates too, so duplicates a force's own resolution missed can "
        "join one entity (at within_force_weight); FEBRL3 split in 3 forces F1 0.69 -> "
        "0.95, raw fake_1000 0.41 -> 0.47")
    within_force_weight: float = Field(
        10.0, description="a pair of references of ONE force links only when its strict "
        "weight (each chance agreement counted once) is at least this (bits): a force "
        "resolves its own duplicates first, so the pairs it left apart need strong "
        "evidence, and namesakes in one force are not joined. Counted key by key, FEBRL4's "
        "namesakes born in one year reached ~51 bits and this stood at 60; counted "
        "conditionally (strict_chance) they stay far lower, and 0-40 measure alike on the "
        "3-force splits (bench_linkage_real) except fake_1000, whose precision falls at 0 "
        "(0.90 -> 0.86)")
    cross_force_strict_floor: float | None = Field(
        -5.0, description="a pair across forces links only when its strict weight (each "
        "chance agreement counted once) is at least this (bits), whatever its match "
        "weight: FEBRL4's false links agreed on family name + locality and house number "
        "+ locality, the locality counted twice by the per-key chance count (match "
        "weight +5, strict -3) with given name and date of birth differing. None = no "
        "floor. Measured (bench_linkage_real, seed 42, F1 None/-5): FEBRL4 0.9935 -> "
        "0.9940, scenario 0.743 -> 0.775, FEBRL3 and fake_1000 alike; at 0 the "
        "scenario's recall falls 0.74 -> 0.53 (its true pairs with a date of birth "
        "recorded years out)")
    one_to_one: bool = Field(
        True, description="a reference links to at most one reference of each other force "
        "(a force holds one nominal per person); off = any pair above threshold links")
    one_to_one_exempt_weight: float | None = Field(
        None, description="pairs scoring at least this (bits) link whatever one_to_one "
        "says: a force may hold one person twice, and each record may then link to the "
        "same record elsewhere; None (default) = no exemption: at 20 bits FEBRL4 precision "
        "fell 1.0 -> 0.996 (namesakes score high when implied keys count)")
    one_to_one_sibling_weight: float | None = Field(
        0.0, description="after the one-to-one rounds, a reference takes a further partner "
        "in a force where it already has one when the two partners' own pair scores at "
        "least this (bits, strict): the force holds that person twice; None = never")
    one_to_one_sibling_support: float | None = Field(
        2.0, description="a left-over pair (a, b) also links when a already took b' in "
        "b's force and the weaker of a's two strict links (a-b, a-b') plus the strict "
        "weight of b-b' themselves (0 if they share no key) is at least this (bits): "
        "the force holds one person twice and a vouches strongly for both records, "
        "which do not stand against each other (two records of one person, one without "
        "a family name, the other with the names swapped). None = never. Measured "
        "(bench_linkage_real, seed 42, F1 None/2): fake_1000 0.865 -> 0.888, FEBRL3 "
        "0.992 -> 0.995, scenario 0.732 -> 0.743, FEBRL4 unchanged; at 0 fake_1000's "
        "precision falls (0.95 -> 0.92), below -5 it collapses (0.60)")
    one_to_one_rank: Literal["match", "strict", "both"] = Field(
        "both", description="what the mutual-best rounds rank a reference's candidates "
        "in one force by: match = match weight; strict = strict weight (each chance "
        "agreement once: a record sharing three address keys with a namesake does not "
        "outrank the person's own record with a typo); both = their sum. Measured "
        "(bench_linkage_real, seed 42, with one_to_one_sibling_support = 2, F1 "
        "match/strict/both): fake_1000 0.888/0.895/0.895, scenario 0.743/0.739/0.743, "
        "FEBRL3 and FEBRL4 alike")
    one_to_one_rounds: int = Field(
        4, ge=1, le=20, description="rounds of mutual-best assignment when one_to_one is on")
    identifier_kinds: tuple[str, ...] = Field(
        IDENTIFIER_KINDS, min_length=1,
        description="token kinds where the same token means the same entity")
    disagreement: Disagreement = Field(
        "shown", description="which fields a key that does not agree counts against (it "
        "says only that one of its fields differs): shown (default) = a field of it whose "
        "every other field agrees at some level (fn+sn differs, fn_mp+yob agrees: the "
        "family names differ); equal = only where the other fields are proven equal; any = "
        "every field of it, so a record with a wrong date of birth also loses its names "
        "and address (fn+dob, sn+dob, dob+pc differ). Measured (bench_linkage_real, seed "
        "42, F1 any/shown/equal): fake_1000 0.836/0.861/0.867, FEBRL3 0.988/0.989/0.989, "
        "FEBRL4 0.9937/0.9935/0.9929, scenario 0.746/0.732/0.707; FEBRL4 two files "
        "precision 0.9996/0.9992/0.9992, recall 0.9960/0.9964/0.9964")
    identifier_keys: bool = Field(
        True, description="identifiers recorded against persons (a phone, an email) are "
        "compared like a match key (`mk:id_email`): two persons sharing one are a "
        "candidate pair, and what a shared one says is learnt (m by EM; u from different "
        "people inside a force sharing one, a household's landline) instead of the fixed "
        "identifier_support_bits, which then do not apply. Measured (bench_linkage_real, "
        "seed 42): fake_1000 (emails) F1 0.816 -> 0.836, precision 0.90 -> 0.95; the "
        "other sets unchanged")
    identifier_support_bits: float = Field(
        10.0, ge=0.0,
        description="extra match weight (bits) per identifier token two person references "
        "share (a phone or email recorded against both), counted at most twice")
    term_frequency: bool = Field(
        True, description="adjust each agreeing key by how common its token is (rare "
        "values are stronger evidence)")
    count_implied_keys: bool = Field(
        False, description="chance (u) side: count every agreeing key, even one another "
        "agreeing key implies (fn_ny+sn_ny beside fn+sn: one chance event, counted twice). "
        "Off (the default): each chance agreement once, so a wholly different date of "
        "birth outweighs a name-only agreement and namesakes do not link. Measured through "
        "the real path on 3-force random splits (bench_linkage_real, seed 42): FEBRL4 F1 "
        "0.954 -> 0.992, FEBRL3 0.968 -> 0.974, fake_1000 0.807 -> 0.785 (its true pairs "
        "have dates of birth a decade out). On FEBRL4 as two whole files, every record its "
        "own reference, it costs recall 0.9971 -> 0.9959. Pairs inside one force and the "
        "veto always use the strict count")
    chance: Literal["conditional", "per_key"] = Field(
        "per_key", description="how agreeing keys add up on the chance (u) side of the "
        "match weight when count_implied_keys is off. per_key (default): every key no "
        "other agreeing key implies counts its whole u. conditional: rarest key first in "
        "full, each later key only for the fields not yet shown (fitted bits per field), "
        "so a name and a birth year are not a name twice plus a year. Measured "
        "(bench_linkage_real, seed 42, F1 per_key/conditional): FEBRL4 0.994/0.990, "
        "FEBRL3 0.988/0.991, fake_1000 0.816/0.859, scenario 0.746/0.581 — EM on the "
        "scenario's few true pairs among many namesakes learns too little from the "
        "conditional count, so it is not the default")
    chance_once: tuple[str, ...] = Field(
        ("loc", "street"), description="with chance = per_key, key fields the chance "
        "count takes once however many agreeing keys hold them: FEBRL4's false links "
        "agreed on family name + locality and house number + locality, the locality "
        "counted twice (17 + 16 bits for a family name, a house number and a town). "
        "Measured (bench_linkage_real, seed 42, F1 ()/(loc, street)/every address "
        "field): FEBRL4 0.9940/0.9953/0.9943, FEBRL3 0.9953/0.9954/0.9947, fake_1000 and "
        "the scenario alike; the names as well cut the scenario's recall 0.75 -> 0.58 "
        "(EM then learns too little, as with chance = conditional)")
    strict_chance: Literal["conditional", "per_key"] = Field(
        "conditional", description="the same choice for the strict weight, which judges "
        "pairs inside a force, the veto and a second partner in one force: conditional "
        "(default) keeps namesakes from chaining (with per_key, a second partner in one "
        "force took fake_1000's precision from 0.90 to 0.70)")
    em_iterations: int = Field(100, ge=1, le=10_000)
    em_tolerance: float = Field(1e-7, gt=0.0)
    prior_match_rate: float | None = Field(
        None, gt=0.0, lt=1.0,
        description="fix the share of candidate pairs that are matches instead of "
        "estimating it by EM")

    @model_validator(mode="after")
    def _chance_once_names_key_fields(self) -> LinkageSettings:
        from coordinator.comparison import COMPARISONS  # comparison imports this module

        known = frozenset().union(*(c.fields for c in COMPARISONS))
        bad = sorted(set(self.chance_once) - known)
        if bad:
            raise ValueError(f"chance_once: not key fields: {bad}; known: {sorted(known)}")
        return self

    @model_validator(mode="after")
    def _kinds_are_not_match_keys(self) -> LinkageSettings:
        bad = [k for k in self.identifier_kinds if k.startswith(MATCH_KEY_PREFIX)]
        if bad:
            raise ValueError(f"identifier_kinds must not be match keys: {bad}")
        return self
