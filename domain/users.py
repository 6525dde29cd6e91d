"""People: registration with public keys, activation, roles, permissions, teams, lockout."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.access import DEFAULT_PERMISSIONS, Permission, Role, Subject
from domain.aggregate import AuditedAggregate
from domain.errors import Conflict, NotFound


class UserNotFound(NotFound):
    """No user with that id or email."""


class EmailTaken(Conflict):
    """Another account already uses that email."""


class User(AuditedAggregate):
    missing = UserNotFound
    # Class defaults for state added after the first snapshots were taken.
    last_login_at: datetime | None = None

    @event("Registered")
    def __init__(
        self, *, email: str, name: str, signing_public_key: str, encryption_public_key: str
    ) -> None:
        self.email = email
        self.name = name
        # Public keys only (base64 of the raw 32 bytes); private keys never leave the client.
        self.signing_public_key = signing_public_key
        self.encryption_public_key = encryption_public_key
        self.role = Role.USER
        self.active = False
        self.locked = False
        self.released = False
        self.teams: set[UUID] = set()
        self.sub_admin_of: set[UUID] = set()
        self.profile: str | None = None
        self.profile_permissions: set[Permission] = set(DEFAULT_PERMISSIONS)
        self.granted: set[Permission] = set()
        self.restricted: set[Permission] = set()
        self.recent_failures: list[datetime] = []
        # Live sessions (by id, as text) and when they expire: ended when the
        # user's standing changes.
        self.live_sessions: dict[str, datetime] = {}

    @property
    def permissions(self) -> frozenset[Permission]:
        return frozenset((self.profile_permissions | self.granted) - self.restricted)

    def subject(self) -> Subject:
        return Subject(
            id=self.id,
            role=self.role,
            active=self.active and not self.locked,
            teams=frozenset(self.teams),
            sub_admin_of=frozenset(self.sub_admin_of),
            released=self.released,
            permissions=self.permissions,
        )

    @event("Activated")
    def activate(self) -> None:
        self.active = True

    @event("Deactivated")
    def deactivate(self, reason: str) -> None:
        self.active = False

    @event("RoleChanged")
    def change_role(self, before: str, after: str, by_super_admin: bool) -> None:
        self.role = Role(after)
        if by_super_admin:
            self.released = False

    @event("PermissionsChanged")
    def set_permissions(
        self,
        profile: str | None,
        profile_permissions: list[str],
        granted: list[str],
        restricted: list[str],
        before: list[str],
        after: list[str],
    ) -> None:
        self.profile = profile
        self.profile_permissions = {Permission(p) for p in profile_permissions}
        self.granted = {Permission(p) for p in granted}
        self.restricted = {Permission(p) for p in restricted}

    @event("JoinedTeam")
    def join_team(self, team_id: UUID) -> None:
        self.teams.add(team_id)

    @event("LeftTeam")
    def leave_team(self, team_id: UUID) -> None:
        self.teams.discard(team_id)

    @event("ReleasedFromLastTeam")
    def release(self, team_id: UUID) -> None:
        """Removed from its last team: deactivated, default permissions, role frozen."""
        self.teams.discard(team_id)
        self.active = False
        self.released = True
        self.profile = None
        self.profile_permissions = set(DEFAULT_PERMISSIONS)
        self.granted = set()
        self.restricted = set()

    @event("AssignedAsSubAdmin")
    def assign_as_sub_admin(self, team_id: UUID) -> None:
        self.sub_admin_of.add(team_id)

    @event("SessionStarted")
    def session_started(self, session_id: UUID, expires_at: datetime, at: datetime) -> None:
        self.live_sessions = {s: e for s, e in self.live_sessions.items() if e > at}
        self.live_sessions[str(session_id)] = expires_at
        self.recent_failures = []
        self.last_login_at = at

    @event("SessionsEnded")
    def sessions_ended(self, session_ids: list[UUID], reason: str) -> None:
        for session_id in session_ids:
            self.live_sessions.pop(str(session_id), None)

    @event("LoginFailed")
    def login_failed(self, reason: str, at: datetime, window_start: datetime) -> None:
        self.recent_failures = [t for t in self.recent_failures if t >= window_start] + [at]

    @event("Locked")
    def lock(self, reason: str) -> None:
        self.locked = True

    @event("Unlocked")
    def unlock(self) -> None:
        self.locked = False
        self.recent_failures = []


def email_key(email: str) -> str:
    return email.strip().lower()


class EmailIndex(AuditedAggregate):
    """Makes emails unique: its id is derived from the email, saved with the user."""

    @staticmethod
    def create_id(email: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:email:{email_key(email)}")

    @event("Claimed")
    def __init__(self, email: str, user_id: UUID) -> None:
        self.email = email
        self.user_id = user_id
