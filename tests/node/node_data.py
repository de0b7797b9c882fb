"""Input data for node tests, written for these tests (no vendor file is copied)."""

from __future__ import annotations

from typing import Any

PERSONS_CSV = """person_id,given_names,family_name,aliases,dob,dob_known,sex,nationality
P1,Mohammed,Ali,Mo Ali,1990-02-03,true,M,GBR
P2,Jane,Smith,,,false,F,NS
P3,Adam,Nowak,,1985-12-31,true,M,POL
"""
CRIMES_CSV = """crime_id,ho_offence_code,date_from,outcome_code,flag_cse
C1,88A,2020-01-01,OC16,true
C2,19C,2021-05-06,,false
"""
ROLES_CSV = """crime_id,person_id,role
C1,P1,suspect
C1,P2,victim
C2,P3,suspect
"""
DEVICES_CSV = """device_id,person_id,imei,owner_number,tool,region
D1,P1,490154203237518,07700 900001,Cellebrite UFED,GB
"""
CALLS_CSV = """device_id,call_id,timestamp_utc,direction,number,duration_s
D1,1,2023-01-01 10:00:00,outgoing,07700 900123,60
D1,2,2023-01-01 23:30:00,incoming,+44 7700 900124,5
D1,3,2023-01-02 01:00:00,missed,Voicemail,
"""


def _field(name: str, value: str | None, type_: str = "String") -> str:
    if value is None:
        return f'<field name="{name}" type="{type_}"/>'
    return (f'<field name="{name}" type="{type_}"><value type="{type_}">'
            f'<![CDATA[{value}]]></value></field>')


def _party(identifier: str | None, name: str | None, role: str, owner: bool) -> str:
    return ('<model type="Party" id="p">' + _field("Identifier", identifier)
            + _field("Name", name) + _field("Role", role, "PartyRole")
            + _field("IsPhoneOwner", str(owner), "Boolean") + "</model>")


def ufdr_xml(calls: list[dict[str, Any]], messages: list[dict[str, Any]],
             contacts: list[dict[str, Any]], owner: str = "+447700900001") -> str:
    """A small report.xml in the Cellebrite decoded-data shape (written for these tests)."""
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<project id="t1" name="test" extractionType="Logical" '
           'xmlns="http://pa.cellebrite.com/report/2.0">',
           '<metadata section="Additional Fields">'
           '<item name="UFED_PA_Version"><![CDATA[7.60.0.48]]></item></metadata>',
           '<metadata section="Device Info">'
           '<item name="DeviceInfoSelectedManufacturer"><![CDATA[Samsung]]></item>'
           '<item name="DeviceInfoSelectedDeviceName"><![CDATA[Galaxy A12]]></item>'
           '<item name="IMEI"><![CDATA[490154203237518]]></item>'
           f'<item name="MSISDN"><![CDATA[{owner}]]></item>'
           '<item name="DeviceInfoExtractionStartDateTime">'
           '<![CDATA[2024-03-01T09:00:00+00:00]]></item></metadata>',
           "<decodedData>", '<modelType type="Call">']
    for c in calls:
        mine = _party(owner, None, "From" if c["direction"] == "Outgoing" else "To", True)
        theirs = _party(c["number"], c.get("name"),
                        "To" if c["direction"] == "Outgoing" else "From", False)
        out.append(f'<model type="Call" id="{c["id"]}" deleted_state='
                   f'"{c.get("deleted_state", "Intact")}">'
                   + _field("Source", c.get("source", "Phone"))
                   + _field("Direction", c["direction"]) + _field("Status", c.get("status"))
                   + _field("TimeStamp", c["time"], "TimeStamp")
                   + _field("Duration", c.get("duration"), "TimeSpan")
                   + f'<multiModelField name="Parties" type="Party">{mine}{theirs}'
                   + "</multiModelField></model>")
    out.append('</modelType><modelType type="InstantMessage">')
    for m in messages:
        outgoing = m["direction"] == "Outgoing"
        sender = _party(owner if outgoing else m["number"], None if outgoing else m.get("name"),
                        "From", outgoing)
        to = _party(m["number"] if outgoing else owner, m.get("name") if outgoing else None,
                    "To", not outgoing)
        out.append(f'<model type="InstantMessage" id="{m["id"]}" deleted_state="Intact">'
                   + _field("Body", m["body"])
                   + _field("TimeStamp", m["time"], "TimeStamp")
                   + _field("SourceApplication", m.get("app", "WhatsApp"))
                   + _field("Status", "Read")
                   + f'<modelField name="From" type="Party">{sender}</modelField>'
                   + f'<multiModelField name="To" type="Party">{to}</multiModelField></model>')
    out.append('</modelType><modelType type="Contact">')
    for c in contacts:
        entries = "".join('<model type="PhoneNumber" id="e">' + _field("Value", n)
                          + _field("Category", "Mobile") + "</model>" for n in c["numbers"])
        out.append(f'<model type="Contact" id="{c["id"]}" deleted_state="Intact">'
                   + _field("Name", c["name"]) + _field("Source", c.get("source", "Phone"))
                   + _field("TimesContacted", c.get("times"), "Int32")
                   + _field("TimeContacted", c.get("last"), "TimeStamp")
                   + f'<multiModelField name="Entries" type="ContactEntry">{entries}'
                   + "</multiModelField></model>")
    out.append("</modelType></decodedData></project>")
    return "\n".join(out)


SAMPLE_CALLS = [
    {"id": "c1", "direction": "Outgoing", "status": "Established", "number": "07700 900123",
     "time": "2023-01-01T10:00:00.000+00:00", "duration": "00:01:00"},
    {"id": "c2", "direction": "Incoming", "status": "Established", "number": "+44 7700 900124",
     "name": "Bob", "time": "2023-07-01T23:30:00.000+01:00", "duration": "00:00:05"},
    {"id": "c3", "direction": "Incoming", "status": "Missed", "number": "Voicemail",
     "time": "2023-01-02T01:00:00.000+00:00", "deleted_state": "Deleted"},
]
SAMPLE_MESSAGES = [
    {"id": "m1", "direction": "Incoming", "number": "447700900123@s.whatsapp.net",
     "name": "Al", "body": "see you at 9 <ok> & bring it", "time": "2023-01-03T21:00:00Z"},
    {"id": "m2", "direction": "Outgoing", "number": "07700900124", "body": "on my way",
     "time": "2023-01-03T21:05:00Z", "app": "SMS"},
]
SAMPLE_CONTACTS = [
    {"id": "k1", "name": "Al", "numbers": ["07700 900123"], "times": "4",
     "last": "2023-01-03T21:00:00Z"},
    {"id": "k2", "name": "Taxi", "numbers": ["01632 960001", "123"]},
]
