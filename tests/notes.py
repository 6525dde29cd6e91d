"""A tiny aggregate for exercising the store: notes that can be written to."""

from __future__ import annotations

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate


class Note(AuditedAggregate):
    @event("Started")
    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []

    @event("Written")
    def write(self, line: str) -> None:
        self.lines.append(line)
