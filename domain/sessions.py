"""Signature login: single-use challenges, and sessions known only by the hash of their token."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate
from domain.errors import Unauthenticated


class AuthenticationFailed(Unauthenticated):
    """Login or session check failed; the reason is recorded, the client sees only 401."""


class Challenge(AuditedAggregate):
    @staticmethod
    def create_id(nonce: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:challenge:{nonce}")

    @event("Issued")
    def __init__(self, nonce: str, email: str, expires_at: datetime) -> None:
        """`nonce` in hex; it is public (the signature over it is the proof)."""
        self.email = email
        self.expires_at = expires_at
        self.used = False

    @event("Used")
    def use(self, outcome: str) -> None:
        self.used = True


def session_id_for(token_hash: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"strongroom:session:{token_hash}")


class Session(AuditedAggregate):
    @staticmethod
    def create_id(token_hash: str) -> UUID:  # type: ignore[override]
        return session_id_for(token_hash)

    @event("Started")
    def __init__(
        self,
        token_hash: str,
        user_id: UUID,
        role: str,
        started_at: datetime,
        expires_at: datetime,
        idle_seconds: int,
    ) -> None:
        self.user_id = user_id
        self.role = role
        self.expires_at = expires_at
        self.idle = timedelta(seconds=idle_seconds)
        self.last_seen = started_at
        self.ended = False

    @event("Touched")
    def touch(self, at: datetime) -> None:
        self.last_seen = at

    @event("Ended")
    def end(self, reason: str) -> None:
        self.ended = True

    def refusal(self, now: datetime) -> str | None:
        """Why this session may not be used at `now`, or None."""
        if self.ended:
            return "the session has ended"
        if now >= self.expires_at:
            return "the session has expired"
        if now - self.last_seen >= self.idle:
            return "the session was idle too long"
        return None
