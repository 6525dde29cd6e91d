"""The Strongroom application: one event store, one notification log, every aggregate.

All aggregates record into this one application so the notification position
is the single audit timeline.  Each command loads, acts and saves everything
that changes together in one `save()` call.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import EnvType

from domain import transcodings
from domain.aggregate import AuditedAggregate
from domain.alerts import AlertCommands
from domain.identity import IdentityCommands
from domain.installation import INSTALLATION_ID, AlreadyInitialised, Installation

DEFAULT_SNAPSHOT_INTERVAL = 100


class _IntervalsByBaseClass(dict[type, int]):
    """Snapshot intervals looked up along the class hierarchy.

    The library looks intervals up by the aggregate's exact type; one entry for
    `AuditedAggregate` should cover every aggregate, including those added later.
    """

    def get(self, key: type, default: int | None = None) -> int | None:  # type: ignore[override]
        for klass in key.__mro__:
            if dict.__contains__(self, klass):
                return self[klass]
        return default


class Strongroom(IdentityCommands, AlertCommands, Application):
    name = "strongroom"
    is_snapshotting_enabled = True

    def __init__(self, env: EnvType | None = None, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        interval = int(self.env.get("SNAPSHOT_INTERVAL") or DEFAULT_SNAPSHOT_INTERVAL)
        if interval < 1:
            raise ValueError("SNAPSHOT_INTERVAL must be at least 1")
        # Snapshots every `interval` events keep loading time flat in history length.
        # Per instance, as the interval is configuration (the library reads it via self).
        self.snapshotting_intervals = _IntervalsByBaseClass({AuditedAggregate: interval})  # type: ignore[misc]

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in transcodings.ALL:
            transcoder.register(transcoding)

    def initialise(self, *, audit_key_id: str, audit_public_key: str, store_kind: str) -> None:
        """Record that this store was initialised, and with which audit key."""
        if self.is_initialised():
            raise AlreadyInitialised("this store is already initialised")
        self.save(
            Installation(
                audit_key_id=audit_key_id,
                audit_public_key=audit_public_key,
                store_kind=store_kind,
            )
        )

    def is_initialised(self) -> bool:
        try:
            self.repository.get(INSTALLATION_ID)
        except AggregateNotFoundError:
            return False
        return True

    def installation(self) -> Installation:
        return self.repository.get(INSTALLATION_ID)  # type: ignore[no-any-return]
