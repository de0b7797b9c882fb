"""The national definition of group-based CSE (DOMAIN.md §2, R1-R7) as versioned data.

``policies/definitions/cse.toml`` is the one definition every force applies; a data owner
can dry-run a draft of the next version (``node analyse cse --definition FILE``) but not
change the national one. It is validated exactly like a sharing policy (``policies.model``):
an unknown section (rule), key or list name, or a value off its vocabulary, is one line
``file:line: [section] key: problem`` with the closest match suggested. Its version is the
SHA-256 of the *effective* definition (defaults filled in, lists sorted, canonical JSON),
so comments and order never change it and every result can name the rules it applied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from policies.model import (
    _HO_CODE,
    CRIME_CATEGORIES,
    PolicyError,
    _as_list,
    _choice,
    _each_one_of,
    _set_like,
    read_toml_text,
    validate_toml,
)

#: Bumped when the meaning of a field changes; part of every version hash.
DEFINITION_SCHEMA = "crossforce.cse-definition/1"
DEFINITION_FILE = Path(__file__).resolve().parent / "definitions" / "cse.toml"

#: how two persons can be associated (R3), in the order evidence is shown
ASSOCIATION_KINDS = ("co_suspect", "communication", "shared_address", "shared_vehicle",
                     "intelligence", "shared_contact", "co_location")
STRENGTHS = ("strong", "weak", "off")
GROUP_ROLES = ("suspect", "offender", "facilitator", "associate")
INTEL_GRADES = ("A", "B", "C", "D", "E")


class DefinitionError(PolicyError):
    """A definition file that cannot be read or validated; one line per problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _codes(v: Any) -> list[str]:
    values = _as_list(v)
    for x in values:
        if not isinstance(x, str) or not _HO_CODE.match(x):
            raise PydanticCustomError(
                "definition", "{value} is not a Home Office offence code such as '88A' or "
                "'71/17' (write it as a string)", {"value": repr(x)})
    return sorted(set(values))


class Offences(_Section):
    """R1's sexual offences against children and R2's CSE-specific offences."""

    sexual: Annotated[list[str], Field(min_length=1)]
    cse_specific: list[str] = Field(default_factory=list)

    _codes = field_validator("sexual", "cse_specific", mode="before")(
        classmethod(lambda cls, v: _codes(v)))


class R1(_Section):
    age_threshold: Annotated[int, Field(ge=1, le=25)] = 18


class R2(_Section):
    exchange_indicators: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=lambda: ["cse"])

    _flags = _each_one_of("flags", "a crime flag", CRIME_CATEGORIES)

    @field_validator("exchange_indicators", mode="before")
    @classmethod
    def _indicators(cls, v: Any) -> list[str]:
        values = _as_list(v)
        if not all(isinstance(x, str) and x.strip() for x in values):
            raise PydanticCustomError("definition", "exchange indicators are words such as "
                                      "\"gift\" or \"money\"")
        return [x.strip().lower() for x in values]

    _sorted = field_validator("exchange_indicators", "flags")(
        classmethod(lambda cls, v: _set_like(v)))


class R3(_Section):
    roles: list[str] = Field(default_factory=lambda: ["facilitator", "offender", "suspect"])
    min_persons: Annotated[int, Field(ge=2, le=20)] = 2
    same_victim: bool = True
    intel_grades: list[str] = Field(default_factory=lambda: ["A", "B", "C", "D"])
    co_location_days: Annotated[int, Field(ge=0, le=3660)] = 30

    _roles = _each_one_of("roles", "a role that can count towards a group", GROUP_ROLES)
    _grades = _each_one_of("intel_grades", "an intelligence assessment grade (A-E)",
                           INTEL_GRADES)
    _sorted = field_validator("roles", "intel_grades")(classmethod(lambda cls, v: _set_like(v)))


_strength = _choice("an association strength", STRENGTHS)


class Associations(_Section):
    """How much each kind of association counts: strong alone, weak only in pairs or
    beside a strong link, or off."""

    co_suspect: Literal["strong", "weak", "off"] = "strong"
    communication: Literal["strong", "weak", "off"] = "strong"
    shared_address: Literal["strong", "weak", "off"] = "strong"
    shared_vehicle: Literal["strong", "weak", "off"] = "strong"
    intelligence: Literal["strong", "weak", "off"] = "strong"
    shared_contact: Literal["strong", "weak", "off"] = "weak"
    co_location: Literal["strong", "weak", "off"] = "weak"

    _check = field_validator(*ASSOCIATION_KINDS, mode="before")(
        classmethod(lambda cls, v: _strength(v)))


class Hubs(_Section):
    max_distinct: Annotated[int, Field(ge=2)] = 50
    #: a contact number found on more than this share of the node's seized devices is a
    #: hub too (counted once the node holds at least 10 devices)
    max_device_share: Annotated[float, Field(gt=0, le=1)] = 0.25


class R5(_Section):
    flags: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["cse", "group"])

    _flags = _each_one_of("flags", "a crime flag", CRIME_CATEGORIES)
    _sorted = field_validator("flags")(classmethod(lambda cls, v: _set_like(v)))


class R7(_Section):
    closed_from: dt.date
    closed_to: dt.date
    nfa_outcomes: Annotated[list[str], Field(min_length=1)]
    min_suspects: Annotated[int, Field(ge=1, le=20)] = 2
    victim_criterion: bool = False

    _sorted = field_validator("nfa_outcomes")(classmethod(lambda cls, v: _set_like(v)))

    @model_validator(mode="after")
    def _window(self) -> R7:
        if self.closed_from > self.closed_to:
            raise PydanticCustomError("definition", "closed_from {a} is after closed_to {b}",
                                      {"a": self.closed_from.isoformat(),
                                       "b": self.closed_to.isoformat()})
        return self


class CseDefinition(BaseModel):
    """The national definition, validated once and read by every CSE analysis."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str
    description: str = ""
    offences: Offences
    implied_ages: dict[str, Annotated[int, Field(ge=1, le=25)]] = Field(default_factory=dict)
    r1: R1 = Field(default_factory=R1)
    r2: R2 = Field(default_factory=R2)
    r3: R3 = Field(default_factory=R3)
    associations: Associations = Field(default_factory=Associations)
    hubs: Hubs = Field(default_factory=Hubs)
    r5: R5 = Field(default_factory=R5)
    r7: R7

    @model_validator(mode="after")
    def _codes_are_sexual(self) -> CseDefinition:
        sexual = set(self.offences.sexual)
        for name, codes in (("[offences] cse_specific", self.offences.cse_specific),
                            ("[implied_ages]", list(self.implied_ages))):
            stray = sorted(set(codes) - sexual)
            if stray:
                raise PydanticCustomError(
                    "definition", "{where} names {codes}, not in [offences] sexual: R1 "
                    "never holds for them, so the entry would do nothing",
                    {"where": name, "codes": ", ".join(stray)})
        return self

    def canonical_json(self) -> str:
        body = {"schema": DEFINITION_SCHEMA, "definition": self.model_dump(mode="json")}
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @cached_property
    def version(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`: named beside every evaluation."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def strength(self, kind: str) -> str:
        return str(getattr(self.associations, kind))


_MODELS: dict[str, type[BaseModel]] = {
    name: f.annotation for name, f in CseDefinition.model_fields.items()  # type: ignore[misc]
    if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
}


def parse_definition(text: str, source: str = "<definition>") -> CseDefinition:
    """Validate definition TOML text; :class:`DefinitionError` lists every problem."""
    return validate_toml(text, source, CseDefinition, DefinitionError, _MODELS, "definition")


def load_definition(path: str | Path | None = None) -> CseDefinition:
    """The national definition, or a draft file (``--definition``)."""
    path = Path(path) if path is not None else DEFINITION_FILE
    text = read_toml_text(path, DefinitionError, DefinitionError, "definition")
    return parse_definition(text, path.name if path != DEFINITION_FILE else "cse.toml")


def national_definition() -> CseDefinition:
    return load_definition()


def is_national(definition: CseDefinition) -> bool:
    """Whether ``definition`` is the national one (not a draft)."""
    return definition.version == national_definition().version
