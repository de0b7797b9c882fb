"""The web console's shared front end, served by two servers: the national console inside
`crossforce coordinator serve` and the force console of `crossforce node serve-console`.

It lives in ``federation`` because both servers use it and ``node`` and ``coordinator``
never import each other (DESIGN.md §3); it imports neither. What is here:

- ``static/``: our own pages and small scripts (no build step): ``console.js`` (login,
  the JSON API with the caller's key, purpose and justification, tables, bar charts),
  ``linkchart.js`` (Cytoscape.js link charts) and ``timeline.js`` (vis-timeline);
  ``national/`` and ``force/`` hold each console's pages;
- ``package.json`` / ``package-lock.json``: the third-party libraries, pinned, installed
  from the npm registry into ``node_modules/`` by ``make console`` (``npm ci``) and never
  committed. Police networks are closed: every asset is served from here, none from a CDN.

``add_console`` mounts one console's pages at ``/console``; it refuses to start, with the
command that fixes it, when the libraries are not installed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response

from federation.errors import CrossforceError

ROOT = Path(__file__).resolve().parent
STATIC = ROOT / "static"
MODULES = ROOT / "node_modules"
#: what the pages load as /console/vendor/NAME → the file npm installed
VENDOR = {
    "cytoscape.min.js": "cytoscape/dist/cytoscape.min.js",
    "layout-base.js": "layout-base/layout-base.js",
    "cose-base.js": "cose-base/cose-base.js",
    "cytoscape-fcose.js": "cytoscape-fcose/cytoscape-fcose.js",
    "vis-timeline.min.js": "vis-timeline/standalone/umd/vis-timeline-graph2d.min.js",
    "vis-timeline.min.css": "vis-timeline/styles/vis-timeline-graph2d.min.css",
}
#: scripts only from the server itself (no inline script, no CDN); inline styles are allowed
#: because Cytoscape.js and vis-timeline set them
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}


def missing_assets() -> list[str]:
    """Vendor files npm has not installed (empty when the console can run)."""
    return [name for name, rel in VENDOR.items() if not (MODULES / rel).is_file()]


def check_assets() -> None:
    """Refuse to serve a console whose libraries are missing, saying how to install them."""
    missing = missing_assets()
    if missing:
        raise CrossforceError(
            f"the web console's JavaScript libraries are not installed ({missing[0]} missing "
            f"from {MODULES}); run `make console` (npm ci in {ROOT}), or start with "
            "--no-console")


def _file(path: Path) -> Response:
    return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"))


def add_console(app: FastAPI, pages: str) -> None:
    """Serve the ``pages`` console (``national`` or ``force``) at /console: its pages, the
    shared scripts and the vendor libraries. Nothing here holds data: every page asks the
    JSON API, with the caller's key, for what its role may see."""
    check_assets()
    folder = STATIC / pages
    names = {p.stem for p in folder.glob("*.html")}
    shared = {p.name for p in STATIC.glob("*.*")} | {f"{pages}/{p.name}"
                                                      for p in folder.glob("*.js")}
    r = APIRouter(include_in_schema=False)

    @r.get("/console")
    def home() -> Response:
        return RedirectResponse("/console/login", 307)

    @r.get("/console/static/{name:path}")
    def static(name: str) -> Response:
        if name not in shared:
            return Response("not found", 404)
        return _file(STATIC / name)

    @r.get("/console/vendor/{name}")
    def vendor(name: str) -> Response:
        if name not in VENDOR:
            return Response("not found", 404)
        return _file(MODULES / VENDOR[name])

    @r.get("/console/{page}")
    def page(page: str) -> Response:
        if page not in names:
            return Response("no such page", 404)
        return _file(folder / f"{page}.html")

    app.include_router(r)
