"""A force's language settings, in its node.toml:

    [language]
    expected = ["en", "ur", "ur-Latn", "pa-Arab", "pl", "ro"]   # restricts detection
    readable = ["en"]                                           # no translator needed

``expected`` (optional) restricts every detection to those tags (anything else is
undetermined); ``readable`` (default English) are the languages the force's own analysts
read: every other determined language needs a translator.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from federation.errors import CrossforceError

#: a BCP-47 tag as this project writes them: language, optional script
_TAG = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?$")


@dataclass(frozen=True)
class LanguageSettings:
    expected: tuple[str, ...] | None = None
    readable: tuple[str, ...] = ("en",)

    def needs_translator(self, tag: str | None) -> bool:
        return tag not in (None, "und") and tag not in self.readable


def language_settings(node_dir: Path) -> LanguageSettings:
    """The ``[language]`` table of DIR/node.toml (defaults when it has none)."""
    path = Path(node_dir) / "node.toml"
    try:
        table = tomllib.loads(path.read_text()).get("language", {}) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise CrossforceError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(table) - {"expected", "readable"}
    if unknown:
        raise CrossforceError(f"{path}: [language] has no setting {sorted(unknown)[0]!r} "
                              "(write expected = [...] and/or readable = [...])")
    expected = _tags(path, table, "expected") if "expected" in table else None
    readable = _tags(path, table, "readable") if "readable" in table else ("en",)
    return LanguageSettings(expected, readable)


def _tags(path: Path, table: dict, key: str) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CrossforceError(f"{path}: [language] {key} must be a list of language tags, "
                              'e.g. ["en", "ur", "ur-Latn"]')
    for tag in value:
        if not _TAG.match(tag):
            raise CrossforceError(f"{path}: [language] {key}: {tag!r} is not a language tag "
                                  '(write a code such as "ur", or "ur-Latn" with its script)')
    return tuple(value)
