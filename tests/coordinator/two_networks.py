"""A real coordinator store holding two cross-force networks, made from signed payloads.

- North: Lancashire and West Yorkshire both know Kyle. Lancashire has Dean with him, and
  Amy, a child it records as a victim; West Yorkshire has Marcus, and Amy again (as a
  witness). The coordinator links Kyle, so Dean and Marcus are one network — Amy is hidden.
- South: Cumbria and Greater Manchester both know Jordan. Cumbria has Liam and Tyler with
  him, Greater Manchester has Ryan.

Everything goes through the public commands (`coordinator register`, `submit`, `link`,
run in-process like the demo runs them), from payloads a `PoliceForce` tokenised and sealed
as a node would.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenario.demo import crossforce, crossforce_json
from tests.coordinator.coordinator_payloads import (
    AMY,
    DEAN,
    KYLE,
    LANCS,
    MARCUS,
    PURPOSE,
    WYP,
    Federation,
    Person,
    PoliceForce,
    ref,
)

CUMBRIA, GMP = "Cumbria", "Greater Manchester"
JORDAN = Person("S1", "Jordan", "Ashworth", "1997-08-09", "CA1 1RR", "07700 900654")
LIAM = Person("S2", "Liam", "Thwaite", "2000-02-21", "CA2 5AB", "07700 900987")
TYLER = Person("S3", "Tyler", "Grimshaw", "1999-12-12", "CA3 9QQ", "07700 900111")
RYAN = Person("S4", "Ryan", "Quayle", "1996-04-04", "M1 1AE", "07700 900222")
#: Amy as West Yorkshire records her: a witness in Marcus's case, not flagged victim
AMY_WITNESS = Person("W7", AMY.given_names, AMY.family_name, AMY.dob, AMY.postcode,
                     AMY.phone, "witness")
PAYLOADS: dict[str, list[Person]] = {
    LANCS: [KYLE, DEAN, AMY], WYP: [KYLE, MARCUS, AMY_WITNESS],
    CUMBRIA: [JORDAN, LIAM, TYLER], GMP: [JORDAN, RYAN]}


@dataclass(frozen=True)
class TwoNetworks:
    dir: Path
    networks: list[dict[str, Any]]   # `coordinator networks --json`
    own: dict[str, dict[str, int]]   # force -> its own ref (hex) -> entity id

    def entity(self, force: str, person: Person, phone: bool = False) -> int:
        """The entity id of a force's person (or their phone), from the force's own view."""
        return self.own[force][ref(force, PURPOSE, person.key + ("/phone" if phone else ""))
                               .hex()]

    @property
    def amy(self) -> set[int]:
        """Amy's entity ids (person, phone): a victim, never to be seen."""
        return {self.entity(LANCS, AMY), self.entity(LANCS, AMY, phone=True)}


def build(template: Path, root: Path) -> TwoNetworks:
    """Copy the two-force `federation_template` to ``root``, register Cumbria and Greater
    Manchester, submit the four forces' payloads and link."""
    shutil.copytree(template, root)
    fed = Federation.at(root)
    forces = {LANCS: fed.lancs, WYP: fed.wyp}
    for name in (CUMBRIA, GMP):
        forces[name], key = PoliceForce.with_keys(root, name)
        crossforce("coordinator", "register", "--dir", fed.dir, "--force", name,
                   "--public-key", key)
    files = [fed.write(f"{name}.cfsub", forces[name].payload(people))
             for name, people in PAYLOADS.items()]
    crossforce("coordinator", "submit", "--dir", fed.dir, *files)
    crossforce("coordinator", "link", "--dir", fed.dir)
    networks = crossforce_json("coordinator", "networks", "--dir", fed.dir, "--json")
    own = {force: {row["ref"]: row["entity_id"] for row in crossforce_json(
        "coordinator", "entities", "--dir", fed.dir, "--format", "json", "--force", force)}
        for force in PAYLOADS}
    return TwoNetworks(fed.dir, networks, own)
