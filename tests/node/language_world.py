"""A small node whose messages are in known languages, for the language and translation
tests. The answers the tests expect are counted from this table by hand:

    device  message  body                                        language
    D1      m1       Gdzie jesteś? Zadzwoń do mnie               pl
    D1      m2       Kiedy oddasz pieniądze?                     pl
    D1      m3       paise kab doge yaar                         ur-Latn
    D1      m4       gr8 c u 2day                                en
    D1      m5       😂😂                                        und (no letters)
    D2      m1       Unde ești? Sună-mă acum                     ro
    D2      m2       tum kahan ho? mujhe abhi call karo          ur-Latn
    D2      m3       Przyjdź dziś wieczorem ... (long)           pl
    D3      m1       ok                                          und (short)

P1 (suspect in CR/1) holds D1; P2 (victim in CR/1) holds D2; P3 holds D3 and has no role.
A translator is needed for 6 messages (English and undetermined need none): pl 3
(D1 m1, m2; D2 m3), ur-Latn 2 (D1 m3; D2 m2), ro 1 (D2 m1).
"""

from __future__ import annotations

LONG_POLISH = ("Przyjdź dziś wieczorem do mieszkania, nie mów nikomu i usuń tę wiadomość, "
               "bo jutro rano przyjedzie samochód po pieniądze")

MESSAGES = [
    ("D1", "m1", "2024-03-01 10:00:00", "Gdzie jesteś? Zadzwoń do mnie"),
    ("D1", "m2", "2024-03-01 11:00:00", "Kiedy oddasz pieniądze?"),
    ("D1", "m3", "2024-03-02 22:30:00", "paise kab doge yaar"),
    ("D1", "m4", "2024-03-03 09:00:00", "gr8 c u 2day"),
    ("D1", "m5", "2024-03-03 09:05:00", "😂😂"),
    ("D2", "m1", "2024-03-01 10:01:00", "Unde ești? Sună-mă acum"),
    ("D2", "m2", "2024-03-02 23:00:00", "tum kahan ho? mujhe abhi call karo"),
    ("D2", "m3", "2024-03-04 20:00:00", LONG_POLISH),
    ("D3", "m1", "2024-03-05 12:00:00", "ok"),
]


def language_world() -> dict[str, str]:
    """The node input tables (CSV text) of the world above."""
    rows = "\n".join(f'{d},{m},{ts},outgoing,07700 900{100 + i},SMS,"{body}"'
                     for i, (d, m, ts, body) in enumerate(MESSAGES))
    return {
        "persons": "person_id,given_names,family_name\nP1,Adam,One\nP2,Bea,Two\n"
                   "P3,Cy,Three\n",
        "crimes": "crime_id,crime_ref,ho_offence_code,date_from\nC1,CR/1,88A,2024-01-01\n",
        "roles": "crime_id,person_id,role\nC1,P1,suspect\nC1,P2,victim\n",
        "devices": "device_id,person_id,owner_number,timezone,region\n"
                   "D1,P1,07700 900001,Europe/London,GB\nD2,P2,07700 900002,Europe/London,GB\n"
                   "D3,P3,07700 900003,Europe/London,GB\n",
        "messages": "device_id,message_id,timestamp_utc,direction,number,app,body\n"
                    + rows + "\n",
    }
