"""Authenticates the bearer session and sets the audit context, once per request.

Every event a request records carries this context.  A request without a
token acts as `anonymous` (registration, challenge, login); a request with a
bad token is refused here with 401, after the refusal is recorded.
"""

from __future__ import annotations

import re
from hashlib import sha256
from uuid import uuid4

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.envelope import AuditContext, acting_as
from domain.sessions import AuthenticationFailed

ANONYMOUS = "anonymous"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_of(request: Request) -> str:
    """The caller's X-Request-ID when it is well-formed, otherwise a fresh one."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid4().hex


def token_hash(token: str) -> str:
    """Sessions are stored under the hash of their token, never the token."""
    return sha256(token.encode()).hexdigest()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class AuditContextMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        context = AuditContext(
            actor_id=ANONYMOUS,
            actor_role=ANONYMOUS,
            session_id=None,
            request_id=request_id_of(request),
            client_ip=request.client.host if request.client else None,
        )
        request.state.principal = None
        token = bearer_token(request)
        if token is not None:
            app = request.app.state.strongroom
            digest = token_hash(token)
            try:
                # The common case is a read, done here; anything that must record
                # (activity, a refusal) goes to a worker thread, off the event loop.
                principal = app.live_principal(digest)
                if principal is None:
                    with acting_as(context):
                        principal = await run_in_threadpool(app.authenticate, digest)
            except AuthenticationFailed:
                response: Response = JSONResponse(
                    status_code=401,
                    content={"detail": "authentication failed"},
                    headers={"WWW-Authenticate": "Bearer"},
                )
                response.headers["X-Request-ID"] = context.request_id
                return response
            request.state.principal = principal
            context = AuditContext(
                actor_id=str(principal.user_id),
                actor_role=str(principal.role),
                session_id=str(principal.session_id),
                request_id=context.request_id,
                client_ip=context.client_ip,
            )
        request.state.audit = context
        with acting_as(context):
            response = await call_next(request)
        response.headers["X-Request-ID"] = context.request_id
        return response
