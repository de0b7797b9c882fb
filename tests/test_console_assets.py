"""Both consoles refuse to start without their JavaScript libraries, or off loopback (the
force console), with one `error:` line saying what to do — never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import federation.console as web


@pytest.fixture
def no_libraries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The console's npm folder as on a machine where `make console` never ran."""
    monkeypatch.setattr(web, "MODULES", tmp_path / "node_modules")
    return tmp_path


def test_the_national_console_without_its_libraries_names_make_console(
        cli, no_libraries: Path) -> None:
    r = cli("coordinator", "serve", "--dir", no_libraries / "coordinator", "--port", 0)
    assert r.code == 2
    assert r.err.startswith("error: the web console's JavaScript libraries are not "
                            "installed (cytoscape.min.js missing")
    assert "run `make console`" in r.err and "--no-console" in r.err
    assert r.err.count("\n") == 1


def test_the_force_console_without_its_libraries_names_make_console(
        cli, no_libraries: Path, tmp_path: Path) -> None:
    node = tmp_path / "node"
    assert cli("node", "init", "--force", "Testshire", "--dir", node).code == 0
    r = cli("node", "serve-console", "--dir", node, "--port", 0)
    assert r.code == 2 and "run `make console`" in r.err and r.err.count("\n") == 1


def test_the_force_console_listens_on_loopback_only(cli, tmp_path: Path) -> None:
    r = cli("node", "serve-console", "--dir", tmp_path / "node", "--host", "0.0.0.0")
    assert r.code == 2
    assert r.err == ("error: --host 0.0.0.0: the force console listens on loopback only "
                     "(127.0.0.1 or ::1)\n")


def test_every_library_the_pages_load_is_one_npm_installed() -> None:
    pages = (web.STATIC / "national").glob("*.html")
    wanted = {line.split("/console/vendor/")[1].split('"')[0]
              for page in [*pages, *(web.STATIC / "force").glob("*.html")]
              for line in page.read_text().splitlines() if "/console/vendor/" in line}
    assert wanted == set(web.VENDOR)
    assert not web.missing_assets(), "run `make console`"
