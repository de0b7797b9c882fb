"""FEBRL4 through the product's own commands: two node folders, egress, coordinator, hits.

Egress shares a person only for a role in an in-scope crime, so each FEBRL record becomes a
suspect in a crime of its own (CSE-flagged, HO code 88A, 2020: inside the default
`cse-national` scope, so no custom policy is needed). One crime per person keeps the
co-suspect links empty: one shared crime would join unrelated people into one network.
No social-security number is written anywhere. The node layout and the commands are
`bench.real_path`'s, shared with `bench_linkage_real`.

    febrl4_forces(seed, subset)             -> {"force-a": dfA, "force-b": dfB}
    write_force(df, folder, addresses)      persons.csv, crimes.csv, roles.csv, addresses.csv
    real_path(people, work, run, addresses) -> RealPathRun (predicted pairs, seconds per step)
    pairwise(predicted, truth)              -> precision, recall, F1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.real_path import (  # noqa: F401  (cli_runner, Runner: this module's old API)
    OFFENCE_CODE,
    Runner,
    cli_runner,
    run_real_path,
    write_records,
)

FORCES = ("force-a", "force-b")


def febrl4_forces(seed: int = 42, subset: int | None = None) -> dict[str, Any]:
    """FEBRL4 A and B, half of A's records dropped (half of B has no partner): the very
    draw `bench_linkage` links directly, so the two paths score the same people."""
    from bench.bench_linkage import febrl4_people

    people = febrl4_people(seed=seed, subset=subset)
    return dict(zip(FORCES, people.values(), strict=True))


def common_layout(df: Any) -> Any:
    """A FEBRL frame (indexed by rec_id) in `bench.real_path`'s common record layout; the
    date of birth as raw ISO text (FEBRL writes YYYYMMDD; some are impossible dates)."""
    out = df.reset_index().rename(columns={"rec_id": "record_id", "suburb": "city"})
    dob = out["date_of_birth"].astype("string")
    out["dob"] = dob.str[:4] + "-" + dob.str[4:6] + "-" + dob.str[6:8]
    return out.drop(columns=["date_of_birth", "soc_sec_id", "state"], errors="ignore")


def write_force(df: Any, folder: Path, addresses: bool = True) -> Path:
    """Write one force's input folder in the node layout. Dates of birth that are not real
    dates (FEBRL has some) are left blank, as a force would record them."""
    return write_records(common_layout(df), folder, addresses)


def true_pairs(people: dict[str, Any]) -> set[tuple[str, str]]:
    """(A rec_id, B rec_id) of one FEBRL person: rec-N-org ~ rec-N-dup-0."""
    a, b = (people[f] for f in FORCES)
    by_number = {i.split("-")[1]: i for i in a.index}
    return {(by_number[i.split("-")[1]], i) for i in b.index
            if i.split("-")[1] in by_number}


@dataclass
class RealPathRun:
    """What the real path produced: the pairs both nodes resolved to one national entity,
    and wall seconds per step (a step over both forces sums them)."""

    predicted: set[tuple[str, str]]
    seconds: dict[str, float] = field(default_factory=dict)


def real_path(people: dict[str, Any], work: Path, run: Runner | None = None,
              addresses: bool = True) -> RealPathRun:
    """Ingest each force in its own node, share, submit, link, and resolve the hits back
    to each node's own person ids; only the public CLI is used."""
    done = run_real_path({f: common_layout(people[f]) for f in FORCES}, work, run, addresses)
    members: dict[int, dict[str, list[str]]] = {}
    for (force, record), entity in done.entity.items():
        members.setdefault(entity, {}).setdefault(force, []).append(record)
    a, b = FORCES
    predicted = {(x, y) for m in members.values() for x in m.get(a, []) for y in m.get(b, [])}
    return RealPathRun(predicted, done.seconds)


def pairwise(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]
             ) -> dict[str, float]:
    """Pairwise precision, recall and F1 of cross-force pairs against the truth."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "true_pairs": len(truth), "found_pairs": len(predicted)}
