"""Shared fixtures. Tests run the real components (DuckDB, Flower, FastAPI) — no mocks."""

from __future__ import annotations

import pytest

from federation.cli import main


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `crossforce ARGS...` in-process, as a user would, and return code/stdout/stderr."""

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
