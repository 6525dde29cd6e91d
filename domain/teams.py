"""Teams: the unit of administration and visibility, with a resource quota."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate
from domain.errors import Conflict, InvalidInput, NotFound


class TeamNotFound(NotFound):
    """No team with that id."""


class TeamNameTaken(Conflict):
    """Another team already has that name."""


@dataclass(frozen=True)
class Quota:
    storage_bytes: int
    vm_count: int
    cpu_cores: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def check(self) -> None:
        """Refuse a quota outside its documented range, before anything is recorded."""
        for name, high in QUOTA_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise InvalidInput(name, f"a whole number from 0 to {high} is expected")


# The documented ranges: 8 PiB (2^53, exact in every JSON reader), 10,000 VMs, 100,000 cores.
QUOTA_LIMITS = {"storage_bytes": 2**53, "vm_count": 10_000, "cpu_cores": 100_000}


# What every new team gets; only a super-admin raises it.
DEFAULT_QUOTA = Quota(storage_bytes=100 * 2**30, vm_count=2, cpu_cores=8)


class Team(AuditedAggregate):
    missing = TeamNotFound

    @event("Created")
    def __init__(self, *, name: str, quota: dict[str, int]) -> None:
        self.name = name
        self.quota = Quota(**quota)
        self.members: set[UUID] = set()
        self.sub_admins: set[UUID] = set()

    @event("MemberAdded")
    def add_member(self, user_id: UUID) -> None:
        self.members.add(user_id)

    @event("MemberRemoved")
    def remove_member(self, user_id: UUID) -> None:
        self.members.discard(user_id)

    @event("SubAdminAssigned")
    def assign_sub_admin(self, user_id: UUID) -> None:
        self.sub_admins.add(user_id)

    @event("QuotaChanged")
    def change_quota(self, before: dict[str, int], after: dict[str, int]) -> None:
        self.quota = Quota(**after)


class TeamName(AuditedAggregate):
    """Makes team names unique."""

    @staticmethod
    def create_id(name: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:team:{name.strip().lower()}")

    @event("Claimed")
    def __init__(self, name: str, team_id: UUID) -> None:
        self.name = name
        self.team_id = team_id
