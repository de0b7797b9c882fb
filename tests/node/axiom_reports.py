"""Magnet AXIOM XML reports in the shape AXIOM Process writes them, built by hand for the
tests (no vendor file copied; shape from the public CASE-Implementation-AXIOM parser, see
node/extraction/axiom.py): a Dutch Android phone (calls, SMS/MMS, WhatsApp chat, Gmail,
contacts of every kind, cell and Wi-Fi locations, SIM and WhatsApp account) and an
American iPhone (the iOS shapes: Sender/Recipient(s), month-first dates, Significant
Locations). One element a line, so an error's line number can be worked out."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

UTC_DMY = " - UTC+00:00 (dd/MM/yyyy)"
UTC_MDY = " - UTC+00:00 (M/d/yyyy)"


def hit(hid: str, fragments: dict[str, str]) -> str:
    inner = "\n".join(f"<Fragment name={quoteattr(n)}>{escape(v)}</Fragment>"
                      for n, v in fragments.items())
    return f'<Hit id="{hid}">\n{inner}\n</Hit>'


def artifact(name: str, *hits: str) -> str:
    return f"<Artifact name={quoteattr(name)}>\n<Hits>\n" + "\n".join(hits) + \
        "\n</Hits>\n</Artifact>"


def report(*artifacts: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<Report>\n<Artifacts>\n'
            + "\n".join(artifacts) + "\n</Artifacts>\n</Report>\n")


def write_report(path: Path, xml: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(xml, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- Dutch Android

NL_DEVICE = {"Device Name": "Kees z'n telefoon", "Manufacturer": "samsung",
             "Model ID": "SM-A125F", "IMEI": "490154203237518", "IMSI": "204080123456789",
             "ICCID": "8931080012345678901", "Time Zone": "Europe/Amsterdam"}


def nl_device(**changes: str) -> str:
    return artifact("Android Device Information", hit("d1", {**NL_DEVICE, **changes}))


def nl_call(hid: str, partner: str, direction: str, when: str, duration: str,
            **more: str) -> str:
    return hit(hid, {"Partner": partner, "Direction": direction,
                     "Call Date/Time" + UTC_DMY: when, "Call Duration": duration,
                     "Source": "Samsung SM-A125F - Quick image - calllog.db",
                     "Recovery Method": "Parsing", **more})


def nl_report() -> str:
    """Numbers written nationally (06 ..., 020 ...): Dutch, as the SIM says."""
    calls = artifact(
        "Android Call Logs",
        nl_call("c1", "020 123 4567", "Incoming", "05/03/2021 14:07:09", "00:01:05",
                **{"Partner Name": "Bakker"}),
        nl_call("c2", "06 23456789", "Outgoing", "06/03/2021 09:30:00", "00:00:42"),
        nl_call("c3", "06 23456789", "Incoming", "07/03/2021 23:59:59", "00:00:00",
                **{"Call Status": "Missed"}),
        nl_call("c4", "+44 7700 900123", "Outgoing", "08/03/2021 10:00:00", "00:02:00",
                **{"Recovery Method": "Carving"}))
    sms = artifact(
        "Android SMS",
        hit("s1", {"Partner": "06 11122233", "Type": "Received", "Message": "Hoi",
                   "Received Date/Time" + UTC_DMY: "09/03/2021 08:00:00"}),
        hit("s2", {"Partner": "06 11122233", "Type": "Sent", "Message": "Hallo",
                   "Sent Date/Time" + UTC_DMY: "09/03/2021 08:05:00"}))
    mms = artifact(
        "Android MMS",
        hit("m1", {"Partner": "06 11122233", "Type": "Received", "Subject": "foto",
                   "Message": "kijk", "Received Date/Time" + UTC_DMY: "09/03/2021 09:00:00"}))
    whatsapp = artifact(
        "Android WhatsApp Messages",
        hit("w1", {"Sender": "31611122233@s.whatsapp.net", "Sender Name": "Piet",
                   "Receiver": "Local User", "Message": "morgen?", "Message Type": "Incoming",
                   "Message Sent Date/Time" + UTC_DMY: "09/03/2021 20:00:00",
                   "Chat ID": "120363041234@g.us", "Conversation Name": "de jongens"}),
        hit("w2", {"Sender": "Local User", "Receiver": "31611122233@s.whatsapp.net",
                   "Message": "ja", "Message Type": "Outgoing",
                   "Message Sent Date/Time" + UTC_DMY: "09/03/2021 20:01:00",
                   "Chat ID": "120363041234@g.us", "Conversation Name": "de jongens"}))
    gmail = artifact(
        "Gmail Emails",
        hit("e1", {"From": "Dealer.One@Example.com", "To": "kees@example.nl",
                   "CC": "a@example.nl; b@example.nl", "Subject": "Afspraak",
                   "Body": "donderdag om 6", "Received Date/Time" + UTC_DMY:
                   "10/03/2021 07:30:00"}))
    contacts = artifact(
        "Android Contacts",
        hit("k1", {"Display Name": "Piet", "Phone Number(s)": "06 11122233, 020 123 4567",
                   "Email Address(es)": "Piet@Example.nl",
                   "Web Address(es)": "https://example.nl/piet"}))
    telegram_contacts = artifact("Android Telegram Contacts",
                                 hit("k2", {"Display Name": "Piet T", "User ID": "piet_t"}))
    cells = artifact(
        "Cell Tower Locations",
        hit("l1", {"CellID": "56789", "Location Area Code": "1234",
                   "Mobile Country Code": "204", "Mobile Network Code": "08",
                   "Latitude": "52.37", "Longitude": "4.89",
                   "Timestamp Date/Time" + UTC_DMY: "10/03/2021 08:00:00"}))
    wifi = artifact(
        "WiFi Locations",
        hit("l2", {"MAC Address": "00:11:22:33:44:55", "Latitude": "52.36",
                   "Longitude": "4.90", "Accuracy": "30",
                   "Timestamp Date/Time" + UTC_DMY: "10/03/2021 08:10:00"}))
    sim = artifact("SIM Card Activity",
                   hit("sim1", {"Phone Number": "06 12345678", "ICCID": "8931080012345678901",
                                "IMSI": "204080123456789"}))
    account = artifact("Android WhatsApp Accounts Information",
                       hit("a1", {"Phone Number": "+31 6 12345678", "WhatsApp Name": "Kees"}))
    pictures = artifact("Pictures", hit("p1", {"File Name": "IMG_0001.jpg"}))
    return report(nl_device(), sim, account, calls, sms, mms, whatsapp, gmail, contacts,
                  telegram_contacts, cells, wifi, pictures)


def one_call_report(date_name: str, when: str) -> str:
    """The Dutch phone with one call dated under ``date_name``."""
    call = hit("c1", {"Partner": "06 23456789", "Direction": "Incoming", date_name: when})
    return report(nl_device(), artifact("Android Call Logs", call))


# --------------------------------------------------------------------------- US iPhone

def us_report() -> str:
    """An iPhone whose SIM is American (IMSI 310 410...); no time zone in the report."""
    device = artifact("iOS Device Information",
                      hit("d1", {"Device Name": "Jo's iPhone", "Model ID": "iPhone12,1",
                                 "IMSI": "310410123456789", "OS Version": "14.4"}))
    calls = artifact(
        "iOS Call Logs",
        hit("c1", {"Partner": "(301) 555-0123", "Direction": "Outgoing",
                   "Call Date/Time" + UTC_MDY: "3/16/2021 1:44:08 PM",
                   "Call Duration": "00:03:20"}))
    messages = artifact(
        "iOS iMessage/SMS/MMS",
        hit("i1", {"Sender": "+1 240 437 8299", "Recipient(s)": "2404378277",
                   "Message": "running late", "Message Type": "SMS",
                   "Received Date/Time" + UTC_MDY: "3/17/2021 9:15:00 AM",
                   "Sent Date/Time" + UTC_MDY: "3/17/2021 9:14:58 AM"}),
        hit("i2", {"Recipient(s)": "+1 240 437 8299, +1 301 555 0188",
                   "Message": "see you both", "Message Type": "iMessage",
                   "Sent Date/Time" + UTC_MDY: "3/17/2021 9:20:00 AM"}))
    contacts = artifact(
        "Apple Contacts - iOS",
        hit("k1", {"First Name": "Jo", "Last Name": "Smith",
                   "Phone Number(s)": "(240) 437-8299"}))
    places = artifact(
        "Significant Locations",
        hit("l1", {"Location Type": "Home", "Latitude": "38.98", "Longitude": "-76.94",
                   "Created Date/Time" + UTC_MDY: "3/18/2021 7:00:00 AM"}))
    return report(device, calls, messages, contacts, places)
