"""Shared helpers for the policy tests: write a policy file the way a data owner would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

MINIMAL = """\
[purpose]
code = "TEST-PURPOSE"
lawful_basis = "DPA 2018 Part 3 s.31, a test purpose"
"""


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write TOML text to ``policy.toml`` in a temporary folder and return its path."""

    def write(text: str, name: str = "policy.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def minimal_policy_text() -> str:
    return MINIMAL
