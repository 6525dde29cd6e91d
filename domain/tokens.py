"""API tokens for machines (SIEMs, auditors' scripts): scoped, expiring, revocable.

An officer creates a token; the secret is made and shown once outside the domain
(api/token_scope.py), and only the SHA-256 hash of it ever reaches the domain or
the store. The token's public id is the first 16 hex digits of that hash, and
the aggregate's id is derived from the public id, so a token is found from the
hash a request presents *and* from the id an officer types, with no index.

Each use is its own small `TokenUse` aggregate (one `Used` event), as each
refusal is its own `DeniedAttempt`: a SIEM polling every few seconds grows
neither the token's history nor contention on it, and two concurrent requests
with the same token never race to append to one aggregate.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain import clock, text
from domain.aggregate import AuditedAggregate
from domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated


class TokenScope(StrEnum):
    """What a token may reach: the query routes, the alert stream, or export reads."""

    QUERY = "query"
    STREAM = "stream"
    EXPORT = "export"


SCOPES = frozenset(str(scope) for scope in TokenScope)
NAME_LENGTH = 100
REASON_LENGTH = text.NOTE_LENGTH
ROUTE_LENGTH = 200
MIN_LIFETIME = timedelta(hours=1)
MAX_DAYS = 365
MAX_LIFETIME = timedelta(days=MAX_DAYS)
TOKEN_ID_DIGITS = 16
_HASH = re.compile(r"^[0-9a-f]{64}$")
_TOKEN_ID = re.compile(rf"^[0-9a-f]{{{TOKEN_ID_DIGITS}}}$")


class TokenNotFound(NotFound):
    """No API token with that id."""


class TokenAlreadyRevoked(Conflict):
    """The token is revoked already."""


class TokenIdTaken(Conflict):
    """Another token has the same public id (a new secret is needed)."""


class TokenRefused(Unauthenticated):
    """The presented API token is unknown, expired, revoked, or its creator may not use it."""


# -- checks on what a command is given ----------------------------------------------------


def well_formed_hash(token_hash: str) -> bool:
    return bool(_HASH.match(token_hash))


def checked_hash(token_hash: str) -> str:
    if not well_formed_hash(token_hash):
        raise InvalidInput("token_hash", "the SHA-256 of the token, as 64 lowercase hex digits")
    return token_hash


def checked_token_id(token_id: str) -> str:
    if not _TOKEN_ID.match(token_id):
        raise InvalidInput("token_id", f"{TOKEN_ID_DIGITS} lowercase hex digits")
    return token_id


def checked_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, each known, at least one; sorted, each once."""
    given = [str(scope) for scope in scopes]
    unknown = sorted(set(given) - SCOPES)
    if unknown:
        raise InvalidInput(
            "scopes", f"unknown scope {unknown[0]!r}: one of {', '.join(sorted(SCOPES))}"
        )
    if not given:
        raise InvalidInput("scopes", "at least one scope")
    return sorted(set(given))


def checked_expiry(
    now: datetime, *, expires_at: datetime | None, expires_in_days: int | None
) -> datetime:
    """When a new token expires: from 1 hour to 365 days after `now`."""
    if expires_at is not None and expires_in_days is not None:
        raise InvalidInput("expires_at", "give expires_at or expires_in_days, not both")
    if expires_in_days is not None:
        if isinstance(expires_in_days, bool) or not 1 <= expires_in_days <= MAX_DAYS:
            raise InvalidInput("expires_in_days", f"a whole number of days from 1 to {MAX_DAYS}")
        return now + timedelta(days=expires_in_days)
    if expires_at is None:
        raise InvalidInput("expires_in_days", "say when the token expires")
    if expires_at.tzinfo is None:
        raise InvalidInput("expires_at", "a time with its UTC offset")
    lifetime = expires_at - now
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise InvalidInput("expires_at", f"from 1 hour to {MAX_DAYS} days from now")
    return expires_at


# -- ids ----------------------------------------------------------------------------------


def token_id_for(token_hash: str) -> str:
    """The public id of the token with this hash (64 bits of it: nothing to guess from)."""
    return token_hash[:TOKEN_ID_DIGITS]


def aggregate_id_for(token_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"strongroom:api-token:{token_id}")


def session_label(token_id: str) -> str:
    """What the audit envelope's `session_id` says for a request made with this token."""
    return f"token:{token_id}"


# -- the aggregates -----------------------------------------------------------------------


class AccessToken(AuditedAggregate):
    """One API token: who made it, for what, until when; only the hash of its secret."""

    missing = TokenNotFound

    @staticmethod
    def create_id(token_hash: str) -> UUID:  # type: ignore[override]
        return aggregate_id_for(token_id_for(token_hash))

    @event("Created")
    def __init__(
        self,
        token_hash: str,
        token_id: str,
        name: str,
        scopes: list[str],
        created_by: UUID,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        self.token_hash = token_hash
        self.token_id = token_id
        self.name = name
        self.scopes = list(scopes)
        self.created_by = created_by
        self.created_at = created_at
        self.expires_at = expires_at
        self.revoked = False
        self.revoked_at: datetime | None = None
        self.revoked_by: UUID | None = None
        self.revoke_reason: str | None = None

    def revoke(self, reason: str, *, by: UUID) -> None:
        """Refuse every later use; who revoked it, when and why are recorded."""
        if self.revoked:
            raise TokenAlreadyRevoked(f"token {self.token_id} is revoked already")
        self._revoked(reason=reason, by=by, at=clock.now())

    @event("Revoked")
    def _revoked(self, reason: str, by: UUID, at: datetime) -> None:
        self.revoked = True
        self.revoked_at = at
        self.revoked_by = by
        self.revoke_reason = reason

    def matches(self, token_hash: str) -> bool:
        """Whether `token_hash` is this token's whole hash (the id is only its start)."""
        return hmac.compare_digest(self.token_hash, token_hash)

    def refusal(self, now: datetime) -> str | None:
        """Why this token may not be used at `now`, or None."""
        if self.revoked:
            return f"the token {self.token_id} was revoked"
        if now >= self.expires_at:
            return f"the token {self.token_id} expired at {self.expires_at.isoformat()}"
        return None

    def status(self, now: datetime) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


class TokenCatalogue(AuditedAggregate):
    """The ids of every token ever created, so officers can list them (one per installation)."""

    @staticmethod
    def create_id() -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, "strongroom:api-tokens")

    @event("Opened")
    def __init__(self) -> None:
        self.token_ids: list[str] = []

    @event("TokenAdded")
    def add(self, token_id: str) -> None:
        self.token_ids.append(token_id)


class TokenUse(AuditedAggregate):
    """One request let in by a token: which token, for which scope, on which route.

    The envelope says who (the token's creator), from where, and `session_id`
    is `token:<id>`. A new aggregate per use, like `DeniedAttempt`.
    """

    @event("Used")
    def __init__(self, token_id: str, scope: str, route: str) -> None:
        self.token_id = token_id
        self.scope = scope
        self.route = route
