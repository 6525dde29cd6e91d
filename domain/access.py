"""Roles, permissions and the rules of who may do what to whom: one function, deny by default.

The rules are the seed's "Administrator roles", as written:
- a super-admin may do anything;
- an admin manages basic users (and escrow users) and sub-admins, never admins or
  super-admins, and cannot do super-admin tasks (quotas);
- a sub-admin manages only the members of the teams it is assigned, may place a
  deactivated user who belongs to no team into its team, may create teams, and
  changes permissions, not roles;
- a user removed from its last team is deactivated, gets default permissions
  back, and only a super-admin may then change its role;
- escrow users hold escrow key material: they cannot use normal functions and may
  not hold the audit capability.
See docs/roles.md for the table as implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum
from uuid import UUID


class _ValueEnum(Enum):
    """Prints as its value. Not a `str` subclass on purpose: JSON would then
    encode it as a plain string and a snapshot would restore it as one."""

    def __str__(self) -> str:
        return str(self.value)


class Role(_ValueEnum):
    SUPER_ADMIN = "super-admin"
    ADMIN = "admin"
    SUB_ADMIN = "sub-admin"
    USER = "user"
    ESCROW = "escrow"


class Permission(_ValueEnum):
    VIEW = "view"
    DOWNLOAD = "download"
    TAG_PROJECTS = "tag-projects"
    CREATE_VMS = "create-vms"
    AUDIT = "audit"  # compliance officer: dashboard, alerts, forensic queries; no user data


DEFAULT_PERMISSIONS = frozenset({Permission.VIEW, Permission.DOWNLOAD})


class Action(StrEnum):
    VIEW_USER = "view-user"
    VIEW_TEAM = "view-team"
    ACTIVATE = "activate-user"
    DEACTIVATE = "deactivate-user"
    UNLOCK = "unlock-user"
    CHANGE_ROLE = "change-role"
    SET_PERMISSIONS = "set-permissions"
    ADD_TO_TEAM = "add-to-team"
    REMOVE_FROM_TEAM = "remove-from-team"
    CREATE_TEAM = "create-team"
    ASSIGN_SUB_ADMIN = "assign-sub-admin"
    SET_QUOTA = "set-quota"
    CREATE_PROFILE = "create-profile"


ADMIN_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.SUB_ADMIN})
ROLES_AN_ADMIN_MANAGES = frozenset({Role.SUB_ADMIN, Role.USER, Role.ESCROW})
ROLES_AN_ADMIN_MAY_GRANT = ROLES_AN_ADMIN_MANAGES


@dataclass(frozen=True)
class Subject:
    """What the rules need to know about a person, actor or target."""

    id: UUID
    role: Role
    active: bool
    teams: frozenset[UUID] = frozenset()
    sub_admin_of: frozenset[UUID] = frozenset()
    # Removed from its last team: only a super-admin may change its role now.
    released: bool = False
    permissions: frozenset[Permission] = field(default=DEFAULT_PERMISSIONS)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def allow(reason: str) -> Decision:
    return Decision(True, reason)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


def manages(actor: Subject, target: Subject) -> Decision:
    """Whether `actor` is an administrator of `target` at all."""
    if actor.role is Role.SUPER_ADMIN:
        return allow("a super-admin manages everyone")
    if actor.role is Role.ADMIN:
        if target.role in ROLES_AN_ADMIN_MANAGES:
            return allow(f"an admin manages {target.role} accounts")
        return deny(f"an admin cannot manage {target.role} accounts")
    if actor.role is Role.SUB_ADMIN:
        if target.role is not Role.USER:
            return deny(f"a sub-admin cannot manage {target.role} accounts")
        if target.teams & actor.sub_admin_of:
            return allow("the user is a member of a team this sub-admin manages")
        return deny("the user is not a member of any team this sub-admin manages")
    return deny(f"a {actor.role} manages no one")


def may_see(actor: Subject, target: Subject) -> Decision:
    """Visibility: who appears in whose user lists."""
    if actor.id == target.id:
        return allow("everyone sees themselves")
    if actor.role is Role.SUPER_ADMIN:
        return allow("a super-admin sees everyone")
    if actor.role is Role.ADMIN:
        if target.role is Role.SUPER_ADMIN:
            return deny("an admin does not see super-admins")
        return allow("an admin sees admins, sub-admins and the users they manage")
    if actor.role is Role.SUB_ADMIN:
        if _onboardable(target):
            return allow("a deactivated user with no team may be onboarded by a sub-admin")
        return manages(actor, target)
    return deny(f"a {actor.role} sees only themselves")


def _onboardable(target: Subject) -> bool:
    return target.role is Role.USER and not target.active and not target.teams


def decide(
    actor: Subject,
    action: Action,
    target: Subject | None = None,
    *,
    team: UUID | None = None,
    new_role: Role | None = None,
    new_permissions: frozenset[Permission] | None = None,
) -> Decision:
    """May `actor` do `action` (to `target`, in `team`)?  Anything not allowed here is denied."""
    if not actor.active:
        return deny("the acting account is not active")
    if actor.role is Role.ESCROW:
        return deny("escrow users cannot use normal functions")
    if action is Action.VIEW_USER and target is not None:
        return may_see(actor, target)
    if action is Action.VIEW_TEAM:
        return _may_see_team(actor, team)
    if actor.role not in ADMIN_ROLES:
        return deny(f"a {actor.role} cannot {action}")

    if action is Action.CREATE_TEAM:
        return allow("sub-admins and up may create teams")
    if action is Action.SET_QUOTA:
        if actor.role is Role.SUPER_ADMIN:
            return allow("quotas are set by a super-admin")
        return deny("only a super-admin may change a team's quota")
    if action is Action.CREATE_PROFILE:
        if actor.role in (Role.SUPER_ADMIN, Role.ADMIN):
            return allow("admins define user profiles")
        return deny("only admins may define user profiles")

    if target is None:
        return deny(f"{action} needs a target")
    if action is Action.CHANGE_ROLE:
        return _change_role(actor, target, new_role)
    if action is Action.SET_PERMISSIONS:
        if (
            new_permissions is not None
            and Permission.AUDIT in new_permissions
            and target.role is Role.ESCROW
        ):
            return deny("escrow users may not hold the audit capability")
        return manages(actor, target)
    if action in (Action.ACTIVATE, Action.DEACTIVATE, Action.UNLOCK):
        if actor.id == target.id:
            return deny(f"no one may {action} their own account")
        return manages(actor, target)
    if action is Action.ADD_TO_TEAM:
        return _add_to_team(actor, target, team)
    if action is Action.REMOVE_FROM_TEAM:
        if actor.role is Role.SUB_ADMIN and team not in actor.sub_admin_of:
            return deny("a sub-admin changes only the teams it manages")
        return manages(actor, target)
    if action is Action.ASSIGN_SUB_ADMIN:
        if actor.role is Role.SUB_ADMIN:
            return deny("sub-admins are assigned to teams by admins")
        if target.role is not Role.SUB_ADMIN:
            return deny(f"only a sub-admin can be assigned to a team, not a {target.role}")
        return manages(actor, target)
    return deny(f"no rule allows {action}")


def _may_see_team(actor: Subject, team: UUID | None) -> Decision:
    if team is None:
        return deny("no team given")
    if actor.role in (Role.SUPER_ADMIN, Role.ADMIN):
        return allow("admins see every team")
    if team in actor.teams or team in actor.sub_admin_of:
        return allow("members and sub-admins see their team")
    return deny("only a team's members, its sub-admins and admins see it")


def _change_role(actor: Subject, target: Subject, new_role: Role | None) -> Decision:
    if new_role is None:
        return deny("no new role given")
    if actor.id == target.id:
        return deny("no one may change their own role")
    if actor.role is Role.SUPER_ADMIN:
        if new_role is Role.ESCROW and Permission.AUDIT in target.permissions:
            return deny("escrow users may not hold the audit capability: withdraw it first")
        return allow("a super-admin may change any role")
    if target.released:
        return deny(
            "the account was removed from its last team: only a super-admin may change its role"
        )
    if actor.role is Role.SUB_ADMIN:
        return deny("sub-admins change permissions, not roles")
    if new_role not in ROLES_AN_ADMIN_MAY_GRANT:
        return deny(f"an admin cannot grant the {new_role} role")
    if new_role is Role.ESCROW and Permission.AUDIT in target.permissions:
        return deny("escrow users may not hold the audit capability: withdraw it first")
    return manages(actor, target)


def _add_to_team(actor: Subject, target: Subject, team: UUID | None) -> Decision:
    if team is None:
        return deny("no team given")
    if actor.role is Role.SUB_ADMIN:
        if team not in actor.sub_admin_of:
            return deny("a sub-admin changes only the teams it manages")
        if _onboardable(target):
            return allow("a sub-admin may onboard a deactivated user with no team")
    return manages(actor, target)


def permitted(subject: Subject, permission: Permission) -> bool:
    """Whether `subject` may use `permission` now (deny by default)."""
    if not subject.active or subject.role is Role.ESCROW:
        return False
    return permission in subject.permissions
