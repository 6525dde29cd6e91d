"""The identity capability's rules: the seed's "Administrator roles", as written.

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

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from domain.access import (
    ADMIN_ROLES,
    Decision,
    Permission,
    Resource,
    Role,
    Subject,
    allow,
    deny,
    rule_for,
)


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


ROLES_AN_ADMIN_MANAGES = frozenset({Role.SUB_ADMIN, Role.USER, Role.ESCROW})
ROLES_AN_ADMIN_MAY_GRANT = ROLES_AN_ADMIN_MANAGES


# -- the resources ------------------------------------------------------------------------


@dataclass(frozen=True)
class Person(Resource):
    """A user account, as the target of viewing, activation, locking."""

    subject: Subject

    def describe(self) -> str:
        return str(self.subject.id)


@dataclass(frozen=True)
class RoleChange(Resource):
    person: Subject
    new_role: Role

    def describe(self) -> str:
        return str(self.person.id)


@dataclass(frozen=True)
class PermissionChange(Resource):
    person: Subject
    permissions: frozenset[Permission]  # what the person would hold afterwards

    def describe(self) -> str:
        return str(self.person.id)


@dataclass(frozen=True)
class Membership(Resource):
    """A person in (or as sub-admin of) a team."""

    person: Subject
    team: UUID

    def describe(self) -> str:
        return str(self.person.id)


@dataclass(frozen=True)
class TeamRecord(Resource):
    team: UUID

    def describe(self) -> str:
        return f"team:{self.team}"


@dataclass(frozen=True)
class Organisation(Resource):
    """The installation's own structure: new teams and profiles."""


# -- the rules ----------------------------------------------------------------------------


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


OFFICERS_READ = "compliance officers read the directory (each read is recorded)"


def may_see(actor: Subject, target: Subject) -> Decision:
    """Visibility: who appears in whose user lists."""
    if actor.id == target.id:
        return allow("everyone sees themselves")
    if Permission.AUDIT in actor.permissions:
        return allow(OFFICERS_READ)
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


def _administrators_only(actor: Subject, action: StrEnum) -> Decision | None:
    if actor.role not in ADMIN_ROLES:
        return deny(f"a {actor.role} cannot {action}")
    return None


@rule_for(Person)
def _person(actor: Subject, action: StrEnum, resource: Person) -> Decision:
    target = resource.subject
    if action is Action.VIEW_USER:
        return may_see(actor, target)
    if (refused := _administrators_only(actor, action)) is not None:
        return refused
    if action in (Action.ACTIVATE, Action.DEACTIVATE, Action.UNLOCK):
        if actor.id == target.id:
            return deny(f"no one may {action} their own account")
        return manages(actor, target)
    return deny(f"no rule allows {action}")


@rule_for(RoleChange)
def _role_change(actor: Subject, action: StrEnum, resource: RoleChange) -> Decision:
    if (refused := _administrators_only(actor, action)) is not None:
        return refused
    target, new_role = resource.person, resource.new_role
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


@rule_for(PermissionChange)
def _permission_change(actor: Subject, action: StrEnum, resource: PermissionChange) -> Decision:
    if (refused := _administrators_only(actor, action)) is not None:
        return refused
    target = resource.person
    if Permission.AUDIT in resource.permissions and target.role is Role.ESCROW:
        return deny("escrow users may not hold the audit capability")
    gains_audit = Permission.AUDIT in resource.permissions - target.permissions
    if gains_audit and actor.id == target.id:
        return deny("no one may grant the audit capability to themselves")
    return manages(actor, target)


@rule_for(Membership)
def _membership(actor: Subject, action: StrEnum, resource: Membership) -> Decision:
    if (refused := _administrators_only(actor, action)) is not None:
        return refused
    target, team = resource.person, resource.team
    if action is Action.ADD_TO_TEAM:
        if actor.role is Role.SUB_ADMIN:
            if team not in actor.sub_admin_of:
                return deny("a sub-admin changes only the teams it manages")
            if _onboardable(target):
                return allow("a sub-admin may onboard a deactivated user with no team")
        return manages(actor, target)
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


@rule_for(TeamRecord)
def _team(actor: Subject, action: StrEnum, resource: TeamRecord) -> Decision:
    if action is Action.VIEW_TEAM:
        if actor.role in (Role.SUPER_ADMIN, Role.ADMIN):
            return allow("admins see every team")
        if Permission.AUDIT in actor.permissions:
            return allow(OFFICERS_READ)
        if resource.team in actor.teams or resource.team in actor.sub_admin_of:
            return allow("members and sub-admins see their team")
        return deny("only a team's members, its sub-admins and admins see it")
    if (refused := _administrators_only(actor, action)) is not None:
        return refused
    if action is Action.SET_QUOTA:
        if actor.role is Role.SUPER_ADMIN:
            return allow("quotas are set by a super-admin")
        return deny("only a super-admin may change a team's quota")
    return deny(f"no rule allows {action}")


@rule_for(Organisation)
def _organisation(actor: Subject, action: StrEnum, resource: Organisation) -> Decision:
    if (refused := _administrators_only(actor, action)) is not None:
        return refused
    if action is Action.CREATE_TEAM:
        return allow("sub-admins and up may create teams")
    if action is Action.CREATE_PROFILE:
        if actor.role in (Role.SUPER_ADMIN, Role.ADMIN):
            return allow("admins define user profiles")
        return deny("only admins may define user profiles")
    return deny(f"no rule allows {action}")
