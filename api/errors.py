"""The one place where exceptions become HTTP responses; no internals reach the client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from domain.installation import AlreadyInitialised

log = logging.getLogger(__name__)

# Domain errors and their status codes; later areas add theirs here.
STATUS_OF: dict[type[Exception], int] = {
    AlreadyInitialised: 409,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {
                        "field": ".".join(str(part) for part in item["loc"] if part != "body"),
                        "reason": item["msg"],
                    }
                    for item in error.errors()
                ]
            },
        )

    @app.exception_handler(Exception)
    async def any_error(request: Request, error: Exception) -> JSONResponse:
        for kind, status in STATUS_OF.items():
            if isinstance(error, kind):
                return JSONResponse(status_code=status, content={"detail": str(error)})
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error"})
