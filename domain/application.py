"""The Strongroom application: one event store, one notification log, every aggregate.

Every capability's use cases (`domain.identity.Identity`, `domain.logins.Logins`,
`domain.alerts.Alerts`, …) run over this one application, so the notification
position is the single audit timeline. The application itself only knows how
things are stored: snapshots, transcodings, and `record`, which saves outcomes
together with a process's tracking position.
"""

from __future__ import annotations

from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import ProcessRecorder, Tracking, Transcoder
from eventsourcing.utils import EnvType

from domain.aggregate import AuditedAggregate
from domain.transcodings import DomainTranscoder

DEFAULT_SNAPSHOT_INTERVAL = 100


class SignatureVerifier(Protocol):
    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        """Whether `signature` over `message` was made by the Ed25519 `public_key`."""
        ...


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


class Strongroom(Application[UUID]):
    name = "strongroom"
    is_snapshotting_enabled = True
    signatures: SignatureVerifier  # a port, plugged in by bootstrap

    def __init__(self, env: EnvType | None = None, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        interval = int(self.env.get("SNAPSHOT_INTERVAL") or DEFAULT_SNAPSHOT_INTERVAL)
        if interval < 1:
            raise ValueError("SNAPSHOT_INTERVAL must be at least 1")
        # Snapshots every `interval` events keep loading time flat in history length.
        # Per instance, as the interval is configuration (the library reads it via self).
        self.snapshotting_intervals = _IntervalsByBaseClass({AuditedAggregate: interval})  # type: ignore[misc]

    def construct_transcoder(self) -> Transcoder:
        transcoder = DomainTranscoder()
        self.register_transcodings(transcoder)  # the library's own: UUID, datetime, Decimal
        return transcoder

    def record(self, tracking: Tracking, *objs: Any) -> None:
        """Save `objs` and a process's tracking position in one transaction.

        The recorder refuses a position that is not past the one recorded, so
        a process that repeats a page after a crash cannot record its outcomes twice
        (the library's `IntegrityError`).
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent(tracking)
        processing.collect_events(*objs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)

    def recorded_upto(self, process: str) -> int:
        """The last position a process recorded outcomes for (0 if none)."""
        # The chained recorders are process recorders (adapters.ledger).
        return cast(ProcessRecorder, self.recorder).max_tracking_id(process) or 0
