"""The ``Translator`` interface and its backends, as ``node translate`` chooses them.

A backend gives, per language, the ``Translator`` that handles it (or None: no model for
that language, the message stays untranslated and is counted). Every output is labelled:
a machine translation or glossary is never evidence, and the original is always kept.

- ``none`` (default): nothing is translated; every message needing a translator is queued
  for one, per language (status ``needs_translator``);
- ``ctranslate2``: the force's imported models (node.language.models), one per language,
  Roman Urdu transliterated to Urdu script for an Urdu model (node.language.ct2);
- ``glossary``: the force's own slang and code words, word by word (node.language.glossary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from federation.errors import CrossforceError

MACHINE = "machine_translation"
GLOSSED = "glossary"
QUEUED = "needs_translator"
MACHINE_LABEL = "machine translation, not evidence"
BACKENDS = ("none", "ctranslate2", "glossary")


@dataclass(frozen=True)
class Output:
    """One body's result: the text (None when only queued), what the model actually read
    when that was not the body, and whether the body was cut to fit the model."""

    text: str | None
    input: str | None = None
    truncated: bool = False


class Translator(Protocol):
    """Turns bodies of one language into outputs; says who it is for the provenance."""

    backend: str
    model_id: str
    model_sha256: str | None
    status: str
    label: str

    def translate(self, bodies: Sequence[str]) -> list[Output]: ...


class Backend(Protocol):
    name: str

    def for_language(self, language: str) -> Translator | None: ...


class Queue:
    """Backend ``none``: the message is queued for a human translator of its language."""

    backend = "none"
    model_id = "none"
    model_sha256 = None
    status = QUEUED
    label = "queued for a translator"

    def translate(self, bodies: Sequence[str]) -> list[Output]:
        return [Output(None) for _ in bodies]


class QueueBackend:
    name = "none"

    def for_language(self, language: str) -> Translator | None:
        return Queue()


def open_backend(name: str, node_dir: Path, model: str | None = None,
                 glossary: Path | None = None, max_input_tokens: int = 256) -> Backend:
    """The backend ``--backend`` names, with its model or glossary file."""
    if name == "none":
        if model or glossary:
            raise CrossforceError("--model and --glossary go with --backend ctranslate2 or "
                                  "--backend glossary, not with the default 'none'")
        return QueueBackend()
    if name == "ctranslate2":
        from node.language.ct2 import ModelsBackend

        return ModelsBackend(node_dir, model, max_input_tokens)
    if name == "glossary":
        if glossary is None:
            raise CrossforceError("--backend glossary needs --glossary FILE (a TOML file of "
                                  "the force's words: [ur-Latn] paise = \"money\")")
        from node.language.glossary import GlossaryBackend

        return GlossaryBackend(glossary)
    raise CrossforceError(f"--backend {name!r}: choose one of {', '.join(BACKENDS)}")
