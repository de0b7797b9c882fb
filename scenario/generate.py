"""Generate a synthetic multi-force scenario: one node-input folder per force + ``truth/``.

The cross-force truth (planted networks, their people, look-alikes) is built centrally
first; each force is then generated independently (two worker processes at scale) from a
random stream derived from (seed, force index), so the same seed gives byte-identical
files whatever the scheduling. Everything is built in a sibling temporary folder and
renamed into place at the end: an error or Ctrl-C leaves nothing half-written.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from federation import layout
from federation.errors import CrossforceError
from scenario.catalogue import Force, forces
from scenario.devices import extractions
from scenario.force import ForceGenerator, ForceJob
from scenario.messy import DEFAULT_DIRTY_DOBS, DEFAULT_DUPLICATES
from scenario.names import pools, streets
from scenario.tables import Format, file_format, write
from scenario.world import World, build_world

GENERATOR_VERSION = "2"
MAX_FORCES = len(forces())
MIN_PERSONS = 50
DEFAULT_FLAG_ACCURACY = 0.37
INLINE_LIMIT = 60_000  # below this many records in all, skip the process pool


@dataclass
class ScenarioSummary:
    """What was generated: per-force row counts and the headline truth."""
    out: Path
    forces: list[str]
    counts: dict[str, dict[str, int]]
    networks: list[tuple[str, str, list[str]]] = field(default_factory=list)
    cross_force_people: int = 0
    lookalikes: int = 0
    group_cse_cases: int = 0
    flagged_correctly: int = 0
    review_eligible: int = 0

    def total(self, table: str) -> int:
        return sum(c.get(table, 0) for c in self.counts.values())

    def describe(self) -> str:
        spans = {}
        for _, _, fs in self.networks:
            spans[len(fs)] = spans.get(len(fs), 0) + 1
        kinds: dict[str, int] = {}
        for _, k, _ in self.networks:
            kinds[k] = kinds.get(k, 0) + 1
        share = (self.flagged_correctly / self.group_cse_cases) if self.group_cse_cases else 0
        lines = [
            f"Scenario in {self.out}",
            f"  forces:    {len(self.forces)} ({', '.join(self.forces[:6])}"
            f"{', ...' if len(self.forces) > 6 else ''})",
            f"  persons:   {self.total('persons'):,}   crimes: {self.total('crimes'):,}   "
            f"roles: {self.total('roles'):,}",
            f"  devices:   {self.total('devices'):,}   calls: {self.total('calls'):,}   "
            f"messages: {self.total('messages'):,}   contacts: {self.total('contacts'):,}",
            f"  planted networks: {len(self.networks)} "
            f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
            "spanning " + ", ".join(f"{k} forces: {v}" for k, v in sorted(spans.items())),
            f"  cross-force people: {self.cross_force_people}   look-alikes: {self.lookalikes}",
            f"  group-based CSE cases: {self.group_cse_cases} "
            f"({share:.0%} flagged correctly); closed cases eligible for review: "
            f"{self.review_eligible}",
        ]
        return "\n".join(lines)


def _check(out: Path, n_forces: int, persons: int, seed: int, overwrite: bool,
           flag_accuracy: float, fmt: str, duplicates: float = 0.0,
           dirty_dobs: float = 0.0) -> None:
    if fmt not in ("auto", "csv", "parquet"):
        raise CrossforceError(f"--format must be auto, csv or parquet, not {fmt!r}")
    if not 1 <= n_forces <= MAX_FORCES:
        raise CrossforceError(f"--forces must be between 1 and {MAX_FORCES} (the territorial "
                              f"forces of England and Wales), not {n_forces}")
    if persons < MIN_PERSONS:
        raise CrossforceError(f"--persons-per-force must be at least {MIN_PERSONS}, "
                              f"not {persons}")
    if seed < 0:
        raise CrossforceError(f"--seed must be 0 or more, not {seed}")
    if not 0.0 <= flag_accuracy <= 1.0:
        raise CrossforceError(f"--flag-accuracy must be between 0 and 1, not {flag_accuracy}")
    if not 0.0 <= duplicates <= 0.9:
        raise CrossforceError(f"--duplicates must be between 0 and 0.9, not {duplicates}")
    if not 0.0 <= dirty_dobs <= 0.5:
        raise CrossforceError(f"--dirty-dobs must be between 0 and 0.5, not {dirty_dobs}")
    if out.exists() and not out.is_dir():
        raise CrossforceError(f"--out {out} is a file; give a folder path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CrossforceError(f"--out {out} exists and is not empty; choose another folder "
                              f"or pass --force to replace it")


def _force_job(world: World, force: Force, seed: int, persons: int,
               flag_accuracy: float, duplicates: float = DEFAULT_DUPLICATES,
               dirty_dobs: float = DEFAULT_DIRTY_DOBS) -> ForceJob:
    return ForceJob(force=force, seed=seed, persons=persons, flag_accuracy=flag_accuracy,
                    planted=world.in_force(force.index),
                    networks=world.networks_in(force.index), duplicates=duplicates,
                    dirty_dobs=dirty_dobs)


def _run_force(args: tuple[ForceJob, str, str]) -> tuple[str, dict[str, int], pa.Table,
                                                          pa.Table, dict[str, int], pa.Table,
                                                          pa.Table]:
    """Generate and write one force's folder; returns counts and its truth rows."""
    job, tmp, fmt = args
    gen = ForceGenerator(job, job.seed)
    gen.planted()
    n_bg = job.persons - len(gen.people.real_id)
    if n_bg < 20:
        raise CrossforceError(
            f"--persons-per-force {job.persons} leaves no room for background people in "
            f"{job.force.slug}; use at least {len(gen.people.real_id) + 20}")
    gen.background(n_bg)
    gen.flush_planted_rows()
    gen.crimes()
    gen.assign_ids()
    persons, truth_persons = gen.person_table()
    crimes, truth_cases = gen.crime_table()
    intel, intel_links = gen.intel()
    tables = {"persons": persons, "crimes": crimes, "roles": gen.role_table(),
              "identifiers": gen.ident.build(gen.person_ids),
              "addresses": gen.addr.build(gen.person_ids),
              "vehicles": gen.veh.build(gen.person_ids), "intel": intel,
              "intel_links": intel_links}
    tables.update(extractions(gen))
    truth_handovers = tables.pop("truth_handovers")
    folder = Path(tmp) / job.force.slug
    folder.mkdir(parents=True)
    counts = {}
    for t in layout.TABLES:
        data = tables[t.name]
        write(data, folder / t.name, file_format(t, data.num_rows, fmt))
        counts[t.name] = data.num_rows
    g = truth_cases.column("group_cse").to_numpy(zero_copy_only=False)
    ok = truth_cases.column("flagged_correctly").to_numpy(zero_copy_only=False)
    stats = {"group_cse": int(g.sum()), "flagged_correctly": int((g & ok).sum()),
             "review_eligible": int(truth_cases.column("review_eligible")
                                    .to_numpy(zero_copy_only=False).sum())}
    return (job.force.slug, counts, truth_persons, truth_cases, stats, truth_handovers,
            tables["truth_languages"])


def _init_worker() -> None:
    # Ctrl-C is the parent's to handle (it terminates the pool and removes the half-written
    # folder); a worker that died of it mid-task would leave the pool waiting for ever
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pools()
    streets()


def generate(out: Path, *, forces: int, persons_per_force: int, seed: int,
             overwrite: bool = False, progress: bool = True,
             fmt: Format = "auto", flag_accuracy: float = DEFAULT_FLAG_ACCURACY,
             workers: int = 2, duplicates: float = DEFAULT_DUPLICATES,
             dirty_dobs: float = DEFAULT_DIRTY_DOBS) -> ScenarioSummary:
    """Write a scenario of `forces` forces with `persons_per_force` records each.

    `duplicates`: share of real people with two or more records in one force;
    `dirty_dobs`: share of dates of birth written in a form no DATE column holds
    ("1985", "1997-21-25"), which makes persons.dob a text column."""
    out = Path(out)
    n_forces = forces
    _check(out, n_forces, persons_per_force, seed, overwrite, flag_accuracy, fmt,
           duplicates, dirty_dobs)
    from scenario.catalogue import forces as all_forces

    chosen = list(all_forces()[:n_forces])
    world = build_world(np.random.default_rng([seed, 1_000_003]), n_forces, persons_per_force)
    jobs = [_force_job(world, f, seed, persons_per_force, flag_accuracy, duplicates,
                       dirty_dobs) for f in chosen]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        results = _run_all(jobs, tmp, fmt, progress, workers,
                           n_forces * persons_per_force > INLINE_LIMIT)
        summary = _write_truth(tmp, out, world, chosen, results, seed, persons_per_force,
                               fmt, flag_accuracy, duplicates, dirty_dobs)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _run_all(jobs: list[ForceJob], tmp: Path, fmt: str, progress: bool, workers: int,
             pooled: bool) -> dict[str, tuple]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    results: dict[str, tuple] = {}
    args = [(j, str(tmp), fmt) for j in jobs]
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), disable=not progress,
                  transient=False) as bar:
        task = bar.add_task("generating forces", total=len(jobs))
        if pooled and len(jobs) > 1 and workers > 1:
            ctx = mp.get_context("spawn")
            with ctx.Pool(min(workers, len(jobs)), initializer=_init_worker) as pool:
                try:
                    for r in pool.imap_unordered(_run_force, args):
                        results[r[0]] = r
                        bar.advance(task)
                except BaseException:
                    pool.terminate()
                    raise
        else:
            for a in args:
                r = _run_force(a)
                results[r[0]] = r
                bar.advance(task)
    return results


def _write_members(truth: Path, world: World, slugs: list[str]) -> None:
    """truth/network_members.csv: each planted network's people and their part in it
    (organiser: the member who leads; facilitator; offender; victim contact)."""
    rows = [(n.network_id, p.real_id,
             "organiser" if p.real_id == n.organiser else
             "victim contact" if p.kind == "victim" else p.kind,
             slugs[p.home], "|".join(slugs[f] for f in p.forces))
            for n in world.networks for p in [*n.members, *n.victims]]
    names = ("network_id", "real_id", "role", "home_force", "forces")
    pacsv.write_csv(pa.table([pa.array([r[i] for r in rows], pa.string())
                              for i in range(len(names))], names=list(names)),
                    truth / "network_members.csv")


def _write_truth(tmp: Path, out: Path, world: World, chosen: list[Force],
                 results: dict[str, tuple], seed: int, persons: int, fmt: str,
                 flag_accuracy: float, duplicates: float,
                 dirty_dobs: float) -> ScenarioSummary:
    truth = tmp / "truth"
    truth.mkdir()
    slugs = [f.slug for f in chosen]
    pacsv.write_csv(pa.concat_tables([results[s][2] for s in slugs]), truth / "persons.csv")
    pacsv.write_csv(pa.concat_tables([results[s][3] for s in slugs]), truth / "cases.csv")
    # the language each message body was written in (node.language is scored against it)
    pacsv.write_csv(pa.concat_tables([results[s][6] for s in slugs]), truth / "languages.csv")
    nets = [(n.network_id, n.kind, [slugs[i] for i in n.forces]) for n in world.networks]
    pacsv.write_csv(pa.table({
        "network_id": [n[0] for n in nets], "kind": [n[1] for n in nets],
        "forces": ["|".join(n[2]) for n in nets],
        "size": [len(n.members) for n in world.networks],
        "organiser": [n.organiser for n in world.networks],
    }, schema=pa.schema([("network_id", pa.string()), ("kind", pa.string()),
                         ("forces", pa.string()), ("size", pa.int64()),
                         ("organiser", pa.string())])),
        truth / "networks.csv")
    _write_members(truth, world, slugs)
    pacsv.write_csv(pa.concat_tables([results[s][5] for s in slugs]),
                    truth / "handovers.csv")
    counts = {s: results[s][1] for s in slugs}
    (truth / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    (truth / "scenario.json").write_text(json.dumps({
        "generator_version": GENERATOR_VERSION, "seed": seed, "forces": len(slugs),
        "persons_per_force": persons, "format": fmt, "flag_accuracy": flag_accuracy,
        "duplicates": duplicates, "dirty_dobs": dirty_dobs, "force_slugs": slugs,
    }, indent=2) + "\n")
    stats = [results[s][4] for s in slugs]
    return ScenarioSummary(
        out=out, forces=slugs, counts=counts, networks=nets,
        cross_force_people=sum(1 for p in world.people
                               if len(p.forces) >= 2 and p.kind != "victim"),
        lookalikes=sum(1 for p in world.people if p.kind == "lookalike"),
        group_cse_cases=sum(s["group_cse"] for s in stats),
        flagged_correctly=sum(s["flagged_correctly"] for s in stats),
        review_eligible=sum(s["review_eligible"] for s in stats),
    )
