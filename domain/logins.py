"""Signature login and sessions: challenges, login, the session check, logout.

Login is authentication, not an access decision: its refusals are recorded
through the same `record_refusal` as every other refusal, and the client sees
only 401. Nonces and token hashes arrive from the caller; nothing here does I/O.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import NoReturn
from uuid import UUID

from domain import clock, envelope, text
from domain.access import Role
from domain.capability import Capability
from domain.messages import login_message
from domain.sessions import AuthenticationFailed, Challenge, Session, session_id_for
from domain.users import EmailIndex, User


@dataclass(frozen=True)
class Principal:
    """Who a valid session belongs to."""

    user_id: UUID
    role: Role
    session_id: UUID


@dataclass(frozen=True)
class SessionCheck:
    """A session check that recorded nothing: the principal when nothing needs recording,
    else why `authenticate` would refuse the token (None: it would record activity)."""

    principal: Principal | None
    refusal: str | None


class Logins(Capability):
    challenge_ttl = timedelta(seconds=60)
    session_ttl = timedelta(hours=12)
    session_idle = timedelta(minutes=30)
    touch_every = timedelta(minutes=1)  # session activity is recorded at this grain
    max_failures = 5
    failure_window = timedelta(minutes=15)

    def issue_challenge(self, email: str, nonce: bytes) -> Challenge:
        """A single-use challenge; issued whether or not the account exists (no oracle)."""
        email = text.checked("email", email, max_length=text.EMAIL_LENGTH)
        challenge = Challenge(nonce.hex(), email.lower(), clock.now() + self.challenge_ttl)
        self.save(challenge)
        return challenge

    def login(self, *, email: str, nonce: bytes, signature: bytes, token_hash: str) -> Principal:
        """Start a session for whoever signed the challenge; every refusal is recorded."""
        now = clock.now()
        email = text.checked("email", email, max_length=text.EMAIL_LENGTH).lower()
        challenge = self.find(Challenge, Challenge.create_id(nonce.hex()))
        if challenge is None:
            self._refuse(email, "no such challenge")
        if challenge.used:
            self._refuse(email, "the challenge was already used")
        if challenge.email != email:
            challenge.use(outcome="refused: issued for another account")
            self._refuse(email, "the challenge was issued for another account", challenge)
        if now >= challenge.expires_at:
            challenge.use(outcome="refused: expired")
            self._refuse(email, "the challenge has expired", challenge)
        index = self.find(EmailIndex, EmailIndex.create_id(email))
        if index is None:
            challenge.use(outcome="refused: unknown account")
            self._refuse(email, "unknown account", challenge)
        user = self.load(User, index.user_id)
        refusal = self._login_refusal(user)
        if refusal is not None:
            challenge.use(outcome=f"refused: {refusal}")
            self._refuse(email, refusal, challenge)
        public_key = base64.b64decode(user.signing_public_key)
        if not self.app.signatures.verify(public_key, signature, login_message(nonce, email)):
            challenge.use(outcome="refused: bad signature")
            user.login_failed(
                reason="bad signature", at=now, window_start=now - self.failure_window
            )
            ended: list[Session] = []
            if len(user.recent_failures) >= self.max_failures:
                user.lock(
                    reason=f"{self.max_failures} failed logins within "
                    f"{int(self.failure_window.total_seconds() // 60)} minutes"
                )
                ended = self.end_sessions(user, "the account was locked")
            self.save(challenge, user, *ended)
            raise AuthenticationFailed("bad signature")
        session_id = session_id_for(token_hash)
        # The session is started by the person who just proved who they are:
        # events take their envelope when they are created, so create it as them.
        as_user = replace(
            envelope.current(),
            actor_id=str(user.id),
            actor_role=str(user.role),
            session_id=str(session_id),
        )
        with envelope.acting_as(as_user):
            session = Session(
                token_hash=token_hash,
                user_id=user.id,
                role=str(user.role),
                started_at=now,
                expires_at=now + self.session_ttl,
                idle_seconds=int(self.session_idle.total_seconds()),
            )
            user.session_started(session_id=session.id, expires_at=session.expires_at, at=now)
            challenge.use(outcome="logged in")
            self.save(session, challenge, user)
        return Principal(user.id, user.role, session.id)

    def _login_refusal(self, user: User) -> str | None:
        if user.locked:
            return "the account is locked"
        if not user.active:
            return "the account is deactivated"
        if user.role is Role.ESCROW:
            return "escrow users cannot log in to normal functions"
        return None

    def _refuse(self, email: str, reason: str, challenge: Challenge | None = None) -> NoReturn:
        self.record_refusal("login", email, reason, challenge)
        raise AuthenticationFailed(reason)

    def authenticate(self, token_hash: str) -> Principal:
        """The principal of a live session; a refused one is recorded.

        Only the session is read: whatever changes a user's standing (deactivation,
        lock, role, removal from the last team) ends the user's sessions with it.
        """
        now = clock.now()
        session = self.find(Session, session_id_for(token_hash))
        if session is None:
            self.record_refusal("authenticate", None, "unknown session")
            raise AuthenticationFailed("unknown session")
        refusal = session.refusal(now)
        if refusal is not None:
            self.record_refusal("authenticate", str(session.user_id), refusal)
            raise AuthenticationFailed(refusal)
        if now - session.last_seen >= self.touch_every:
            session.touch(at=now)
            self.save(session)
        return Principal(session.user_id, Role(session.role), session.id)

    def live_principal(self, token_hash: str) -> Principal | None:
        """The principal of a live session that needs no write now, else None.

        A pure read, cheap enough for the hot path of every request; None sends
        the caller to `authenticate`, which records refusals and session activity.
        """
        return self.check(token_hash).principal

    def check(self, token_hash: str) -> SessionCheck:
        """What `authenticate` would do with this token now, without recording anything.

        One read of the session. The API answers a live session from it directly,
        and, before `authenticate` records a refusal, knows that it would.
        """
        session = self.find(Session, session_id_for(token_hash))
        if session is None:
            return SessionCheck(None, "unknown session")
        now = clock.now()
        refusal = session.refusal(now)
        if refusal is not None:
            return SessionCheck(None, refusal)
        if now - session.last_seen >= self.touch_every:
            return SessionCheck(None, None)  # live, but its activity is due to be recorded
        return SessionCheck(Principal(session.user_id, Role(session.role), session.id), None)

    def end_sessions(self, user: User, reason: str) -> list[Session]:
        """End the user's live sessions; returns them to be saved with the user."""
        if not user.live_sessions:
            return []
        ended = []
        for session_id in user.live_sessions:
            session = self.find(Session, UUID(session_id))
            if session is not None and not session.ended:
                session.end(reason=reason)
                ended.append(session)
        user.sessions_ended(session_ids=[UUID(s) for s in user.live_sessions], reason=reason)
        return ended

    def logout(self, token_hash: str) -> None:
        session = self.find(Session, session_id_for(token_hash))
        if session is None:
            raise AuthenticationFailed("unknown session")
        if not session.ended:
            session.end(reason="logout")
            self.save(session)
