"""The README documents the real input layout: every table and column, nothing invented."""

from __future__ import annotations

import re
from pathlib import Path

from federation.layout import TABLES

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_layout() -> dict[str, list[str]]:
    text = README.read_text()
    section = text.split("## Input layout", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, list[str]] = {}
    current = None
    for line in section.splitlines():
        heading = re.match(r"\*\*`(\w+)`\*\*", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
        column = re.match(r"\| `(\w+)` \|", line)
        if column and current:
            tables[current].append(column.group(1))
    return tables


def test_readme_lists_every_layout_table_and_column_in_order() -> None:
    assert documented_layout() == {t.name: [c.name for c in t.columns] for t in TABLES}


def test_readme_names_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
