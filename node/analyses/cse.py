"""`crossforce node analyse cse`: every crime against the national definition of group-based
CSE (DOMAIN.md §2 R1-R5), with the evidence behind each outcome, the mis-flag report and
the force's recording accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from federation.errors import CrossforceError
from node.analyses import CsvOption, DirOption, JsonOption, Result, Table, consult, emit
from node.analyses._cse_rules import ACCURACY_DEFINITION, evaluate, recording_accuracy
from policies.definition import CseDefinition, is_national, load_definition

DefinitionOption = typer.Option(
    None, "--definition", help="Dry-run a draft definition file instead of the national one "
    "(policies/definitions/cse.toml); results name the version they used.", dir_okay=False)
SUGGESTION = ("Every outcome is a suggestion for analyst confirmation, not a finding: check "
              "the evidence lines (--case ID) before changing a flag.")


def definition_for(path: Path | None) -> tuple[CseDefinition, str]:
    """The definition to apply and how to name it (national, or a draft dry run)."""
    d = load_definition(path)
    if path is None or is_national(d):
        return d, f"national definition {d.version[:12]}"
    return d, f"DRAFT definition {path.name} {d.version[:12]} (dry run: not the national one)"


def _yes(v: bool | None) -> str:
    return "?" if v is None else "yes" if v else "no"


def _short(v: bool | None) -> str:
    return "? " if v is None else "y " if v else "n "


def command(
    directory: Path = DirOption,
    case: Annotated[list[str] | None, typer.Option(
        "--case", help="Show every rule's outcome and evidence for this crime id "
        "(repeatable).")] = None,
    all_cases: Annotated[bool, typer.Option(
        "--all", help="List every child sexual offence evaluated, not only the "
        "mis-flags.")] = False,
    definition: Path | None = DefinitionOption,
    as_json: bool = JsonOption,
    csv_path: Path | None = CsvOption,
) -> None:
    """Apply the national definition of group-based CSE to every crime (R1-R5).

    R1 child sexual offence, R2 CSE candidate, R3 group-based (two or more associated
    suspects or facilitators; R4 facilitators count). Prints the mis-flag report (R5:
    cases meeting R3 that are not flagged, flagged cases failing R1), crimes that cannot
    be evaluated and why, and the force's recording accuracy. --case ID shows the evidence
    behind one case. Outcomes are suggestions for analyst confirmation.
    """
    d, named = definition_for(definition)
    params = {"case": case or [], "all": all_cases, "definition": named}
    with consult(directory, "cse", params) as (con, counts):
        evaluate(con, d)
        missing = [c for c in case or [] if not con.execute(
            "SELECT count(*) FROM cse_cases WHERE crime_id = ?", [c]).fetchall()[0][0]]
        if missing:
            raise CrossforceError(f"no crime {missing[0]!r} on this node; list the cases "
                                  "with crossforce node analyse cse --dir DIR --all")
        result = _result(con, d, named, params, case or [], all_cases)
        counts.update({k: v for k, v in result.summary.items() if isinstance(v, int)})
    emit(result, as_json, csv_path)


def _result(con, d: CseDefinition, named: str, params: dict, cases: list[str],
            all_cases: bool) -> Result:
    ((crimes, sexual, r1, r2, r3, unknown, flagged, not_flagged, fails),) = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE list_contains($codes, ho_offence_code)),
               count(*) FILTER (WHERE r1), count(*) FILTER (WHERE r2),
               count(*) FILTER (WHERE r3), count(*) FILTER (WHERE reason IS NOT NULL),
               count(*) FILTER (WHERE flagged), count(*) FILTER (WHERE misflag LIKE 'R3%'),
               count(*) FILTER (WHERE misflag LIKE 'flagged%')
        FROM cse_cases""", {"codes": d.offences.sexual}).fetchall()
    n3, ok, accuracy = recording_accuracy(con)
    summary = {"definition": named, "crimes": crimes, "child_sexual_offences": sexual,
               "r1": r1, "r2": r2, "r3": r3, "cannot_evaluate": unknown,
               "flagged_group_cse": flagged, "r3_not_flagged": not_flagged,
               "flagged_failing_r1": fails,
               "recording_accuracy": (f"{accuracy:.1%} ({ok} of {n3})" if accuracy is not None
                                      else "no case meets R3")}
    tables = [_case_table(con, c) for c in cases]
    rows = con.execute(f"""
        SELECT c.crime_id, c.ho_offence_code, c.date_from, c.r1, c.r2, c.r3,
               concat_ws(' ', CASE WHEN flag_cse THEN 'cse' END, CASE WHEN flag_csa
                         THEN 'csa' END, CASE WHEN flag_group THEN 'group' END) AS flags,
               coalesce(c.misflag, c.reason, '') AS finding,
               CASE WHEN c.misflag LIKE 'R3%' THEN
                        c.group_size || ' persons: ' || (
                        SELECT string_agg(DISTINCT replace(replace(l.kind, 'co_', 'co-'),
                                                           '_', ' '), ', ')
                        FROM cse_links l JOIN cse_cand x ON x.who = l.a
                        JOIN cse_cand y ON y.who = l.b AND y.crime_id = x.crime_id
                        WHERE x.crime_id = c.crime_id)
                    WHEN c.misflag IS NOT NULL THEN coalesce((
                        SELECT string_agg(line, '; ') FROM cse_evidence e
                        WHERE e.crime_id = c.crime_id AND e.rule = 'R1'),
                        'offence ' || c.ho_offence_code || ' is not a child sexual offence '
                        || 'in [offences] sexual')
                    ELSE '' END AS why
        FROM cse_cases c
        WHERE {'list_contains($codes, c.ho_offence_code) OR c.any_flag' if all_cases
               else 'c.misflag IS NOT NULL OR c.reason IS NOT NULL'}
        ORDER BY c.misflag IS NULL, c.reason IS NULL, c.crime_id""",
                       {"codes": d.offences.sexual} if all_cases else None).fetchall()
    title = "cases (every child sexual offence or flagged case)" if all_cases else \
        "mis-flags (R5) and crimes that cannot be evaluated"
    main = Table(title, ["case", "code", "year", "R1 R2 R3", "flags", "finding", "why"],
                 [(r[0], r[1], r[2].year if r[2] else None,
                   " ".join(_short(v) for v in r[3:6]), *r[6:]) for r in rows])
    notes = [f"Rules: {named}. {SUGGESTION}", ACCURACY_DEFINITION + ".",
             "R1-R3 '?' means cannot evaluate: the finding says why (impossible dates, a "
             "victim with no date of birth or age range); it is never read as 'no'."]
    return Result("cse", params, tables if cases else [main], summary, notes)


def _case_table(con, crime_id: str) -> Table:
    ((ref, code, desc, r1, r2, r3, reason, misflag),) = con.execute(
        "SELECT crime_ref, ho_offence_code, offence_description, r1, r2, r3, reason, "
        "misflag FROM cse_cases WHERE crime_id = ?", [crime_id]).fetchall()
    lines = con.execute("""SELECT rule, line FROM cse_evidence WHERE crime_id = ?
                           ORDER BY rule, line""", [crime_id]).fetchall()
    outcome = {"R1": r1, "R2": r2, "R3": r3}
    rows = [(rule, _yes(outcome.get(rule)) if rule in outcome else "", line)
            for rule, line in lines]
    if reason:
        rows.insert(0, ("R1", "?", f"cannot evaluate: {reason}"))
    if not any(r[0] == "R3" for r in rows) and r2:
        rows.append(("R3", "no", "no two counting persons associated"))
    title = f"case {crime_id} ({ref or 'no ref'}; {code} {desc or ''}".rstrip() + ")"
    if misflag:
        title += f" — {misflag}"
    return Table(title, ["rule", "met", "evidence (suggestion for analyst confirmation)"],
                 rows)
