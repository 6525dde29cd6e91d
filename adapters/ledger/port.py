"""The typed port to the audit ledger, as the rest of the system uses it.

Both chained recorders (SQLite, Postgres) are `ChainedRecorder`s; `Ledger` wraps
the application's recorder and offers what callers need: seal the head now,
hear about commits (this process's, and other processes' where the store can
tell), and the head position.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pyarrow as pa
from eventsourcing.persistence import ApplicationRecorder

from adapters.ledger.checkpoints import Checkpoint, stored_checkpoint
from adapters.ledger.schema import CHECKPOINTS, LedgerTables
from adapters.ledger.writer import LedgerWriter

# Stored events with their links, as columns; the id as the store spells it as text
# (32 hex digits, or a UUID's text), the state as the UTF-8 text it is.
CHAINED_TABLE = pa.schema(
    [
        ("position", pa.int64()),
        ("originator_id", pa.string()),
        ("originator_version", pa.int64()),
        ("topic", pa.string()),
        ("state", pa.string()),
        ("prev_position", pa.int64()),
        ("hash", pa.binary()),
    ]
)


@dataclass(frozen=True)
class ChainedEvent:
    """One stored event as recorded, with its chain link: what an export copies."""

    position: int
    prev_position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    chain_hash: bytes


class ChainedRecorder(ABC):
    """What the chained recorders add to the library's recorders."""

    ledger: LedgerWriter
    tables: LedgerTables
    datastore: Any  # the library's datastore: `transaction(commit=...)` yields a cursor

    @abstractmethod
    def seal(self) -> Checkpoint | None:
        """Sign the current head now; None when it is already signed."""

    def listen(self, callback: Callable[[], None], stop: threading.Event) -> bool:
        """Call `callback` when any process commits events; False if the store cannot tell."""
        return False

    def read_chained_rows(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        """As `read_chained`, as plain tuples in its field order: for loops over the whole log.

        The aggregate id as text, as the store spells it: 32 hex digits (SQLite) or a UUID's.
        """
        with self.datastore.transaction(commit=False) as cursor:
            self._plain_rows(cursor)
            cursor.execute(self.tables.select_chained_events(), (after, upto, after, upto))
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    @abstractmethod
    def _plain_rows(self, cursor: Any) -> None:
        """Have this cursor return plain tuples (each store's library says it its own way)."""

    def read_chained_table(self, after: int, upto: int) -> pa.Table:
        """As `read_chained_rows`, as columns (CHAINED_TABLE): what a bulk reader wants."""
        rows = self.read_chained_rows(after, upto)
        if not rows:
            return CHAINED_TABLE.empty_table()
        position, originator, version, topic, state, prev_position, chain_hash = zip(
            *rows, strict=True
        )
        return pa.table(
            [
                pa.array(position, pa.int64()),
                pa.array(originator, pa.string()),
                pa.array(version, pa.int64()),
                pa.array(topic, pa.string()),
                # The application's transcoder writes UTF-8 JSON; anything else fails here.
                pa.array(state, pa.binary()).cast(pa.string()),
                pa.array(prev_position, pa.int64()),
                pa.array(chain_hash, pa.binary()),
            ],
            schema=CHAINED_TABLE,
        )

    def read_chained(self, after: int, upto: int) -> list[ChainedEvent]:
        """The events in positions (after, upto] with their links, in order."""
        return [
            ChainedEvent(
                position=position,
                prev_position=prev_position,
                originator_id=_uuid(originator_id),
                originator_version=version,
                topic=topic,
                state=bytes(state),
                chain_hash=bytes(chain_hash),
            )
            for position, originator_id, version, topic, state, prev_position, chain_hash in (
                self.read_chained_rows(after, upto)
            )
        ]

    def read_checkpoints(self, after_seq: int = 0) -> list[Checkpoint]:
        """The signed checkpoints after a sequence number, in order."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.tables.select_checkpoints(), (after_seq,))
            rows = cursor.fetchall()
        return [stored_checkpoint(*(row[c.name] for c in CHECKPOINTS.columns)) for row in rows]


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(hex=str(value))


class Ledger:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        if not isinstance(recorder, ChainedRecorder):
            raise TypeError(
                f"{type(recorder).__name__} is not a chained recorder: "
                "events would be written around the hash chain"
            )
        self._recorder = recorder
        self._chained: ChainedRecorder = recorder

    def seal(self) -> Checkpoint | None:
        return self._chained.seal()

    def head(self) -> int:
        """The newest position in the log (0 when empty)."""
        return self._recorder.max_notification_id() or 0

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every commit of new events in this process."""
        self._chained.ledger.listeners.append(callback)

    def listen(self, callback: Callable[[], None], stop: threading.Event) -> bool:
        """Call `callback` on commits by any process (Postgres NOTIFY); False on SQLite."""
        return self._chained.listen(callback, stop)

    def read_chained(self, after: int, upto: int) -> list[ChainedEvent]:
        """The events in positions (after, upto] as stored, each with its chain link."""
        return self._chained.read_chained(after, upto)

    def read_chained_rows(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        """As `read_chained`, as tuples (position, originator_id, version, topic, state,
        prev_position, hash), the id as the store keeps it."""
        return self._chained.read_chained_rows(after, upto)

    def read_chained_table(self, after: int, upto: int) -> pa.Table:
        """As `read_chained`, as Arrow columns (`CHAINED_TABLE`): for reading the whole log."""
        return self._chained.read_chained_table(after, upto)

    def read_checkpoints(self, after_seq: int = 0) -> list[Checkpoint]:
        """The signed checkpoints after `after_seq`, in order."""
        return self._chained.read_checkpoints(after_seq)
