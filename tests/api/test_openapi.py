"""`/openapi.json` tells the truth: who needs a session, what errors look like, what bounds hold.

The document is what a client (and the fuzz ring, tests/e2e/test_api_fuzz.py) trusts,
so each claim here is checked against the routes, not against a copy of the document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.local_server import live_server
from domain.teams import QUOTA_LIMITS
from tests.stores import store_settings

# Operations anyone may call; every other one needs a session.
ANONYMOUS = {
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api/v1/audit/public-key"),
    ("post", "/api/v1/users"),
    ("post", "/api/v1/auth/challenge"),
    ("post", "/api/v1/auth/login"),
}
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # The document depends on the routes only, not on the store: one SQLite home will do.
    with store_settings("sqlite", tmp_path_factory.mktemp("openapi") / "home") as settings:
        yield create_app(settings).openapi()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    return resolve(spec, body["content"]["application/json"]["schema"])


def error_schema(spec: dict[str, Any], operation: dict[str, Any], status: str) -> str:
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return str(schema["$ref"].rsplit("/", 1)[1])


def test_the_bearer_scheme_is_declared_and_required_where_a_session_is(
    spec: dict[str, Any],
) -> None:
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "a session token from POST /api/v1/auth/login",
    }
    for method, path, operation in operations(spec):
        if (method, path) in ANONYMOUS:
            assert "security" not in operation, (method, path)
        else:
            assert operation.get("security") == [{"bearer": []}], (method, path)


def test_every_operation_documents_401_and_429_with_their_headers(spec: dict[str, Any]) -> None:
    # The audit middleware answers 401 to a dead bearer token on any route, even /healthz,
    # and the rate limit 429 once an address has sent too many of them.
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        assert error_schema(spec, operation, "401") == "ErrorBody", (method, path)
        assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
        assert error_schema(spec, operation, "429") == "ErrorBody", (method, path)
        assert "Retry-After" in responses["429"]["headers"], (method, path)
        for response in responses.values():
            assert "X-Request-ID" in response["headers"], (method, path)


def test_validation_errors_are_documented_as_they_are(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["FieldProblem"]
    assert set(problem["required"]) == {"field", "reason"}
    for method, path, operation in operations(spec):
        takes_input = operation.get("parameters") or operation.get("requestBody")
        if takes_input:
            assert error_schema(spec, operation, "422") == "ValidationErrorBody", (method, path)


def test_errors_are_documented_where_they_can_happen(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    # A refusal (recorded) wherever the actor's role or permissions decide.
    for method, path in [
        ("post", "/api/v1/teams"),
        ("put", "/api/v1/teams/{team_id}/quota"),
        ("get", "/api/v1/users/{user_id}"),
        ("put", "/api/v1/users/{user_id}/role"),
        ("post", "/api/v1/profiles"),
    ]:
        assert "403" in paths[path][method]["responses"], (method, path)
    # Not found wherever an id or a name is looked up.
    for method, path in [
        ("get", "/api/v1/teams/{team_id}"),
        ("delete", "/api/v1/teams/{team_id}/members/{user_id}"),
        ("put", "/api/v1/users/{user_id}/profile"),
    ]:
        assert "404" in paths[path][method]["responses"], (method, path)
    # Taken names, and writes that raced another.
    for method, path in [
        ("post", "/api/v1/users"),
        ("post", "/api/v1/teams"),
        ("post", "/api/v1/profiles"),
        ("post", "/api/v1/users/{user_id}/activate"),
    ]:
        assert "409" in paths[path][method]["responses"], (method, path)
    # Nothing claims what cannot happen: a listing finds nothing missing, /healthz refuses no one.
    assert "404" not in paths["/api/v1/users"]["get"]["responses"]
    assert "403" not in paths["/healthz"]["get"]["responses"]


def test_no_content_means_no_body(spec: dict[str, Any]) -> None:
    seen = 0
    for method, path, operation in operations(spec):
        for status in ("204", "201"):
            response = operation["responses"].get(status)
            if response is not None and status == "204":
                seen += 1
                assert "content" not in response, (method, path)
    assert seen >= 10
    created = spec["paths"]["/api/v1/profiles"]["post"]["responses"]["201"]
    assert "content" not in created  # the route answers 201 with an empty body


def test_every_integer_a_client_sends_has_a_range(spec: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            for option in schema.get("anyOf", [schema]):
                if option.get("type") == "integer":
                    checked += 1
                    assert "minimum" in option and "maximum" in option, (method, path, parameter)
        body = body_schema(spec, operation)
        for name, field in (body or {}).get("properties", {}).items():
            field = resolve(spec, field)
            if field.get("type") == "integer":
                checked += 1
                assert "minimum" in field and "maximum" in field, (method, path, name)
    assert checked >= 6  # after, limit, last_event_id and the three quota numbers


def test_quota_ranges_are_the_domain_limits(spec: dict[str, Any]) -> None:
    quota = resolve(spec, spec["components"]["schemas"]["QuotaBody"])
    for name, high in QUOTA_LIMITS.items():
        # Exact integers: not 9007199254740992.0, which claims a fractional bound.
        assert repr(quota["properties"][name]["minimum"]) == "0"
        assert repr(quota["properties"][name]["maximum"]) == repr(high)


def test_every_text_a_client_sends_has_a_length(spec: dict[str, Any]) -> None:
    # Bodies are what reaches the log; query strings only filter what is read.
    checked = 0

    def check(where: tuple[str, ...], schema: dict[str, Any]) -> None:
        nonlocal checked
        for name, field in schema.get("properties", {}).items():
            field = resolve(spec, field)
            if field.get("type") == "string" and "enum" not in field:
                if field.get("format") == "uuid":
                    continue  # bounded by its format, and checked as one
                checked += 1
                assert field.get("maxLength"), (*where, name)
            if field.get("type") == "array":
                checked += 1
                assert field.get("maxItems"), (*where, name)
                items = resolve(spec, field["items"])
                if items.get("type") == "object":
                    check((*where, name), items)  # each item's own texts are bounded
                elif items.get("format") != "uuid":  # bounded by its format, as a property is
                    assert "enum" in items or items.get("maxLength"), (*where, name)

    for method, path, operation in operations(spec):
        check((method, path), body_schema(spec, operation) or {})
    assert checked >= 12


def test_the_server_serves_this_document(tmp_path: Path) -> None:
    with store_settings("sqlite", tmp_path / "home") as settings, live_server(settings) as url:
        served = httpx.get(f"{url}/openapi.json")
    assert served.status_code == 200
    assert served.json() == create_app(settings).openapi()
    assert "HTTPValidationError" not in served.text and "bearer" in served.text
