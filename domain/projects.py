"""Projects, their members and restrictions, parking, and the project tags on resources.

A project has one security level; a sub-project ("DUA" under "DAC") names its
parent and may be joined only by the parent's members. A member may be
restricted (*cannot view*, *cannot download*). A project is never deleted: it
is parked (it keeps its resources and history and grants nothing) and can be
unparked, which restores exactly the grants it had. Whether a member is
compliant is decided on the clock at the moment of access; the compliance
process records when a member lapsed and was restored (`MemberLapsed`,
`MemberRestored`), so the history says when the project stopped granting and why.

A resource (a file, folder or group from the vault; a VM) carries project tags
in a `ResourceTags` aggregate whose id is derived from the resource's kind and
id, so tags exist before, and independently of, the capability that owns the
resource.
"""

from __future__ import annotations

from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate
from domain.errors import Conflict, NotFound


class ProjectNotFound(NotFound):
    """No project with that id."""


class ProjectParked(Conflict):
    """The project is parked: it grants nothing and admits no one until unparked."""


class Restriction(Enum):
    """What a member of a project may not do with the project's data."""

    CANNOT_VIEW = "cannot-view"
    CANNOT_DOWNLOAD = "cannot-download"

    def __str__(self) -> str:
        return str(self.value)


class ResourceKind(Enum):
    """What can carry project tags: the vault's files, folders and groups, and VMs."""

    FILE = "file"
    FOLDER = "folder"
    GROUP = "group"
    VM = "vm"

    def __str__(self) -> str:
        return str(self.value)


class Project(AuditedAggregate):
    missing = ProjectNotFound

    @event("Created")
    def __init__(
        self,
        *,
        name: str,
        description: str,
        security_level_id: UUID,
        parent_id: UUID | None,
        allows_mixing: bool,
    ) -> None:
        self.name = name
        self.description = description
        self.security_level_id = security_level_id
        self.parent_id = parent_id
        # False: data tagged with this project is never placed with another project's.
        self.allows_mixing = allows_mixing
        # Keyed by the user id as text: snapshots are JSON, whose keys are strings.
        self.members: dict[str, frozenset[Restriction]] = {}
        self.parked = False
        # Members the compliance process last recorded as lapsed, with the reason.
        self.lapsed: dict[str, str] = {}

    @event("MemberAdded")
    def add_member(self, user_id: UUID, restrictions: list[str]) -> None:
        self.members[str(user_id)] = frozenset(Restriction(r) for r in restrictions)

    @event("MemberRemoved")
    def remove_member(self, user_id: UUID, reason: str) -> None:
        del self.members[str(user_id)]
        self.lapsed.pop(str(user_id), None)

    @event("RestrictionsChanged")
    def change_restrictions(self, user_id: UUID, before: list[str], after: list[str]) -> None:
        self.members[str(user_id)] = frozenset(Restriction(r) for r in after)

    @event("Parked")
    def park(self, reason: str) -> None:
        self.parked = True

    @event("Unparked")
    def unpark(self) -> None:
        self.parked = False

    @event("MemberLapsed")
    def record_lapse(self, user_id: UUID, reasons: list[str]) -> None:
        self.lapsed[str(user_id)] = "; ".join(reasons)

    @event("MemberRestored")
    def record_restored(self, user_id: UUID) -> None:
        self.lapsed.pop(str(user_id), None)

    def is_member(self, user_id: UUID) -> bool:
        return str(user_id) in self.members

    def restrictions_of(self, user_id: UUID) -> frozenset[Restriction]:
        return self.members.get(str(user_id), frozenset())


def tags_id(kind: ResourceKind, resource_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"strongroom:tags:{kind.value}:{resource_id}")


class ResourceTags(AuditedAggregate):
    """The projects a resource is tagged with."""

    @staticmethod
    def create_id(kind: str, resource_id: UUID) -> UUID:  # type: ignore[override]
        return tags_id(ResourceKind(kind), resource_id)

    @event("Opened")
    def __init__(self, kind: str, resource_id: UUID) -> None:
        self.kind = ResourceKind(kind)
        self.resource_id = resource_id
        self.project_ids: set[UUID] = set()

    # Each tag event names the resource as well: read alone, it says what was tagged.
    def tag(self, project_id: UUID) -> None:
        self._tagged(kind=str(self.kind), resource_id=self.resource_id, project_id=project_id)

    def untag(self, project_id: UUID) -> None:
        self._untagged(kind=str(self.kind), resource_id=self.resource_id, project_id=project_id)

    @event("Tagged")
    def _tagged(self, kind: str, resource_id: UUID, project_id: UUID) -> None:
        self.project_ids.add(project_id)

    @event("Untagged")
    def _untagged(self, kind: str, resource_id: UUID, project_id: UUID) -> None:
        self.project_ids.discard(project_id)
