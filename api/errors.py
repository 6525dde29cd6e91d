"""The one place where exceptions become HTTP responses; no internals reach the client."""

from __future__ import annotations

import logging

from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from domain.alerts import AlertNotFound
from domain.denials import Forbidden
from domain.errors import InvalidInput
from domain.installation import AlreadyInitialised
from domain.profiles import ProfileExists, ProfileNotFound
from domain.sessions import AuthenticationFailed
from domain.teams import TeamNameTaken, TeamNotFound
from domain.users import EmailTaken, UserNotFound

log = logging.getLogger(__name__)

# Domain errors and their status codes; each area adds its own.
STATUS_OF: dict[type[Exception], int] = {
    UserNotFound: 404,
    AlertNotFound: 404,
    TeamNotFound: 404,
    ProfileNotFound: 404,
    Forbidden: 403,  # already recorded by the domain before it was raised
    EmailTaken: 409,
    TeamNameTaken: 409,
    ProfileExists: 409,
    AlreadyInitialised: 409,
    IntegrityError: 409,  # someone else changed the same thing first: retry
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {
                        "field": ".".join(
                            str(part) for part in item["loc"] if part not in ("body", "query")
                        ),
                        "reason": item["msg"],
                    }
                    for item in error.errors()
                ]
            },
        )

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, error: InvalidInput) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": [{"field": error.field, "reason": error.reason}]}
        )

    @app.exception_handler(AuthenticationFailed)
    async def unauthenticated(request: Request, error: AuthenticationFailed) -> JSONResponse:
        # The reason is in the audit trail; the client learns nothing that helps guessing.
        return JSONResponse(
            status_code=401,
            content={"detail": "authentication failed"},
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(Exception)
    async def any_error(request: Request, error: Exception) -> JSONResponse:
        for kind, status in STATUS_OF.items():
            if isinstance(error, kind):
                detail = "conflict: retry" if kind is IntegrityError else str(error)
                return JSONResponse(status_code=status, content={"detail": detail})
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error"})
