"""The base of every Strongroom aggregate: events carry the audit envelope.

Following the library's context-variable pattern, the envelope fields are
filled when an event is *created* (from the request's `AuditContext`) and are
stored with it; on replay the stored values come back untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from datetime import datetime
from typing import ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as LibrarySnapshot

from domain import clock, envelope
from domain.errors import NotFound


def _required(name: str) -> Callable[[], str]:
    def read() -> str:
        return str(getattr(envelope.current(), name))

    return read


def _optional(name: str) -> Callable[[], str | None]:
    def read() -> str | None:
        value = getattr(envelope.current(), name)
        return None if value is None else str(value)

    return read


class AuditedAggregate(Aggregate):
    # What loading a missing one raises; each aggregate names its own NotFound.
    missing: ClassVar[type[NotFound]] = NotFound

    class Event(Aggregate.Event):
        actor_id: str = field(default_factory=_required("actor_id"), init=False)
        actor_role: str = field(default_factory=_required("actor_role"), init=False)
        session_id: str | None = field(default_factory=_optional("session_id"), init=False)
        request_id: str = field(default_factory=_required("request_id"), init=False)
        client_ip: str | None = field(default_factory=_optional("client_ip"), init=False)
        proxy_ip: str | None = field(default_factory=_optional("proxy_ip"), init=False)

        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    class Created(Event, Aggregate.Created):
        pass

    # Events recorded before a field of the envelope existed are decoded without
    # it; reading it then gives the class default instead of an AttributeError.
    Event.proxy_ip = None  # type: ignore[misc]

    class Snapshot(LibrarySnapshot):
        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()
