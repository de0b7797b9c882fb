"""Cellebrite report.xml files in the shapes different versions of the tool write, built by
hand for the tests (no vendor file copied): an older report from a US iPhone, and a
current report with MMS, e-mail, chats, locations, accounts and SIM data."""

from __future__ import annotations

import zipfile
from pathlib import Path

NS = "http://pa.cellebrite.com/report/2.0"


def field(name: str, value: str | None, type_: str = "String",
          formatted: str | None = None) -> str:
    if value is None:
        return f'<field name="{name}" type="{type_}"/>'
    attr = f' formattedTimestamp="{formatted}"' if formatted else ""
    fmt = ' format="DateTimeOnly"' if type_ == "TimeStamp" else ""
    return (f'<field name="{name}" type="{type_}"><value type="{type_}"{fmt}{attr}>'
            f"<![CDATA[{value}]]></value></field>")


def multi(name: str, values: list[str]) -> str:
    inner = "".join(f'<value type="String"><![CDATA[{v}]]></value>' for v in values)
    return f'<multiField name="{name}" type="String">{inner}</multiField>'


def party(identifier: str | None, name: str | None = None, role: str | None = None,
          owner: bool = False, pid: str = "p") -> str:
    return (f'<model type="Party" id="{pid}">' + field("Identifier", identifier)
            + field("Name", name) + field("Role", role, "PartyRole")
            + field("IsPhoneOwner", str(owner).lower(), "Boolean") + "</model>")


def model(type_: str, mid: str, *parts: str, deleted: bool = False) -> str:
    state = "Deleted" if deleted else "Intact"
    return f'<model type="{type_}" id="{mid}" deleted_state="{state}">' + "".join(parts) \
        + "</model>"


def model_field(name: str, *models: str) -> str:
    return f'<modelField name="{name}">' + "".join(models) + "</modelField>"


def multi_model(name: str, *models: str) -> str:
    return f'<multiModelField name="{name}">' + "".join(models) + "</multiModelField>"


def report(header: dict[str, str], models: dict[str, list[str]],
           extraction_type: str = "Logical", section: str = "Device Info") -> str:
    items = "".join(f'<item name="{k}"><![CDATA[{v}]]></item>' for k, v in header.items())
    decoded = "".join(f'<modelType type="{t}">' + "".join(ms) + "</modelType>"
                      for t, ms in models.items())
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<project id="r1" name="report" extractionType="{extraction_type}" '
            f'xmlns="{NS}"><metadata section="{section}">{items}</metadata>'
            f"<decodedData>{decoded}</decodedData></project>")


def write_ufdr(path: Path, xml: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("report.xml", xml)
    return path


# --------------------------------------------------------------------------- older report

def _old_call(cid: str, kind: str, number: str, when: str, duration: str = "00:00:30"
              ) -> str:
    """An older report's call: direction only in ``Type``, parties with roles."""
    mine_role, their_role = ("From", "To") if kind == "Outgoing" else ("To", "From")
    return model("Call", cid, field("Type", kind), field("TimeStamp", when, "TimeStamp"),
                 field("Duration", duration, "TimeSpan"),
                 multi_model("Parties", party("2404378277", None, mine_role, True),
                             party(number, None, their_role, False)))


#: An older report from a US iPhone: 4 incoming, 11 outgoing and 7 missed calls, direction
#: in ``Type``; its own number is national, its SIM American.
OLD_US_HEADER = {
    "Selected Manufacturer": "Apple", "Selected Device Name": "iPhone 4S",
    "Detected model": "iPhone4,1", "Extraction start date/time": "3/16/2012 1:44:08 PM(UTC+0)",
    "Unit Version": "1.1.9.2", "MSISDN": "2404378277", "IMSI": "310410123456789",
    "ICCID": "89014103211118510720", "IMEI": "013034006786234",
}


def old_us_report() -> str:
    calls = []
    kinds = ["Incoming"] * 4 + ["Outgoing"] * 11 + ["Missed"] * 7
    for i, kind in enumerate(kinds):
        # national US numbers, as the handset saved them; one written with its country code
        number = "+13015550123" if i == 0 else f"30155501{i:02d}"
        calls.append(_old_call(f"call{i}", kind, number,
                               f"3/{1 + i % 9}/2012 {1 + i % 12}:05:00 PM(UTC-5)"))
    sms = model("SMS", "sms1", field("TimeStamp", "3/2/2012 9:15:00 AM(UTC-5)", "TimeStamp"),
                field("Body", "running late"), field("Folder", "Inbox"),
                multi_model("Parties", party("2404378299", "Jo", "From", False),
                            party("2404378277", None, "To", True)))
    return report(OLD_US_HEADER, {"Call": calls, "SMS": [sms]})


# --------------------------------------------------------------------------- current report

CURRENT_HEADER = {
    "DeviceInfoSelectedManufacturer": "Samsung", "DeviceInfoDetectedModel": "SM-A125F",
    "DeviceInfoExtractionStartDateTime": "10/10/2020 13:37:00",
    "DeviceInfoUnitVersion": "7.40.1.12", "DeviceInfoTimeZone": "Europe/London",
    "MSISDN": "+447700900001", "IMSI": "234150000000001",
}


def current_report() -> str:
    owner = "+447700900001"
    # a call written with its offset in formattedTimestamp: 11:53+01:00 is 10:53 UTC
    call = model("Call", "call-ft", field("Direction", "Incoming"),
                 field("TimeStamp", "2020-12-16T11:53:14.000", "TimeStamp",
                       formatted="2020-12-16T11:53:14+01:00"),
                 multi_model("Parties", party("07700 900222", "Sam", "From", False),
                             party(owner, None, "To", True)))
    # a naive time, no formattedTimestamp: device-local (Europe/London, BST in July)
    naive = model("Call", "call-naive", field("Direction", "Outgoing"),
                  field("TimeStamp", "2020-07-01T12:00:00.000", "TimeStamp"),
                  multi_model("Parties", party(owner, None, "From", True),
                              party("07700900333", None, "To", False)))
    mms = model("MMS", "mms1", field("TimeStamp", "2020-11-01T09:00:00+00:00", "TimeStamp"),
                field("From", "07700900444"), multi("To", [owner, "07700900555"]),
                multi("Cc", ["07700900666"]), field("Folder", "Inbox"),
                field("Subject", "pics"), field("Body", "see attached"))
    email = model("Email", "em1", field("TimeStamp", "2020-11-02T10:00:00Z", "TimeStamp"),
                  field("Subject", "Meeting"), field("Body", "Thursday at 6"),
                  field("Folder", "Inbox"), field("Source", "Gmail"),
                  model_field("From", party("Dealer.One@Example.com", "D One")),
                  multi_model("To", party("me@example.org", None, None, True)))
    chat_msgs = [model("InstantMessage", f"im{i}", field("TimeStamp",
                 f"2020-11-03T20:0{i}:00+00:00", "TimeStamp"), field("Body", f"msg {i}"),
                 field("SourceApplication", "WhatsApp"),
                 model_field("From", party(sender, None, None, sender == owner)),
                 multi_model("To", party(to, None, None, to == owner)))
                 for i, (sender, to) in enumerate([("447700900777@s.whatsapp.net", owner),
                                                   (owner, "447700900777@s.whatsapp.net")])]
    chat = model("Chat", "chat-model-1", field("Id", "120363041234@g.us"),
                 field("Name", "the lads"), field("Source", "WhatsApp"),
                 multi_model("Messages", *chat_msgs),
                 multi_model("Participants",
                             party("447700900777@s.whatsapp.net", "Kay"),
                             party("447700900888@s.whatsapp.net", "Lee"),
                             party(owner, "me", None, True)))
    contact = model("Contact", "k1", field("Name", "Dealer One"), field("Source", "Phone"),
                    multi_model("Entries",
                                model("PhoneNumber", "e1", field("Value", "07700 900999"),
                                      field("Category", "Mobile")),
                                model("EmailAddress", "e2",
                                      field("Value", "Dealer.One@Example.com")),
                                model("UserID", "e3", field("Value", "dealer_one"),
                                      field("Domain", "Telegram")),
                                model("WebAddress", "e4", field("Value", "https://example.com/d1"))))
    gps = model("Location", "loc1", field("TimeStamp", "2020-11-04T08:00:00+00:00", "TimeStamp"),
                field("GpsHorizontalAccuracy", "8"), field("Source", "Google Maps"),
                model_field("Position", model("Coordinate", "c1", field("Latitude", "53.4808"),
                                              field("Longitude", "-2.2426"))))
    cell_loc = model("Location", "loc2", field("TimeStamp", "2020-11-04T09:00:00+00:00",
                                                "TimeStamp"),
                     field("LocationOrigin", "Cell"),
                     model_field("Position", model("Coordinate", "c2", field("Latitude", "53.5"),
                                                   field("Longitude", "-2.25"))))
    tower = model("CellTower", "ct1", field("TimeStamp", "2020-11-04T10:00:00+00:00",
                                             "TimeStamp"),
                  field("MCC", "234"), field("MNC", "15"), field("LAC", "1234"),
                  field("CID", "56789"))
    account = model("UserAccount", "acc1", field("Source", "WhatsApp"),
                    field("Name", "me"), field("Username", "me_on_wa"),
                    multi_model("Entries", model("PhoneNumber", "ae1",
                                                 field("Value", owner))))
    sim = model("SIMData", "sim1", field("Name", "ICCID"),
                field("Value", "8944150000000000001"), field("Category", "SIM"))
    return report(CURRENT_HEADER, {
        "Call": [call, naive], "MMS": [mms], "Email": [email], "Chat": [chat],
        "Contact": [contact], "Location": [gps, cell_loc], "CellTower": [tower],
        "UserAccount": [account], "SIMData": [sim]})
