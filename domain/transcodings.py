"""How aggregate state that JSON cannot hold is stored in snapshots (and events)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eventsourcing.persistence import Transcoding

from domain.access import Permission, Role
from domain.teams import Quota


class SetAsList(Transcoding):
    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return list(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class FrozensetAsList(Transcoding):
    type = frozenset
    name = "frozenset"

    def encode(self, obj: frozenset[Any]) -> list[Any]:
        return list(obj)

    def decode(self, data: list[Any]) -> frozenset[Any]:
        return frozenset(data)


class RoleAsValue(Transcoding):
    type = Role
    name = "role"

    def encode(self, obj: Role) -> str:
        return str(obj.value)

    def decode(self, data: str) -> Role:
        return Role(data)


class PermissionAsValue(Transcoding):
    type = Permission
    name = "permission"

    def encode(self, obj: Permission) -> str:
        return str(obj.value)

    def decode(self, data: str) -> Permission:
        return Permission(data)


class QuotaAsDict(Transcoding):
    type = Quota
    name = "quota"

    def encode(self, obj: Quota) -> dict[str, int]:
        return obj.as_dict()

    def decode(self, data: dict[str, int]) -> Quota:
        return Quota(**data)


class TimedeltaAsSeconds(Transcoding):
    type = timedelta
    name = "timedelta"

    def encode(self, obj: timedelta) -> float:
        return obj.total_seconds()

    def decode(self, data: float) -> timedelta:
        return timedelta(seconds=data)


ALL = [
    SetAsList(),
    FrozensetAsList(),
    RoleAsValue(),
    PermissionAsValue(),
    QuotaAsDict(),
    TimedeltaAsSeconds(),
]
