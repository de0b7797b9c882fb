"""The service's request and response bodies (pydantic): the OpenAPI schema at `/docs`
is made from these, and schemathesis checks every answer against it."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
LOOKUP_KINDS = ("phone", "email", "handle", "vrm", "imei")
MAX_LOOKUP_TOKENS = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Strict):
    status: int
    code: str
    message: str
    request_id: str


class ErrorBody(Strict):
    error: ErrorDetail


class Page(Strict, Generic[T]):
    items: list[T]
    total: int = Field(description="how many match, over all pages")
    limit: int
    offset: int


class Me(Strict):
    name: str
    role: str
    force: str | None
    expires_at: str


class Member(Strict):
    entity_id: int
    kind: str
    betweenness: float
    degree: int
    forces: list[str]


class NetworkSummary(Strict):
    network_id: int
    purpose: str
    forces: list[str]
    n_forces: int
    n_persons: int
    n_identifiers: int
    counts_by_kind: dict[str, int]
    first_activity: str | None
    last_activity: str | None
    link_kinds: list[str]
    brokers: list[Member] = Field(description="highest betweenness first")
    key_players: list[Member] = Field(description="persons, highest degree first")


class NetworkMember(Member):
    is_broker: bool
    is_key_player: bool


class NetworkEdge(Strict):
    entity_a: int
    entity_b: int
    kinds: list[str]
    forces: list[str]
    n_links: int


class CytoscapeElements(Strict):
    """``cy.add(elements.nodes.concat(elements.edges))``: ids are strings ``e<entity id>``."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class NetworkDetail(Strict):
    network_id: int
    purpose: str
    forces: list[str]
    n_persons: int
    n_identifiers: int
    counts_by_kind: dict[str, int]
    first_activity: str | None
    last_activity: str | None
    brokers: list[int]
    key_players: list[int]
    members: list[NetworkMember]
    edges: list[NetworkEdge]
    elements: CytoscapeElements


class EntityLink(Strict):
    entity_id: int
    kind: str
    link_kinds: list[str]
    forces: list[str]
    n_links: int


class EntityDetail(Strict):
    entity_id: int
    kind: str
    purpose: str
    forces: list[str] = Field(description="forces holding it openly")
    stop_listed: bool
    network_id: int | None
    links: list[EntityLink] = []


class EntityForces(Strict):
    entity_id: int
    forces: list[str]


class ForcePair(Strict):
    force_a: str
    force_b: str
    shared_entities: int
    shared_persons: int
    shared_networks: int


class LookupToken(Strict):
    kind: Literal["phone", "email", "handle", "vrm", "imei"]
    token: str = Field(pattern=r"^[0-9a-f]{32}$", description="16-byte token, hex, made by "
                       "`crossforce node lookup-tokens` under the request's purpose")


class LookupRequest(Strict):
    tokens: list[LookupToken] = Field(min_length=1, max_length=MAX_LOOKUP_TOKENS)


class LookupResult(Strict):
    kind: str
    token: str
    hit: bool
    entity_id: int | None
    network_id: int | None
    other_forces: list[str]


class LookupAnswer(Strict):
    force: str
    purpose: str
    results: list[LookupResult]


class Hit(Strict):
    ref: str = Field(description="your own force's opaque reference (hex)")
    kind: str
    entity_id: int
    network_id: int | None
    other_forces: list[str]
    strength: float
    reason: str


class AggregateRow(Strict):
    purpose: str
    table: str
    cell: dict[str, Any]
    count: int | None
    forces: int
    forces_suppressed: int | None
    method: str


class Submission(Strict):
    payload_id: str
    force: str
    purpose: str
    epoch: int
    policy_hash: str
    content_hash: str
    received_at: str | None
    via: str
    size_bytes: int
    encrypted: bool
    n_items: int
    n_tokens: int
    n_links: int
    n_aggregates: int
    superseded_by: str | None


class LedgerRow(Strict):
    seq: int
    entry_id: str
    at: str | None
    actor: str
    force: str
    action: str
    purpose: str
    justification: str
    counts: dict[str, int]
    recipients: list[str]
    payload_hash: str | None
    entry_hash: str


class Consultation(Strict):
    at: str | None
    user: str
    role: str | None
    purpose: str
    endpoint: str | None
    query_fingerprint: str | None
    request_id: str | None = Field(description="The id its answer or error body carried")
    justification: str
    status: int | None
    results: int | None
    outcome: Literal["answered", "refused", "error", "unknown"] = Field(
        description="answered (2xx), refused (4xx), error (5xx: the service failed)")
    entry_id: str


class FederationCheck(Strict):
    """The last whole-federation check (`crossforce audit verify --federation D
    --record`): every node's ledger and this one, and the flows between them."""

    verified_at: str
    ok: bool
    nodes: list[str]
    checks: dict[str, Any]
    findings: list[dict[str, Any]]


class LedgerCheck(Strict):
    ok: bool
    entries: int
    head: str
    problems: list[str]
    federation: FederationCheck | None = None


class UserOut(Strict):
    name: str
    role: str
    key_id: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    state: str


class NewUser(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
    role: str = Field(pattern=r"^(analyst|auditor|admin|liaison:[^\x00-\x1f]{1,80})$")
    days: int = Field(90, ge=1, le=366)


class UserCreated(Strict):
    user: UserOut
    key: str = Field(description="shown once; the service keeps only its hash")


class Revoked(Strict):
    name: str
    revoked: int


class FlowRow(Strict):
    day: str
    force: str
    flow: Literal["sent by node", "received by coordinator", "hits sent to force"]
    payloads: int
    items: int
    links: int
    aggregates: int
    bytes: int


class ConsultationCount(Strict):
    actor: str
    purpose: str
    consultations: int
    first: str
    last: str


class Flows(Strict):
    first: str
    last: str
    daily: list[FlowRow]
    consultations: list[ConsultationCount]


class RecordingRow(Strict):
    force: str
    suppressed: list[str]
    r3_cases: int | None
    r3_flagged: int | None
    r3_not_flagged: int | None
    flagged_failing_r1: int | None
    r3_suspect_ethnicity: int | None
    r3_suspect_ethnicity_blank: int | None
    r3_suspect_nationality: int | None
    r3_suspect_nationality_blank: int | None
    recording_accuracy: float | None
    r3_suspect_ethnicity_blank_rate: float | None
    r3_suspect_nationality_blank_rate: float | None
