"""Where exceptions become HTTP responses: one handler per kind, no internals to clients.

Each capability's errors subclass a kind from `domain.errors`, so they need no
handler of their own. The catch-all is for real faults only: it answers a bare
500 (still with the request's id), and the server logs the traceback once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = [
            {"field": _field_of(tuple(item["loc"])) or "body", "reason": item["msg"]}
            for item in error.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": problems})

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
        response = JSONResponse(status_code=500, content={"detail": "internal error"})
        return _with_request_id(request, response)
