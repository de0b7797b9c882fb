"""Nodes for the egress, share, hits and gateway tests, built with the real CLI.

``scenario_node`` — one force of a generated scenario (`crossforce scenario generate`,
`node init`, `node ingest`, `node keys import-secret`), built once per session and copied.
``canary_node`` — a small hand-written node whose every raw value is unique and planted,
so a test can search payload bytes for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from federation.cli import main
from federation.keys import LinkageSecret
from federation.payload import Submission

_BUILT: dict[str, Path] = {}

PERMISSIVE_POLICY = """
[purpose]
code = "TEST-PERMISSIVE"
lawful_basis = "Test only: everything the policy model allows may leave."

[share]
identifiers = ["phone", "email", "handle", "vrm", "imei"]
match_keys = true
roles = ["suspect", "offender", "facilitator", "witness", "reporting_person", "associate"]
victims = "match-only"
attributes = ["offence_category", "ho_offence_code", "crime_year", "sex", "age_band",
              "ethnicity", "nationality"]

[links]
kinds = ["person_identifier", "co_suspect", "communication", "shared_address",
         "shared_vehicle"]

[aggregates]
dimensions = ["offence_category", "ho_offence_code", "year", "month", "role", "sex",
              "age_band", "ethnicity", "nationality", "outcome_code", "flagged", "rule",
              "completeness"]

[disclosure]
threshold = 1
rounding = 1
secondary_suppression = false
"""


def register_commands() -> None:
    """Make sure share/hits/keys are in the node group (node/cli.py registers them too;
    registering is idempotent)."""
    import node.cli
    from node.egress_cli import register

    register(node.cli.app)


def run(*args: object) -> None:
    code = main([str(a) for a in args])
    assert code == 0, f"crossforce {' '.join(map(str, args))} exited {code}"


def secret_file(root: Path) -> Path:
    path = root / "linkage_secret.json"
    if not path.exists():
        LinkageSecret(bytes(range(32)) + b"egress-tests", 1).save(path)
    return path


def make_node(root: Path, force: str, inputs: Path, *, with_secret: bool = True) -> Path:
    register_commands()
    node = root / "node"
    run("node", "init", "--force", force, "--dir", node)
    run("node", "ingest", "--dir", node, inputs)
    if with_secret:
        run("node", "keys", "import-secret", "--dir", node, secret_file(root))
    return node


def scenario_template(factory) -> Path:  # noqa: ANN001 - pytest.TempPathFactory
    """A node holding the first force of a 2-force, 300-person scenario (seed 3)."""
    if "scenario" not in _BUILT:
        root = factory.mktemp("egress-scenario")
        run("scenario", "generate", "--forces", 2, "--persons-per-force", 300, "--seed", 3,
            "--out", root / "scenario")
        force_dir = sorted(p for p in (root / "scenario").iterdir() if p.name != "truth")[0]
        _BUILT["scenario"] = make_node(root, force_dir.name, force_dir)
    return _BUILT["scenario"]


def copy_node(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


# --------------------------------------------------------------------------- key service

#: two forces for the key service tests: the same suspect (name and date of birth) and the
#: same phone written two ways — normalised equal, so their tokens must be equal
FORCE_FILES = {
    "persons.csv": "person_id,given_names,family_name,dob,dob_known,sex\n"
                   "P1,Aurelio,Whitlock,1990-05-17,true,M\n",
    "crimes.csv": "crime_id,ho_offence_code,date_from,flag_cse,flag_group\n"
                  "C1,88A,2022-03-04,true,true\n",
    "roles.csv": "crime_id,person_id,role\nC1,P1,suspect\n",
}
PHONE_WRITTEN = {"north": "07700 900123", "south": "+44 7700 900123"}


def keyservice_force(root: Path, force: str) -> Path:
    """A node holding one suspect and one phone (written the force's way), no key yet."""
    inputs = root / f"{force}-in"
    inputs.mkdir(parents=True)
    for name, text in FORCE_FILES.items():
        (inputs / name).write_text(text)
    (inputs / "identifiers.csv").write_text(
        f"person_id,kind,value,platform\nP1,phone,{PHONE_WRITTEN[force]},\n")
    return make_node(root / force, force, inputs, with_secret=False)


def payload_tokens(payload: bytes) -> dict[str, set[bytes]]:
    share = Submission.from_bytes(payload).open()
    out: dict[str, set[bytes]] = {}
    for kind, token in zip(share.tokens.column("token_kind").to_pylist(),
                           share.tokens.column("token").to_pylist(), strict=True):
        out.setdefault(kind, set()).add(token)
    return out



# --------------------------------------------------------------------------- canary

#: Every raw value planted in the canary node (names, numbers in several written forms,
#: emails, handles, postcodes, addresses, message bodies, VRMs, IMEIs), and the
#: normalised forms a careless egress might send instead.
CANARY_RAW = {
    "names": ["Zebedeus", "Quarrington", "Ottoline", "Vexhallow", "Brimbleworth",
              "Isadorabel", "Fennimore", "Crowquill", "Zebedeus Quarrington"],
    "phones": ["07700 900417", "+44 7700 900418", "447700900419", "07700-900-420",
               "07700 900421", "07700900499"],
    "phones_e164": ["+447700900417", "+447700900418", "+447700900419", "+447700900420",
                    "+447700900421", "+447700900499"],
    "emails": ["Zeb.Canary@Example.org", "zeb.canary@example.org", "v.canary@example.net"],
    "handles": ["zq.canary.gram", "instagram:zq.canary.gram", "victimcanary77",
                "snapchat:victimcanary77"],
    "postcodes": ["LS1 4AP", "ls14ap", "BD7 1DP"],
    "addresses": ["17 Canary Wharfe Lane", "3 Quillfeather Row"],
    "bodies": ["meet at the canary bridge at nine zq", "bring the parcel quillfeather"],
    "vrms": ["cn51 ary", "CN51ARY", "QZ19 XYV", "QZ19XYV"],
    "imeis": ["490154203237518", "356938035643809"],
    "dobs": ["1991-07-23", "2008-02-29"],
    # what only a seized-phone extraction holds (EXH-CANARY.ufdr): locations, the SIM, the
    # owner's app account, a chat's name, an e-mail's subject
    "extraction": ["53.77771", "-1.55557", "8944990000001234567", "234159999912345",
                   "canary_acct_zq", "quillfeather crew", "canary subject zq"],
}


def canary_ufdr() -> str:
    """The canary seized phone as a Cellebrite report (tests/node/cellebrite_reports.py)."""
    from cellebrite_reports import field, model, model_field, multi_model, party, report

    owner = "07700 900421"
    return report(
        {"DeviceInfoSelectedManufacturer": "Canaryphone", "MSISDN": "+447700900421",
         "IMSI": "234159999912345", "ICCID": "8944990000001234567",
         "DeviceInfoTimeZone": "Europe/London"},
        {"Location": [model("Location", "loc1", field(
            "TimeStamp", "2022-06-01T22:00:00+01:00", "TimeStamp"),
            field("GpsHorizontalAccuracy", "5"), model_field("Position", model(
                "Coordinate", "c1", field("Latitude", "53.77771"),
                field("Longitude", "-1.55557"))))],
         "UserAccount": [model("UserAccount", "a1", field("Source", "Telegram"),
                               field("Username", "canary_acct_zq"))],
         "Chat": [model("Chat", "ch1", field("Name", "quillfeather crew"),
                        field("Source", "WhatsApp"), multi_model(
                            "Participants", party(owner, None, None, True),
                            party("07700 900418", "Ottoline")))],
         "Email": [model("Email", "e1", field("TimeStamp", "2022-06-02T10:00:00Z",
                                              "TimeStamp"),
                         field("Subject", "canary subject zq"),
                         model_field("From", party("v.canary@example.net")),
                         multi_model("To", party("zeb.canary@example.org", None, None,
                                                 True)))]})

CANARY_FILES = {
    "persons.csv": """person_id,given_names,family_name,aliases,dob,dob_known,sex,\
ethnicity_self,nationality
S1,Zebedeus,Quarrington,Zeb Q,1991-07-23,true,M,W1,GBR
S2,Ottoline,Vexhallow,,1988-11-05,true,F,A1,GBR
F1,Fennimore,Crowquill,,1979-03-14,true,M,B2,NGA
V1,Isadorabel,Brimbleworth,,2008-02-29,true,F,W1,GBR
""",
    "crimes.csv": """crime_id,ho_offence_code,date_from,outcome_code,flag_cse,flag_cce,flag_group
C1,88A,2021-03-04,OC16,true,true,true
C2,71/17,2022-06-01,,true,false,true
""",
    "roles.csv": """crime_id,person_id,role
C1,S1,suspect
C1,S2,suspect
C1,F1,facilitator
C1,V1,victim
C2,S1,offender
C2,V1,victim
""",
    "identifiers.csv": """person_id,kind,value,platform
S1,phone,07700 900417,
S1,email,Zeb.Canary@Example.org,
S1,handle,zq.canary.gram,instagram
S2,phone,+44 7700 900418,
F1,phone,447700900419,
V1,phone,07700-900-420,
V1,email,v.canary@example.net,
V1,handle,victimcanary77,snapchat
""",
    "addresses.csv": """person_id,address,town,postcode
S1,17 Canary Wharfe Lane,Leeds,LS1 4AP
S2,17 Canary Wharfe Lane,Leeds,ls14ap
V1,3 Quillfeather Row,Bradford,BD7 1DP
""",
    "vehicles.csv": """person_id,vrm,make
S1,cn51 ary,Ford
S2,CN51ARY,Ford
V1,QZ19 XYV,Fiat
""",
    "devices.csv": """device_id,person_id,imei,owner_number,tool,region
D1,S1,490154203237518,07700 900421,Cellebrite UFED,GB
D2,V1,356938035643809,07700900499,Cellebrite UFED,GB
""",
    "calls.csv": """device_id,call_id,timestamp_utc,direction,number,name,duration_s
D1,1,2023-01-01 10:00:00,outgoing,+44 7700 900418,Ottoline,60
D1,2,2023-01-01 23:30:00,incoming,447700900419,Fennimore,5
D1,3,2023-01-02 01:00:00,outgoing,07700 900418,Ottoline,12
D2,4,2023-01-03 01:00:00,incoming,07700 900421,Zebedeus,30
""",
    "messages.csv": """device_id,message_id,timestamp_utc,direction,number,name,app,body
D1,1,2023-01-01 10:05:00,outgoing,+44 7700 900418,Ottoline,SMS,meet at the canary bridge at nine zq
D1,2,2023-01-01 10:06:00,outgoing,447700900419,Fennimore,SMS,bring the parcel quillfeather
""",
}


def canary_template(factory) -> Path:  # noqa: ANN001 - pytest.TempPathFactory
    if "canary" not in _BUILT:
        root = factory.mktemp("egress-canary")
        inputs = root / "in"
        inputs.mkdir()
        for name, text in CANARY_FILES.items():
            (inputs / name).write_text(text)
        from cellebrite_reports import write_ufdr

        write_ufdr(inputs / "EXH-CANARY.ufdr", canary_ufdr())
        _BUILT["canary"] = make_node(root, "Canaryshire", inputs)
    return _BUILT["canary"]
