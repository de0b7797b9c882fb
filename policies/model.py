"""The sharing policy: one validated, declarative object that decides what may leave a node.

A force writes its policy as TOML; :func:`load_policy` validates it into a
:class:`SharePolicy` (Splink-style: one settings object, checked once, read everywhere).
Every mistake is reported with the file, the line, the key path and what to write instead,
and unknown keys are errors with a closest-match suggestion, so a typo never silently
widens or narrows what is shared.

Versioning: ``SharePolicy.version`` is the SHA-256 of the *effective* policy — the validated
model with every default filled in, set-like lists sorted and de-duplicated, dumped as
canonical JSON (sorted keys, no whitespace) together with :data:`POLICY_SCHEMA`. So comments,
whitespace, key order, list order and writing out a default do not change the version; any
change to what is shared does.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from federation.errors import CrossforceError
from federation.layout import ROLES

#: Bumped when the meaning of a policy field changes; part of every version hash.
POLICY_SCHEMA = "crossforce.policy/1"

#: Identifier kinds a policy may share as tokens (person match keys are separate).
IDENTIFIER_KINDS = ("phone", "email", "handle", "vrm", "imei")
#: Roles that can be put in scope with ``roles``; victims have their own setting.
SCOPE_ROLES = tuple(r for r in ROLES if r != "victim")
ROLES_ALL = tuple(ROLES)
DEFAULT_ROLES = ("suspect", "offender", "facilitator")
LINK_KINDS = ("person_identifier", "co_suspect", "communication", "shared_address",
              "shared_vehicle")
#: Crime categories: the force's own flags on a crime (layout ``crimes.flag_<category>``).
CRIME_CATEGORIES = ("cse", "csa", "cce", "online", "group")
#: Item attribute columns a policy may allow beyond ``ref``, ``kind`` and ``role``.
ITEM_ATTRIBUTES = ("offence_category", "ho_offence_code", "crime_year", "sex", "age_band",
                   "ethnicity", "nationality")
#: Dimensions an aggregate table may be broken down by.
AGGREGATE_DIMENSIONS = ("offence_category", "ho_offence_code", "year", "month", "role", "sex",
                        "age_band", "ethnicity", "nationality", "outcome_code", "flagged",
                        "rule", "completeness", "language")
HANDLING_CODES = ("P", "C")
#: how aggregates leave: in the share set, or only as part of a national secure sum
AGGREGATE_RELEASES = ("share-set", "secure-sum")

_PURPOSE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,63}$")
_HO_CODE = re.compile(r"^\d{1,3}[A-Z]?(/\d{1,3}[A-Z]?)?$")


class PolicyError(CrossforceError):
    """A policy file that cannot be read or validated; ``problems`` holds one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


class PolicyNotFound(PolicyError):
    """No policy file at that path, and no default of that name."""


def _choice(kind: str, options: Iterable[str]):
    """A validator for one value from a fixed vocabulary, with a helpful error."""
    options = tuple(options)

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError("policy", "expected a string, got {got}",
                                      {"got": repr(value)})
        if value not in options:
            close = difflib.get_close_matches(value, options, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise PydanticCustomError(
                "policy", "'{value}' is not {kind}{hint}; expected one of {options}",
                {"value": value, "kind": kind, "hint": hint, "options": ", ".join(options)})
        return value

    return check


def _set_like(values: list[str]) -> list[str]:
    """Set-like lists are stored sorted and de-duplicated so order never changes the version."""
    return sorted(set(values))


def _each_one_of(field: str, kind: str, options: Iterable[str]) -> Any:
    """A field validator: a list whose every entry comes from ``options``."""
    check = _choice(kind, options)

    def validate(cls: type, v: Any) -> list[str]:
        return [check(x) for x in _as_list(v)]

    return field_validator(field, mode="before")(classmethod(validate))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Purpose(_Section):
    """Why data leaves: a purpose code (also the token-key purpose) and the lawful basis."""

    code: str
    lawful_basis: Annotated[str, Field(min_length=10)]
    description: str = ""

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _PURPOSE_CODE.match(v):
            raise PydanticCustomError(
                "policy", "'{value}' is not a purpose code; use 2-64 upper-case letters, "
                "digits, '-' or '_', e.g. TOEX-CSE-2026", {"value": v})
        return v


class Share(_Section):
    """What items and tokens may leave."""

    identifiers: list[str] = Field(default_factory=lambda: sorted(IDENTIFIER_KINDS))
    match_keys: bool = True
    roles: list[str] = Field(default_factory=lambda: sorted(DEFAULT_ROLES))
    victims: Literal["exclude", "match-only"] = "exclude"
    attributes: list[str] = Field(default_factory=list)

    _identifiers = _each_one_of("identifiers", "an identifier kind", IDENTIFIER_KINDS)
    _attributes = _each_one_of("attributes", "an item attribute", ITEM_ATTRIBUTES)

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, v: Any) -> Any:
        values = _as_list(v)
        if "victim" in values:
            raise PydanticCustomError(
                "policy", "victims are never in 'roles'; set victims = \"match-only\" to let "
                "victim identifiers take part in matching (they are never displayed)")
        return [_choice("a role", SCOPE_ROLES)(x) for x in values]

    @field_validator("victims", mode="before")
    @classmethod
    def _victims(cls, v: Any) -> Any:
        return _choice("a victims setting", ("exclude", "match-only"))(v)

    _sorted = field_validator("identifiers", "roles", "attributes")(
        classmethod(lambda cls, v: _set_like(v)))


class Links(_Section):
    """Which pseudonymous links may leave, and how communication counts are bucketed."""

    kinds: list[str] = Field(default_factory=lambda: ["co_suspect", "person_identifier"])
    #: lower edges of the weight buckets: a count becomes the largest edge not above it
    communication_buckets: list[int] = Field(default_factory=lambda: [1, 5, 20, 100])

    _kinds = _each_one_of("kinds", "a link kind", LINK_KINDS)

    _sorted = field_validator("kinds")(classmethod(lambda cls, v: _set_like(v)))

    @field_validator("communication_buckets")
    @classmethod
    def _buckets(cls, v: list[int]) -> list[int]:
        if not v or v[0] != 1:
            raise PydanticCustomError(
                "policy", "the first bucket edge must be 1 (every link has a count of at "
                "least 1), e.g. [1, 5, 20, 100]")
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise PydanticCustomError(
                "policy", "bucket edges must be strictly increasing, got {v}", {"v": v})
        return v


class Scope(_Section):
    """Which crimes bring a person into scope: categories (force flags), codes and dates."""

    categories: list[str] = Field(default_factory=list)
    offence_codes: list[str] = Field(default_factory=list)
    # also the crimes the national definition of group-based CSE (policies/definitions/
    # cse.toml) finds group-based -- R1 and R3's group test -- whatever the force's flags
    # say: flags alone miss most mis-recorded cases, and with them the suspects' hits
    national_definition: bool = False
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    _categories = _each_one_of("categories", "a crime category", CRIME_CATEGORIES)

    @field_validator("offence_codes", mode="before")
    @classmethod
    def _codes(cls, v: Any) -> Any:
        values = _as_list(v)
        for x in values:
            if not isinstance(x, str) or not _HO_CODE.match(x):
                raise PydanticCustomError(
                    "policy", "{value} is not a Home Office offence code such as '88A' or "
                    "'71/17' (write it as a string)", {"value": repr(x)})
        return values

    _sorted = field_validator("categories", "offence_codes")(
        classmethod(lambda cls, v: _set_like(v)))

    @model_validator(mode="after")
    def _dates(self) -> Scope:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise PydanticCustomError(
                "policy", "date_from {a} is after date_to {b}",
                {"a": self.date_from.isoformat(), "b": self.date_to.isoformat()})
        return self


class Disclosure(_Section):
    """Statistical disclosure control for aggregates (ONS 10-5 rule by default)."""

    threshold: Annotated[int, Field(ge=1)] = 10
    rounding: Annotated[int, Field(ge=1)] = 5
    secondary_suppression: bool = True


class Aggregates(_Section):
    """Which breakdowns an aggregate table may have (an empty list lets no aggregate leave),
    and how they leave: in the share set, where the coordinator sees this force's counts,
    or only inside a national secure sum (Flower SecAgg+), where it sees sums over forces.
    """

    dimensions: list[str] = Field(default_factory=list)
    release: Literal["share-set", "secure-sum"] = "share-set"
    #: with "secure-sum": at most one release per purpose in this many days, so the
    #: coordinator cannot difference two sums over different sets of forces to recover
    #: one force's vector (0 lifts the limit, e.g. for tests)
    release_interval_days: Annotated[int, Field(ge=0, le=3660)] = 1

    _dimensions = _each_one_of("dimensions", "an aggregate dimension", AGGREGATE_DIMENSIONS)

    @field_validator("release", mode="before")
    @classmethod
    def _release(cls, v: Any) -> Any:
        return _choice("an aggregates release", AGGREGATE_RELEASES)(v)

    _sorted = field_validator("dimensions")(classmethod(lambda cls, v: _set_like(v)))


class Privacy(_Section):
    """Optional differential privacy for aggregates: epsilon per table, budget per purpose."""

    epsilon: Annotated[float, Field(gt=0, le=10)]
    budget: Annotated[float, Field(gt=0)]
    #: how many cells of one aggregate table a single person can change (L1 sensitivity)
    max_contributions: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _fits(self) -> Privacy:
        if self.epsilon > self.budget:
            raise PydanticCustomError(
                "policy", "epsilon {e} per query is more than the whole budget {b}",
                {"e": self.epsilon, "b": self.budget})
        return self


class Retention(_Section):
    days: Annotated[int, Field(ge=1, le=36500)] = 365


class StopList(_Section):
    """High-degree identifiers (taxi firms, takeaways, helplines) are never link endpoints."""

    max_distinct_contacts: Annotated[int, Field(ge=2)] = 50


class Intelligence(_Section):
    """Which intelligence handling codes may feed shared links (3x5x2: P or C)."""

    handling_codes: list[str] = Field(default_factory=lambda: ["P"])

    @field_validator("handling_codes", mode="before")
    @classmethod
    def _codes(cls, v: Any) -> Any:
        values = [_choice("a handling code", HANDLING_CODES)(x) for x in _as_list(v)]
        if "C" in values:
            raise PydanticCustomError(
                "policy", "intelligence with handling code C (sharing with conditions) never "
                "auto-shares; only \"P\" is allowed here")
        return values


class SharePolicy(BaseModel):
    """Everything a node's data owner has decided may leave, in one validated object."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    purpose: Purpose
    share: Share = Field(default_factory=Share)
    links: Links = Field(default_factory=Links)
    scope: Scope = Field(default_factory=Scope)
    disclosure: Disclosure = Field(default_factory=Disclosure)
    aggregates: Aggregates = Field(default_factory=Aggregates)
    privacy: Privacy | None = None
    retention: Retention = Field(default_factory=Retention)
    stop_list: StopList = Field(default_factory=StopList)
    intelligence: Intelligence = Field(default_factory=Intelligence)

    def canonical_json(self) -> str:
        """The effective policy as canonical JSON: the exact bytes the version hashes."""
        policy = self.model_dump(mode="json")
        # the release default is what every policy meant before the key existed: leave it
        # out so those policies keep their version
        if policy["aggregates"]["release"] == "share-set":
            del policy["aggregates"]["release"]
        if policy["aggregates"]["release_interval_days"] == 1:  # likewise, its default
            del policy["aggregates"]["release_interval_days"]
        body = {"schema": POLICY_SCHEMA, "policy": policy}
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @cached_property
    def version(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`; goes into every payload and ledger entry."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    # ---- derived vocabularies the gate and the node read

    @property
    def item_kinds(self) -> frozenset[str]:
        return frozenset(("person", *self.share.identifiers))

    @property
    def roles_shown(self) -> frozenset[str]:
        return frozenset(self.share.roles)

    @property
    def roles_match_only(self) -> frozenset[str]:
        return frozenset({"victim"} if self.share.victims == "match-only" else ())

    def allows_token_kind(self, token_kind: str) -> bool:
        if token_kind.startswith("mk:"):
            return self.share.match_keys and len(token_kind) > 3
        return token_kind in self.share.identifiers


def _as_list(v: Any) -> list[Any]:
    if isinstance(v, str) or not isinstance(v, list | tuple):
        raise PydanticCustomError("policy", "expected a list such as [\"a\", \"b\"], got {got}",
                                  {"got": repr(v)})
    return list(v)


# --------------------------------------------------------------------------- loading


def validate_toml(text: str, source: str, root: type[BaseModel], error: type[PolicyError],
                  models: dict[str, type[BaseModel]] | None = None,
                  label: str = "policy") -> Any:
    """Validate TOML text into ``root``; ``error`` lists every problem, one line each (the
    sharing policy and the national definitions share this)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(source, [f"{source}: not valid TOML: {exc}"]) from None
    try:
        return root.model_validate(data)
    except ValidationError as exc:
        described = [_describe(err, text, source, models, root, label) for err in exc.errors()]
        raise error(source, sorted(described, key=_line_number)) from None


def read_toml_text(path: Path, missing: type[PolicyError], error: type[PolicyError],
                   what: str) -> str:
    """A file's text, or one line saying it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise missing(str(path), [f"{path}: no such {what} file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(str(path), [f"{path}: cannot read: {exc}"]) from None


def parse_policy(text: str, source: str = "<policy>") -> SharePolicy:
    """Validate policy TOML text; raise :class:`PolicyError` listing every problem."""
    return validate_toml(text, source, SharePolicy, PolicyError)


def load_policy(path: str | Path) -> SharePolicy:
    """Read and validate a policy file."""
    path = Path(path)
    return parse_policy(read_toml_text(path, PolicyNotFound, PolicyError, "policy"), path.name)


#: Found next to this module, not through ``importlib.resources``: a ``tests/policies``
#: folder on ``sys.path`` can shadow the package name under pytest, never this file.
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"


def default_names() -> list[str]:
    """Names of the default policies shipped in ``policies/defaults``."""
    return sorted(p.stem for p in DEFAULTS_DIR.glob("*.toml"))


def default_policy_text(name: str) -> str:
    if name not in default_names():
        close = difflib.get_close_matches(name, default_names(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise PolicyNotFound(name, [f"no default policy named '{name}'{hint}; "
                                 f"defaults are {', '.join(default_names())}"])
    return (DEFAULTS_DIR / f"{name}.toml").read_text(encoding="utf-8")


def secure_sum_policy_text(name: str) -> str:
    """A shipped policy whose aggregates leave only inside the national secure sum — what a
    data owner who chooses SecAgg+ writes (`release = "secure-sum"` under [aggregates])."""
    text = default_policy_text(name)
    if "\n[aggregates]\n" not in text:
        raise ValueError(f"default policy {name!r} has no [aggregates] section")
    text = text.replace("\n[aggregates]\n", '\n[aggregates]\nrelease = "secure-sum"\n', 1)
    assert parse_policy(text, f"{name}.toml").aggregates.release == "secure-sum"
    return text


def default_policy(name: str) -> SharePolicy:
    """One of the shipped default policies, e.g. ``default_policy("cse-national")``."""
    return parse_policy(default_policy_text(name), f"{name}.toml")


def resolve_policy(file_or_name: str) -> SharePolicy:
    """A policy file path, or the name of a default (what the CLI accepts)."""
    if Path(file_or_name).exists() or file_or_name.endswith(".toml"):
        return load_policy(file_or_name)
    return default_policy(file_or_name)


# --------------------------------------------------------------------------- error text

_MODELS: dict[str, type[BaseModel]] = {
    name: f.annotation for name, f in SharePolicy.model_fields.items()  # type: ignore[misc]
    if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
}
_MODELS["privacy"] = Privacy


def _describe(err: dict[str, Any], text: str, source: str,
              models: dict[str, type[BaseModel]] | None = None,
              root: type[BaseModel] = SharePolicy, label: str = "policy") -> str:
    """One readable line for one pydantic error: file:line: [section] key: problem.
    ``models`` (section -> model) and ``root`` describe the file's shape: a sharing policy
    unless given (the national definitions use the same error lines)."""
    models = _MODELS if models is None else models
    loc = [p for p in err["loc"] if isinstance(p, str)]
    section, key = (loc[0], loc[1] if len(loc) > 1 else None) if loc else (None, None)
    where = f"[{section}] {key}" if key else f"[{section}]" if section else label
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        options = (list(models[section].model_fields) if key and section in models
                   else list(root.model_fields))
        name = key or section or ""
        close = difflib.get_close_matches(name, options, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(options)}"
        msg = f"unknown key; {hint}"
        if not key:
            where = f"[{section}]"
            msg = f"unknown section; {hint}"
    elif kind == "missing":
        msg = "required key is missing"
    elif kind in ("model_type", "dict_type"):
        msg = "expected a table of settings"
    elif kind.startswith("date_"):
        msg = (f"expected a TOML date such as 2020-01-01 (no quotes), "
               f"got {err.get('input')!r}")
    elif kind.startswith(("int_", "float_", "bool_", "string_", "greater", "less",
                          "literal")):
        msg = f"{msg[0].lower()}{msg[1:]}, got {err.get('input')!r}"
    line = _line_of(text, section, key)
    at = f"{source}:{line}" if line else source
    return f"{at}: {where}: {msg}"


def _line_number(problem: str) -> int:
    match = re.match(r"^[^:]*:(\d+):", problem)
    return int(match.group(1)) if match else 0


def _line_of(text: str, section: str | None, key: str | None) -> int | None:
    """Best-effort line number of ``key`` in ``[section]`` (or the section header)."""
    if section is None:
        return None
    lines = text.splitlines()
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?$")
    start = next((i for i, ln in enumerate(lines) if header.match(ln)), None)
    if start is None:
        return None
    if key is None:
        return start + 1
    assign = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[i]):
            break
        if assign.match(lines[i]):
            return i + 1
    return start + 1
