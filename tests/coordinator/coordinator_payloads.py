"""Real signed payloads for the coordinator tests, made the way a node makes them.

A `PoliceForce` holds raw records (names, dates of birth, postcodes, phone numbers),
normalises and tokenises them with the real `federation` code under a shared token key,
and seals the resulting ShareSet with its own Ed25519 key. The coordinator under test only
ever sees the sealed bytes.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest

from federation.keys import NodeKeys, Signer, load_public_key
from federation.matchkeys import match_key_tokens
from federation.normalise import normalise_phone
from federation.payload import (
    AGGREGATES_SCHEMA,
    LINKS_SCHEMA,
    TOKENS_SCHEMA,
    ShareSet,
    Submission,
)
from federation.tokens import Tokeniser

TOKEN_KEY = hashlib.sha256(b"test federation token key, purpose op-test, epoch 1").digest()
PURPOSE = "op-test"
REF = pa.binary(16)


@dataclass(frozen=True)
class Person:
    """A nominal as a force records it. 07700 900xxx numbers are Ofcom's drama range."""

    key: str  # the force's own person id
    given_names: str
    family_name: str
    dob: str
    postcode: str
    phone: str
    role: str = "suspect"


KYLE = Person("P1", "Kyle", "Brennan", "1998-03-14", "LS1 4DY", "07700 900123")
MARCUS = Person("P2", "Marcus", "Okonjo-Hale", "1995-11-02", "BD7 1DP", "07700 900456")
DEAN = Person("P3", "Dean", "Whitlock", "2001-06-30", "PR1 2HE", "07700 900789")
AMY = Person("P4", "Amy", "Fairbrother", "2009-01-17", "LA1 1XN", "07700 900321", "victim")

#: every raw value of the people above (the canary test looks for each)
RAW_VALUES: tuple[str, ...] = tuple(
    v for p in (KYLE, MARCUS, DEAN, AMY)
    for v in (p.given_names, p.family_name, f"{p.given_names} {p.family_name}", p.dob,
              p.dob.replace("-", ""), p.postcode, p.phone, normalise_phone(p.phone) or ""))


def ref(force: str, purpose: str, key: str) -> bytes:
    """A force's opaque reference: stable per force/purpose, meaningless to anyone else."""
    return hashlib.sha256(f"ref/{force}/{purpose}/{key}".encode()).digest()[:16]


@dataclass
class PoliceForce:
    name: str
    signer: Signer = field(default_factory=Signer.generate)

    @classmethod
    def with_keys(cls, root: Path, name: str) -> tuple[PoliceForce, Path]:
        """A force with a real keys folder; returns the path of its public.json."""
        keys = NodeKeys.create(root / name.replace(" ", "_") / "keys", name)
        return cls(name, keys.signer), keys.keys_dir / "public.json"

    def share_set(self, people: list[Person], *, purpose: str = PURPOSE, epoch: int = 1,
                  token_key: bytes = TOKEN_KEY, co_suspects: bool = True) -> ShareSet:
        """Items (persons + phones), match-key and phone tokens, person→phone and
        co-suspect links, one suppressed and one rounded aggregate — all on the national
        vocabularies and layout, as the coordinator's payload rules require."""
        tokeniser = Tokeniser(token_key)
        person_refs = [ref(self.name, purpose, p.key) for p in people]
        phone_refs = [ref(self.name, purpose, p.key + "/phone") for p in people]
        items = pa.table({
            "ref": pa.array(person_refs + phone_refs, REF),
            "kind": ["person"] * len(people) + ["phone"] * len(people),
            "role": [p.role for p in people] * 2,
            "offence_category": ["cse"] * (2 * len(people)),
        })
        persons = pa.table({"given_names": [p.given_names for p in people],
                            "family_name": [p.family_name for p in people],
                            "dob": [p.dob for p in people],
                            "postcode": [p.postcode for p in people]})
        mk = match_key_tokens(persons, tokeniser)
        mk_refs = pa.array([person_refs[i] for i in mk.column("row").to_pylist()], REF)
        phones = [normalise_phone(p.phone) or "" for p in people]
        phone_tokens = tokeniser.tokens("phone", phones)
        tokens = pa.concat_tables([
            pa.table({"ref": mk_refs, "token_kind": mk.column("token_kind"),
                      "token": mk.column("token")}, schema=TOKENS_SCHEMA),
            pa.table({"ref": pa.array(phone_refs, REF), "token_kind": ["phone"] * len(people),
                      "token": pa.array([bytes(t) for t in phone_tokens], REF)},
                     schema=TOKENS_SCHEMA)])
        pairs = [(person_refs[i], phone_refs[i], "person_identifier", 1)
                 for i in range(len(people))]
        if co_suspects:
            suspects = [r for r, p in zip(person_refs, people, strict=True)
                        if p.role != "victim"]
            pairs += [(a, b, "co_suspect", 1) for a, b in
                      zip(suspects, suspects[1:], strict=False)]
            victims = [phone_refs[i] for i, p in enumerate(people) if p.role == "victim"]
            pairs += [(phone_refs[0], v, "communication", 20) for v in victims]
        links = pa.table({"ref_a": pa.array([p[0] for p in pairs], REF),
                          "ref_b": pa.array([p[1] for p in pairs], REF),
                          "kind": [p[2] for p in pairs],
                          "weight": pa.array([p[3] for p in pairs], pa.int32())},
                         schema=LINKS_SCHEMA)
        aggregates = pa.table({"name": ["crimes_by_category_year"] * 2,
                               "cell": ['{"offence_category":"cse","year":"2025"}',
                                        '{"offence_category":"cse","year":"2026"}'],
                               "count": pa.array([None, 25], pa.int64())},
                              schema=AGGREGATES_SCHEMA)
        return ShareSet(self.name, purpose, epoch, "policy-sha256-test", items, tokens,
                        links, aggregates)

    def payload(self, people: list[Person], *, payload_id: str | None = None,
                encrypt_to: bytes | None = None, **kwargs: object) -> bytes:
        share = self.share_set(people, **kwargs)  # type: ignore[arg-type]
        return Submission.seal(share, self.signer, payload_id=payload_id,
                               encrypt_to=encrypt_to).to_bytes()


# --------------------------------------------------------------------------- fixture

LANCS, WYP = "Lancashire", "West Yorkshire"


@dataclass
class Federation:
    """A coordinator folder with Lancashire and West Yorkshire registered, and the two
    forces' signing keys. Payload files go in ``root``."""

    root: Path
    dir: Path
    lancs: PoliceForce
    wyp: PoliceForce

    @classmethod
    def at(cls, root: Path) -> Federation:
        """The federation made by ``federation_template`` (or a copy of it) at ``root``."""
        lancs, wyp = (PoliceForce(f, NodeKeys.load(root / f.replace(" ", "_") / "keys").signer)
                      for f in (LANCS, WYP))
        return cls(root, root / "coordinator", lancs, wyp)

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def counts(self) -> dict[str, int]:
        from coordinator.store import open_store, table_counts

        with open_store(self.dir) as store:
            return table_counts(store.con)

    def store(self):  # type: ignore[no-untyped-def]
        from coordinator.store import open_store

        return open_store(self.dir)


@pytest.fixture(scope="session")
def federation_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One coordinator with both forces registered per session; tests get copies."""
    from coordinator.registry import register_force
    from coordinator.store import init_store

    root = tmp_path_factory.mktemp("federation")
    store = init_store(root / "coordinator")
    try:
        for force in (LANCS, WYP):
            _, key = PoliceForce.with_keys(root, force)
            register_force(store.con, store.ledger, force, load_public_key(key))
    finally:
        store.close()
    return root


@pytest.fixture
def federation(federation_template: Path, tmp_path: Path) -> Federation:
    """A coordinator folder with Lancashire and West Yorkshire registered (``init`` and
    ``register`` themselves are tested through the CLI on their own)."""
    root = tmp_path / "federation"
    shutil.copytree(federation_template, root)
    return Federation.at(root)
