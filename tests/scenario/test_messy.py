"""Real force records are messy, and the generator models it: duplicate nominals written
differently, NS / UNK for missing names, namesakes, dirty dates of birth."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from scenario import cli as scenario_cli
from scenario import messy
from scenario.evaluate import score
from scenario.generate import generate
from scenario.names import pools


def records_per_person(db: duckdb.DuckDBPyConnection, where: str = "true") -> list[int]:
    return [n for (n,) in db.execute(f"""
        SELECT count(*) FROM truth_persons WHERE {where} GROUP BY force, real_id""").fetchall()]


def test_every_record_is_a_real_record_mapped_to_its_person(db):
    """Each duplicate has its own person_id, and truth maps every record exactly once."""
    unmapped, unknown, twice = db.execute("""
        SELECT (SELECT count(*) FROM persons p ANTI JOIN truth_persons t
                  USING (force, person_id)),
               (SELECT count(*) FROM truth_persons t ANTI JOIN persons p
                  USING (force, person_id)),
               (SELECT count(*) FROM (SELECT force, person_id FROM persons
                                      GROUP BY ALL HAVING count(*) > 1))
    """).fetchone()
    assert (unmapped, unknown, twice) == (0, 0, 0)


def test_a_force_holds_persons_with_several_records(db):
    counts = records_per_person(db)
    assert max(counts) >= 6, "a few prolific offenders have many records"
    assert max(counts) <= 15
    # planted network members are duplicated too, and keep their network in the truth
    dup_members = db.execute("""
        SELECT count(*) FROM (SELECT force, real_id FROM truth_persons
                              WHERE network_id IS NOT NULL GROUP BY ALL
                              HAVING count(*) >= 2)""").fetchone()[0]
    assert dup_members >= 3


def test_records_per_person_follow_the_designed_distribution(db):
    counts = records_per_person(db, "real_id LIKE '%-R%'")  # background people
    people = len(counts)
    several = sum(1 for n in counts if n >= 2)
    prolific = sum(1 for n in counts if n >= 6)
    assert 0.8 * messy.DEFAULT_DUPLICATES < several / people < 1.2 * messy.DEFAULT_DUPLICATES
    two_or_three = sum(1 for n in counts if n in (2, 3))
    assert two_or_three / several > 0.7, "most duplicated people have 2-3 records"
    assert 0.02 < prolific / several < 0.14


def test_records_per_person_without_duplicates_is_one(tmp_path: Path):
    generate(tmp_path / "s", forces=2, persons_per_force=300, seed=4, progress=False,
             duplicates=0.0)
    truth = pacsv.read_csv(tmp_path / "s" / "truth" / "persons.csv")
    keys = set(zip(truth.column("force").to_pylist(), truth.column("real_id").to_pylist(),
                   strict=True))
    assert len(keys) == truth.num_rows


def _pairs(db: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(given, family, dob) of two records of one person in one force."""
    return db.execute("""
        WITH r AS (SELECT t.force, t.real_id, p.person_id, p.given_names AS g,
                          p.family_name AS f, p.dob AS d
                   FROM truth_persons t JOIN persons p USING (force, person_id))
        SELECT a.g, a.f, a.d, b.g, b.f, b.d FROM r a JOIN r b
          ON a.force = b.force AND a.real_id = b.real_id AND a.person_id < b.person_id
    """).fetchall()


def test_duplicate_records_are_written_differently(db):
    pairs = _pairs(db)
    assert len(pairs) > 500
    differ = [p for p in pairs if p[:3] != p[3:]]
    assert len(differ) / len(pairs) > 0.4
    swaps = pools().name_swaps

    def first(s: str) -> str:
        return s.split(" ")[0]

    titles = set(pools().titles_male) | set(pools().titles_female)
    seen = {
        "nickname": any(first(b) in swaps.get(first(a), ()) for a, _, _, b, _, _ in pairs),
        "title": any(first(a) in titles or first(b) in titles for a, _, _, b, _, _ in pairs),
        "missing family": any((f1 in messy.MISSING_NAME) != (f2 in messy.MISSING_NAME)
                              for _, f1, _, _, f2, _ in pairs),
        "split names": any(
            (g1.split(" ", 1)[0] == g2 and f"{g1.split(' ', 1)[1]} {f1}" == f2)
            or (g2.split(" ", 1)[0] == g1 and f"{g2.split(' ', 1)[1]} {f2}" == f1)
            for g1, f1, _, g2, f2, _ in pairs if " " in g1 or " " in g2),
        "swapped order": any(g1 == f2 and f1 == g2 and g1 != f1
                             for g1, f1, _, g2, f2, _ in pairs),
        "dob missing": any((d1 is None) != (d2 is None) for _, _, d1, _, _, d2 in pairs),
        "dob a year out": any(d1 and d2 and abs(d1.year - d2.year) == 1
                              and (d1.month, d1.day) == (d2.month, d2.day)
                              for _, _, d1, _, _, d2 in pairs),
        "dob a day out": any(d1 and d2 and 0 < abs((d1 - d2).days) <= 3
                             for _, _, d1, _, _, d2 in pairs),
        "day and month swapped": any(d1 and d2 and d1.year == d2.year and d1 != d2
                                     and (d1.month, d1.day) == (d2.day, d2.month)
                                     for _, _, d1, _, _, d2 in pairs),
        "1 January": any(d1 and d2 and d1 != d2 and (d1.month, d1.day) == (1, 1)
                         and d1.year == d2.year for _, _, d1, _, _, d2 in pairs),
    }
    assert all(seen.values()), [k for k, v in seen.items() if not v]


def test_duplicate_records_have_their_own_roles_and_sometimes_share_phone_or_address(db):
    with_roles, later = db.execute("""
        WITH r AS (SELECT force, person_id, real_id, row_number() OVER (
                          PARTITION BY force, real_id ORDER BY person_id) AS k
                   FROM truth_persons)
        SELECT count(DISTINCT (r.force, r.person_id)) FILTER (WHERE l.crime_id IS NOT NULL),
               count(DISTINCT (r.force, r.person_id))
        FROM r LEFT JOIN roles l USING (force, person_id) WHERE r.k > 1
    """).fetchone()
    assert later > 300
    assert with_roles / later > 0.2
    shared = db.execute("""
        WITH ph AS (SELECT i.force, t.real_id, i.person_id,
                           right(regexp_replace(i.value, '[^0-9]', '', 'g'), 10) AS v
                    FROM identifiers i JOIN truth_persons t USING (force, person_id)
                    WHERE i.kind = 'phone'),
             ad AS (SELECT a.force, t.real_id, a.person_id, a.address AS v
                    FROM addresses a JOIN truth_persons t USING (force, person_id))
        SELECT (SELECT count(*) FROM ph a JOIN ph b ON a.force = b.force
                  AND a.real_id = b.real_id AND a.person_id < b.person_id AND a.v = b.v),
               (SELECT count(*) FROM ad a JOIN ad b ON a.force = b.force
                  AND a.real_id = b.real_id AND a.person_id < b.person_id AND a.v = b.v)
    """).fetchone()
    assert shared[0] > 20 and shared[1] > 20


def test_ns_and_unk_are_written_for_missing_names(db):
    given, family, total = db.execute("""
        SELECT count(*) FILTER (WHERE given_names IN ('NS', 'UNK')),
               count(*) FILTER (WHERE family_name IN ('NS', 'UNK')), count(*) FROM persons
    """).fetchone()
    assert given > 0 and family > 0
    assert (given + family) / total < 0.05
    words = {w for (w,) in db.execute(
        "SELECT DISTINCT family_name FROM persons WHERE family_name IN ('NS', 'UNK')"
    ).fetchall()}
    assert words == {"NS", "UNK"}


def test_namesakes_are_different_people_with_the_same_name(db):
    rows = db.execute("""
        WITH r AS (SELECT p.force, t.real_id, p.given_names AS g, p.family_name AS f,
                          year(p.dob) AS y
                   FROM truth_persons t JOIN persons p USING (force, person_id)
                   WHERE p.given_names NOT IN ('NS', 'UNK')
                     AND p.family_name NOT IN ('NS', 'UNK'))
        SELECT count(DISTINCT (a.real_id, b.real_id)),
               count(DISTINCT (a.real_id, b.real_id)) FILTER (WHERE a.y = b.y)
        FROM r a JOIN r b ON a.force = b.force AND a.g = b.g AND a.f = b.f
                          AND a.real_id < b.real_id
    """).fetchone()
    assert rows[0] >= 20 and rows[1] >= 5


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dirty") / "out"
    generate(out, forces=2, persons_per_force=1500, seed=21, progress=False,
             dirty_dobs=0.2)
    return out


def raw_persons(folder: Path) -> pa.Table:
    """persons.csv with dob as the text written."""
    return pacsv.read_csv(folder / "persons.csv", convert_options=pacsv.ConvertOptions(
        column_types={"dob": pa.string()}, strings_can_be_null=True))


DIRTY = {
    "year only": re.compile(r"^\d{4}$"),
    "month over 12": re.compile(r"^\d{4}-(1[3-9]|[2-9]\d)-\d{2}$"),
    "day 31 of a 30-day month": re.compile(r"^\d{4}-(04|06|09|11)-31$"),
    "30 February": re.compile(r"^\d{4}-02-30$"),
}


def test_the_dirty_dobs_option_writes_each_dirty_form_raw(dirty: Path):
    values = raw_persons(dirty / "west-yorkshire").column("dob").to_pylist()
    present = [v for v in values if v is not None]
    found = {k: [v for v in present if rx.match(v)] for k, rx in DIRTY.items()}
    assert all(found.values()), {k: len(v) for k, v in found.items()}
    con = duckdb.connect()
    bad = [v for v in present if con.execute("SELECT try_cast(? AS DATE)", [v]).fetchone()[0]
           is None]
    assert set(bad) == {v for vs in found.values() for v in vs}
    assert 0.12 < len(bad) / len(present) < 0.28
    assert any(v for v in found["month over 12"] if int(v[5:7]) > 20)  # 1997-21-25


def test_a_bare_year_is_not_a_known_date_of_birth(dirty: Path):
    t = raw_persons(dirty / "west-yorkshire")
    known = [k for d, k in zip(t.column("dob").to_pylist(), t.column("dob_known").to_pylist(),
                               strict=True) if d is not None and len(d) == 4]
    assert known and not any(known)


def test_dirty_dobs_change_only_the_persons_file(dirty: Path, tmp_path: Path):
    generate(tmp_path / "clean", forces=2, persons_per_force=1500, seed=21, progress=False,
             dirty_dobs=0.0)
    for force in ("west-yorkshire", "greater-manchester"):
        for f in sorted((dirty / force).iterdir()):
            same = f.read_bytes() == (tmp_path / "clean" / force / f.name).read_bytes()
            assert same == (f.name != "persons.csv"), f
    clean = pacsv.read_csv(tmp_path / "clean" / "west-yorkshire" / "persons.csv")
    assert clean.schema.field("dob").type == pa.date32()  # every date a real one


def test_dirty_dobs_in_parquet_are_text(tmp_path: Path):
    generate(tmp_path / "p", forces=1, persons_per_force=300, seed=2, progress=False,
             fmt="parquet", dirty_dobs=0.3)
    t = pq.read_table(tmp_path / "p" / "west-yorkshire" / "persons.parquet")
    assert t.schema.field("dob").type == pa.string()
    assert any(v is not None and len(v) == 4 for v in t.column("dob").to_pylist())


def test_evaluate_scores_record_pairs_of_duplicated_people(db, scenario):
    """A perfect resolution (entity = real person) scores 1.0, counting every cross-force
    pair of records, duplicates included."""
    out, _ = scenario
    rows = db.execute("SELECT force, person_id, real_id, network_id FROM truth_persons"
                      ).fetchall()
    resolved = pa.table({"force": [r[0] for r in rows], "person_id": [r[1] for r in rows],
                         "entity_id": [r[2] for r in rows],
                         "network_id": [r[3] for r in rows]})
    scope = resolved.select(["force", "person_id"])
    s = score(out / "truth", resolved, scope)["person_links"]
    expected = db.execute("""
        SELECT count(*) FROM truth_persons a JOIN truth_persons b
          ON a.real_id = b.real_id AND a.force < b.force""").fetchone()[0]
    assert s.f1 == 1.0 and s.true_positives == expected
    per_person_force = db.execute("""
        SELECT max(n) FROM (SELECT real_id, force, count(*) AS n FROM truth_persons
                            WHERE network_id IS NOT NULL GROUP BY ALL)""").fetchone()[0]
    assert per_person_force >= 2  # so duplicates are really in those pairs


def test_the_cli_does_not_import_the_generator_for_its_defaults():
    import subprocess
    import sys

    code = ("import sys, scenario.cli; "
            "print('numpy' in sys.modules, 'scenario.messy' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert r.stdout.split() == ["False", "False"]
    assert scenario_cli.DEFAULT_DUPLICATES == messy.DEFAULT_DUPLICATES
