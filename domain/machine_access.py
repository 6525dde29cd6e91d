"""Machine access: officers' API tokens, and the check every request with one goes through.

The use cases (`MachineAccess(app)`):

- `create_token`, `list_tokens`, `revoke_token`: for compliance officers; the
  secret is made by the caller, which hands over only its SHA-256 hash;
- `check_token`: what a presented token is worth now, recording nothing (the
  API's hot path, and the rate limit's look-ahead);
- `identify_token`: the token's principal, or its refusal recorded (unknown,
  expired, revoked, or a creator who may no longer act) and `TokenRefused` (401);
- `authenticate_token(token_hash, scope, route)`: as `identify_token`, then the
  route's scope against the token's (a refusal recorded as the creator, and
  `Forbidden`, 403), then the use recorded (`TokenUse.Used`).

A request with a token acts as the token's creator: the envelope carries the
creator's id and role, and `token:<id>` as its session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NoReturn
from uuid import UUID

from domain import clock, envelope, text
from domain.access import Role, decide
from domain.capability import Capability
from domain.reads import DirectoryRead
from domain.throttling import printable
from domain.token_access import ApiToken, ApiTokens, ScopedRoute, TokenAction
from domain.tokens import (
    NAME_LENGTH,
    REASON_LENGTH,
    ROUTE_LENGTH,
    SCOPES,
    AccessToken,
    TokenCatalogue,
    TokenIdTaken,
    TokenRefused,
    TokenUse,
    aggregate_id_for,
    checked_expiry,
    checked_hash,
    checked_scopes,
    checked_token_id,
    session_label,
    token_id_for,
    well_formed_hash,
)
from domain.users import User

UNKNOWN = "unknown API token"


@dataclass(frozen=True)
class TokenPrincipal:
    """Who a live token acts as (its creator), and what it may reach."""

    token_id: str
    user_id: UUID
    role: Role
    scopes: frozenset[str]

    @property
    def session_label(self) -> str:
        return session_label(self.token_id)


@dataclass(frozen=True)
class TokenCheck:
    """A token check that recorded nothing: the principal, or why it would be refused."""

    principal: TokenPrincipal | None
    refusal: str | None


@dataclass(frozen=True)
class TokenListing:
    """One token as officers see it: its maker by email, never its secret or hash."""

    token_id: str
    name: str
    scopes: list[str]
    status: str  # active, expired or revoked
    created_by: UUID
    created_by_email: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by_email: str | None
    revoke_reason: str | None


@dataclass(frozen=True)
class _Verdict:
    token: AccessToken | None
    creator: User | None
    refusal: str | None


class MachineAccess(Capability):
    # -- officers' use cases --------------------------------------------------------------

    def create_token(
        self,
        *,
        name: str,
        scopes: Iterable[str],
        token_hash: str,
        expires_in_days: int | None = None,
        expires_at: datetime | None = None,
    ) -> AccessToken:
        """A new token for the acting officer; only `token_hash` is kept."""
        name = text.checked("name", name, max_length=NAME_LENGTH)
        scope_list = checked_scopes(scopes)
        token_hash = checked_hash(token_hash)
        now = clock.now()
        expiry = checked_expiry(now, expires_at=expires_at, expires_in_days=expires_in_days)
        actor = self.acting_user()
        self.authorise(actor, TokenAction.CREATE_TOKEN, ApiTokens())
        token_id = token_id_for(token_hash)
        if self.find(AccessToken, aggregate_id_for(token_id)) is not None:
            raise TokenIdTaken(f"a token with id {token_id} exists: make a new secret")
        token = AccessToken(token_hash, token_id, name, scope_list, actor.id, now, expiry)
        catalogue = self.find(TokenCatalogue, TokenCatalogue.create_id()) or TokenCatalogue()
        catalogue.add(token_id)
        self.save(token, catalogue)
        return token

    def list_tokens(self) -> list[TokenListing]:
        """Every token, newest last, with its maker's email (the read is recorded)."""
        actor = self.acting_user()
        self.authorise(actor, TokenAction.LIST_TOKENS, ApiTokens())
        catalogue = self.find(TokenCatalogue, TokenCatalogue.create_id())
        ids = catalogue.token_ids if catalogue is not None else []
        tokens = [self.load(AccessToken, aggregate_id_for(token_id)) for token_id in ids]
        emails: dict[UUID, str | None] = {}

        def email(user_id: UUID | None) -> str | None:
            if user_id is None:
                return None
            if user_id not in emails:
                person = self.find(User, user_id)
                emails[user_id] = person.email if person is not None else None
            return emails[user_id]

        now = clock.now()
        listing = [
            TokenListing(
                token_id=token.token_id,
                name=token.name,
                scopes=list(token.scopes),
                status=token.status(now),
                created_by=token.created_by,
                created_by_email=email(token.created_by),
                created_at=token.created_at,
                expires_at=token.expires_at,
                revoked_at=token.revoked_at,
                revoked_by_email=email(token.revoked_by),
                revoke_reason=token.revoke_reason,
            )
            for token in tokens
        ]
        self.save(DirectoryRead(what="tokens", target=None, count=len(listing)))
        return listing

    def revoke_token(self, token_id: str, reason: str = "") -> None:
        """Refuse the token from now on, whoever made it (any officer may)."""
        token_id = checked_token_id(token_id)
        reason = text.checked(
            "reason", reason, max_length=REASON_LENGTH, required=False, multiline=True
        )
        actor = self.acting_user()
        # Decided before the token is looked up: a refusal says nothing about what exists.
        self.authorise(actor, TokenAction.REVOKE_TOKEN, ApiToken(token_id))
        token = self.load(AccessToken, aggregate_id_for(token_id))
        token.revoke(reason, by=actor.id)
        self.save(token)

    # -- requests made with a token -------------------------------------------------------

    def check_token(self, token_hash: str) -> TokenCheck:
        """What `identify_token` would do now, recording nothing (reads only)."""
        verdict = self._identify(token_hash)
        if verdict.refusal is not None:
            return TokenCheck(None, verdict.refusal)
        return TokenCheck(self._principal(verdict), None)

    def identify_token(self, token_hash: str) -> TokenPrincipal:
        """The principal of a live token; otherwise the refusal is recorded and TokenRefused."""
        verdict = self._identify(token_hash)
        if verdict.refusal is not None:
            self._refuse(verdict.token, verdict.refusal)
        return self._principal(verdict)

    def authenticate_token(self, token_hash: str, scope: str | None, route: str) -> TokenPrincipal:
        """Let a request with this token reach `route`, which needs `scope` (None: no token).

        A dead token: refusal recorded, TokenRefused (401). A live one outside its
        scope, or on a route that takes no token: refusal recorded as the creator,
        Forbidden (403). Otherwise the use is recorded, as the creator.
        """
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"no such token scope: {scope!r}")
        verdict = self._identify(token_hash)
        if verdict.refusal is not None:
            self._refuse(verdict.token, verdict.refusal)
        principal = self._principal(verdict)
        token, creator = verdict.token, verdict.creator
        assert token is not None and creator is not None  # a verdict without a refusal has both
        shown = printable(route, ROUTE_LENGTH)
        as_creator = replace(
            envelope.current(),
            actor_id=str(creator.id),
            actor_role=str(creator.role),
            session_id=principal.session_label,
        )
        with envelope.acting_as(as_creator):
            resource = ScopedRoute(token.token_id, principal.scopes, scope, shown)
            self.authorise(creator, TokenAction.USE_TOKEN, resource)
            self.save(TokenUse(token_id=token.token_id, scope=str(scope), route=shown))
        return principal

    def _identify(self, token_hash: str) -> _Verdict:
        if not well_formed_hash(token_hash):
            return _Verdict(None, None, UNKNOWN)
        token = self.find(AccessToken, AccessToken.create_id(token_hash))
        if token is None or not token.matches(token_hash):
            return _Verdict(None, None, UNKNOWN)
        refusal = token.refusal(clock.now())
        if refusal is not None:
            return _Verdict(token, None, refusal)
        creator = self.find(User, token.created_by)
        if creator is None:
            return _Verdict(token, None, f"the token {token.token_id}'s creator is unknown")
        decision = decide(creator.subject(), TokenAction.USE_TOKEN, ApiToken(token.token_id))
        if not decision:
            return _Verdict(
                token,
                creator,
                f"the token {token.token_id} was made by {creator.email}, who may not use it "
                f"now: {decision.reason}",
            )
        return _Verdict(token, creator, None)

    @staticmethod
    def _principal(verdict: _Verdict) -> TokenPrincipal:
        token, creator = verdict.token, verdict.creator
        assert token is not None and creator is not None
        return TokenPrincipal(token.token_id, creator.id, creator.role, frozenset(token.scopes))

    def _refuse(self, token: AccessToken | None, reason: str) -> NoReturn:
        """Record why a presented token was refused (naming it when it is known); 401."""
        context = envelope.current()
        if token is not None:
            # Who presented it is not known; which credential was presented is.
            context = replace(context, session_id=session_label(token.token_id))
        with envelope.acting_as(context):
            target = None if token is None else f"token:{token.token_id}"
            self.record_refusal(str(TokenAction.USE_TOKEN), target, reason)
        raise TokenRefused(reason)
