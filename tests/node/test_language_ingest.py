"""Ingest gives every message its language as it loads — CSV/Parquet messages files and
phone extractions alike — restricted to the languages the force expects when node.toml
names them, and the load report says what it found."""

from __future__ import annotations

from pathlib import Path

from language_world import language_world


def test_a_messages_file_is_detected_as_it_loads(cli, node: Path, write, query) -> None:  # noqa: ANN001
    for table, text in language_world().items():
        write(f"{table}.csv", text)
    r = cli("node", "ingest", "--dir", node, write("messages.csv",
                                                   language_world()["messages"]).parent)
    assert r.code == 0, r
    # 3 pl, 2 undetermined (emoji, "ok"), 2 ur-Latn, 1 en, 1 ro; ties by name
    assert ("messages.csv: loaded 9 rows (9 messages); message languages: 3 pl, "
            "2 undetermined, 2 ur-Latn, 1 en, 1 ro") in r.out
    rows = query(node, "SELECT device_id, message_id, language, language_script, "
                       "language_method FROM messages WHERE device_id = 'D1' ORDER BY 2")
    assert rows == [("D1", "m1", "pl", "Latn", "model"), ("D1", "m2", "pl", "Latn", "model"),
                    ("D1", "m3", "ur-Latn", "Latn", "rules:roman-urdu"),
                    ("D1", "m4", "en", "Latn", "rules:textese"),
                    ("D1", "m5", "und", "Zyyy", "no-letters")]


def test_an_extraction_is_detected_as_it_loads(node: Path, make_ufdr, loaded, query) -> None:  # noqa: ANN001
    messages = [
        {"id": "x1", "direction": "Incoming", "number": "07700900123",
         "body": "Gdzie jesteś? Zadzwoń do mnie", "time": "2023-01-03T21:00:00Z"},
        {"id": "x2", "direction": "Outgoing", "number": "07700900123",
         "body": "paise kab doge yaar", "time": "2023-01-03T21:05:00Z"},
    ]
    report = loaded(node, make_ufdr(messages=messages))
    assert report["flags"]["language"] == {"pl": 1, "ur-Latn": 1}
    assert query(node, "SELECT message_id, language FROM messages ORDER BY 1") == [
        ("x1", "pl"), ("x2", "ur-Latn")]


def test_node_toml_restricts_detection_to_the_expected_languages(cli, node: Path, write,
                                                                 query) -> None:  # noqa: ANN001
    with (node / "node.toml").open("a") as f:
        f.write('\n[language]\nexpected = ["en", "pl"]\n')
    write("devices.csv", language_world()["devices"].replace("P1", "").replace("P2", "")
          .replace("P3", ""))
    folder = write("messages.csv", language_world()["messages"]).parent
    assert cli("node", "ingest", "--dir", node, folder).code == 0
    found = dict(((d, m), (lang, how)) for d, m, lang, how in query(
        node, "SELECT device_id, message_id, language, language_method FROM messages"))
    assert found[("D1", "m1")] == ("pl", "model")
    assert found[("D1", "m3")] == ("und", "not-expected")   # Roman Urdu: not expected
    assert found[("D2", "m1")][0] == "und"                   # Romanian: not expected


def test_a_bad_language_setting_is_one_line_naming_the_fix(cli, node: Path, write) -> None:  # noqa: ANN001
    with (node / "node.toml").open("a") as f:
        f.write('\n[language]\nexpected = "pl"\n')
    r = cli("node", "ingest", "--dir", node, write("messages.csv",
                                                   language_world()["messages"]))
    assert r.code == 2
    assert "[language] expected must be a list of language tags" in r.err
    assert "Traceback" not in r.err
