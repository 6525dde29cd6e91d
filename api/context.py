"""Authenticates the bearer session and sets the audit context, once per request.

Every event a request records carries this context. A request without a token
acts as `anonymous` (registration, challenge, login); a request with a bad
token is refused here with 401, after the refusal is recorded. Every response,
errors included, carries the request's `X-Request-ID`.

A bearer token with the `srt_` prefix is an API token (api/token_scope.py): a
dead one is refused here with 401 (recorded, limited like a bad session); a
live one acts as its creator, with `token:<id>` as the envelope's session, and
reaches only routes that declare one of its scopes.

The client address in the record is decided here, not by the server: forwarding
headers are believed only from the proxies in STRONGROOM_TRUSTED_PROXIES (see
`client_address`). Traffic that records events without a session is limited
per address (api/ratelimit.py); a live session never touches the limiter.

A plain ASGI middleware: it adds no task or stream per request (Starlette's
`BaseHTTPMiddleware` does both), and exceptions pass straight through it to
their handlers.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import replace
from hashlib import sha256
from uuid import uuid4

from eventsourcing.persistence import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.settings import Network, Settings
from api.ratelimit import RateLimiter, retry_after_header
from api.token_scope import STATE_KEY as TOKEN_STATE_KEY
from api.token_scope import TokenRequest, guard_response, is_api_token
from domain.envelope import AuditContext, acting_as
from domain.logins import Logins, Principal
from domain.machine_access import MachineAccess, TokenPrincipal
from domain.sessions import AuthenticationFailed
from domain.throttling import ANONYMOUS as ANONYMOUS_LIMIT
from domain.throttling import FAILED_AUTH
from domain.tokens import TokenRefused, aggregate_id_for

ANONYMOUS = "anonymous"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Anonymous requests with these methods record nothing, so they are not limited
# (health checks, metrics, the documents, the dashboard page).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def _address(hop: str) -> IPAddress | None:
    """An address from one X-Forwarded-For entry (a bare IP, or with a port), else None."""
    hop = hop.strip()
    if hop.startswith("["):  # [2001:db8::1]:443
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:  # 203.0.113.7:5555
        hop = hop.partition(":")[0]
    try:
        address = ipaddress.ip_address(hop)
    except ValueError:
        return None
    return address.ipv4_mapped or address if address.version == 6 else address


def _trusted(address: IPAddress | None, proxies: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(
    peer: str | None, headers: Headers, proxies: tuple[Network, ...]
) -> tuple[str | None, str | None]:
    """(client_ip, proxy_ip) for the record.

    From a peer that is not a trusted proxy, forwarding headers are ignored: the
    client is the peer. From a trusted proxy, the client is the right-most address
    in X-Forwarded-For that is not itself a trusted proxy (everything left of it
    was written by the client, and can say anything), and the proxy is the peer.
    """
    if peer is None or not proxies:
        return peer, None
    peer_address = _address(peer)
    if not _trusted(peer_address, proxies):
        return peer, None
    hops = [hop for value in headers.getlist("x-forwarded-for") for hop in value.split(",")]
    if not any(hop.strip() for hop in hops):
        return peer, None  # the proxy's own request
    client = peer_address
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # not an address: a trusted proxy wrote none of this, believe no further
        client = address
        if not _trusted(address, proxies):
            break
    return str(client), str(peer_address)


def _forwarded_scheme(headers: Headers) -> str | None:
    proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    return proto if proto in ("http", "https", "ws", "wss") else None


class AuditContextMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, limiter: RateLimiter) -> None:
        self.app = app
        self.proxies = settings.trusted_proxies
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        client_ip, proxy_ip = client_address(client[0] if client else None, headers, self.proxies)
        if proxy_ip is not None:
            # What the server would have done with a trusted proxy's headers, now ours.
            scope["client"] = (client_ip, 0)
            scope["scheme"] = _forwarded_scheme(headers) or scope["scheme"]
        context = AuditContext(
            actor_id=ANONYMOUS,
            actor_role=ANONYMOUS,
            session_id=None,
            request_id=request_id_from(headers),
            client_ip=client_ip,
            proxy_ip=proxy_ip,
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
        if token is not None and is_api_token(token):
            await self._serve_api_token(scope, receive, send_with_id, context, token)
            return
        if token is not None:
            principal = await self._authenticate(scope, context, token_hash(token), send_with_id)
            if principal is None:
                return  # answered: 401 or 429
            state["principal"] = principal
            context = AuditContext(
                actor_id=str(principal.user_id),
                actor_role=str(principal.role),
                session_id=str(principal.session_id),
                request_id=context.request_id,
                client_ip=context.client_ip,
                proxy_ip=context.proxy_ip,
            )
        elif scope["method"] not in SAFE_METHODS:
            wait = self.limiter.take_anonymous(client_ip)
            if wait is not None:
                self.limiter.refuse(client_ip, ANONYMOUS_LIMIT, scope["method"], scope["path"])
                await _too_many(send_with_id, wait)
                return
        state["audit"] = context
        with acting_as(context):
            await self.app(scope, receive, send_with_id)

    async def _authenticate(
        self, scope: Scope, context: AuditContext, digest: str, send: Send
    ) -> Principal | None:
        """The token's principal; otherwise answers 401 (refusal recorded) or 429, and None."""
        logins = Logins(scope["app"].state.system.app)
        # The common case is one read (a live session), in a worker thread: on the
        # event loop its wait for the store would hold up every other request's
        # parsing and answers (measured: 12% fewer commands/s at 16 clients).
        check = await run_in_threadpool(logins.check, digest)
        if check.principal is not None:
            return check.principal
        if check.refusal is not None:
            # A refusal is about to be recorded: only so many per address and window.
            wait = self.limiter.failed_auth_exhausted(context.client_ip)
            if wait is not None:
                self.limiter.refuse(context.client_ip, FAILED_AUTH, scope["method"], scope["path"])
                await _too_many(send, wait)
                return None
            self.limiter.reserve_failure(context.client_ip)
        try:
            with acting_as(context):
                return await run_in_threadpool(logins.authenticate, digest)
        except AuthenticationFailed:
            await _unauthenticated(send)
            return None
        except IntegrityError:
            # A concurrent request with the same token recorded the activity first:
            # the session is live, and what it needed recording is recorded.
            check = await run_in_threadpool(logins.check, digest)
            if check.principal is None:
                raise
            return check.principal

    # -- API tokens (machines: SIEMs, auditors' scripts; api/token_scope.py) ---------------

    async def _serve_api_token(
        self, scope: Scope, receive: Receive, send: Send, context: AuditContext, token: str
    ) -> None:
        """Serve a request made with an API token, as the token's creator; or refuse it."""
        digest = token_hash(token)
        principal = await self._identify_api_token(scope, context, digest, send)
        if principal is None:
            return  # answered: 401 or 429
        admitted = TokenRequest(token_hash=digest, principal=principal)
        state = scope["state"]
        state[TOKEN_STATE_KEY] = admitted
        state["principal"] = Principal(
            principal.user_id, principal.role, aggregate_id_for(principal.token_id)
        )
        context = replace(
            context,
            actor_id=str(principal.user_id),
            actor_role=str(principal.role),
            session_id=principal.session_label,
        )
        state["audit"] = context
        with acting_as(context):
            await self.app(scope, receive, guard_response(send, scope, admitted))

    async def _identify_api_token(
        self, scope: Scope, context: AuditContext, digest: str, send: Send
    ) -> TokenPrincipal | None:
        """The live token's principal; otherwise answers 401 (refusal recorded) or 429, and None."""
        access = MachineAccess(scope["app"].state.system.app)
        check = await run_in_threadpool(access.check_token, digest)
        if check.principal is not None:
            return check.principal
        # A refusal is about to be recorded: limited per address, as for sessions.
        wait = self.limiter.failed_auth_exhausted(context.client_ip)
        if wait is not None:
            self.limiter.refuse(context.client_ip, FAILED_AUTH, scope["method"], scope["path"])
            await _too_many(send, wait)
            return None
        self.limiter.reserve_failure(context.client_ip)
        try:
            with acting_as(context):
                principal = await run_in_threadpool(access.identify_token, digest)
        except TokenRefused:
            await _unauthenticated(send)
            return None
        self.limiter.release_failure(context.client_ip)  # it came alive in between
        return principal


async def _too_many(send: Send, wait: float) -> None:
    """429: nothing about this request is recorded now; it is counted into its window's fold."""
    body = json.dumps({"detail": "too many requests from this address; see Retry-After"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", retry_after_header(wait)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
