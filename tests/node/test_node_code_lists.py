"""Nationality and ethnicity off their code lists are kept as written, flagged and counted.

A phone number typed into the nationality field, "British" for GBR, a postcode as an
ethnicity: the record is kept (it is a data-quality problem in one field, not a bad file),
the load report counts it, and egress shares such a value only as `other`
(tests/node/test_egress_disclosure.py)."""

from __future__ import annotations

import json
from pathlib import Path

PERSONS = """person_id,given_names,family_name,dob,nationality,ethnicity_self
A1,Ann,Lee,1980-01-02,GBR,W1
A2,Bob,Lee,1981-01-02,07700900123,W1
A3,Cy,Lee,1982-01-02,British,LS6 2AB
"""


def test_values_off_their_code_list_are_kept_flagged_and_counted(cli, node: Path, write,
                                                                  query) -> None:
    path = write("persons.csv", PERSONS)
    r = cli("node", "ingest", "--dir", node, path, "--json")
    assert r.code == 0, r
    (report,) = json.loads(r.out)
    assert report["flags"]["nationality"] == {"not_on_code_list": 2}
    assert report["flags"]["ethnicity_self"] == {"not_on_code_list": 1}
    assert query(node, "SELECT person_id, nationality, ethnicity_self FROM persons "
                       "ORDER BY person_id") == [("A1", "GBR", "W1"),
                                                 ("A2", "07700900123", "W1"),
                                                 ("A3", "British", "LS6 2AB")]
    line = cli("node", "ingest", "--dir", node, path)  # the same file again: unchanged
    assert line.code == 0 and "unchanged" in line.out
