"""Reads of the directory by compliance officers: each one recorded.

Officers (the audit capability) may read people, teams, profiles and sessions
to follow up on what the alerts tell them. Such reads are part of the record
too, so who looked at whom is itself auditable.
"""

from __future__ import annotations

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate


class DirectoryRead(AuditedAggregate):
    """One read: `what` was read (user, users, team, teams, sessions), about `target`."""

    @event("Recorded")
    def __init__(self, what: str, target: str | None, count: int) -> None:
        self.what = what
        self.target = target
        self.count = count
