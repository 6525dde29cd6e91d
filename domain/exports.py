"""Copies of the history taken out of the store: each one recorded.

Exporting the whole history is the largest read there is; an auditor must be
able to ask who took a copy, of which positions, to where, and when.
"""

from __future__ import annotations

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate


class ForensicExport(AuditedAggregate):
    """One export run that wrote something: positions (from_position, to_position]."""

    @event("Written")
    def __init__(
        self, destination: str, format: str, from_position: int, to_position: int, events: int
    ) -> None:
        self.destination = destination
        self.format = format
        self.from_position = from_position
        self.to_position = to_position
        self.events = events
