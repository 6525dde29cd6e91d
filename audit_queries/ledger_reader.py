"""Read-only access to the raw ledger tables of either store, for verification.

The verifier must see what is really stored, so this bypasses the library and
the application: it reads rows, in position order, in pages.  A reader sees one
snapshot of the store from opening to closing (a read transaction on SQLite's
WAL, a REPEATABLE READ transaction on Postgres), so a store that keeps writing
while it is verified never looks inconsistent.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import psycopg

from adapters.ledger.chain import EVENT_TAG
from adapters.ledger.chain import VERSION_AND_TOPIC_LENGTH as VT
from adapters.ledger.checkpoints import Checkpoint
from adapters.ledger.writer import CHECKPOINT_COLUMNS, chain_table, checkpoint_table
from adapters.settings import PostgresStore, Settings, SqliteStore

PAGE = 10_000

# position, the event's digest preimage (see adapters.ledger.chain.event_preimage),
# then its link: prev_position, digest, hash (None for an event that has no link).
Row = tuple[int, bytes, int | None, bytes | None, bytes | None]


class LedgerReader(Protocol):
    def rows(self, upto: int) -> Iterator[Row]:
        """Every event up to `upto` in position order, beside its chain link."""
        ...

    def first_link_after(self, position: int, upto: int) -> int | None:
        """The first chain link after `position` (up to `upto`), if any."""
        ...

    def first_event_after(self, position: int) -> int | None:
        """The position of the first event after `position`, if any."""
        ...

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
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        # One snapshot for every read that follows: a deferred BEGIN takes it at
        # the first read, so read at once.
        self._db.execute("BEGIN")
        self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
        self._events = events_table
        self._chain = chain_table(events_table)
        self._checkpoints = checkpoint_table(events_table)

    def rows(self, upto: int) -> Iterator[Row]:
        query = (
            "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, "
            f"c.prev_position, c.digest, c.hash FROM {self._events} e "
            f"LEFT JOIN {self._chain} c ON c.position = e.rowid "
            "WHERE e.rowid > ? AND e.rowid <= ? ORDER BY e.rowid LIMIT ?"
        )
        # event_preimage, inlined: this runs once for every event in the store.
        fromhex, head, pack = bytes.fromhex, EVENT_TAG + (16).to_bytes(2, "big"), VT.pack
        after = 0
        while page := self._db.execute(query, (after, upto, PAGE)).fetchall():
            for position, originator, version, topic, state, prev, digest, link in page:
                topic_bytes = topic.encode()
                preimage = (
                    head
                    + fromhex(originator)
                    + pack(version, len(topic_bytes))
                    + topic_bytes
                    + state
                )
                yield position, preimage, prev, digest, link
            after = page[-1][0]

    def first_link_after(self, position: int, upto: int) -> int | None:
        row = self._db.execute(
            f"SELECT MIN(position) FROM {self._chain} WHERE position > ? AND position <= ?",
            (position, upto),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def first_event_after(self, position: int) -> int | None:
        row = self._db.execute(
            f"SELECT MIN(rowid) FROM {self._events} WHERE rowid > ?", (position,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

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
        self._db.execute("COMMIT")
        self._db.close()


_POSTGRES_PREIMAGE = (
    f"'\\x{EVENT_TAG.hex()}'::bytea || int2send(16::int2) || uuid_send(e.originator_id) "
    "|| int8send(e.originator_version) || int4send(octet_length(convert_to(e.topic, 'UTF8'))) "
    "|| convert_to(e.topic, 'UTF8') || e.state"
)


class PostgresLedgerReader:
    def __init__(self, store: PostgresStore, events_table: str) -> None:
        self._conninfo = store.conninfo()
        self._db = psycopg.connect(**self._conninfo, autocommit=True)  # type: ignore[arg-type]
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # Shared with the prefetching connection, which must see the same snapshot.
        row = self._db.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        self._snapshot = str(row[0])
        schema = psycopg.sql.Identifier(store.schema).as_string()
        self._events = f"{schema}.{psycopg.sql.Identifier(events_table).as_string()}"
        self._chain = f"{schema}.{psycopg.sql.Identifier(chain_table(events_table)).as_string()}"
        self._checkpoints = (
            f"{schema}.{psycopg.sql.Identifier(checkpoint_table(events_table)).as_string()}"
        )

    def rows(self, upto: int) -> Iterator[Row]:
        # Pages are position ranges, not `> after LIMIT n`: with a LIMIT the planner
        # joins and sorts the whole remaining table for every page.  The server only
        # concatenates the digest's preimage (the hashing stays here, independent of
        # the store being checked); one bytea parses much faster than five columns.
        query = (
            f"SELECT e.notification_id, {_POSTGRES_PREIMAGE}, "
            f"c.prev_position, c.digest, c.hash FROM {self._events} e "
            f"LEFT JOIN {self._chain} c ON c.position = e.notification_id "
            "WHERE e.notification_id > %s AND e.notification_id <= %s "
            "ORDER BY e.notification_id"
        )
        pages: queue.Queue[list[Row] | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def fetch() -> None:
            # Its own connection: the next page is queried while this one is hashed.
            try:
                with (
                    psycopg.connect(**self._conninfo) as db,  # type: ignore[arg-type]
                    db.cursor(binary=True) as cursor,
                ):
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    cursor.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")
                    low = 0
                    while low < upto and not stop.is_set():
                        high = min(low + PAGE, upto)
                        pages.put(cursor.execute(query, (low, high)).fetchall())
                        low = high
                pages.put(None)
            except BaseException as error:  # handed to the consumer, raised there
                pages.put(error)

        fetcher = threading.Thread(target=fetch, name="ledger-prefetch", daemon=True)
        fetcher.start()
        try:
            while (page := pages.get()) is not None:
                if isinstance(page, BaseException):
                    raise page
                yield from page
        finally:
            stop.set()
            while fetcher.is_alive():  # unblock a fetcher waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    pages.get_nowait()
                fetcher.join(timeout=0.05)

    def first_link_after(self, position: int, upto: int) -> int | None:
        row = self._db.execute(
            f"SELECT MIN(position) FROM {self._chain} WHERE position > %s AND position <= %s",
            (position, upto),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def first_event_after(self, position: int) -> int | None:
        row = self._db.execute(
            f"SELECT MIN(notification_id) FROM {self._events} WHERE notification_id > %s",
            (position,),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

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
