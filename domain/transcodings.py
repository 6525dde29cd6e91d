"""How aggregate state that JSON cannot hold is stored in snapshots (and events).

The named transcodings below are fixed: snapshots already stored use their names.
Anything else a capability keeps in its state — an enum, a frozen dataclass
defined in `domain` — is stored generically by its topic, so a new capability
registers nothing here.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.utils import get_topic, resolve_topic

from domain.access import Permission, Role
from domain.teams import Quota

_OURS = "domain."


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


NAMED = [
    SetAsList(),
    FrozensetAsList(),
    RoleAsValue(),
    PermissionAsValue(),
    QuotaAsDict(),
    TimedeltaAsSeconds(),
]


class DomainTranscoder(JSONTranscoder):
    """The library's JSON transcoder, plus domain enums and records stored by topic."""

    def __init__(self) -> None:
        super().__init__()
        for transcoding in NAMED:
            self.register(transcoding)

    def _encode_obj(self, o: Any) -> dict[str, Any]:
        kind = type(o)
        if kind not in self.types and kind.__module__.startswith(_OURS):
            if isinstance(o, Enum):
                return {"_type_": "enum", "_data_": [get_topic(kind), o.value]}
            if is_dataclass(o):
                values = {f.name: getattr(o, f.name) for f in fields(o)}
                return {"_type_": "record", "_data_": [get_topic(kind), values]}
        return super()._encode_obj(o)

    def _decode_obj(self, d: dict[str, Any]) -> Any:
        if len(d) == 2 and d.get("_type_") in ("enum", "record") and "_data_" in d:
            topic, data = d["_data_"]
            if not str(topic).startswith(_OURS):
                raise ValueError(f"refusing to decode a type outside the domain: {topic!r}")
            kind = resolve_topic(topic)
            return kind(data) if d["_type_"] == "enum" else kind(**data)
        return super()._decode_obj(d)
