"""A process for tests: publishes notes to a directory, once each, whatever crashes.

The directory is the outside world (a real one): `Outbox.publish` is the side
effect, keyed by an idempotency key, and it journals every write it really does
so a test can count them. `Publisher` follows the log: a note line `publish:…`
is the request; a `Publication` aggregate, recorded with the process's tracking
position, is the outcome.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event
from sqlalchemy.engine import Connection

from domain.aggregate import AuditedAggregate
from domain.envelope import AuditContext, acting_as
from projections.identity import topics
from projections.runner import Process
from tests.notes import Note

CRASH_AFTER_SIDE_EFFECT = "TEST_PUBLISHER_CRASH_AFTER_SIDE_EFFECT"


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.journal = directory / "journal"
        directory.mkdir(parents=True, exist_ok=True)

    def published(self, key: str) -> bool:
        """The real state, read before acting."""
        return (self.directory / key).exists()

    def publish(self, key: str, text: str) -> None:
        with self.journal.open("a") as journal:
            journal.write(key + "\n")
        (self.directory / key).write_text(text)

    def writes(self) -> list[str]:
        return self.journal.read_text().split() if self.journal.exists() else []


class Publication(AuditedAggregate):
    @staticmethod
    def create_id(key: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:test-publication:{key}")

    @event("Done")
    def __init__(self, key: str, text: str) -> None:
        self.key = key
        self.text = text


class Publisher(Process):
    name = "publisher"
    tables = ()
    topics = topics(Note, "Written")

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self.outbox = outbox

    def handle(self, conn: Connection, event: Any, position: int, *, recorded: bool) -> None:
        if recorded or not event.line.startswith("publish:"):
            return
        key = f"{event.originator_id}-{event.originator_version}"
        if not self.outbox.published(key):
            self.outbox.publish(key, event.line)
            if os.environ.get(CRASH_AFTER_SIDE_EFFECT):
                os._exit(17)  # dies after acting, before the outcome is recorded
        with acting_as(AuditContext.system("publisher")):
            self.outcome(Publication(key, event.line))
