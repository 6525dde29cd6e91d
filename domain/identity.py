"""Identity use cases: registration, and the administration of people, teams and profiles.

Each command loads what it needs, asks `authorise` whether the acting user may do
it (a refusal is recorded before `Forbidden` is raised), and saves everything
that changes together in one call. Nothing here does I/O: signature checks go
through the application's `SignatureVerifier` port.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain import text
from domain.access import Permission, Role, Subject, decide, permitted
from domain.capability import Capability
from domain.errors import InvalidInput
from domain.identity_access import (
    Action,
    Membership,
    Organisation,
    PermissionChange,
    Person,
    RoleChange,
    TeamRecord,
)
from domain.logins import Logins
from domain.messages import registration_message
from domain.profiles import Profile, ProfileExists, ProfileNotFound, profile_id
from domain.reads import DirectoryRead
from domain.sessions import Session
from domain.teams import DEFAULT_QUOTA, Quota, Team, TeamName, TeamNameTaken
from domain.users import EmailIndex, EmailTaken, User, UserNotFound

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Registration:
    """A registration request: both public keys, signed by the signing key."""

    email: str
    name: str
    signing_public_key: str
    encryption_public_key: str
    signature: str


def decode_key(field: str, value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(field, "not base64") from None
    if len(raw) != 32:
        raise InvalidInput(field, f"a raw 32-byte public key is expected, got {len(raw)}")
    return raw


class Identity(Capability):
    # -- registration -------------------------------------------------------------------

    def register_user(self, registration: Registration) -> UUID:
        """Register a deactivated user who proved possession of its signing key."""
        user = self._new_user(registration)
        self.save(user, EmailIndex(user.email, user.id))
        return user.id

    def bootstrap_super_admin(self, registration: Registration, *also: Any) -> UUID:
        """A super-admin registered and activated in one step (with `also`, in one save)."""
        user = self._new_user(registration)
        user.change_role(before=str(user.role), after=str(Role.SUPER_ADMIN), by_super_admin=True)
        user.activate()
        self.save(*also, user, EmailIndex(user.email, user.id))
        return user.id

    def _new_user(self, registration: Registration) -> User:
        email = text.checked("email", registration.email, max_length=text.EMAIL_LENGTH)
        name = text.checked("name", registration.name, max_length=text.NAME_LENGTH)
        if not _EMAIL.match(email):
            raise InvalidInput("email", "not an email address")
        signing = decode_key("signing_public_key", registration.signing_public_key)
        decode_key("encryption_public_key", registration.encryption_public_key)
        try:
            proof = base64.b64decode(registration.signature, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("signature", "not base64") from None
        message = registration_message(
            email, name, registration.signing_public_key, registration.encryption_public_key
        )
        if not self.app.signatures.verify(signing, proof, message):
            raise InvalidInput("signature", "not made by the presented signing key")
        if self.email_index(email) is not None:
            raise EmailTaken(f"{email} is already registered")
        return User(
            email=email.lower(),
            name=name,
            signing_public_key=registration.signing_public_key,
            encryption_public_key=registration.encryption_public_key,
        )

    # -- reading ------------------------------------------------------------------------

    def user(self, user_id: UUID) -> User:
        return self.load(User, user_id)

    def user_by_email(self, email: str) -> User:
        index = self.email_index(email)
        if index is None:
            raise UserNotFound(f"no user with email {email}")
        return self.user(index.user_id)

    def email_index(self, email: str) -> EmailIndex | None:
        return self.find(EmailIndex, EmailIndex.create_id(email))

    def team(self, team_id: UUID) -> Team:
        return self.load(Team, team_id)

    def profile(self, name: str) -> Profile:
        found = self.find(Profile, profile_id(name))
        if found is None:
            raise ProfileNotFound(f"no profile named {name!r}")
        return found

    def view_user(self, user_id: UUID) -> User:
        """A user's record, if the actor may see it (an officer's read is recorded)."""
        actor, target = self.acting_user(), self.user(user_id)
        self.authorise(actor, Action.VIEW_USER, Person(target.subject()))
        self.record_officer_read(actor, "user", str(target.id))
        return target

    def visible_people(self, candidates: list[Subject]) -> list[Subject]:
        """Of `candidates` (e.g. from the users read model), those the actor may see."""
        actor = self.acting_user()
        subject = actor.subject()
        visible = [c for c in candidates if decide(subject, Action.VIEW_USER, Person(c))]
        self.record_officer_read(actor, "users", None, len(visible))
        return visible

    def view_team(self, team_id: UUID) -> Team:
        """A team, if the actor may see it (a refusal, or an officer's read, is recorded)."""
        actor, team = self.acting_user(), self.team(team_id)
        self.authorise(actor, Action.VIEW_TEAM, TeamRecord(team.id))
        self.record_officer_read(actor, "team", str(team.id))
        return team

    def visible_team_ids(self, candidates: list[UUID]) -> list[UUID]:
        """Of `candidates`, the teams the actor may see (admins all; others their own)."""
        actor = self.acting_user()
        subject = actor.subject()
        visible = [t for t in candidates if decide(subject, Action.VIEW_TEAM, TeamRecord(t))]
        self.record_officer_read(actor, "teams", None, len(visible))
        return visible

    def record_officer_read(
        self, actor: User, what: str, target: str | None, count: int = 1
    ) -> None:
        """Compliance officers' reads of the directory are part of the record."""
        if permitted(actor.subject(), Permission.AUDIT):
            self.save(DirectoryRead(what=what, target=target, count=count))

    # -- administration of people -------------------------------------------------------

    def activate_user(self, user_id: UUID) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self.authorise(actor, Action.ACTIVATE, Person(target.subject()))
        if not target.active:
            target.activate()
            self.save(target)

    def deactivate_user(
        self, user_id: UUID, reason: str = "deactivated by an administrator"
    ) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self.authorise(actor, Action.DEACTIVATE, Person(target.subject()))
        if target.active:
            target.deactivate(reason=reason)
            self.save(target, *self._end_sessions(target, "the account was deactivated"))

    def unlock_user(self, user_id: UUID) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self.authorise(actor, Action.UNLOCK, Person(target.subject()))
        if target.locked:
            target.unlock()
            self.save(target)

    def change_role(self, user_id: UUID, role: Role) -> None:
        actor, target = self.acting_user(), self.user(user_id)
        self.authorise(actor, Action.CHANGE_ROLE, RoleChange(target.subject(), role))
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
        self.authorise(actor, Action.SET_PERMISSIONS, PermissionChange(target.subject(), after))
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
        after = frozenset((target.profile_permissions | grant) - restrict)
        self.authorise(actor, Action.SET_PERMISSIONS, PermissionChange(target.subject(), after))
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

    def _end_sessions(self, user: User, reason: str) -> list[Session]:
        return Logins(self.app).end_sessions(user, reason)

    # -- teams --------------------------------------------------------------------------

    def create_team(self, name: str) -> UUID:
        """A new team with the default quota; a sub-admin who creates one manages it."""
        name = text.checked("name", name, max_length=text.TEAM_NAME_LENGTH)
        actor = self.acting_user()
        self.authorise(actor, Action.CREATE_TEAM, Organisation())
        if self.find(TeamName, TeamName.create_id(name)) is not None:
            raise TeamNameTaken(f"a team named {name!r} exists")
        team = Team(name=name, quota=DEFAULT_QUOTA.as_dict())
        changed: list[Any] = [team, TeamName(name, team.id)]
        if actor.role is Role.SUB_ADMIN:
            team.assign_sub_admin(user_id=actor.id)
            actor.assign_as_sub_admin(team_id=team.id)
            changed.append(actor)
        self.save(*changed)
        return team.id

    def add_team_member(self, team_id: UUID, user_id: UUID) -> None:
        actor, team, target = self.acting_user(), self.team(team_id), self.user(user_id)
        self.authorise(actor, Action.ADD_TO_TEAM, Membership(target.subject(), team.id))
        if user_id in team.members:
            return
        team.add_member(user_id=user_id)
        target.join_team(team_id=team.id)
        self.save(team, target)

    def remove_team_member(self, team_id: UUID, user_id: UUID) -> None:
        actor, team, target = self.acting_user(), self.team(team_id), self.user(user_id)
        self.authorise(actor, Action.REMOVE_FROM_TEAM, Membership(target.subject(), team.id))
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
        self.authorise(actor, Action.ASSIGN_SUB_ADMIN, Membership(target.subject(), team.id))
        if user_id in team.sub_admins:
            return
        team.assign_sub_admin(user_id=user_id)
        target.assign_as_sub_admin(team_id=team.id)
        self.save(team, target)

    def set_team_quota(self, team_id: UUID, quota: Quota) -> None:
        quota.check()
        actor, team = self.acting_user(), self.team(team_id)
        self.authorise(actor, Action.SET_QUOTA, TeamRecord(team.id))
        if quota != team.quota:
            team.change_quota(before=team.quota.as_dict(), after=quota.as_dict())
            self.save(team)

    # -- profiles -----------------------------------------------------------------------

    def create_profile(self, name: str, permissions: set[Permission]) -> None:
        name = text.checked("name", name, max_length=text.PROFILE_NAME_LENGTH)
        actor = self.acting_user()
        self.authorise(actor, Action.CREATE_PROFILE, Organisation())
        if Permission.AUDIT in permissions:
            raise InvalidInput(
                "permissions", "the audit capability is granted per person, not by profile"
            )
        if self.find(Profile, profile_id(name)) is not None:
            raise ProfileExists(f"a profile named {name!r} exists")
        self.save(Profile(name, sorted(str(p) for p in permissions)))
