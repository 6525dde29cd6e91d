"""The API's own documents: `/openapi.json` as the server really behaves, and `/docs` and
`/redoc` served from installed files, since an enclave has no network to fetch them from.

FastAPI's pages load Swagger UI and ReDoc from a public CDN; inside an enclave they
would stay blank. The `fastapi-offline` distribution (pinned in pyproject.toml) ships
those bundles; we serve its files and use none of its code.

The OpenAPI document is FastAPI's, with what the routes cannot say about themselves:
- every operation can answer 401, because the audit middleware refuses a dead bearer
  token before any route runs (even /healthz), and 429, because the rate limit counts
  those refusals per address (api/ratelimit.py);
- 422 has our body (`ValidationErrorBody`), never FastAPI's `HTTPValidationError`;
- every response carries `X-Request-ID`;
- an operation that takes a body can answer 413 (plain text) to one larger than the
  server takes (`api.app.MAX_BODY_BYTES`), before the route runs;
- 204 has no body.
"""

from __future__ import annotations

import base64
import re
from hashlib import sha256
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.schemas import ErrorBody, ValidationErrorBody, error_responses

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs-assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))

DEAD_TOKEN = "a bearer token was sent that is no live session (this route needs none)"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

REQUEST_ID_HEADER = {
    "description": "the request's id, as recorded in the audit envelope of what it caused",
    "schema": {"type": "string"},
}


def install_docs(web: FastAPI) -> None:
    """Serve /docs and /redoc from local files, and the truthful /openapi.json.

    The app must be built with `docs_url=None, redoc_url=None`, so that FastAPI's
    CDN-backed pages are not registered first.
    """
    assert web.docs_url is None and web.redoc_url is None, "disable FastAPI's own pages"
    web.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = web.openapi_url or "/openapi.json"

    @web.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return confined(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{web.title} - API",
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
                # No OAuth here (sessions come from signed challenges), and no online validator.
                oauth2_redirect_url=None,
                swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False},
            )
        )

    @web.get(REDOC_URL, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return confined(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{web.title} - API reference",
                redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )

    generate = web.openapi  # FastAPI's own, which caches what it returns

    def openapi() -> dict[str, Any]:
        if web.openapi_schema is None:
            web.openapi_schema = truthful(generate())
        return web.openapi_schema

    web.openapi = openapi  # type: ignore[method-assign]


def confined(page: HTMLResponse) -> HTMLResponse:
    """`page`, allowed to load from and talk to this server only.

    The bundles are local, but ReDoc's footer still names an image on its vendor's CDN:
    the browser refuses it before any request leaves. The page holds a bearer token
    once Authorize is used, so it may send it nowhere else either. Inline scripts run
    only if they are the page's own (by hash); the bundles inject inline styles.
    """
    body = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(body)
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page


TOO_LARGE = {
    "description": "the body is larger than the server takes; refused before it is read",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


def truthful(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document, corrected where the routes cannot describe the server."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (ErrorBody, ValidationErrorBody):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas.setdefault(model.__name__, found)
    ours = {status: _as_openapi(spec) for status, spec in error_responses(401, 422, 429).items()}
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation["responses"]
            # The middleware's answer to a dead token, for routes that need no session too.
            if "401" not in responses:
                responses["401"] = {**ours[401], "description": DEAD_TOKEN}
            responses.setdefault("429", ours[429])
            if "requestBody" in operation:
                responses.setdefault("413", TOO_LARGE)
            if "422" in responses:
                responses["422"]["content"] = ours[422]["content"]
            for status, response in responses.items():
                if status == "204":
                    response.pop("content", None)
                response.setdefault("headers", {})["X-Request-ID"] = REQUEST_ID_HEADER
    # FastAPI's default 422 shapes, now referenced by nothing.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for schema in schemas.values():
        _whole_bounds(schema)
    return document


BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def _whole_bounds(schema: Any) -> None:
    """Integer bounds as integers again.

    FastAPI's OpenAPI model types them as floats, so `le=10_000` is served as
    10000.0: an integer that claims a fractional bound. Floats hold integers
    exactly up to 2^53, the largest bound a body has (`QUOTA_LIMITS`); log
    positions, up to 2^63-1, are query parameters, which keep their exact value.
    """
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            for key in BOUNDS:
                value = schema.get(key)
                if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
                    schema[key] = int(value)
        for value in schema.values():
            _whole_bounds(value)
    elif isinstance(schema, list):
        for value in schema:
            _whole_bounds(value)


def _as_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """A FastAPI `responses` entry as the OpenAPI response object it becomes."""
    response: dict[str, Any] = {
        "description": spec["description"],
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{spec['model'].__name__}"}
            }
        },
    }
    if "headers" in spec:
        response["headers"] = dict(spec["headers"])
    return response
