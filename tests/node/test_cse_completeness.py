"""R6 completeness on the hand-built cases (tests/node/cse_cases.py), counted by hand.

Suspects in R3 cases: S1 S2 (GCOSUS), S3 U1 (GUNID), S4 F1 (GFACIL), A2 B2 C2 (W2*),
A3 B3 (W3*) = 11. Self-defined ethnicity: S1 (A3) recorded, S3 NS, the other 9 blank.
R6 gate: S1 (A3, GBR) and S3 (NS, NS) pass; S2 has IC4 but no nationality; 8 are blank.
"""

from __future__ import annotations

import json

from cse_cases import cse_node  # noqa: F401  (a fixture)


def test_fill_rates_count_not_stated_apart_from_blank(cli, cse_node):  # noqa: F811
    r = cli("node", "analyse", "completeness", "--dir", cse_node, "--no-by-year", "--json")
    assert r.code == 0, r
    result = json.loads(r.out)
    rows = {(x["cases"], x["role"]): x
            for x in result["tables"]["fill rates, % recorded / not stated / blank"]}
    r3 = rows[("R3 cases", "suspect")]
    assert r3["persons"] == 11
    assert r3["ethnicity (self)"] == "9 / 9 / 82"       # 1, 1 and 9 of 11
    assert r3["ethnicity (officer)"] == "18 / 0 / 82"   # S1 and S2: IC4
    assert r3["nationality"] == "9 / 9 / 82"            # S1 GBR, S3 NS
    assert rows[("R3 cases", "victim")]["persons"] == 3  # VG, VW2, VW3
    assert result["summary"]["r6_gate_failures"] == 9
    gate = result["tables"]["R6 gate: suspects in R3 cases with no ethnicity or no nationality"]
    s2 = next(g for g in gate if g["suspect"] == "S2")
    assert (s2["cases"], s2["blank"]) == ("GCOSUS", "nationality")
