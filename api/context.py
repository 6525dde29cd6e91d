"""Authenticates the bearer session and sets the audit context, once per request.

Every event a request records carries this context. A request without a token
acts as `anonymous` (registration, challenge, login); a request with a bad
token is refused here with 401, after the refusal is recorded. Every response,
errors included, carries the request's `X-Request-ID`.

A plain ASGI middleware: it adds no task or stream per request (Starlette's
`BaseHTTPMiddleware` does both), and exceptions pass straight through it to
their handlers.
"""

from __future__ import annotations

import json
import re
from hashlib import sha256
from uuid import uuid4

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.envelope import AuditContext, acting_as
from domain.logins import Logins, Principal
from domain.sessions import AuthenticationFailed

ANONYMOUS = "anonymous"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_from(headers: Headers) -> str:
    """The caller's X-Request-ID when it is well-formed, otherwise a fresh one."""
    given = headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid4().hex


def token_hash(token: str) -> str:
    """Sessions are stored under the hash of their token, never the token."""
    return sha256(token.encode()).hexdigest()


def bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class AuditContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        context = AuditContext(
            actor_id=ANONYMOUS,
            actor_role=ANONYMOUS,
            session_id=None,
            request_id=request_id_from(headers),
            client_ip=client[0] if client else None,
        )
        state = scope.setdefault("state", {})
        state["principal"] = None
        request_id = context.request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id),
                ]
            await send(message)

        token = bearer_token(headers)
        if token is not None:
            principal = await self._authenticate(scope, context, token_hash(token))
            if principal is None:
                await _unauthenticated(send_with_id)
                return
            state["principal"] = principal
            context = AuditContext(
                actor_id=str(principal.user_id),
                actor_role=str(principal.role),
                session_id=str(principal.session_id),
                request_id=context.request_id,
                client_ip=context.client_ip,
            )
        state["audit"] = context
        with acting_as(context):
            await self.app(scope, receive, send_with_id)

    async def _authenticate(
        self, scope: Scope, context: AuditContext, digest: str
    ) -> Principal | None:
        logins = Logins(scope["app"].state.system.app)
        # The common case is a read, done here; anything that must record
        # (activity, a refusal) goes to a worker thread, off the event loop.
        principal = logins.live_principal(digest)
        if principal is not None:
            return principal
        try:
            with acting_as(context):
                return await run_in_threadpool(logins.authenticate, digest)
        except AuthenticationFailed:
            return None


async def _unauthenticated(send: Send) -> None:
    body = json.dumps({"detail": "authentication failed"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
