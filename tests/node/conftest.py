"""Fixtures for node tests: a fresh node, input files written on the spot, a UFDR builder."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from node_data import SAMPLE_CALLS, SAMPLE_CONTACTS, SAMPLE_MESSAGES, ufdr_xml


@pytest.fixture(scope="session")
def template_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `node init` per session; tests get copies (init itself is tested on its own)."""
    from node.store import init_node

    d = tmp_path_factory.mktemp("template") / "node"
    init_node(d, "Testshire")
    return d


@pytest.fixture
def node(template_node: Path, tmp_path: Path) -> Path:
    """An initialised, empty node."""
    d = tmp_path / "node"
    shutil.copytree(template_node, d)
    return d


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write('persons.csv', text) → a path in a fresh input folder."""
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)

    def _write(name: str, content: str | bytes, sub: Path | None = None) -> Path:
        p = (sub or folder) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        return p

    return _write


@pytest.fixture
def status(cli) -> Callable[[Path], dict[str, Any]]:
    def _status(d: Path) -> dict[str, Any]:
        r = cli("node", "status", "--dir", d, "--json")
        assert r.code == 0, r
        return json.loads(r.out)

    return _status


@pytest.fixture
def loaded(cli) -> Callable[[Path, Path], dict[str, Any]]:
    """loaded(node, file) → the JSON load report of ``node ingest`` for one good file."""
    def _loaded(d: Path, path: Path) -> dict[str, Any]:
        r = cli("node", "ingest", "--dir", d, path, "--json")
        assert r.code == 0, r
        return json.loads(r.out)[0]

    return _loaded


@pytest.fixture
def query() -> Callable[[Path, str], list[tuple[Any, ...]]]:
    """Read the node store directly (read-only), as an analyst's SQL would."""

    def _query(d: Path, sql: str) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(d / "node.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    return _query


@pytest.fixture
def make_ufdr(tmp_path: Path) -> Callable[..., Path]:
    """Build a .ufdr ZIP with report.xml (+ a files/ folder, as real reports have)."""

    def _make(name: str = "EXH-001.ufdr", xml: str | None = None, **kw: Any) -> Path:
        if xml is None:
            xml = ufdr_xml(kw.get("calls", SAMPLE_CALLS), kw.get("messages", SAMPLE_MESSAGES),
                           kw.get("contacts", SAMPLE_CONTACTS))
        path = tmp_path / "ufdr" / name
        path.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("report.xml", xml)
            z.writestr("files/Image/readme.txt", "not evidence")
        return path

    return _make


@pytest.fixture(scope="module")
def language_world_template(template_node: Path, tmp_path_factory: pytest.TempPathFactory
                            ) -> Path:
    """The node of tests/node/language_world.py, built once per test module."""
    from analyses_worlds import build
    from language_world import language_world

    return build(template_node, tmp_path_factory.mktemp("language-world"), language_world())


@pytest.fixture
def language_node(language_world_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of that node for one test (translation changes it)."""
    node = tmp_path / "language-node"
    shutil.copytree(language_world_template, node)
    return node
