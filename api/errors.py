"""Where exceptions become HTTP responses: one handler per kind, no internals to clients.

Each capability's errors subclass a kind from `domain.errors`, so they need no
handler of their own. The catch-all is for real faults only: it answers a bare
500 (still with the request's id), and the server logs the traceback once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from projections.runner import ProjectionStalled

Handler = Callable[[Request, Exception], Awaitable[Response]]
NOT_TEXT = "not a JSON document in UTF-8"


def _with_request_id(request: Request, response: Response) -> Response:
    audit = getattr(request.state, "audit", None)
    if audit is not None:
        response.headers["X-Request-ID"] = audit.request_id
    return response


def _field_of(location: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in location if part not in ("body", "query", "path"))


def _simple(status: int, **headers: str) -> Handler:
    async def handle(request: Request, error: Exception) -> Response:
        return JSONResponse(status_code=status, content={"detail": str(error)}, headers=headers)

    return handle


def _problem(item: Mapping[str, Any]) -> dict[str, str]:
    if item["type"] == "json_invalid":
        # Its location is a character offset, not a field.
        where, why = item["loc"][-1], item.get("ctx", {}).get("error", "")
        return {"field": "body", "reason": f"not JSON: {why} at character {where}"}
    return {"field": _field_of(tuple(item["loc"])) or "body", "reason": item["msg"]}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = [_problem(item) for item in error.errors()]
        return JSONResponse(status_code=422, content={"detail": problems})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400:
            # FastAPI's answer to a body it cannot even decode (not UTF-8, say): unusable
            # input, so a 422 naming the body, as every other bad body is.
            return JSONResponse(
                status_code=422, content={"detail": [{"field": "body", "reason": NOT_TEXT}]}
            )
        return await http_exception_handler(request, error)

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, error: InvalidInput) -> Response:
        return JSONResponse(
            status_code=422, content={"detail": [{"field": error.field, "reason": error.reason}]}
        )

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, error: Exception) -> Response:
        # The reason is in the audit trail; the client learns nothing that helps guessing.
        return JSONResponse(
            status_code=401,
            content={"detail": "authentication failed"},
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(IntegrityError)
    async def raced(request: Request, error: Exception) -> Response:
        # Someone else changed the same aggregate first.
        return JSONResponse(status_code=409, content={"detail": "conflict: retry"})

    app.add_exception_handler(Forbidden, _simple(403))  # recorded before it was raised
    app.add_exception_handler(NotFound, _simple(404))
    app.add_exception_handler(Conflict, _simple(409))
    app.add_exception_handler(Unavailable, _simple(503))
    app.add_exception_handler(ProjectionStalled, _simple(503))

    @app.exception_handler(Exception)
    async def fault(request: Request, error: Exception) -> Response:
        # Starlette re-raises after this answer, and the server logs the traceback once.
        # The server then drops the connection: say so, or a keep-alive client's next
        # request on it fails with a reset instead of being sent on a new one.
        response = JSONResponse(
            status_code=500, content={"detail": "internal error"}, headers={"Connection": "close"}
        )
        return _with_request_id(request, response)
