"""User profiles: named permission templates such as "Granite User"."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.access import Permission
from domain.aggregate import AuditedAggregate
from domain.errors import Conflict, NotFound


class ProfileNotFound(NotFound):
    """No profile with that name."""


class ProfileExists(Conflict):
    """A profile with that name already exists."""


def profile_id(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"strongroom:profile:{name.strip().lower()}")


class Profile(AuditedAggregate):
    missing = ProfileNotFound

    @staticmethod
    def create_id(name: str) -> UUID:  # type: ignore[override]
        return profile_id(name)

    @event("Created")
    def __init__(self, name: str, permissions: list[str]) -> None:
        self.name = name
        self.permissions = frozenset(Permission(p) for p in permissions)
