"""The compliance capability's rules, and the composable-security decision.

Who may do what:
- security levels and requirements, projects, parking and unparking: admins and
  super-admins (the seed: "projects are entirely under admin control");
- certifying, decertifying, admitting to a project, setting restrictions: admins
  for the people they manage, and sub-admins for the members of their teams (the
  seed's "Adding A User Checklist" is a sub-admin's list);
- tagging a resource with a project: admins, or holders of the tag permission who
  are members of that project ("they can receive permission to tag only from the
  administrators"); taking a tag off releases data from the project's rules, so
  only admins may;
- seeing a project: admins, its members, and officers (each read recorded).

Access to data tagged with projects (`TaggedData`) is one decision, and no role
bypasses it: for *every* project the data is tagged with, at the moment of
access, the actor must be a member of it and of each of its parents, none of them
parked, with every requirement of their levels certified and unexpired, and no
restriction against the action. The cryptographic path (group membership, a
wrapped key) is the vault's half; it asks this rule before it releases a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from domain.certifications import Certification
from domain.identity_access import manages
from domain.projects import Restriction


class Action(StrEnum):
    VIEW_SECURITY = "view-security-levels"
    MANAGE_SECURITY = "manage-security-levels"
    CERTIFY = "certify"
    DECERTIFY = "decertify"
    VIEW_CERTIFICATIONS = "view-certifications"
    CREATE_PROJECT = "create-project"
    PARK_PROJECT = "park-project"
    UNPARK_PROJECT = "unpark-project"
    VIEW_PROJECT = "view-project"
    ADD_MEMBER = "add-project-member"
    REMOVE_MEMBER = "remove-project-member"
    SET_RESTRICTIONS = "set-project-restrictions"
    TAG = "tag-with-project"
    UNTAG = "untag-project"
    VIEW_DATA = "view-project-data"
    DOWNLOAD_DATA = "download-project-data"
    RELEASE_KEY = "release-project-key"
    PLACE_DATA = "place-project-data"


# What each data action needs beyond compliant membership.
FORBIDDEN_BY = {
    Action.VIEW_DATA: Restriction.CANNOT_VIEW,
    Action.DOWNLOAD_DATA: Restriction.CANNOT_DOWNLOAD,
}
NEEDS_PERMISSION = {
    Action.VIEW_DATA: Permission.VIEW,
    Action.DOWNLOAD_DATA: Permission.DOWNLOAD,
}


# -- the facts a decision needs (gathered by the capability, decided here) ----------------


@dataclass(frozen=True)
class Standing:
    """One person's standing in one project, at one moment."""

    project_id: UUID
    project: str  # its name, for reasons a person can read
    member: bool
    parked_by: str | None  # the project (itself or a parent) that is parked
    not_member_of: str | None  # a parent project the person is not a member of
    lapses: tuple[str, ...]  # "HIPAA: DAC Compliance expired 2026-11-01"
    restrictions: frozenset[Restriction]

    @property
    def compliant(self) -> bool:
        return self.member and self.not_member_of is None and not self.lapses


@dataclass(frozen=True)
class LevelFacts:
    name: str
    requirements: Sequence[tuple[UUID, str]]  # (id, name), in the level's order


def lapses(
    level: LevelFacts, certifications: Mapping[UUID, Certification], now: datetime
) -> tuple[str, ...]:
    """Why `certifications` do not satisfy `level` at `now` (empty: they do)."""
    reasons = []
    for requirement_id, name in level.requirements:
        held = certifications.get(requirement_id)
        if held is None:
            reasons.append(f"{level.name}: {name} not certified")
            continue
        standing = held.standing(now)
        if not standing.valid:
            reasons.append(f"{level.name}: {name} {standing.reason}")
    return tuple(reasons)


# -- the resources ------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplianceSetup(Resource):
    """Security levels and requirements: the installation's compliance vocabulary."""

    def describe(self) -> str:
        return "security-levels"


@dataclass(frozen=True)
class CertificationOf(Resource):
    person: Subject
    requirement: str

    def describe(self) -> str:
        return str(self.person.id)


@dataclass(frozen=True)
class ProjectRecord(Resource):
    """A project as a whole: creating (project_id None), parking, seeing it."""

    project_id: UUID | None
    name: str
    viewer_is_member: bool = False

    def describe(self) -> str:
        return f"project:{self.project_id or self.name}"


@dataclass(frozen=True)
class ProjectMembership(Resource):
    """A person's membership of a project (admission, removal, restrictions)."""

    project_id: UUID
    person: Subject
    parked: bool

    def describe(self) -> str:
        return str(self.person.id)


@dataclass(frozen=True)
class ProjectTag(Resource):
    project_id: UUID
    resource: str  # "file:<id>", "vm:<id>"
    actor_is_member: bool

    def describe(self) -> str:
        return self.resource


@dataclass(frozen=True)
class TaggedData(Resource):
    """Data tagged with projects: the actor's standing in each, at the moment of access."""

    resource: str
    standings: tuple[Standing, ...]

    def describe(self) -> str:
        return self.resource


@dataclass(frozen=True)
class Placement(Resource):
    """Moving or sharing data tagged with some projects into a place tagged with others."""

    resource: str
    destination: str
    conflict: str | None  # "Federal (isolated) and State": why they may not mix

    def describe(self) -> str:
        return f"{self.resource} -> {self.destination}"


# -- the rules ----------------------------------------------------------------------------

ADMINS = frozenset({Role.SUPER_ADMIN, Role.ADMIN})


def _admins_only(actor: Subject, action: StrEnum) -> Decision:
    if actor.role in ADMINS:
        return allow(f"admins {action}")
    return deny(f"only admins may {action}; a {actor.role} may not")


def _administers(actor: Subject, person: Subject) -> Decision:
    """Admins for the people they manage; sub-admins for their teams' members."""
    if actor.role not in ADMIN_ROLES:
        return deny(f"a {actor.role} administers no one")
    return manages(actor, person)


@rule_for(ComplianceSetup)
def _setup(actor: Subject, action: StrEnum, resource: ComplianceSetup) -> Decision:
    if action is Action.VIEW_SECURITY:
        return allow("security levels and requirements are the installation's vocabulary")
    if action is Action.MANAGE_SECURITY:
        return _admins_only(actor, action)
    if action is Action.VIEW_CERTIFICATIONS:
        # Everyone's certifications at once (expiring soon, non-compliant members).
        if Permission.AUDIT in actor.permissions:
            return allow("compliance officers see certifications (each read is recorded)")
        return _admins_only(actor, action)
    return deny(f"no rule allows {action}")


@rule_for(CertificationOf)
def _certification(actor: Subject, action: StrEnum, resource: CertificationOf) -> Decision:
    if action is Action.VIEW_CERTIFICATIONS:
        if actor.id == resource.person.id:
            return allow("everyone sees their own certifications")
        if Permission.AUDIT in actor.permissions:
            return allow("compliance officers see certifications (each read is recorded)")
        return _administers(actor, resource.person)
    if action in (Action.CERTIFY, Action.DECERTIFY):
        if actor.id == resource.person.id:
            return deny(f"no one may {action} themselves")
        return _administers(actor, resource.person)
    return deny(f"no rule allows {action}")


@rule_for(ProjectRecord)
def _project(actor: Subject, action: StrEnum, resource: ProjectRecord) -> Decision:
    if action is Action.VIEW_PROJECT:
        if actor.role in ADMINS:
            return allow("admins see every project")
        if Permission.AUDIT in actor.permissions:
            return allow("compliance officers see projects (each read is recorded)")
        if resource.viewer_is_member:
            return allow("members see their project, and why it grants nothing if it does not")
        return deny("only a project's members, admins and officers see it")
    if action in (Action.CREATE_PROJECT, Action.PARK_PROJECT, Action.UNPARK_PROJECT):
        return _admins_only(actor, action)
    return deny(f"no rule allows {action}")


@rule_for(ProjectMembership)
def _membership(actor: Subject, action: StrEnum, resource: ProjectMembership) -> Decision:
    if action not in (Action.ADD_MEMBER, Action.REMOVE_MEMBER, Action.SET_RESTRICTIONS):
        return deny(f"no rule allows {action}")
    if action is Action.ADD_MEMBER and resource.parked:
        return deny("the project is parked: it admits no one until it is unparked")
    if actor.id == resource.person.id and action is not Action.REMOVE_MEMBER:
        return deny(f"no one may {action} for themselves")
    return _administers(actor, resource.person)


@rule_for(ProjectTag)
def _tag(actor: Subject, action: StrEnum, resource: ProjectTag) -> Decision:
    if action not in (Action.TAG, Action.UNTAG):
        return deny(f"no rule allows {action}")
    if actor.role in ADMINS:
        return allow("admins tag resources with projects")
    if action is Action.UNTAG:
        # A tag only ever adds rules; taking one off releases data from them.
        return deny("only admins take a project's tag off: it releases data from its rules")
    if Permission.TAG_PROJECTS not in actor.permissions:
        return deny("tagging with a project needs the tag permission, given by an administrator")
    if not resource.actor_is_member:
        return deny("holders of the tag permission tag only with projects they are members of")
    return allow("a member holding the tag permission")


@rule_for(TaggedData)
def _tagged_data(actor: Subject, action: StrEnum, resource: TaggedData) -> Decision:
    if action not in (Action.VIEW_DATA, Action.DOWNLOAD_DATA, Action.RELEASE_KEY):
        return deny(f"no rule allows {action}")
    needed = NEEDS_PERMISSION.get(Action(action))
    if needed is not None and needed not in actor.permissions:
        return deny(f"the account does not hold the {needed} permission")
    for standing in resource.standings:
        if standing.parked_by is not None:
            return deny(f"project {standing.parked_by} is parked")
        if not standing.member:
            return deny(f"not a member of project {standing.project}")
        if standing.not_member_of is not None:
            return deny(
                f"not a member of project {standing.not_member_of}, "
                f"the parent of {standing.project}"
            )
        if standing.lapses:
            return deny(f"non-compliant in project {standing.project}: {standing.lapses[0]}")
        restriction = FORBIDDEN_BY.get(Action(action))
        if restriction is not None and restriction in standing.restrictions:
            return deny(f"restricted in project {standing.project}: {restriction}")
    if not resource.standings:
        return allow("the data carries no project tag")
    names = ", ".join(s.project for s in resource.standings)
    return allow(f"a compliant member of {names}")


@rule_for(Placement)
def _placement(actor: Subject, action: StrEnum, resource: Placement) -> Decision:
    if action is not Action.PLACE_DATA:
        return deny(f"no rule allows {action}")
    if resource.conflict is not None:
        return deny(f"data of projects that may not mix: {resource.conflict}")
    return allow("the projects allow it")


def mixing_conflict(
    resource_projects: Sequence[tuple[UUID, str, bool]],
    place_projects: Sequence[tuple[UUID, str, bool]],
) -> str | None:
    """Why data tagged with `resource_projects` may not join `place_projects`, if it may not.

    Each project is (id, name, allows_mixing). Two different projects mix only
    when both allow it (the seed: "never mix the data from the two levels").
    """
    for rid, rname, rmix in resource_projects:
        for pid, pname, pmix in place_projects:
            if rid == pid or (rmix and pmix):
                continue
            closed = rname if not rmix else pname
            return f"{rname} and {pname} ({closed} forbids mixing)"
    return None
