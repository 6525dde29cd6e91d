"""Copies of the history taken out of the store: each one recorded.

Exporting the whole history is the largest read there is; an auditor must be
able to ask who took a copy, of which positions, to where, and when.
"""

from __future__ import annotations

from enum import StrEnum

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate
from domain.audit_access import AuditTrail
from domain.capability import Capability
from domain.users import User


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


class ExportAction(StrEnum):
    READ_EXPORT = "read-export"


class ExportRead(AuditedAggregate):
    """One read of the server's forensic export over the API: the manifest, or one file."""

    @event("Recorded")
    def __init__(self, path: str, position: int, size: int) -> None:
        self.path = path
        self.position = position
        self.size = size


class ExportReads(Capability):
    """Officers (and their `export` tokens) copy the export; each read is recorded first."""

    def officer(self) -> User:
        actor = self.acting_user()
        self.authorise(actor, ExportAction.READ_EXPORT, AuditTrail())
        return actor

    def record_read(self, path: str, position: int, size: int) -> None:
        self.officer()
        self.save(ExportRead(path=path, position=position, size=size))
