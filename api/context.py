"""Sets the audit context once per request, so every event it records carries the envelope."""

from __future__ import annotations

import re
from uuid import uuid4

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from domain.envelope import AuditContext, acting_as

ANONYMOUS = "anonymous"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_of(request: Request) -> str:
    """The caller's X-Request-ID when it is well-formed, otherwise a fresh one."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid4().hex


class AuditContextMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        context = AuditContext(
            actor_id=ANONYMOUS,
            actor_role=ANONYMOUS,
            session_id=None,
            request_id=request_id_of(request),
            client_ip=request.client.host if request.client else None,
        )
        request.state.audit = context
        with acting_as(context):
            response = await call_next(request)
        response.headers["X-Request-ID"] = context.request_id
        return response
