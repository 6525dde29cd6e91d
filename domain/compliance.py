"""Compliance use cases: levels, requirements, certifications, projects, tags.

Every command follows the capability preamble (who acts, may they, load, save)
and checks its input before anything is recorded. What makes a member compliant
is evaluated on the clock at the moment it matters (`standing`), so access is
refused the second a certification expires whether or not anything has been
recorded yet. What *is* recorded, in the same transaction as the change that
caused it, is each project's view of its members: `MemberLapsed` (with the
reasons, "HIPAA: training expired 2026-11-01") when a certification expires, is
revoked, or a level gains a requirement, and `MemberRestored` when it is made
good. The expiry process (`expire`) records the passing of an expiry once, as
`system:certification-expiry`, with the lapses it causes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain import clock, text
from domain.access import Permission, decide, permitted
from domain.aggregate import AuditedAggregate
from domain.capability import Capability
from domain.certifications import (
    Certification,
    NameTaken,
    NotCertified,
    Requirement,
    SecurityLevel,
    UniqueName,
    certification_id,
    check_expiry,
    check_lifespan,
)
from domain.compliance_access import (
    Action,
    CertificationOf,
    ComplianceSetup,
    LevelFacts,
    Placement,
    ProjectMembership,
    ProjectRecord,
    ProjectTag,
    Standing,
    TaggedData,
    lapses,
    mixing_conflict,
)
from domain.errors import Conflict, InvalidInput
from domain.projects import (
    Project,
    ProjectParked,
    ResourceKind,
    ResourceTags,
    Restriction,
    tags_id,
)
from domain.reads import DirectoryRead
from domain.users import User

# Sub-projects nest at most this deep (a project, its parent, …): bounds every walk up.
MAX_PROJECT_DEPTH = 8
MAX_REQUIREMENTS_PER_LEVEL = 100
# Names of requirements, security levels and projects.
COMPLIANCE_NAME_LENGTH = 100
DESCRIPTION_LENGTH = 2000
REASON_LENGTH = 500


class AlreadyMember(Conflict):
    """The person is already a member of the project."""


class LevelInUse(Conflict):
    """A requirement would leave a level in use without the change being acknowledged."""


class NotMember(Conflict):
    """The person is not a member of the project."""


class UserProjects(AuditedAggregate):
    """The projects one person belongs to: those to reassess when a certification changes."""

    @staticmethod
    def create_id(user_id: UUID) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:user-projects:{user_id}")

    @event("Opened")
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.project_ids: set[UUID] = set()

    # Each event names the person as well: read alone, it says whose projects changed.
    def join(self, project_id: UUID) -> None:
        self._joined(user_id=self.user_id, project_id=project_id)

    def leave(self, project_id: UUID) -> None:
        self._left(user_id=self.user_id, project_id=project_id)

    @event("Joined")
    def _joined(self, user_id: UUID, project_id: UUID) -> None:
        self.project_ids.add(project_id)

    @event("Left")
    def _left(self, user_id: UUID, project_id: UUID) -> None:
        self.project_ids.discard(project_id)


class LevelProjects(AuditedAggregate):
    """The projects that use one security level: whom a change of the level affects."""

    @staticmethod
    def create_id(level_id: UUID) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:level-projects:{level_id}")

    @event("Opened")
    def __init__(self, level_id: UUID) -> None:
        self.level_id = level_id
        self.project_ids: set[UUID] = set()

    @event("Assigned")
    def assign(self, project_id: UUID) -> None:
        self.project_ids.add(project_id)


def _restrictions(values: Iterable[str]) -> frozenset[Restriction]:
    found = set()
    for value in values:
        try:
            found.add(Restriction(value))
        except ValueError:
            allowed = ", ".join(r.value for r in Restriction)
            raise InvalidInput("restrictions", f"{value!r} is not one of: {allowed}") from None
    return frozenset(found)


def _sorted(restrictions: Iterable[Restriction]) -> list[str]:
    return sorted(r.value for r in restrictions)


class Compliance(Capability):
    # -- reading ------------------------------------------------------------------------

    def requirement(self, requirement_id: UUID) -> Requirement:
        return self.load(Requirement, requirement_id)

    def level(self, level_id: UUID) -> SecurityLevel:
        return self.load(SecurityLevel, level_id)

    def project(self, project_id: UUID) -> Project:
        return self.load(Project, project_id)

    def certification(self, user_id: UUID, requirement_id: UUID) -> Certification | None:
        return self.find(Certification, certification_id(user_id, requirement_id))

    def projects_of(self, user_id: UUID) -> set[UUID]:
        index = self.find(UserProjects, UserProjects.create_id(user_id))
        return set() if index is None else set(index.project_ids)

    def tags_of(self, kind: ResourceKind, resource_id: UUID) -> set[UUID]:
        tags = self.find(ResourceTags, tags_id(kind, resource_id))
        return set() if tags is None else set(tags.project_ids)

    def view_project(self, project_id: UUID) -> Project:
        actor, project = self.acting_user(), self.project(project_id)
        resource = ProjectRecord(project.id, project.name, project.is_member(actor.id))
        self.authorise(actor, Action.VIEW_PROJECT, resource)
        self._record_officer_read(actor, "project", str(project.id))
        return project

    def may_view_certifications(self, user_id: UUID) -> User:
        """Go on if the actor may see `user_id`'s certifications (the read side lists
        them); an officer's read is recorded, a refusal too."""
        actor, person = self.acting_user(), self.load(User, user_id)
        self.authorise(actor, Action.VIEW_CERTIFICATIONS, CertificationOf(person.subject(), "*"))
        self._record_officer_read(actor, "certifications", str(person.id))
        return person

    def may_list_certifications(self) -> None:
        """Go on if the actor may see everyone's certifications and compliance state
        (admins, officers: each officer's read recorded)."""
        actor = self.acting_user()
        self.authorise(actor, Action.VIEW_CERTIFICATIONS, ComplianceSetup())
        self._record_officer_read(actor, "certifications", None)

    def may_view_security_levels(self) -> None:
        self.authorise(self.acting_user(), Action.VIEW_SECURITY, ComplianceSetup())

    def visible_project_ids(self, candidates: dict[UUID, set[UUID]]) -> list[UUID]:
        """Of `candidates` (project id -> its member ids, from the read side), the
        projects the actor may see; an officer's read is recorded."""
        actor = self.acting_user()
        subject = actor.subject()
        visible = [
            project_id
            for project_id, members in candidates.items()
            if decide(
                subject, Action.VIEW_PROJECT, ProjectRecord(project_id, "", actor.id in members)
            )
        ]
        if permitted(subject, Permission.AUDIT):
            self.save(DirectoryRead(what="projects", target=None, count=len(visible)))
        return visible

    def _record_officer_read(self, actor: User, what: str, target: str | None) -> None:
        if permitted(actor.subject(), Permission.AUDIT):
            self.save(DirectoryRead(what=what, target=target, count=1))

    # -- security requirements and levels -----------------------------------------------

    def create_requirement(
        self, name: str, description: str = "", lifespan_days: int | None = None
    ) -> UUID:
        name = text.checked("name", name, max_length=COMPLIANCE_NAME_LENGTH)
        description = text.checked(
            "description",
            description,
            max_length=DESCRIPTION_LENGTH,
            required=False,
            multiline=True,
        )
        lifespan = check_lifespan(lifespan_days)
        self.authorise(self.acting_user(), Action.MANAGE_SECURITY, ComplianceSetup())
        self._check_name_free("requirement", name)
        requirement = Requirement(name=name, description=description, lifespan_days=lifespan)
        self.save(requirement, UniqueName("requirement", name, requirement.id))
        return requirement.id

    def change_requirement(
        self,
        requirement_id: UUID,
        *,
        description: str | None = None,
        lifespan_days: int | None | str = "unchanged",
    ) -> None:
        """Change a requirement's description or lifespan. A shorter lifespan applies to
        certifications made from now on; those already made keep their expiry."""
        requirement = self.requirement(requirement_id)
        after = requirement.facts()
        if description is not None:
            after["description"] = text.checked(
                "description",
                description,
                max_length=DESCRIPTION_LENGTH,
                required=False,
                multiline=True,
            )
        if lifespan_days != "unchanged":
            after["lifespan_days"] = check_lifespan(lifespan_days)
        self.authorise(self.acting_user(), Action.MANAGE_SECURITY, ComplianceSetup())
        if after != requirement.facts():
            requirement.change(before=requirement.facts(), after=after)
            self.save(requirement)

    def create_level(
        self, name: str, description: str = "", requirement_ids: Iterable[UUID] = ()
    ) -> UUID:
        name = text.checked("name", name, max_length=COMPLIANCE_NAME_LENGTH)
        description = text.checked(
            "description",
            description,
            max_length=DESCRIPTION_LENGTH,
            required=False,
            multiline=True,
        )
        ids = list(dict.fromkeys(requirement_ids))
        if len(ids) > MAX_REQUIREMENTS_PER_LEVEL:
            raise InvalidInput("requirement_ids", f"at most {MAX_REQUIREMENTS_PER_LEVEL}")
        self.authorise(self.acting_user(), Action.MANAGE_SECURITY, ComplianceSetup())
        for requirement_id in ids:
            self.requirement(requirement_id)
        self._check_name_free("security-level", name)
        level = SecurityLevel(name=name, description=description, requirement_ids=ids)
        self.save(level, UniqueName("security-level", name, level.id))
        return level.id

    def add_level_requirement(self, level_id: UUID, requirement_id: UUID) -> list[UUID]:
        """Add a requirement to a level; members of its projects who lack it lapse
        (recorded with the change). Returns the projects affected."""
        self.authorise(self.acting_user(), Action.MANAGE_SECURITY, ComplianceSetup())
        level, requirement = self.level(level_id), self.requirement(requirement_id)
        if requirement.id in level.requirement_ids:
            return []
        if len(level.requirement_ids) >= MAX_REQUIREMENTS_PER_LEVEL:
            raise InvalidInput(
                "requirement_id", f"a level holds at most {MAX_REQUIREMENTS_PER_LEVEL}"
            )
        affected = self._projects_under_level(level.id)
        level.add_requirement(requirement_id=requirement.id, projects_affected=sorted(affected))
        changed = self._reassess_projects(affected, extra_level=level)
        self.save(level, *changed)
        return sorted(affected)

    def remove_level_requirement(
        self, level_id: UUID, requirement_id: UUID, *, acknowledge: bool = False
    ) -> list[UUID]:
        """Remove a requirement from a level; members who lapsed only for it are restored.

        A level in use never loses a requirement silently: the caller must
        acknowledge the projects it weakens (LevelInUse names them otherwise),
        and the event records them."""
        self.authorise(self.acting_user(), Action.MANAGE_SECURITY, ComplianceSetup())
        level = self.level(level_id)
        if requirement_id not in level.requirement_ids:
            return []
        affected = self._projects_under_level(level.id)
        if affected and not acknowledge:
            names = ", ".join(sorted(self.project(p).name for p in affected))
            raise LevelInUse(
                f"{level.name} is used by {names}: removing a requirement weakens them; "
                "acknowledge to go on"
            )
        level.remove_requirement(requirement_id=requirement_id, projects_affected=sorted(affected))
        changed = self._reassess_projects(affected, extra_level=level)
        self.save(level, *changed)
        return sorted(affected)

    def _check_name_free(self, kind: str, name: str) -> None:
        if self.find(UniqueName, UniqueName.create_id(kind, name)) is not None:
            raise NameTaken(f"a {kind.replace('-', ' ')} named {name!r} exists")

    # -- certifications -----------------------------------------------------------------

    def certify(self, user_id: UUID, requirement_id: UUID, expires_at: datetime | None) -> None:
        """Certify (or re-certify) a person for a requirement, until `expires_at`."""
        now = clock.now()
        actor, person = self.acting_user(), self.load(User, user_id)
        requirement = self.requirement(requirement_id)
        check_expiry(requirement, expires_at, now)
        self.authorise(actor, Action.CERTIFY, CertificationOf(person.subject(), requirement.name))
        held = self.certification(person.id, requirement.id)
        if held is None:
            held = Certification(
                user_id=person.id, requirement_id=requirement.id, expires_at=expires_at
            )
        elif held.valid_at(now) and held.expires_at == expires_at:
            return
        else:
            held.recertify(expires_at=expires_at)
        self.save(held, *self._reassess_person(person.id, now, {requirement.id: held}))

    def decertify(self, user_id: UUID, requirement_id: UUID, reason: str) -> None:
        """Withdraw a certification; the person's projects that need it stop granting."""
        reason = text.checked("reason", reason, max_length=REASON_LENGTH)
        now = clock.now()
        actor, person = self.acting_user(), self.load(User, user_id)
        requirement = self.requirement(requirement_id)
        self.authorise(actor, Action.DECERTIFY, CertificationOf(person.subject(), requirement.name))
        held = self.certification(person.id, requirement.id)
        if held is None or held.revoked_at is not None:
            raise NotCertified(f"{person.email} holds no {requirement.name} certification")
        held.decertify(reason=reason, revoked_at=now)
        self.save(held, *self._reassess_person(person.id, now, {requirement.id: held}))

    def expire(self, certification: UUID) -> bool:
        """Record that a certification's expiry passed (the expiry process, once).

        Whether it is due is decided on the aggregate: re-certified, revoked or
        already recorded means nothing to do. Two processes racing here conflict
        on the aggregate's version, so only one records it.
        """
        now = clock.now()
        held = self.find(Certification, certification)
        if held is None or not held.due_to_expire(now):
            return False
        assert held.expires_at is not None
        held.record_expiry(expired_at=held.expires_at)
        self.save(held, *self._reassess_person(held.user_id, now, {held.requirement_id: held}))
        return True

    # -- projects -----------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        security_level_id: UUID,
        *,
        description: str = "",
        parent_id: UUID | None = None,
        allows_mixing: bool = False,
    ) -> UUID:
        name = text.checked("name", name, max_length=COMPLIANCE_NAME_LENGTH)
        description = text.checked(
            "description",
            description,
            max_length=DESCRIPTION_LENGTH,
            required=False,
            multiline=True,
        )
        actor = self.acting_user()
        self.authorise(actor, Action.CREATE_PROJECT, ProjectRecord(None, name))
        level = self.level(security_level_id)
        if parent_id is not None:
            parent = self.project(parent_id)
            if len(self._chain(parent)) >= MAX_PROJECT_DEPTH:
                raise InvalidInput(
                    "parent_id", f"sub-projects nest at most {MAX_PROJECT_DEPTH} deep"
                )
            if parent.parked:
                raise ProjectParked(f"project {parent.name} is parked")
        self._check_name_free("project", name)
        project = Project(
            name=name,
            description=description,
            security_level_id=level.id,
            parent_id=parent_id,
            allows_mixing=bool(allows_mixing),
        )
        usage = self.find(LevelProjects, LevelProjects.create_id(level.id))
        usage = usage or LevelProjects(level.id)
        usage.assign(project_id=project.id)
        self.save(project, usage, UniqueName("project", name, project.id))
        return project.id

    def add_member(self, project_id: UUID, user_id: UUID, restrictions: Iterable[str] = ()) -> None:
        """Admit a person who holds every requirement of the project's levels, now."""
        wanted = _restrictions(restrictions)
        now = clock.now()
        project, person = self._membership_change(project_id, user_id, Action.ADD_MEMBER)
        if project.is_member(person.id):
            raise AlreadyMember(f"{person.email} is already a member of {project.name}")
        standing = self.standing(person.id, project, now, as_if_member=True)
        if standing.not_member_of is not None:
            self.refuse(
                str(Action.ADD_MEMBER),
                str(person.id),
                f"{person.email} is not a member of {standing.not_member_of}, "
                f"the parent of {project.name}",
            )
        if standing.lapses:
            self.refuse(
                str(Action.ADD_MEMBER),
                str(person.id),
                f"{person.email} cannot join {project.name}: " + "; ".join(standing.lapses),
            )
        project.add_member(user_id=person.id, restrictions=_sorted(wanted))
        index = self._projects_index(person.id)
        index.join(project_id=project.id)
        self.save(project, index)

    def remove_member(self, project_id: UUID, user_id: UUID, reason: str) -> None:
        """End a membership; its history stays (the member's sub-projects grant nothing then)."""
        reason = text.checked("reason", reason, max_length=REASON_LENGTH)
        project, person = self._member(project_id, user_id, Action.REMOVE_MEMBER)
        project.remove_member(user_id=person.id, reason=reason)
        index = self._projects_index(person.id)
        index.leave(project_id=project.id)
        self.save(project, index)

    def set_restrictions(
        self, project_id: UUID, user_id: UUID, restrictions: Iterable[str]
    ) -> None:
        wanted = _restrictions(restrictions)
        project, person = self._member(project_id, user_id, Action.SET_RESTRICTIONS)
        before = project.restrictions_of(person.id)
        if before != wanted:
            project.change_restrictions(
                user_id=person.id, before=_sorted(before), after=_sorted(wanted)
            )
            self.save(project)

    def _membership_change(
        self, project_id: UUID, user_id: UUID, action: Action
    ) -> tuple[Project, User]:
        """Load the project and the person, and authorise `action` on the membership."""
        actor, project, person = (
            self.acting_user(),
            self.project(project_id),
            self.load(User, user_id),
        )
        membership = ProjectMembership(project.id, person.subject(), project.parked)
        self.authorise(actor, action, membership)
        return project, person

    def _member(self, project_id: UUID, user_id: UUID, action: Action) -> tuple[Project, User]:
        """As `_membership_change`, for a person who must already be a member."""
        project, person = self._membership_change(project_id, user_id, action)
        if not project.is_member(person.id):
            raise NotMember(f"{person.email} is not a member of {project.name}")
        return project, person

    def _projects_index(self, user_id: UUID) -> UserProjects:
        found = self.find(UserProjects, UserProjects.create_id(user_id))
        return found or UserProjects(user_id)

    def park(self, project_id: UUID, reason: str) -> None:
        """Park a project: it keeps resources, members and history, and grants nothing."""
        reason = text.checked("reason", reason, max_length=REASON_LENGTH)
        actor, project = self.acting_user(), self.project(project_id)
        self.authorise(actor, Action.PARK_PROJECT, ProjectRecord(project.id, project.name))
        if not project.parked:
            project.park(reason=reason)
            self.save(project)

    def unpark(self, project_id: UUID) -> None:
        """Unpark: the grants come back exactly as they were (membership never changed)."""
        actor, project = self.acting_user(), self.project(project_id)
        self.authorise(actor, Action.UNPARK_PROJECT, ProjectRecord(project.id, project.name))
        if project.parked:
            project.unpark()
            self.save(project)

    # -- standing: the facts the composable decision needs ------------------------------

    def _chain(self, project: Project) -> list[Project]:
        """The project and its parents, nearest first."""
        chain = [project]
        while chain[-1].parent_id is not None and len(chain) <= MAX_PROJECT_DEPTH:
            chain.append(self.project(chain[-1].parent_id))
        return chain

    def _level_facts(self, level: SecurityLevel) -> LevelFacts:
        return LevelFacts(
            level.name,
            [(rid, self.requirement(rid).name) for rid in level.requirement_ids],
        )

    def standing(
        self,
        user_id: UUID,
        project: Project,
        now: datetime,
        *,
        as_if_member: bool = False,
        overrides: dict[UUID, Certification] | None = None,
        level_override: SecurityLevel | None = None,
    ) -> Standing:
        """`user_id`'s standing in `project` at `now`: membership of it and its parents,
        parking, and what their levels need that the person does not hold."""
        chain = self._chain(project)
        reasons: list[str] = []
        for each in chain:
            level = self.level(each.security_level_id)
            if level_override is not None and level_override.id == level.id:
                level = level_override
            facts = self._level_facts(level)
            held: dict[UUID, Certification] = {}
            for rid, _ in facts.requirements:
                cert = (overrides or {}).get(rid) or self.certification(user_id, rid)
                if cert is not None:
                    held[rid] = cert
            reasons.extend(r for r in lapses(facts, held, now) if r not in reasons)
        parked = next((p.name for p in chain if p.parked), None)
        outside = next((p.name for p in chain[1:] if not p.is_member(user_id)), None)
        return Standing(
            project_id=project.id,
            project=project.name,
            member=as_if_member or project.is_member(user_id),
            parked_by=parked,
            not_member_of=outside,
            lapses=tuple(reasons),
            restrictions=project.restrictions_of(user_id),
        )

    def _reassess(
        self,
        project: Project,
        user_id: UUID,
        now: datetime,
        overrides: dict[UUID, Certification] | None = None,
        level_override: SecurityLevel | None = None,
    ) -> bool:
        """Record a member's lapse or restoration in `project`, if it changed."""
        if not project.is_member(user_id):
            return False
        standing = self.standing(
            user_id, project, now, overrides=overrides, level_override=level_override
        )
        recorded = project.lapsed.get(str(user_id))
        if standing.lapses:
            reason = "; ".join(standing.lapses)
            if recorded != reason:
                project.record_lapse(user_id=user_id, reasons=list(standing.lapses))
                return True
        elif recorded is not None:
            project.record_restored(user_id=user_id)
            return True
        return False

    def _reassess_person(
        self, user_id: UUID, now: datetime, overrides: dict[UUID, Certification]
    ) -> list[Project]:
        changed = []
        for project_id in sorted(self.projects_of(user_id)):
            project = self.project(project_id)
            if self._reassess(project, user_id, now, overrides):
                changed.append(project)
        return changed

    def _projects_under_level(self, level_id: UUID) -> set[UUID]:
        """Projects using the level. Their sub-projects answer to it too: their members
        joined through the parent, so `_reassess_projects` reaches them through people.
        One since removed from the parent but kept in the sub-project gets no recorded
        lapse; access refuses them anyway (not a member of the parent)."""
        usage = self.find(LevelProjects, LevelProjects.create_id(level_id))
        return set() if usage is None else set(usage.project_ids)

    def _reassess_projects(
        self, project_ids: Iterable[UUID], extra_level: SecurityLevel
    ) -> list[Project]:
        now = clock.now()
        changed: dict[UUID, Project] = {}
        # A sub-project's members answer to its parents' levels as well: reassess
        # each affected project's members in every project they belong to.
        people: set[UUID] = set()
        for project_id in project_ids:
            people |= {UUID(member) for member in self.project(project_id).members}
        for person in sorted(people):
            for project_id in sorted(self.projects_of(person)):
                project = changed.get(project_id) or self.project(project_id)
                if self._reassess(project, person, now, level_override=extra_level):
                    changed[project.id] = project
        return list(changed.values())

    # -- tags, placement and the composable decision ------------------------------------

    def tag(self, kind: ResourceKind, resource_id: UUID, project_id: UUID) -> None:
        """Tag a resource with a project; refused (and recorded) if it would mix
        the data of projects that forbid it."""
        actor, project = self.acting_user(), self.project(project_id)
        label = f"{kind}:{resource_id}"
        self.authorise(
            actor, Action.TAG, ProjectTag(project.id, label, project.is_member(actor.id))
        )
        tags = self.find(ResourceTags, tags_id(kind, resource_id)) or ResourceTags(
            str(kind), resource_id
        )
        if project.id in tags.project_ids:
            return
        conflict = mixing_conflict(
            self._mixing_facts(tags.project_ids), self._mixing_facts([project.id])
        )
        if conflict is not None:
            self.refuse(str(Action.TAG), label, f"data of projects that may not mix: {conflict}")
        tags.tag(project_id=project.id)
        self.save(tags)

    def untag(self, kind: ResourceKind, resource_id: UUID, project_id: UUID) -> None:
        actor, project = self.acting_user(), self.project(project_id)
        label = f"{kind}:{resource_id}"
        self.authorise(
            actor, Action.UNTAG, ProjectTag(project.id, label, project.is_member(actor.id))
        )
        tags = self.find(ResourceTags, tags_id(kind, resource_id))
        if tags is None or project.id not in tags.project_ids:
            raise Conflict(f"{label} is not tagged with {project.name}")
        tags.untag(project_id=project.id)
        self.save(tags)

    def _mixing_facts(self, project_ids: Iterable[UUID]) -> list[tuple[UUID, str, bool]]:
        facts = []
        for project_id in sorted(project_ids):
            project = self.project(project_id)
            facts.append((project.id, project.name, project.allows_mixing))
        return facts

    def check_placement(
        self,
        kind: ResourceKind,
        resource_id: UUID,
        destination_kind: ResourceKind,
        destination_id: UUID,
    ) -> None:
        """Go on if the resource may be moved or shared into the destination; otherwise
        record the refusal, naming both projects (the vault asks before a move or share)."""
        actor = self.acting_user()
        conflict = mixing_conflict(
            self._mixing_facts(self.tags_of(kind, resource_id)),
            self._mixing_facts(self.tags_of(destination_kind, destination_id)),
        )
        self.authorise(
            actor,
            Action.PLACE_DATA,
            Placement(f"{kind}:{resource_id}", f"{destination_kind}:{destination_id}", conflict),
        )

    def authorise_data(self, kind: ResourceKind, resource_id: UUID, action: Action) -> str:
        """The composable-security decision for the acting user, now: go on (returning
        the reason), or record the refusal and raise Forbidden. The vault asks this
        before it releases a wrapped key; no role bypasses it."""
        if action not in (Action.VIEW_DATA, Action.DOWNLOAD_DATA, Action.RELEASE_KEY):
            raise InvalidInput("action", "one of view, download, release-key")
        now = clock.now()
        actor = self.acting_user()
        standings = tuple(
            self.standing(actor.id, self.project(project_id), now)
            for project_id in sorted(self.tags_of(kind, resource_id))
        )
        resource = TaggedData(f"{kind}:{resource_id}", standings)
        decision = decide(actor.subject(), action, resource)
        if not decision:
            self.refuse(str(action), resource.describe(), decision.reason)
        return decision.reason
