"""Time travel by compliance officers: each look at the past is itself recorded.

An officer may ask what any aggregate, or the organisation as a whole, looked
like as of a position in the log or a moment (`audit_queries/time_travel.py`
computes it). Who looked at what, as of when, is part of the record too, so a
`HistoryRead` is saved before the answer is served; a refusal is recorded by
`authorise` as for every other action.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate
from domain.audit_access import AuditTrail
from domain.capability import Capability
from domain.errors import InvalidInput
from domain.users import User


class HistoryAction(StrEnum):
    READ_STATE_AS_OF = "read-state-as-of"
    READ_ORGANISATION_AS_OF = "read-organisation-as-of"


# What an officer looked at.
AGGREGATE = "aggregate"
ORGANISATION = "organisation"
WHAT = frozenset({AGGREGATE, ORGANISATION})
# `as_of` as recorded: a position in plain digits, or an ISO 8601 time (normalised).
AS_OF_LENGTH = 64


class HistoryRead(AuditedAggregate):
    """One look at the past: `what` (aggregate or organisation), which one, as of when.

    `as_of` is what was asked (a position, or a time), `position` the log
    position it came to; `shown_version` is the aggregate's version shown (None:
    it did not exist then; always None for the organisation).
    """

    @event("Recorded")
    def __init__(
        self, what: str, target: str | None, as_of: str, position: int, shown_version: int | None
    ) -> None:
        self.what = what
        self.target = target
        self.as_of = as_of
        self.position = position
        self.shown_version = shown_version


class History(Capability):
    """Officers look at the past; each look is recorded."""

    def officer(self, action: HistoryAction) -> User:
        """The acting user, if they hold the audit capability; a refusal is recorded."""
        actor = self.acting_user()
        self.authorise(actor, action, AuditTrail())
        return actor

    def record_read(
        self,
        *,
        what: str,
        target: UUID | None,
        as_of: str,
        position: int,
        version: int | None = None,
    ) -> None:
        """Record one look at the past, before its answer is served."""
        # Bounds first: an event is forever. The route has parsed `as_of` already.
        if what not in WHAT:
            raise InvalidInput("what", f"one of {', '.join(sorted(WHAT))}")
        if not 0 < len(as_of) <= AS_OF_LENGTH:
            raise InvalidInput("as_of", f"1 to {AS_OF_LENGTH} characters")
        if isinstance(position, bool) or position < 0:
            raise InvalidInput("position", "a position in the log, 0 or more")
        if version is not None and version < 1:
            raise InvalidInput("version", "a version, 1 or more")
        self.save(
            HistoryRead(
                what=what,
                target=None if target is None else str(target),
                as_of=as_of,
                position=position,
                shown_version=version,
            )
        )
