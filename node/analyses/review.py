"""`crossforce node analyse review`: Operation Beaconport — which closed group-based child
sexual abuse and exploitation cases are eligible for review (R7), ranked by the evidence
that appeared since closure, each explained line by line, with an HTML review pack per
case."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.analyses import CsvOption, DirOption, JsonOption, Result, Table, consult, emit
from node.analyses._cse_pack import write_pack
from node.analyses._cse_review import WEIGHTS, build_review
from node.analyses._cse_rules import evaluate
from node.analyses.cse import DefinitionOption, definition_for


def command(
    directory: Path = DirOption,
    pack: Annotated[Path | None, typer.Option(
        "--pack", help="Write one HTML review pack per eligible case into this folder.",
        file_okay=False)] = None,
    victim_criterion: Annotated[bool, typer.Option(
        "--victim-criterion", help="Also require a victim under 18. UNVERIFIED: the "
        "source of R7's victim criterion is truncated, so it is off unless asked "
        "for.")] = False,
    definition: Path | None = DefinitionOption,
    as_json: bool = JsonOption,
    csv_path: Path | None = CsvOption,
) -> None:
    """Closed cases eligible for Beaconport review (R7), ranked by new evidence.

    Eligible: a group-based child sexual offence (R1 and R3's group test; recorded as
    CSE or not, R2), closed with no further action in the review window, two or more
    suspects, all believed alive, not previously reviewed. Ranked by evidence since
    closure: cross-force hits received (suspects another force holds; suspects only in a
    cross-force network count far less unless they offended with a suspect another force
    holds), the network's size, the suspects' later cases, phones extracted after closure,
    their phones now held by persons in other cases, later intelligence. Each line shows
    its weight; cases with evidence from other forces come first.
    """
    d, named = definition_for(definition)
    if victim_criterion:
        d = d.model_copy(update={"r7": d.r7.model_copy(update={"victim_criterion": True})})
        named += " + the UNVERIFIED victim criterion"
    params = {"pack": str(pack) if pack else None, "victim_criterion": victim_criterion,
              "definition": named}
    with consult(directory, "review", params) as (con, counts):
        evaluate(con, d)
        build_review(con, d)
        result = _result(con, named, params)
        ranked = [r[1] for r in result.tables[0].rows]
        if pack is not None:
            force = con.execute("SELECT any_value(force) FROM ledger").fetchall()[0][0] or ""
            for rank, crime_id in enumerate(ranked, 1):
                write_pack(con, pack, crime_id, rank, force, named)
            result.notes.append(f"wrote {len(ranked)} review pack(s) to {pack}")
        counts.update({"closed_group_cases": result.summary["closed_group_cases"],
                       "eligible": result.summary["eligible"], "packs": len(ranked) * bool(pack)})
    emit(result, as_json, csv_path)


def _result(con, named: str, params: dict) -> Result:
    ranked = con.execute("""
        SELECT rank, crime_id, outcome_code, outcome_date, suspects, score, other_forces,
               (SELECT count(*) FROM cse_new n WHERE n.crime_id = r.crime_id)
        FROM cse_review r WHERE eligible ORDER BY rank""").fetchall()
    rank = {r[1]: r[0] for r in ranked}
    lines = con.execute("""SELECT crime_id, weight, line FROM cse_new
                           ORDER BY crime_id, weight DESC, line""").fetchall()
    evidence = sorted(((rank[c], c, w, line) for c, w, line in lines if c in rank),
                      key=lambda r: (r[0], -r[2], r[3]))
    ((closed, window, suspects, alive, reviewed, child, unrecorded),) = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE NOT in_window),
               count(*) FILTER (WHERE NOT enough_suspects), count(*) FILTER (WHERE NOT alive),
               count(*) FILTER (WHERE NOT not_reviewed), count(*) FILTER (WHERE NOT child_victim),
               count(*) FILTER (WHERE eligible AND NOT recorded_cse)
        FROM cse_review""").fetchall()
    summary = {"definition": named, "closed_group_cases": closed, "eligible": len(ranked),
               "outside_window": window, "fewer_suspects": suspects,
               "suspect_deceased": alive, "previously_reviewed": reviewed,
               "eligible_not_recorded_as_cse": unrecorded,
               "with_new_evidence": sum(1 for r in ranked if r[5] > 0)}
    notes = [
        "Eligible (R7): a group-based child sexual offence (R1 and R3's group test; "
        "Beaconport reviews abuse and exploitation, so R2's CSE flag or exchange is not "
        f"required: {unrecorded} eligible case(s) record neither), closed with a "
        "no-further-action outcome inside the review window, 2+ suspects, none recorded "
        "deceased, not previously reviewed. The victim "
        "criterion is UNVERIFIED and off by default (--victim-criterion turns it on; "
        f"{child} closed case(s) have no victim shown under 18).",
        "Weights: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in WEIGHTS.items())
        + ". A cross-force hit counts per suspect another force holds (the suspect or an "
        "identifier); a suspect only in a cross-force network, held by no other force, "
        "counts per other force when this force's records show them a co-suspect of a "
        "person another force holds in that network (network associate), else at the "
        "network-member weight, once per case. A later case, a report or a network counts "
        "once per case. Cases with evidence from other forces (cross-force hit, network "
        "associate: the 'from other forces' column) rank above every case without, then "
        "by score: the force could act on its own later evidence, not on what only other "
        "forces hold. A ranking is a work queue for reviewers, never a finding.",
    ]
    return Result("review", params, [
        Table("closed cases eligible for review, most new evidence first",
              ["rank", "case", "outcome", "closed", "suspects", "score",
               "from other forces", "evidence lines"],
              ranked),
        Table("new evidence since closure (one line each, with its weight)",
              ["rank", "case", "weight", "evidence"], evidence),
    ], summary, notes)
