"""`node analyse languages` tells an analyst, per seized phone, person or case, which
languages its messages are in and how many need a translator; translations then sit
beside their originals in the timeline, and searches find a message by either."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import manifest, opus_mt_folder

from node.language.models import sha256_path


@pytest.fixture
def world(language_node: Path) -> Path:
    return language_node


def analyse(cli, world: Path, *args: str) -> dict:  # noqa: ANN001
    r = cli("node", "analyse", "languages", "--dir", world, "--json", *args)
    assert r.code == 0, r
    return json.loads(r.out)


def test_per_device_languages_and_messages_needing_a_translator(cli, world: Path) -> None:  # noqa: ANN001
    out = analyse(cli, world)
    per = {r["subject"]: r for r in out["tables"]["per subject"]}
    # D1: pl 2, ur-Latn 1, en 1 and the emoji-only message; D2: ro, ur-Latn, pl; D3: "ok"
    assert per["D1"]["messages"] == 5 and per["D1"]["languages"] == "pl 2, en 1, ur-Latn 1"
    assert (per["D1"]["undetermined"], per["D1"]["need_translator"]) == (1, 3)
    assert per["D2"]["languages"] == "pl 1, ro 1, ur-Latn 1" and per["D2"]["need_translator"] == 3
    assert (per["D3"]["undetermined"], per["D3"]["need_translator"]) == (1, 0)
    assert out["summary"] == {"subjects": 3, "devices": 3, "messages": 9, "need_translator": 6,
                              "languages": 4, "detected_now": 0}
    d1 = {r["language"]: r for r in out["tables"]["messages per language"]
          if r["subject"] == "D1"}
    assert d1["pl"]["share"] == 0.4 and d1["pl"]["needs_translator"] is True
    assert d1["en"]["needs_translator"] is False and d1["und"]["scripts"] == "Zyyy"
    why = {(r["subject"], r["reason"]): r["messages"]
           for r in out["tables"]["undetermined, and why"]}
    assert why == {("D1", "no-letters"): 1, ("D3", "short"): 1}


def test_by_person_and_by_case(cli, world: Path) -> None:  # noqa: ANN001
    person = analyse(cli, world, "--person", "P2")["tables"]["per subject"]
    assert [(r["subject"], r["messages"], r["need_translator"]) for r in person] == [
        ("P2", 3, 3)]
    case = analyse(cli, world, "--case", "CR/1")["tables"]["per subject"]   # P1's D1 + P2's D2
    assert [(r["subject"], r["devices"], r["messages"], r["need_translator"]) for r in case] \
        == [("case CR/1", 2, 8, 6)]


def test_messages_loaded_before_detection_are_detected_for_the_run_only(cli, world: Path,
                                                                        query) -> None:  # noqa: ANN001
    import duckdb

    con = duckdb.connect(str(world / "node.duckdb"))  # as a store from before migration 6
    con.execute("UPDATE messages SET language = NULL, language_script = NULL, "
                "language_confidence = NULL, language_method = NULL WHERE device_id = 'D2'")
    con.close()
    out = analyse(cli, world, "--device", "D2")
    assert out["summary"]["detected_now"] == 3 and out["summary"]["need_translator"] == 3
    assert query(world, "SELECT count(*) FROM messages WHERE language IS NULL") == [(3,)]


def test_the_analysis_changes_nothing_but_the_ledger(cli, world: Path, query) -> None:  # noqa: ANN001
    tables = [t for (t,) in query(world, "SELECT table_name FROM duckdb_tables() "
                                         "ORDER BY 1")]

    def snapshot() -> dict[str, int]:
        return {t: query(world, f"SELECT count(*) FROM {t}")[0][0] for t in tables}

    before = snapshot()
    analyse(cli, world)
    after = snapshot()
    assert after.pop("ledger") == before.pop("ledger") + 1
    assert after == before
    assert query(world, "SELECT action, purpose FROM ledger ORDER BY seq DESC LIMIT 1") == [
        ("consultation", "analysis:languages")]


def test_translations_sit_beside_originals_and_are_searched(cli, world: Path,
                                                            tmp_path: Path) -> None:  # noqa: ANN001
    words = tmp_path / "slang.toml"
    words.write_text('[ur-Latn]\npaise = "money"\n')
    assert cli("node", "translate", "--dir", world, "--backend", "glossary", "--glossary",
               words).code == 0
    r = cli("node", "analyse", "timeline", "--dir", world, "--device", "D1", "--show-text",
            "--json")
    rows = {row["ref"]: row for row in json.loads(r.out)["tables"]["timeline"]}
    assert rows["m3"]["text"] == "paise kab doge yaar" and rows["m3"]["language"] == "ur-Latn"
    assert rows["m3"]["translation"] == "glossary slang: paise (= money) kab doge yaar"
    assert rows["m1"]["translation"] is None          # Polish: no glossary entry
    # an English search finds the Roman Urdu message through its gloss, and only it
    found = json.loads(cli("node", "analyse", "timeline", "--dir", world, "--search",
                           "MONEY", "--json").out)["tables"]["timeline"]
    assert [(row["device"], row["ref"]) for row in found] == [("D1", "m3")]
    # the original is searched too: "jesteś" is in D1's first Polish message
    found = json.loads(cli("node", "analyse", "timeline", "--dir", world, "--search",
                           "jesteś", "--json").out)["tables"]["timeline"]
    assert [(row["device"], row["ref"]) for row in found] == [("D1", "m1")]
    contacts = json.loads(cli("node", "analyse", "contacts", "--dir", world, "--device", "D1",
                              "--search", "money", "--json").out)
    assert contacts["summary"]["events"] == 1 and contacts["summary"]["pairs"] == 1


def test_machine_translations_count_as_translated(cli, world: Path, tmp_path: Path) -> None:  # noqa: ANN001
    folder = opus_mt_folder(tmp_path / "tiny")
    (tmp_path / "m.toml").write_text(manifest([("tiny", sha256_path(folder), ["pl"])]))
    assert cli("node", "models", "import", folder, "--manifest", tmp_path / "m.toml",
               "--dir", world).code == 0
    assert cli("node", "translate", "--dir", world, "--backend", "ctranslate2").code == 0
    per = {r["subject"]: r for r in analyse(cli, world)["tables"]["per subject"]}
    # D1: pl 2 machine-translated, ur-Latn 1 not (no model reads it)
    assert (per["D1"]["machine_translated"], per["D1"]["untranslated"]) == (2, 1)
    assert (per["D2"]["machine_translated"], per["D2"]["untranslated"]) == (1, 2)
