"""API tokens at the HTTP edge: making a secret, and the scope every route with a token needs.

A machine sends `Authorization: Bearer srt_<secret>`. The audit middleware
(api/context.py) tells it apart from a session by its prefix, refuses a dead
one with 401 (recorded), and lets a live one in as the token's creator, with
`token:<id>` as the envelope's session. From there a token reaches only routes
that declare a scope, and only the scopes it holds:

    from api.token_scope import requires_scope

    @router.post("/query", dependencies=[Depends(requires_scope("query"))])
    def query(body: Query, principal: CurrentPrincipal, ...) -> QueryResult: ...

- a session passes `requires_scope` unchanged (the route's own rules still decide);
- a token passes when it holds the scope, and the use is recorded (`TokenUse.Used`,
  naming the token, the scope and the route); otherwise 403, recorded;
- a token on a route without `requires_scope` is refused (403, recorded) by
  `get_principal` and `capability()` in api/deps.py, before the route runs; and
  a route that uses neither and still answers with success is answered 403
  instead by the middleware (`guard_response`), so no route serves a token by
  omission.

Declare it on the route (or its `APIRouter(dependencies=...)`), once per route,
with one scope: `query`, `stream` or `export`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Scope, Send

from domain.errors import Forbidden
from domain.machine_access import MachineAccess, TokenPrincipal
from domain.throttling import printable
from domain.tokens import ROUTE_LENGTH, TokenRefused, TokenScope

API_TOKEN_PREFIX = "srt_"
SECRET_BYTES = 32
# Session tokens are `secrets.token_urlsafe(32)` (api/routes/auth.py): always 43
# characters. One may begin with "srt_" by chance, so that length stays a session's.
SESSION_TOKEN_CHARS = 43
STATE_KEY = "api_token"


def new_api_token() -> str:
    """A fresh token secret, shown to its creator once; the server keeps only its hash."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def is_api_token(bearer: str) -> bool:
    return bearer.startswith(API_TOKEN_PREFIX) and len(bearer) != SESSION_TOKEN_CHARS


@dataclass
class TokenRequest:
    """What the middleware learned about a request's API token, for the checks after routing."""

    token_hash: str
    principal: TokenPrincipal
    # A scope check ran and let the request in (its use is recorded).
    admitted: bool = False


class RequiresScope:
    """The dependency `requires_scope(scope)` returns (see the module's docstring)."""

    def __init__(self, scope: TokenScope | str) -> None:
        self.scope = TokenScope(scope)

    def __repr__(self) -> str:
        return f"requires_scope({str(self.scope)!r})"

    async def __call__(self, request: Request) -> None:
        token = token_request(request)
        if token is not None:
            await admit(request, token, str(self.scope))


def requires_scope(scope: TokenScope | str) -> RequiresScope:
    """A route dependency: API tokens may reach this route with `scope`; sessions unchanged."""
    return RequiresScope(scope)


def token_request(request: Request) -> TokenRequest | None:
    found: TokenRequest | None = request.scope.get("state", {}).get(STATE_KEY)
    return found


async def refuse_unscoped_token(request: Request) -> None:
    """For the dependencies every other route uses: a token on a route with no scope → 403."""
    token = token_request(request)
    if token is None or declared_scope(request.scope.get("route")) is not None:
        return  # a session, or `requires_scope` decides
    await admit(request, token, None)


async def admit(request: Request, token: TokenRequest, scope: str | None) -> None:
    """Let the token reach this route with `scope`; refusals are recorded and raised."""
    if token.admitted:
        return
    access = MachineAccess(request.app.state.system.app)
    await run_in_threadpool(
        access.authenticate_token, token.token_hash, scope, route_name(request.scope)
    )
    token.admitted = True


def route_name(scope: Scope) -> str:
    """`METHOD /path/{template}` when routed, else the path asked for (escaped, bounded)."""
    route = scope.get("route")
    path = getattr(route, "path", None) or scope.get("path", "")
    return printable(f"{scope.get('method', '')} {path}", ROUTE_LENGTH)


def declared_scope(route: Any) -> str | None:
    """The scope a route declares with `requires_scope`, if any (one per route)."""
    dependant = getattr(route, "dependant", None)
    found = {str(call.scope) for call in _calls(dependant) if isinstance(call, RequiresScope)}
    if len(found) > 1:
        raise RuntimeError(f"{route_name({'route': route})} declares more than one token scope")
    return found.pop() if found else None


def _calls(dependant: Any) -> list[Any]:
    if dependant is None:
        return []
    calls = []
    for sub in dependant.dependencies:
        calls.append(sub.call)
        calls.extend(_calls(sub))
    return calls


def guard_response(send: Send, scope: Scope, token: TokenRequest) -> Send:
    """`send`, for a request with a token: a success no scope check let through becomes a 403.

    The routes that use neither `get_principal` nor `capability()` (health, metrics,
    the public key, the documents) act for no one; they still serve no token: the
    refusal is recorded and the route's answer is replaced (and the rest of it dropped).
    """
    replaced = False

    async def guarded(message: Message) -> None:
        nonlocal replaced
        if replaced:
            return
        if (
            message["type"] == "http.response.start"
            and message["status"] < 400
            and not token.admitted
        ):
            replaced = True
            await _refuse_response(send, scope, token)
            return
        await send(message)

    return guarded


async def _refuse_response(send: Send, scope: Scope, token: TokenRequest) -> None:
    access = MachineAccess(scope["app"].state.system.app)
    status, detail, headers = 403, "forbidden", []
    try:
        await run_in_threadpool(
            access.authenticate_token, token.token_hash, None, route_name(scope)
        )
    except Forbidden as refused:
        detail = str(refused)
    except TokenRefused:
        status, detail = 401, "authentication failed"
        headers = [(b"www-authenticate", b"Bearer")]
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
