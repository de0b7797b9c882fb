"""`node translate` and `node models`: messages the force cannot read are queued for a
translator, or translated offline by a model the force imported after checking its hash —
in batches, resuming after an interruption, every row saying what made it. The model here
is built by the test (random weights, a vocabulary trained on a few sentences): it writes
nonsense through the real engine, so these tests check the plumbing, never quality."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from tiny_models import argos_package, manifest, opus_mt_folder

from federation.keys import NodeKeys
from node.language.models import sha256_path
from node.language.run import translate
from node.language.settings import LanguageSettings
from node.language.translate import open_backend
from node.store import open_store


@pytest.fixture
def world(language_node: Path) -> Path:
    return language_node


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model folder, manifest naming it for Urdu and Polish)."""
    root = tmp_path_factory.mktemp("models")
    folder = opus_mt_folder(root / "tiny-ur-en")
    (root / "manifest.toml").write_text(manifest([("tiny-ur-en", sha256_path(folder),
                                                   ["ur", "pl"])]))
    return folder, root / "manifest.toml"


def _imported(cli, world: Path, tiny: tuple[Path, Path]) -> None:  # noqa: ANN001
    r = cli("node", "models", "import", tiny[0], "--manifest", tiny[1], "--dir", world)
    assert r.code == 0, r


def _ledger(query, node: Path, purpose: str) -> list[dict[str, int]]:  # noqa: ANN001
    return [json.loads(c) for (c,) in query(
        node, f"SELECT counts FROM ledger WHERE purpose = '{purpose}' ORDER BY seq")]


def test_default_backend_queues_each_message_for_a_translator_per_language(
        cli, world: Path, query) -> None:  # noqa: ANN001
    r = cli("node", "translate", "--dir", world, "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["done"] == {"pl none": 3, "ro none": 1, "ur-Latn none": 2}
    assert query(world, "SELECT language, count(*) FROM translations WHERE status = "
                        "'needs_translator' AND text IS NULL GROUP BY 1 ORDER BY 1") == [
        ("pl", 3), ("ro", 1), ("ur-Latn", 2)]
    assert _ledger(query, world, "translation") == [{
        "pl none needs_translator": 3, "ro none needs_translator": 1,
        "ur-Latn none needs_translator": 2, "truncated": 0}]
    again = json.loads(cli("node", "translate", "--dir", world, "--json").out)
    assert again["done"] == {} and again["already"] == 6  # nothing queued twice


def test_a_device_person_or_case_limits_the_run(cli, world: Path) -> None:  # noqa: ANN001
    by_device = json.loads(cli("node", "translate", "--dir", world, "--device", "D2",
                               "--json").out)
    assert by_device["done"] == {"pl none": 1, "ro none": 1, "ur-Latn none": 1}
    # case CR/1: P1 (D1) and P2 (D2); D2 is done already, D1 adds pl 2, ur-Latn 1
    by_case = json.loads(cli("node", "translate", "--dir", world, "--case", "CR/1",
                             "--json").out)
    assert by_case["done"] == {"pl none": 2, "ur-Latn none": 1} and by_case["already"] == 3
    none_left = json.loads(cli("node", "translate", "--dir", world, "--person", "P3",
                               "--json").out)
    assert none_left["done"] == {} and none_left["pending"] == 0   # D3 holds only "ok"


def test_import_refuses_a_model_the_manifest_does_not_list(cli, world: Path,
                                                          tiny: tuple[Path, Path],
                                                          tmp_path: Path) -> None:  # noqa: ANN001
    changed = tmp_path / "changed"
    shutil.copytree(tiny[0], changed)
    (changed / "source.spm").write_bytes((changed / "source.spm").read_bytes() + b"\0")
    r = cli("node", "models", "import", changed, "--manifest", tiny[1], "--dir", world)
    assert r.code == 2
    assert f"its SHA-256 is {sha256_path(changed)}" in r.err and "does not list" in r.err
    assert not (world / "models" / "tiny-ur-en").exists()


def test_import_refuses_a_package_writing_outside_its_folder(cli, world: Path,
                                                            tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "evil.argosmodel"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../../escaped.txt", "x")
    (tmp_path / "m.toml").write_text(manifest([("evil", sha256_path(bad), ["ur"])]))
    r = cli("node", "models", "import", bad, "--manifest", tmp_path / "m.toml", "--dir", world)
    assert r.code == 2 and "outside the model folder" in r.err
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_an_argos_package_imports_and_lists(cli, world: Path, tmp_path: Path) -> None:  # noqa: ANN001
    package = argos_package(tmp_path / "translate-ur_en.argosmodel")
    (tmp_path / "m.toml").write_text(manifest([("argos-ur-en", sha256_path(package),
                                                ["ur"])]))
    r = cli("node", "models", "import", package, "--manifest", tmp_path / "m.toml", "--dir",
            world, "--json")
    assert r.code == 0, r
    info = json.loads(r.out)
    assert info["ct2_dir"] == "translate-ur_en/model"
    assert info["spm_source"] == info["spm_target"] == "translate-ur_en/sentencepiece.model"
    listed = json.loads(cli("node", "models", "list", "--dir", world, "--verify",
                            "--json").out)
    assert [(m["id"], m["sha256"], m["intact"]) for m in listed] == [
        ("argos-ur-en", sha256_path(package), True)]


def test_ctranslate2_translates_in_batches_with_provenance(cli, world: Path, query,
                                                           tiny: tuple[Path, Path]) -> None:  # noqa: ANN001
    _imported(cli, world, tiny)
    r = cli("node", "translate", "--dir", world, "--backend", "ctranslate2", "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    # the model reads Urdu and Polish: pl 3 directly, ur-Latn 2 after transliteration;
    # Romanian has no model and still needs a translator
    assert report["done"] == {"pl tiny-ur-en": 3, "ur-Latn tiny-ur-en": 2}
    assert report["no_model"] == {"ro": 1}
    rows = query(world, "SELECT DISTINCT backend, model_id, model_sha256, status, label "
                        "FROM translations")
    assert rows == [("ctranslate2", "tiny-ur-en", sha256_path(tiny[0]), "machine_translation",
                     "machine translation, not evidence")]
    # Roman Urdu went to the Urdu model in Urdu script (romanalfaz's lexicon): paise → پیسے
    [(inp,)] = query(world, "SELECT input FROM translations WHERE device_id = 'D1' AND "
                            "message_id = 'm3'")
    assert inp == "پیسے کب doge یار"
    # the original stays as it was
    assert query(world, "SELECT body FROM messages WHERE device_id = 'D1' AND "
                        "message_id = 'm3'") == [("paise kab doge yaar",)]


def test_batches_and_truncation(world: Path, tiny: tuple[Path, Path], cli, query) -> None:  # noqa: ANN001
    _imported(cli, world, tiny)
    batches: list[int] = []
    with open_store(world) as (config, con):
        engine = open_backend("ctranslate2", world, max_input_tokens=8)
        report = translate(con, config.force, NodeKeys.load(config.keys_dir).signer, "t",
                           engine, LanguageSettings(), None, "all devices", batch_size=2,
                           progress=lambda total: batches.append)
    # pl 3 → batches of 2 and 1; ur-Latn 2 → one batch of 2 (languages in order)
    assert batches == [2, 1, 2]
    assert report.pending == 5
    cut = query(world, "SELECT device_id, message_id FROM translations WHERE truncated")
    assert ("D2", "m3") in cut          # the long Polish message, cut to 8 pieces
    assert query(world, "SELECT count(*) FROM translations WHERE text IS NULL") == [(0,)]


def test_an_interrupted_run_resumes_and_both_are_logged(world: Path, tiny: tuple[Path, Path],
                                                        cli, query) -> None:  # noqa: ANN001
    _imported(cli, world, tiny)

    def stop_after_first_batch(total: int):  # noqa: ANN202
        def step(n: int) -> None:
            raise KeyboardInterrupt
        return step

    with open_store(world) as (config, con):
        signer = NodeKeys.load(config.keys_dir).signer
        engine = open_backend("ctranslate2", world)
        with pytest.raises(KeyboardInterrupt):
            translate(con, config.force, signer, "t", engine, LanguageSettings(), None,
                      "all devices", batch_size=2, progress=stop_after_first_batch)
    assert query(world, "SELECT count(*) FROM translations") == [(2,)]   # the first batch
    r = json.loads(cli("node", "translate", "--dir", world, "--backend", "ctranslate2",
                       "--batch-size", "2", "--json").out)
    assert r["already"] == 2 and sum(r["done"].values()) == 3
    assert query(world, "SELECT count(*), count(DISTINCT (device_id, message_id)) "
                        "FROM translations") == [(5, 5)]
    logged = _ledger(query, world, "translation")
    assert [sum(v for k, v in c.items() if k != "truncated") for c in logged] == [2, 3]
    assert query(world, "SELECT count(*) FROM translation_runs WHERE NOT logged") == [(0,)]


def test_a_run_killed_without_its_entry_is_logged_by_the_next(world: Path, cli, query) -> None:  # noqa: ANN001
    with open_store(world) as (_, con):  # what a killed process leaves: a run, no entry
        con.execute("INSERT INTO translation_runs VALUES (7, now()::TIMESTAMP, NULL, 'none', "
                    "'none', NULL, 'all devices', 0, false)")
    assert cli("node", "translate", "--dir", world).code == 0
    assert query(world, "SELECT run_id, logged FROM translation_runs ORDER BY 1") == [
        (7, True), (8, True)]
    assert len(_ledger(query, world, "translation")) == 2


def test_the_glossary_backend_glosses_the_force_words(world: Path, cli, query,
                                                      tmp_path: Path) -> None:  # noqa: ANN001
    words = tmp_path / "slang.toml"
    words.write_text('[ur-Latn]\npaise = "money"\nyaar = "mate"\n')
    r = cli("node", "translate", "--dir", world, "--backend", "glossary", "--glossary", words,
            "--json")
    assert json.loads(r.out)["done"] == {"ur-Latn slang": 2}
    assert json.loads(r.out)["no_model"] == {"pl": 3, "ro": 1}
    assert query(world, "SELECT text, model_sha256 FROM translations WHERE device_id = 'D1'"
                 ) == [("paise (= money) kab doge yaar (= mate)", sha256_path(words))]


@pytest.mark.parametrize(("args", "message"), [
    (["--backend", "deepl"], "--backend 'deepl': choose one of none, ctranslate2, glossary"),
    (["--backend", "ctranslate2"], "no translation model imported. No model ships"),
    (["--backend", "glossary"], "--backend glossary needs --glossary FILE"),
    (["--device", "D9"], "no device 'D9' on this node"),
    (["--case", "CR/9"], "no case 'CR/9' on this node"),
])
def test_bad_input_is_one_line_naming_what_to_change(cli, world: Path, args: list[str],
                                                     message: str) -> None:  # noqa: ANN001
    r = cli("node", "translate", "--dir", world, *args)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err
