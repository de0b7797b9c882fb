"""Hand-built cases for the national CSE definition: one crime per edge of a rule.

Every crime is on 2023-06-15 unless it says otherwise; every group case (G*, W*) records
an exchange ("gift") so R1 and R2 hold and only R3 is in question. Numbers are Ofcom's
drama range (07700 900xxx).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.cli import main

PERSONS = """person_id,given_names,family_name,dob,dob_known,age_min,age_max,\
ethnicity_self,ethnicity_officer,nationality,deceased
V18,Amy,Exactly,2005-06-15,true,,,W1,,GBR,
V17,Beth,Under,2005-06-16,true,,,NS,,,
VR,Cara,Range,,false,14,16,,IC1,NS,
VRA,Dana,Older,,false,18,21,,,,
VRS,Eve,Straddle,,false,15,19,,,,
VC,Ella,Coded,,false,,,,,,
VN,Fay,Nobody,,false,,,,,,
VB,Gia,Later,2024-01-01,true,,,,,,
VG,Hana,Grover,2008-04-11,true,,,,,,
VW1,Iris,Waverley,2008-05-12,true,,,,,,
VW2,Jo,Bestwick,2008-03-10,true,,,,,,
VW3,Kim,Pargeter,2008-06-13,true,,,,,,
VW4,Lou,Hubbard,2008-07-14,true,,,,,,
VW5,May,Ingleby,2008-08-15,true,,,,,,
S1,Sam,Onslow,1980-01-21,true,,,A3,IC4,GBR,
S2,Sid,Twomey,1981-02-22,true,,,,IC4,,
S3,Stan,Thorley,1982-03-23,true,,,NS,,NS,
U1,Unknown,Unknown,,false,,,,,,
S4,Saul,Fourie,1983-04-24,true,,,,,,
F1,Fred,Facilitator,1970-05-25,true,,,,,,
S5,Seth,Solway,1984-06-26,true,,,,,,
A1,Abe,Wakeham,1975-02-02,true,,,,,,
B1,Ben,Wheatley,1976-03-03,true,,,,,,
A2,Alf,Bexley,1977-04-04,true,,,,,,
B2,Bob,Brennan,1978-05-05,true,,,,,,
C2,Cal,Corrigan,1979-06-06,true,,,,,,
A3,Art,Parfitt,1985-07-07,true,,,,,,true
B3,Bill,Pemberton,1986-08-08,true,,,,,,
A4,Ash,Hollis,1987-09-09,true,,,,,,
B4,Bert,Hartnell,1988-10-10,true,,,,,,
A5,Al,Imrie,1989-11-11,true,,,,,,
B5,Baz,Ibbotson,1990-12-12,true,,,,,,
X1,Xav,Filler,1991-01-13,true,,,,,,
"""

# crime_id, code, date_from, date_to, outcome, outcome_date, flag_cse, flag_group, exchange
CRIMES = """crime_id,ho_offence_code,date_from,date_to,outcome_code,outcome_date,flag_cse,\
flag_group,exchange_indicator,previously_reviewed
AGE18,19C,2023-06-15,,,,true,true,,
AGE17,19C,2023-06-15,,,,,,Money,
RANGE,22,2023-06-15,,,,,,,
RANGEADULT,22,2023-06-15,,,,,,,
STRADDLE,22,2023-06-15,,,,,,,
CODED,20B,2023-06-15,,,,,,,
NOAGE,19A,2023-06-15,,,,,,,
BADDATE,22,2099-06-15,,,,,,,
NODATE,22,,,,,,,,
BORNAFTER,22,2023-06-15,,,,,,,
THEFT,49,2023-06-15,,,,true,,,
GCOSUS,22,2023-06-15,,OC16,2024-01-10,,,gift,false
GUNID,22,2023-06-15,,OC18,2024-01-10,true,true,gift,
GFACIL,22,2023-06-15,,OC16,2024-01-10,true,true,gift,
GSOLO,22,2023-06-15,,,,,,gift,
W1A,22,2023-06-15,,,,,,gift,
W1B,22,2023-07-15,,,,,,gift,
W2A,22,2023-06-15,,OC15,2024-01-10,,,gift,true
W2B,22,2023-07-15,,,,,,gift,
W2C,22,2023-08-15,,,,,,gift,
W3A,22,2023-06-15,,OC14,2024-01-10,,,gift,
W3B,22,2023-07-15,,,,,,gift,
W4A,22,2023-06-15,,,,,,gift,
W4B,22,2023-07-15,,,,,,gift,
W5A,22,2023-06-15,,,,,,gift,
W5B,22,2023-07-15,,,,,,gift,
"""

ROLES = """crime_id,person_id,role
AGE18,V18,victim
AGE18,X1,suspect
AGE17,V17,victim
RANGE,VR,victim
RANGEADULT,VRA,victim
STRADDLE,VRS,victim
CODED,VC,victim
NOAGE,VN,victim
BADDATE,V17,victim
NODATE,V17,victim
BORNAFTER,VB,victim
THEFT,X1,suspect
GCOSUS,VG,victim
GCOSUS,S1,suspect
GCOSUS,S2,suspect
GUNID,VG,victim
GUNID,S3,suspect
GUNID,U1,suspect
GFACIL,VG,victim
GFACIL,S4,suspect
GFACIL,F1,facilitator
GSOLO,VG,victim
GSOLO,S5,suspect
W1A,VW1,victim
W1A,A1,suspect
W1B,VW1,victim
W1B,B1,suspect
W2A,VW2,victim
W2A,A2,suspect
W2B,VW2,victim
W2B,B2,suspect
W2C,VW2,victim
W2C,C2,suspect
W3A,VW3,victim
W3A,A3,suspect
W3B,VW3,victim
W3B,B3,suspect
W4A,VW4,victim
W4A,A4,suspect
W4B,VW4,victim
W4B,B4,suspect
W5A,VW5,victim
W5A,A5,suspect
W5B,VW5,victim
W5B,B5,suspect
"""

IDENTIFIERS = """person_id,kind,value
B2,phone,07700 900202
"""

# A*/B*/C2 seized phones; S1's, seized after GCOSUS closed; D1..D3 other seized phones
# that also hold the taxi numbers
DEVICES = """device_id,person_id,owner_number,extraction_date,region
DA1,A1,07700 900101,2024-02-01 10:00:00,GB
DB1,B1,07700 900102,2024-02-01 10:00:00,GB
DA2,A2,07700 900201,2024-02-01 10:00:00,GB
DB2,B2,07700 900202,2024-02-01 10:00:00,GB
DC2,C2,07700 900203,2024-02-01 10:00:00,GB
DA3,A3,07700 900301,2024-02-01 10:00:00,GB
DB3,B3,07700 900302,2024-02-01 10:00:00,GB
DA4,A4,07700 900401,2024-02-01 10:00:00,GB
DB4,B4,07700 900402,2024-02-01 10:00:00,GB
D1,X1,07700 900991,2024-02-01 10:00:00,GB
DS1,S1,07700 900111,2024-02-01 10:00:00,GB
D2,,07700 900992,2024-02-01 10:00:00,GB
D3,,07700 900993,2024-02-01 10:00:00,GB
"""

# A2's phone calls B2's number: direct communication (strong)
CALLS = """device_id,call_id,timestamp_utc,direction,number,duration_s
DA2,1,2023-05-01 21:00:00,outgoing,07700 900202,60
"""

# A1/B1 share one contact (weak, alone); A2/C2 share one (weak, beside A2-B2's strong
# link); A3/B3 share two (a pair of weak links); A4/B4 share two taxi numbers that are on
# 5 of the 13 seized phones (hubs)
CONTACTS = """device_id,contact_id,name,number
DA1,1,Mate,07700 900501
DB1,1,Mate,07700 900501
DA2,1,Pal,07700 900502
DC2,1,Pal,07700 900502
DA3,1,K,07700 900503
DA3,2,L,07700 900504
DB3,1,K,07700 900503
DB3,2,L,07700 900504
DA4,1,Cabs,07700 900601
DA4,2,Pizza,07700 900602
DB4,1,Cabs,07700 900601
DB4,2,Pizza,07700 900602
D1,1,Cabs,07700 900601
D1,2,Pizza,07700 900602
D2,1,Cabs,07700 900601
D2,2,Pizza,07700 900602
D3,1,Cabs,07700 900601
D3,2,Pizza,07700 900602
"""

# A5 and B5 are linked only by intelligence graded E (suspected false)
INTEL = """intel_id,report_date,source_evaluation,intelligence_assessment,handling_code
I1,2023-05-01,3,E,P
"""
INTEL_LINKS = """intel_id,person_id
I1,A5
I1,B5
"""

FILES = {"persons.csv": PERSONS, "crimes.csv": CRIMES, "roles.csv": ROLES,
         "identifiers.csv": IDENTIFIERS, "devices.csv": DEVICES, "calls.csv": CALLS,
         "contacts.csv": CONTACTS, "intel.csv": INTEL, "intel_links.csv": INTEL_LINKS}

#: a draft definition: the national one plus 19A (no implied age), to show "cannot
#: evaluate" for a victim without any age
def draft_with_19a(national: str) -> str:
    return national.replace('sexual = ["19C"', 'sexual = ["19A", "19C"')


def write_cases(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (folder / name).write_text(text)
    return folder


def add_hits(node: Path) -> Path:
    """The node after a hits batch (as `node hits` records one) named S2 (with Northshire
    and Westshire) and X1 (with Northshire), both held by another force (reason entity +
    network) and in national network 7."""
    import duckdb

    con = duckdb.connect(str(node / "node.duckdb"))
    con.execute("""INSERT INTO received_hits VALUES
        ('b1', '\\x01'::BLOB, 'TOEX-CSE', 1, 'person', 'S2', NULL, 11, 7,
         ['Northshire', 'Westshire'], 0.9, 'entity+network'),
        ('b1', '\\x02'::BLOB, 'TOEX-CSE', 1, 'person', 'X1', NULL, 12, 7,
         ['Northshire'], 0.8, 'entity+network')""")
    con.execute("INSERT INTO hit_batches VALUES ('b1', now(), 'a hits file', 2, 2, 0)")
    con.close()
    return node


@pytest.fixture(scope="module")
def cse_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node holding these cases (built once per test module)."""
    root = tmp_path_factory.mktemp("cse")
    node = root / "node"
    assert main(["node", "init", "--force", "Testshire", "--dir", str(node)]) == 0
    assert main(["node", "ingest", "--dir", str(node), str(write_cases(root / "in"))]) == 0
    return node
