"""The ``glossary`` backend: the force's own slang and code words, glossed word by word.

A TOML file, one table per language tag (``any`` for every language)::

    [any]
    food = "drugs"
    "go country" = "travel to sell drugs out of town"
    [ur-Latn]
    paise = "money"

A known word or phrase is followed by ``(= gloss)``; every word stays as written, so the
analyst reads the original with the force's meaning beside the words it knows. The
glossary's file name is its model id and its SHA-256 is recorded with every gloss.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

from federation.errors import CrossforceError
from node.language.models import sha256_path
from node.language.translate import GLOSSED, Output, Translator

ANY = "any"


class Glossary:
    backend = "glossary"
    status = GLOSSED
    label = "word-by-word glossary, not a translation, not evidence"

    def __init__(self, terms: dict[str, str], model_id: str, sha256: str) -> None:
        self.model_id, self.model_sha256 = model_id, sha256
        self.terms = {k.lower(): v for k, v in terms.items()}
        longest_first = sorted(self.terms, key=lambda t: (-len(t), t))
        self.pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, longest_first))
                                  + r")(?!\w)", re.IGNORECASE)

    def translate(self, bodies: Sequence[str]) -> list[Output]:
        """Each body with its known words glossed; None when it holds none of them (the
        message is still marked done for this glossary)."""
        out = []
        for b in bodies:
            glossed = self.pattern.sub(
                lambda m: f"{m.group(1)} (= {self.terms[m.group(1).lower()]})", b)
            out.append(Output(glossed if glossed != b else None))
        return out


class GlossaryBackend:
    name = "glossary"

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise CrossforceError(f"--glossary {path}: no such file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CrossforceError(f"{path}: not valid TOML ({exc})") from None
        for tag, table in data.items():
            if not isinstance(table, dict) or not table or not all(
                    isinstance(v, str) and v.strip() for v in table.values()):
                raise CrossforceError(f'{path}: [{tag}] must map words to glosses, e.g. '
                                      'paise = "money"')
        self.tables: dict[str, dict[str, str]] = data
        self.model_id, self.sha256 = path.stem, sha256_path(path)

    def for_language(self, language: str) -> Translator | None:
        terms = {**self.tables.get(ANY, {}), **self.tables.get(language, {})}
        if not terms:
            return None
        return Glossary(terms, self.model_id, self.sha256)
