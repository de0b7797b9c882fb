"""`/docs`: Swagger UI over the service's OpenAPI schema, every asset served from here.

Police networks are closed and the page must run under a strict CSP, so FastAPI's default
page (Swagger UI from a CDN, started by an inline script) will not do. Swagger UI comes
from the npm package ``swagger-ui-dist`` (pinned beside the console's libraries and
installed by `make console` into ``federation/console/node_modules``); the page loads it
and one small start script from ``/docs/assets/``, so ``script-src 'self'`` suffices.
Without the package, /docs says how to install it (the schema stays at /openapi.json).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from federation.console import MODULES

SWAGGER = MODULES / "swagger-ui-dist"
#: what the page loads as /docs/assets/NAME → the file npm installed
ASSETS = {
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "favicon-32x32.png": ("favicon-32x32.png", "image/png"),
}
#: scripts from this server only; Swagger UI sets inline styles and draws icons as data: URIs
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'none'")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} — API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/start.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise fetch a badge from an outside validator
START = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  persistAuthorization: false
});
"""
MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API docs not installed</title></head>
<body><h1>Swagger UI is not installed</h1>
<p>Run <code>make console</code> (npm ci in federation/console) and restart the service.
The OpenAPI schema itself is at <a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""


def installed() -> bool:
    return all((SWAGGER / rel).is_file() for rel, _ in ASSETS.values())


def docs_router(title: str) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/docs")
    async def docs() -> Response:
        if not installed():
            return HTMLResponse(MISSING, 503)
        return HTMLResponse(PAGE.format(title=title))

    @r.get("/docs/assets/start.js")
    async def start() -> Response:
        return Response(START, media_type="text/javascript; charset=utf-8")

    @r.get("/docs/assets/{name}")
    async def asset(name: str) -> Response:
        if name not in ASSETS or not installed():
            return Response(status_code=404)
        rel, media_type = ASSETS[name]
        return FileResponse(SWAGGER / rel, media_type=media_type)

    return r
