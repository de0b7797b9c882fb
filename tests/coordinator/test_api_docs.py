"""`/docs` works on a closed network: Swagger UI and everything it loads come from the
service itself, under a CSP that allows no inline script and no other origin — over real
HTTP, and in Debian's Chromium (every request it makes stays on the service's origin, no
CSP violation, the operations are listed)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from coordinator.api_docs import installed
from coordinator.store import init_store
from tests.console_browser import browser
from tests.coordinator.served_api import serving

pytestmark = pytest.mark.skipif(not installed(), reason="Swagger UI not installed: "
                                "`make console` (make test installs it)")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("docs") / "coordinator"
    init_store(directory).close()
    with serving(directory, "--no-console") as served:
        yield served


def test_docs_load_every_asset_from_the_service_itself(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert not re.search(r"https?://", page.text), "the page names another origin"
        csp = page.headers["content-security-policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert script_src == "'self'" and "http" not in csp
        assert "<script>" not in page.text  # no inline script (the CSP would block it)
        loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert loaded and all(u.startswith("/docs/assets/") for u in loaded)
        for path in loaded:
            asset = client.get(path)
            assert asset.status_code == 200 and asset.content, path
        start = client.get("/docs/assets/start.js").text
        assert '"/openapi.json"' in start and "validatorUrl: null" in start
        assert client.get("/docs/assets/../../keys/signing_key.pem").status_code == 404
        assert client.get("/docs/assets/index.html").status_code == 404  # only what it needs


def test_docs_render_in_chromium_without_leaving_the_service(url: str,
                                                            tmp_path: Path) -> None:
    with browser() as b:
        page = b.new_page()
        requested: list[str] = []
        violations: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.goto(f"{url}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        operations = page.locator(".opblock").count()
        page.screenshot(path=str(tmp_path / "docs.png"))
    assert operations >= 15  # the /v1 endpoints, each an operation block
    assert requested and all(u.startswith(url) for u in requested), requested
    assert not violations
