"""`crossforce node analyse completeness`: R6 — are ethnicity and nationality recorded for
the suspects and victims of CSE cases? (Casey audit: missing for about two-thirds.)"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.analyses import CsvOption, DirOption, JsonOption, Result, Table, consult, emit
from node.analyses._cse_fill import FIELDS, build_fill
from node.analyses._cse_rules import evaluate
from node.analyses.cse import DefinitionOption, definition_for

SCOPE_NAMES = {"r3": "R3 cases", "cse": "all CSE cases"}


def command(
    directory: Path = DirOption,
    by_year: Annotated[bool, typer.Option(
        "--by-year/--no-by-year", help="One row per year of the offence (default), or only "
        "the totals.")] = True,
    definition: Path | None = DefinitionOption,
    as_json: bool = JsonOption,
    csv_path: Path | None = CsvOption,
) -> None:
    """Ethnicity and nationality fill rates in CSE cases (R6), by year.

    For the suspects (and facilitators) and victims of cases meeting R3 and of all CSE
    cases (R2, or flagged CSE by the force): the share with self-defined ethnicity,
    officer-observed ethnicity and nationality recorded / explicitly not stated / blank.
    Also lists the R3 suspects who fail the R6 gate (no ethnicity at all, or no
    nationality, not even 'not stated').
    """
    d, named = definition_for(definition)
    params = {"by_year": by_year, "definition": named}
    with consult(directory, "completeness", params) as (con, counts):
        evaluate(con, d)
        build_fill(con, d)
        result = _result(con, named, params, by_year)
        counts.update({"rows": len(result.tables[0].rows),
                       "gate_failures": result.summary["r6_gate_failures"]})
    emit(result, as_json, csv_path)


def _rate(field: str) -> str:
    """SQL: 'recorded / not stated / blank' as whole per cents."""
    return " || ' / ' || ".join(
        f"CAST(round(100 * avg(({field} = '{s}')::INT)) AS INTEGER)"
        for s in ("recorded", "not_stated", "blank"))


def _result(con, named: str, params: dict, by_year: bool) -> Result:
    year = "CAST(year AS VARCHAR)" if by_year else "'all'"
    rates = ", ".join(_rate(c) for c, _ in FIELDS)
    rows = con.execute(f"""
        SELECT scope, role, coalesce({year}, 'no date') AS y, count(DISTINCT person_id),
               {rates}
        FROM (SELECT DISTINCT scope, year, role, person_id, ethnicity_self,
                     ethnicity_officer, nationality FROM cse_fill)
        GROUP BY ALL
        UNION ALL
        SELECT scope, role, 'all years', count(DISTINCT person_id), {rates}
        FROM (SELECT DISTINCT scope, role, person_id, ethnicity_self, ethnicity_officer,
                     nationality FROM cse_fill)
        GROUP BY ALL
        ORDER BY scope DESC, role, y = 'all years', y""").fetchall()
    if not by_year:
        rows = [r for r in rows if r[2] == "all years"]
    table = Table("fill rates, % recorded / not stated / blank",
                  ["cases", "role", "year", "persons", *(label for _, label in FIELDS)],
                  [(SCOPE_NAMES[r[0]], *r[1:]) for r in rows])
    gaps = con.execute("""
        SELECT person_id, string_agg(DISTINCT crime_id, ', ' ORDER BY crime_id),
               concat_ws(', ',
                   CASE WHEN bool_and(ethnicity_self = 'blank' AND ethnicity_officer = 'blank')
                        THEN 'ethnicity' END,
                   CASE WHEN bool_and(nationality = 'blank') THEN 'nationality' END)
        FROM cse_fill
        WHERE scope = 'r3' AND role = 'suspect'
          AND ((ethnicity_self = 'blank' AND ethnicity_officer = 'blank')
               OR nationality = 'blank')
        GROUP BY person_id ORDER BY person_id""").fetchall()
    ((suspects,),) = con.execute("""SELECT count(DISTINCT person_id) FROM cse_fill
                                    WHERE scope = 'r3' AND role = 'suspect'""").fetchall()
    gate = Table("R6 gate: suspects in R3 cases with no ethnicity or no nationality",
                 ["suspect", "cases", "blank"], gaps)
    summary = {"definition": named, "r3_suspects": suspects, "r6_gate_failures": len(gaps),
               "r6_gate_met": (f"{1 - len(gaps) / suspects:.0%}" if suspects else "n/a")}
    notes = [f"Cases by the {named}. A person counts once per row; 'not stated' (NS, UNK "
             "and the like: asked, or not known) is counted apart from blank (nothing "
             "written). Victims are shown here, on the node, and never leave it.",
             "R6: every suspect in an R3 case must carry an ethnicity (self-defined or "
             "officer-observed) and a nationality, if only 'not stated'."]
    return Result("completeness", params, [table, gate], summary, notes)
