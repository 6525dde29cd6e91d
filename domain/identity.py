"""Identity use cases: registration, administration of people and teams, login and sessions.

Each command loads what it needs, asks `access.decide` whether the acting user may
do it, and saves everything that changes together in one call.  A refusal is
recorded as a `DeniedAttempt` before `Forbidden` is raised, so the 403 a client
sees always has its event.  Nothing here does I/O: signature checks go through
the `SignatureVerifier` port, and nonces and tokens arrive from the caller.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain import clock, envelope
from domain.access import Action, Permission, Role, Subject, decide, may_see
from domain.aggregate import load
from domain.denials import DeniedAttempt, Forbidden
from domain.errors import InvalidInput
from domain.profiles import Profile, ProfileExists, ProfileNotFound, profile_id
from domain.sessions import (
    AuthenticationFailed,
    Challenge,
    Session,
    login_message,
    session_id_for,
)
from domain.teams import DEFAULT_QUOTA, Quota, Team, TeamName, TeamNameTaken, TeamNotFound
from domain.users import EmailIndex, EmailTaken, User, UserNotFound

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SignatureVerifier(Protocol):
    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        """Whether `signature` over `message` was made by the Ed25519 `public_key`."""
        ...


@dataclass(frozen=True)
class Registration:
    """A registration request: both public keys, signed by the signing key."""

    email: str
    name: str
    signing_public_key: str
    encryption_public_key: str
    signature: str


@dataclass(frozen=True)
class Principal:
    """Who a valid session belongs to."""

    user_id: UUID
    role: Role
    session_id: UUID


def registration_message(
    email: str, name: str, signing_public_key: str, encryption_public_key: str
) -> bytes:
    """What a registrant signs with its new signing key: proof it holds that key."""
    return "\n".join(
        (
            "strongroom-registration-v1",
            email.strip().lower(),
            name.strip(),
            signing_public_key,
            encryption_public_key,
        )
    ).encode()


def decode_key(field: str, value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(field, "not base64") from None
    if len(raw) != 32:
        raise InvalidInput(field, f"a raw 32-byte public key is expected, got {len(raw)}")
    return raw


class IdentityCommands:
    """Mixed into the Strongroom application (which provides save, repository)."""

    challenge_ttl = timedelta(seconds=60)
    session_ttl = timedelta(hours=12)
    session_idle = timedelta(minutes=30)
    touch_every = timedelta(minutes=1)  # session activity is recorded at this grain
    max_failures = 5
    failure_window = timedelta(minutes=15)

    signatures: SignatureVerifier

    if TYPE_CHECKING:
        from eventsourcing.application import Repository

        repository: Repository[UUID]

        def save(self, *objs: Any, **kwargs: Any) -> Any: ...

    # -- registration -------------------------------------------------------------------

    def register_user(self, registration: Registration) -> UUID:
        """Register a deactivated user who proved possession of its signing key."""
        user = self._new_user(registration)
        self.save(user, EmailIndex(user.email, user.id))
        return user.id

    def bootstrap_super_admin(self, registration: Registration) -> UUID:
        """The installation's first super-admin, registered and activated in one step."""
        user = self._new_user(registration)
        user.change_role(before=str(user.role), after=str(Role.SUPER_ADMIN), by_super_admin=True)
        user.activate()
        self.save(user, EmailIndex(user.email, user.id))
        return user.id

    def _new_user(self, registration: Registration) -> User:
        email, name = registration.email, registration.name
        signing_public_key = registration.signing_public_key
        encryption_public_key = registration.encryption_public_key
        signature = registration.signature
        email = email.strip()
        if not _EMAIL.match(email):
            raise InvalidInput("email", "not an email address")
        if not name.strip():
            raise InvalidInput("name", "must not be empty")
        signing = decode_key("signing_public_key", signing_public_key)
        decode_key("encryption_public_key", encryption_public_key)
        try:
            proof = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("signature", "not base64") from None
        message = registration_message(email, name, signing_public_key, encryption_public_key)
        if not self.signatures.verify(signing, proof, message):
            raise InvalidInput("signature", "not made by the presented signing key")
        if self._email_index(email) is not None:
            raise EmailTaken(f"{email} is already registered")
        return User(
            email=email.lower(),
            name=name.strip(),
            signing_public_key=signing_public_key,
            encryption_public_key=encryption_public_key,
        )

    # -- reading ------------------------------------------------------------------------

    def user(self, user_id: UUID) -> User:
        return load(self.repository, user_id, User, UserNotFound)

    def user_by_email(self, email: str) -> User:
        index = self._email_index(email)
        if index is None:
            raise UserNotFound(f"no user with email {email}")
        return self.user(index.user_id)

    def _email_index(self, email: str) -> EmailIndex | None:
        try:
            return self.repository.get(EmailIndex.create_id(email))  # type: ignore[no-any-return]
        except AggregateNotFoundError:
            return None

    def team(self, team_id: UUID) -> Team:
        return load(self.repository, team_id, Team, TeamNotFound)

    def profile(self, name: str) -> Profile:
        try:
            return self.repository.get(profile_id(name))  # type: ignore[no-any-return]
        except AggregateNotFoundError:
            raise ProfileNotFound(f"no profile named {name!r}") from None

    def acting_user(self) -> User:
        """The user named by the current audit context."""
        actor = envelope.current().actor_id
        try:
            return self.user(UUID(actor))
        except ValueError:
            reason = f"{actor} is not a user"
            self.save(DeniedAttempt(action="act", target=None, reason=reason))
            raise Forbidden("act", reason) from None

    def view_user(self, user_id: UUID) -> User:
        """A user's record, if the actor may see it."""
        actor = self.acting_user()
        target = self.user(user_id)
        self._authorise(actor, Action.VIEW_USER, target)
        return target

    def visible_people(self, candidates: list[Subject]) -> list[Subject]:
        """Of `candidates` (e.g. from the users read model), those the actor may see."""
        actor = self.acting_user().subject()
        return [c for c in candidates if may_see(actor, c)]

    # -- administration of people -------------------------------------------------------

    def activate_user(self, user_id: UUID) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self._authorise(actor, Action.ACTIVATE, target)
        if not target.active:
            target.activate()
            self.save(target)

    def deactivate_user(
        self, user_id: UUID, reason: str = "deactivated by an administrator"
    ) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self._authorise(actor, Action.DEACTIVATE, target)
        if target.active:
            target.deactivate(reason=reason)
            self.save(target, *self._end_sessions(target, "the account was deactivated"))

    def unlock_user(self, user_id: UUID) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self._authorise(actor, Action.UNLOCK, target)
        if target.locked:
            target.unlock()
            self.save(target)

    def change_role(self, user_id: UUID, role: Role) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self._authorise(actor, Action.CHANGE_ROLE, target, new_role=role)
        if target.role is not role:
            target.change_role(
                before=str(target.role),
                after=str(role),
                by_super_admin=actor.role is Role.SUPER_ADMIN,
            )
            self.save(target, *self._end_sessions(target, f"the role changed to {role}"))

    def apply_profile(self, user_id: UUID, profile_name: str) -> None:
        """Set a user's permissions from a profile; explicit grants and restrictions stay."""
        actor, target = self.acting_user(), self.user(user_id)
        profile = self.profile(profile_name)
        after = (profile.permissions | target.granted) - target.restricted
        self._authorise(actor, Action.SET_PERMISSIONS, target, new_permissions=after)
        self._change_permissions(
            target, profile.name, profile.permissions, target.granted, target.restricted
        )

    def set_permissions(
        self, user_id: UUID, *, grant: set[Permission], restrict: set[Permission]
    ) -> None:
        """Replace a user's explicit grants and restrictions (e.g. *cannot download*)."""
        if grant & restrict:
            both = ", ".join(sorted(str(p) for p in grant & restrict))
            raise InvalidInput("grant", f"also restricted: {both}")
        actor, target = self.acting_user(), self.user(user_id)
        after = (target.profile_permissions | grant) - restrict
        self._authorise(actor, Action.SET_PERMISSIONS, target, new_permissions=after)
        self._change_permissions(
            target, target.profile, target.profile_permissions, grant, restrict
        )

    def _change_permissions(
        self,
        target: User,
        profile: str | None,
        profile_permissions: frozenset[Permission] | set[Permission],
        granted: frozenset[Permission] | set[Permission],
        restricted: frozenset[Permission] | set[Permission],
    ) -> None:
        before = sorted(str(p) for p in target.permissions)
        after = (set(profile_permissions) | set(granted)) - set(restricted)
        target.set_permissions(
            profile=profile,
            profile_permissions=sorted(str(p) for p in profile_permissions),
            granted=sorted(str(p) for p in granted),
            restricted=sorted(str(p) for p in restricted),
            before=before,
            after=sorted(str(p) for p in after),
        )
        self.save(target)

    # -- teams --------------------------------------------------------------------------

    def create_team(self, name: str) -> UUID:
        """A new team with the default quota; a sub-admin who creates one manages it."""
        if not name.strip():
            raise InvalidInput("name", "must not be empty")
        actor = self.acting_user()
        self._authorise(actor, Action.CREATE_TEAM, None)
        try:
            self.repository.get(TeamName.create_id(name))
        except AggregateNotFoundError:
            pass
        else:
            raise TeamNameTaken(f"a team named {name.strip()!r} exists")
        team = Team(name=name.strip(), quota=DEFAULT_QUOTA.as_dict())
        changed: list[Any] = [team, TeamName(name.strip(), team.id)]
        if actor.role is Role.SUB_ADMIN:
            team.assign_sub_admin(user_id=actor.id)
            actor.assign_as_sub_admin(team_id=team.id)
            changed.append(actor)
        self.save(*changed)
        return team.id

    def add_team_member(self, team_id: UUID, user_id: UUID) -> None:
        actor, team, target = self.acting_user(), self.team(team_id), self.user(user_id)
        self._authorise(actor, Action.ADD_TO_TEAM, target, team=team.id)
        if user_id in team.members:
            return
        team.add_member(user_id=user_id)
        target.join_team(team_id=team.id)
        self.save(team, target)

    def remove_team_member(self, team_id: UUID, user_id: UUID) -> None:
        actor, team, target = self.acting_user(), self.team(team_id), self.user(user_id)
        self._authorise(actor, Action.REMOVE_FROM_TEAM, target, team=team.id)
        if user_id not in team.members:
            return
        team.remove_member(user_id=user_id)
        ended: list[Session] = []
        if target.teams == {team.id}:
            target.release(team_id=team.id)
            ended = self._end_sessions(target, "the account was removed from its last team")
        else:
            target.leave_team(team_id=team.id)
        self.save(team, target, *ended)

    def assign_sub_admin(self, team_id: UUID, user_id: UUID) -> None:
        actor, team, target = self.acting_user(), self.team(team_id), self.user(user_id)
        self._authorise(actor, Action.ASSIGN_SUB_ADMIN, target, team=team.id)
        if user_id in team.sub_admins:
            return
        team.assign_sub_admin(user_id=user_id)
        target.assign_as_sub_admin(team_id=team.id)
        self.save(team, target)

    def set_team_quota(self, team_id: UUID, quota: Quota) -> None:
        actor, team = self.acting_user(), self.team(team_id)
        self._authorise(actor, Action.SET_QUOTA, None, team=team.id)
        if quota != team.quota:
            team.change_quota(before=team.quota.as_dict(), after=quota.as_dict())
            self.save(team)

    def view_team(self, team_id: UUID) -> Team:
        """A team, if the actor may see it (a refusal is recorded)."""
        actor, team = self.acting_user(), self.team(team_id)
        self._authorise(actor, Action.VIEW_TEAM, None, team=team.id)
        return team

    def visible_team_ids(self, candidates: list[UUID]) -> list[UUID]:
        """Of `candidates`, the teams the actor may see (admins all; others their own)."""
        actor = self.acting_user().subject()
        return [t for t in candidates if decide(actor, Action.VIEW_TEAM, team=t)]

    # -- profiles -----------------------------------------------------------------------

    def create_profile(self, name: str, permissions: set[Permission]) -> None:
        if not name.strip():
            raise InvalidInput("name", "must not be empty")
        actor = self.acting_user()
        self._authorise(actor, Action.CREATE_PROFILE, None)
        if Permission.AUDIT in permissions:
            raise InvalidInput(
                "permissions", "the audit capability is granted per person, not by profile"
            )
        try:
            self.repository.get(profile_id(name))
        except AggregateNotFoundError:
            pass
        else:
            raise ProfileExists(f"a profile named {name.strip()!r} exists")
        self.save(Profile(name.strip(), sorted(str(p) for p in permissions)))

    # -- refusals -----------------------------------------------------------------------

    def _authorise(
        self,
        actor: User,
        action: Action,
        target: User | None,
        **details: Any,
    ) -> None:
        decision = decide(actor.subject(), action, target.subject() if target else None, **details)
        if decision:
            return
        team = details.get("team")
        subject = str(target.id) if target else (f"team:{team}" if team else None)
        self.save(DeniedAttempt(action=str(action), target=subject, reason=decision.reason))
        raise Forbidden(str(action), decision.reason)

    # -- login and sessions -------------------------------------------------------------

    def issue_challenge(self, email: str, nonce: bytes) -> Challenge:
        """A single-use challenge; issued whether or not the account exists (no oracle)."""
        challenge = Challenge(nonce.hex(), email.strip().lower(), clock.now() + self.challenge_ttl)
        self.save(challenge)
        return challenge

    def login(self, *, email: str, nonce: bytes, signature: bytes, token_hash: str) -> Principal:
        """Start a session for whoever signed the challenge; every refusal is recorded."""
        now = clock.now()
        email = email.strip().lower()
        try:
            challenge: Challenge = self.repository.get(Challenge.create_id(nonce.hex()))
        except AggregateNotFoundError:
            self._refuse_login(email, "no such challenge")
        if challenge.used:
            self._refuse_login(email, "the challenge was already used")
        if challenge.email != email:
            challenge.use(outcome="refused: issued for another account")
            self._refuse_login(email, "the challenge was issued for another account", challenge)
        if now >= challenge.expires_at:
            challenge.use(outcome="refused: expired")
            self._refuse_login(email, "the challenge has expired", challenge)
        index = self._email_index(email)
        if index is None:
            challenge.use(outcome="refused: unknown account")
            return self._refuse_login(email, "unknown account", challenge)
        user = self.user(index.user_id)
        refusal = self._login_refusal(user)
        if refusal is not None:
            challenge.use(outcome=f"refused: {refusal}")
            self._refuse_login(email, refusal, challenge)
        public_key = base64.b64decode(user.signing_public_key)
        if not self.signatures.verify(public_key, signature, login_message(nonce, email)):
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
                ended = self._end_sessions(user, "the account was locked")
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
        principal = Principal(user.id, user.role, session.id)
        return principal

    def _login_refusal(self, user: User) -> str | None:
        if user.locked:
            return "the account is locked"
        if not user.active:
            return "the account is deactivated"
        if user.role is Role.ESCROW:
            return "escrow users cannot log in to normal functions"
        return None

    def _refuse_login(
        self, email: str, reason: str, challenge: Challenge | None = None
    ) -> NoReturn:
        self.save(challenge, DeniedAttempt(action="login", target=email, reason=reason))
        raise AuthenticationFailed(reason)

    def authenticate(self, token_hash: str) -> Principal:
        """The principal of a live session; a refused one is recorded.

        Only the session is read: whatever changes a user's standing (deactivation,
        lock, role, removal from the last team) ends the user's sessions with it.
        """
        now = clock.now()
        try:
            session: Session = self.repository.get(session_id_for(token_hash))
        except AggregateNotFoundError:
            self.save(DeniedAttempt(action="authenticate", target=None, reason="unknown session"))
            raise AuthenticationFailed("unknown session") from None
        refusal = session.refusal(now)
        if refusal is not None:
            self.save(
                DeniedAttempt(action="authenticate", target=str(session.user_id), reason=refusal)
            )
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
        try:
            session: Session = self.repository.get(session_id_for(token_hash))
        except AggregateNotFoundError:
            return None
        now = clock.now()
        if session.refusal(now) is not None or now - session.last_seen >= self.touch_every:
            return None
        return Principal(session.user_id, Role(session.role), session.id)

    def _end_sessions(self, user: User, reason: str) -> list[Session]:
        """End the user's live sessions; returns them to be saved with the user."""
        if not user.live_sessions:
            return []
        ended = []
        for session_id in user.live_sessions:
            try:
                session: Session = self.repository.get(UUID(session_id))
            except AggregateNotFoundError:
                continue
            if not session.ended:
                session.end(reason=reason)
                ended.append(session)
        user.sessions_ended(session_ids=[UUID(s) for s in user.live_sessions], reason=reason)
        return ended

    def logout(self, token_hash: str) -> None:
        try:
            session: Session = self.repository.get(session_id_for(token_hash))
        except AggregateNotFoundError:
            raise AuthenticationFailed("unknown session") from None
        if not session.ended:
            session.end(reason="logout")
            self.save(session)
