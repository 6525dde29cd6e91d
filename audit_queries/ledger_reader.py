"""Read-only access to the raw ledger tables of either store, for verification.

The verifier must see what is really stored, so this bypasses the library and
the application: it reads rows, in position order, in pages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import psycopg

from adapters.ledger.checkpoints import Checkpoint
from adapters.ledger.writer import CHECKPOINT_COLUMNS, chain_table, checkpoint_table
from adapters.settings import PostgresStore, Settings, SqliteStore

PAGE = 20_000

EventRow = tuple[int, bytes, int, str, bytes]  # position, originator, version, topic, state
LinkRow = tuple[int, int, bytes, bytes]  # position, prev_position, digest, hash


class LedgerReader(Protocol):
    def events(self, upto: int) -> Iterator[EventRow]: ...
    def links(self, upto: int) -> Iterator[LinkRow]: ...
    def checkpoints(self) -> list[Checkpoint]: ...
    def position_of_digest(self, digest: bytes) -> int | None: ...
    def bound(self) -> int:
        """The highest position in either table: the walk stops there.

        New events keep arriving while a live store is verified; bounding both
        streams at one position read up front keeps them consistent."""
        ...

    def close(self) -> None: ...


class SqliteLedgerReader:
    def __init__(self, path: str, events_table: str = "stored_events") -> None:
        if not Path(path).exists():
            raise sqlite3.OperationalError(f"no store at {path}: run `strongroom init` first")
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self._events = events_table
        self._chain = chain_table(events_table)
        self._checkpoints = checkpoint_table(events_table)

    def events(self, upto: int) -> Iterator[EventRow]:
        query = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {self._events} "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        after = 0
        while rows := self._db.execute(query, (after, upto, PAGE)).fetchall():
            for position, originator, version, topic, state in rows:
                yield position, bytes.fromhex(originator), version, topic, state
            after = rows[-1][0]

    def links(self, upto: int) -> Iterator[LinkRow]:
        query = (
            f"SELECT position, prev_position, digest, hash FROM {self._chain} "
            "WHERE position > ? AND position <= ? ORDER BY position LIMIT ?"
        )
        after = 0
        while rows := self._db.execute(query, (after, upto, PAGE)).fetchall():
            yield from rows
            after = rows[-1][0]

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._db.execute(
            f"SELECT {CHECKPOINT_COLUMNS} FROM {self._checkpoints} ORDER BY seq"
        ).fetchall()
        return [Checkpoint(*row) for row in rows]

    def position_of_digest(self, digest: bytes) -> int | None:
        row = self._db.execute(
            f"SELECT position FROM {self._chain} WHERE digest = ? LIMIT 1", (digest,)
        ).fetchone()
        return None if row is None else int(row[0])

    def bound(self) -> int:
        row = self._db.execute(
            f"SELECT MAX(p) FROM (SELECT MAX(rowid) AS p FROM {self._events} "
            f"UNION ALL SELECT MAX(position) FROM {self._chain})"
        ).fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        self._db.close()


class PostgresLedgerReader:
    def __init__(self, store: PostgresStore, events_table: str) -> None:
        self._db = psycopg.connect(**store.conninfo(), autocommit=True)  # type: ignore[arg-type]
        schema = psycopg.sql.Identifier(store.schema).as_string()
        self._events = f"{schema}.{psycopg.sql.Identifier(events_table).as_string()}"
        self._chain = f"{schema}.{psycopg.sql.Identifier(chain_table(events_table)).as_string()}"
        self._checkpoints = (
            f"{schema}.{psycopg.sql.Identifier(checkpoint_table(events_table)).as_string()}"
        )

    def _pages(self, query: str, upto: int) -> Iterator[tuple]:  # type: ignore[type-arg]
        after = 0
        with self._db.cursor(binary=True) as cursor:
            while rows := cursor.execute(query, (after, upto, PAGE)).fetchall():
                yield from rows
                after = rows[-1][0]

    def events(self, upto: int) -> Iterator[EventRow]:
        # uuid_send gives the 16 raw bytes, cheaper than building UUID objects.
        yield from self._pages(
            "SELECT notification_id, uuid_send(originator_id), originator_version, topic, state "
            f"FROM {self._events} WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s",
            upto,
        )

    def links(self, upto: int) -> Iterator[LinkRow]:
        yield from self._pages(
            f"SELECT position, prev_position, digest, hash FROM {self._chain} "
            "WHERE position > %s AND position <= %s ORDER BY position LIMIT %s",
            upto,
        )

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._db.execute(
            f"SELECT {CHECKPOINT_COLUMNS} FROM {self._checkpoints} ORDER BY seq"
        ).fetchall()
        return [Checkpoint(*row) for row in rows]

    def position_of_digest(self, digest: bytes) -> int | None:
        row = self._db.execute(
            f"SELECT position FROM {self._chain} WHERE digest = %s LIMIT 1", (digest,)
        ).fetchone()
        return None if row is None else int(row[0])

    def bound(self) -> int:
        row = self._db.execute(
            f"SELECT GREATEST((SELECT MAX(notification_id) FROM {self._events}), "
            f"(SELECT MAX(position) FROM {self._chain}))"
        ).fetchone()
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        self._db.close()


def open_reader(settings: Settings, app_name: str = "strongroom") -> LedgerReader:
    """A reader for the store the settings name (the library's table names for each)."""
    store = settings.store
    if isinstance(store, SqliteStore):
        return SqliteLedgerReader(store.path)
    return PostgresLedgerReader(store, f"{app_name}_events")
