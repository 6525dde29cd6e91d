"""Refused attempts: each is its own small aggregate, so no single one grows with them."""

from __future__ import annotations

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate


class DeniedAttempt(AuditedAggregate):
    @event("Recorded")
    def __init__(self, action: str, target: str | None, reason: str) -> None:
        self.action = action
        self.target = target
        self.reason = reason
