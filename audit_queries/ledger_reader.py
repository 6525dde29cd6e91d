"""Read-only access to the raw ledger tables of either store, for verification.

The verifier must see what is really stored, so this bypasses the library and
the application: it reads rows, in position order, in pages.  A reader sees one
snapshot of the store from opening to closing (a read transaction on SQLite's
WAL, a REPEATABLE READ transaction on Postgres), so a store that keeps writing
while it is verified never looks inconsistent.

It trusts nothing it reads.  Whoever can write the database can store any
value in any column (SQLite keeps a storage type per value), or on Postgres
alter a column's type or drop a table.  So a reader first compares the tables
and their columns with what the ledger created (`schema_faults`), and then
hands values on as found, or as None where one is not what the ledger writes,
for the verifier to judge.  Both stores share every query (`LedgerTables`
spells them for each); they differ in how the events are paged and encoded.
"""

from __future__ import annotations

import contextlib
import math
import queue
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from struct import error as StructError
from typing import Any, Protocol

import psycopg
from eventsourcing.persistence import PersistenceError

from adapters.ledger import stored
from adapters.ledger.chain import EVENT_FORMAT
from adapters.ledger.schema import (
    CHAIN,
    CHECKPOINTS,
    EVENTS,
    INTEGER,
    SNAPSHOT_SIGNATURES,
    SNAPSHOTS,
    Column,
    LedgerTables,
    PostgresDialect,
    SqliteDialect,
    Table,
)
from adapters.settings import PostgresStore, Settings, SqliteStore

PAGE = 10_000
_STREAM_PAGE = 1_000

# Both stores' positions are signed 64-bit integers; comparing with this range
# also leaves out any value of another type (SQLite sorts text and bytes after numbers).
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1

# position, the event's digest preimage (None when a column holds what the ledger
# never writes: `describe_event` says which), then its link: whether the event
# has one, and its prev_position, digest and hash as stored.
Row = tuple[int, bytes | None, object, object, object, object]


class LedgerMissing(PersistenceError):
    """The store holds no ledger at all (never initialised), as opposed to a damaged one."""


@dataclass(frozen=True)
class StoredSnapshot:
    """One snapshot row as stored, beside its signature and the event it claims to follow."""

    originator_id: object
    originator_version: object
    topic: object
    state: object
    signature: object
    position: int | None  # of the event at that aggregate and version, if the log holds one


class LedgerReader(Protocol):
    def schema_faults(self) -> list[str]:
        """How the ledger's tables differ from what the ledger created (empty when they do not).

        Raises `LedgerMissing` when there are no ledger tables at all."""
        ...

    def rows(self, upto: int) -> Iterator[Row]:
        """Every event in positions 1 to `upto`, in position order, beside its chain link."""
        ...

    def describe_event(self, position: int) -> str:
        """Which of the event's columns holds what the ledger never writes."""
        ...

    def lowest_position(self) -> int | None:
        """The lowest position an event holds (the log starts at 1)."""
        ...

    def events_without_position(self) -> int:
        """How many events have no position at all (only a changed schema allows it)."""
        ...

    def first_link_after(self, position: int, upto: int) -> int | None:
        """The first chain link after `position` (up to `upto`), if any."""
        ...

    def first_event_after(self, position: int) -> int | None:
        """The position of the first event after `position`, if any."""
        ...

    def checkpoints(self) -> list[tuple[object, ...]]:
        """The checkpoint rows as stored, in `seq` order."""
        ...

    def position_of_digest(self, digest: bytes) -> int | None: ...

    def snapshots(self) -> Iterator[StoredSnapshot]:
        """Every snapshot, with its signature (None when it has none)."""
        ...

    def bound(self) -> int:
        """The highest position in either table: the walk stops there.

        New events keep arriving while a live store is verified; bounding both
        streams at one position read up front keeps them consistent."""
        ...

    def close(self) -> None: ...


def as_position(value: object) -> int | None:
    """A position read back from a column an attacker may have filled with a fraction."""
    if type(value) is int:
        return value
    if type(value) is float and math.isfinite(value):
        return math.ceil(value)
    return None


def _shown_type(type_name: str) -> str:
    # Whoever altered the column chose its type, and could have named one to mislead a terminal.
    return type_name if re.fullmatch(r"[a-z][a-z0-9 ]*", type_name) else "another type"


def event_fault(originator_id: object, version: object, topic: object, state: object) -> str:
    """Why an event's columns cannot be what the ledger wrote."""
    try:
        EVENT_FORMAT.encode(
            stored.aggregate_id(originator_id),
            stored.integer(version, "originator_version"),
            stored.text(topic, "topic"),
            stored.blob(state, "state"),
        )
    except stored.Malformed as malformed:
        return f"its {malformed}"
    except StructError:
        return "its originator_version is out of range"
    return "its columns read back differently from how the ledger stores them"


class _SqlLedgerReader(ABC):
    """The queries both stores share, over `_fetch`, which each store implements."""

    def __init__(self, tables: LedgerTables) -> None:
        self.tables = tables
        self._position = tables.dialect.position
        self._mark = tables.dialect.mark
        self._events = tables.q(tables.events)
        self._chain = tables.q(tables.chain)
        self._checkpoints = tables.q(tables.checkpoints)
        self._snapshots = tables.q(tables.snapshots)
        self._signatures = tables.q(tables.snapshot_signatures)
        self._faults: list[str] | None = None
        self._present: set[str] = set()

    @abstractmethod
    def _fetch(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Every row the statement selects, in this reader's one snapshot."""

    @abstractmethod
    def _tables_found(self) -> dict[str, tuple[bool, dict[str, str]]]:
        """Each ledger table the store holds: whether it is a real table, and its column types."""

    @abstractmethod
    def _expected_types(self, table: Table) -> dict[str, str | None]:
        """The columns `table` must have, with the type the catalog must show (None: any)."""

    def _scalar(self, statement: str, params: Sequence[object] = ()) -> object:
        rows = self._fetch(statement, params)
        return rows[0][0] if rows else None

    # -- the schema -----------------------------------------------------------------------

    def schema_faults(self) -> list[str]:
        if self._faults is None:
            self._faults = self._find_schema_faults()
        return self._faults

    def _find_schema_faults(self) -> list[str]:
        found = self._tables_found()
        names = self.tables.names()
        if not any(names[table] in found for table in (EVENTS, CHAIN, CHECKPOINTS)):
            raise LedgerMissing(
                f"no audit ledger in this store ({self.tables.events} and its chain are "
                "missing): run `strongroom init` first"
            )
        faults = []
        for table, name in names.items():
            if name in found:
                self._present.add(name)
                faults += self._table_faults(table, name, *found[name])
            elif table not in (SNAPSHOTS, SNAPSHOT_SIGNATURES):
                # Snapshots are optional: a store may have none, or predate their signatures.
                faults.append(f"the table {name} was removed")
        return faults

    def _table_faults(
        self, table: Table, name: str, is_table: bool, columns: dict[str, str]
    ) -> list[str]:
        faults = [] if is_table else [f"{name} was replaced by something that is not a table"]
        for column, expected in self._expected_types(table).items():
            actual = columns.get(column)
            if actual is None:
                faults.append(f"the table {name} has no column {column}")
            elif expected is not None and actual != expected:
                shown = _shown_type(actual)
                faults.append(f"the column {name}.{column} is {shown}, not {expected}")
        return faults

    def _columns_of(self, table: Table) -> tuple[Column, ...]:
        if table is EVENTS:
            return (*table.columns, Column(self._position, INTEGER))
        return table.columns

    # -- the events and their links -------------------------------------------------------

    def describe_event(self, position: int) -> str:
        rows = self._fetch(
            f"SELECT {EVENTS.column_names} FROM {self._events} "
            f"WHERE {self._position} = {self._mark}",
            (position,),
        )
        if not rows:
            return "it can no longer be read"
        return event_fault(*rows[0])

    def lowest_position(self) -> int | None:
        return as_position(self._scalar(f"SELECT MIN({self._position}) FROM {self._events}"))

    def events_without_position(self) -> int:
        count = self._scalar(f"SELECT COUNT(*) FROM {self._events} WHERE {self._position} IS NULL")
        return count if type(count) is int else 0

    def first_link_after(self, position: int, upto: int) -> int | None:
        return as_position(
            self._scalar(
                f"SELECT MIN(position) FROM {self._chain} "
                f"WHERE position > {self._mark} AND position <= {self._mark}",
                (position, upto),
            )
        )

    def first_event_after(self, position: int) -> int | None:
        return as_position(
            self._scalar(
                f"SELECT MIN({self._position}) FROM {self._events} "
                f"WHERE {self._position} > {self._mark}",
                (position,),
            )
        )

    def position_of_digest(self, digest: bytes) -> int | None:
        return as_position(
            self._scalar(
                f"SELECT MIN(position) FROM {self._chain} WHERE digest = {self._mark} "
                f"AND position BETWEEN {self._mark} AND {self._mark}",
                (digest, _LOWEST, _HIGHEST),
            )
        )

    def bound(self) -> int:
        if self.schema_faults():
            return 0
        in_range = f"BETWEEN {self._mark} AND {self._mark}"
        highest = [
            as_position(
                self._scalar(
                    f"SELECT MAX({column}) FROM {table} WHERE {column} {in_range}",
                    (_LOWEST, _HIGHEST),
                )
            )
            for table, column in ((self._events, self._position), (self._chain, "position"))
        ]
        return max([position for position in highest if position is not None], default=0)

    # -- checkpoints and snapshots --------------------------------------------------------

    def checkpoints(self) -> list[tuple[object, ...]]:
        return [
            tuple(row)
            for row in self._fetch(
                f"SELECT {CHECKPOINTS.column_names} FROM {self._checkpoints} ORDER BY seq"
            )
        ]

    def snapshots(self) -> Iterator[StoredSnapshot]:
        self.schema_faults()  # learns which of the optional tables there are
        if self.tables.snapshots not in self._present:
            return
        signature, joined = "NULL", ""
        if self.tables.snapshot_signatures in self._present:
            signature = "g.signature"
            joined = (
                f" LEFT JOIN {self._signatures} g ON g.originator_id = s.originator_id "
                "AND g.originator_version = s.originator_version"
            )
        # MIN: a store whose keys were dropped may hold the same event twice.
        rows = self._stream(
            "SELECT s.originator_id, s.originator_version, s.topic, s.state, "
            f"{signature}, (SELECT MIN(e.{self._position}) FROM {self._events} e "
            "WHERE e.originator_id = s.originator_id "
            f"AND e.originator_version = s.originator_version) FROM {self._snapshots} s{joined}"
        )
        for originator_id, version, topic, state, signed, position in rows:
            yield StoredSnapshot(
                originator_id, version, topic, state, signed, as_position(position)
            )

    @abstractmethod
    def _stream(self, statement: str) -> Iterator[tuple[Any, ...]]:
        """The rows of a query too large to hold at once (every snapshot), a page at a time."""


def _escaped_text(raw: bytes) -> str:
    # Text that is not UTF-8 is read with escapes, which no encoder accepts back:
    # the value then reads as malformed instead of failing the whole page.
    return raw.decode("utf-8", "surrogateescape")


class SqliteLedgerReader(_SqlLedgerReader):
    def __init__(self, path: str, events_table: str = "stored_events") -> None:
        if not Path(path).exists():
            raise sqlite3.OperationalError(f"no store at {path}: run `strongroom init` first")
        super().__init__(LedgerTables.beside(SqliteDialect(), events_table))
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        # One snapshot for every read that follows: a deferred BEGIN takes it at
        # the first read, so read at once.
        self._db.execute("BEGIN")
        self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()

    def _fetch(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(statement, params).fetchall()
        except sqlite3.OperationalError as error:
            if "decode" not in str(error):
                raise
        # Only a tampered store holds text that is not UTF-8: read that page again, slowly.
        self._db.text_factory = _escaped_text
        try:
            return self._db.execute(statement, params).fetchall()
        finally:
            self._db.text_factory = str

    def _stream(self, statement: str) -> Iterator[tuple[Any, ...]]:
        # Text that is not UTF-8 would end the whole query: read it with escapes
        # throughout (not the hot path: there is a snapshot for every 100 events or so).
        self._db.text_factory = _escaped_text
        try:
            cursor = self._db.execute(statement)
            while rows := cursor.fetchmany(_STREAM_PAGE):
                yield from rows
        finally:
            self._db.text_factory = str

    def _tables_found(self) -> dict[str, tuple[bool, dict[str, str]]]:
        found = {}
        for name in self.tables.names().values():
            kind = self._scalar("SELECT type FROM sqlite_master WHERE name = ?", (name,))
            if kind is None:
                continue
            info = self._fetch(f"PRAGMA table_info({name})")
            columns = {str(row[1]): str(row[2]) for row in info}
            found[name] = (kind == "table", columns)
        events = found.get(self.tables.events)
        if events is not None and events[0]:
            try:
                self._db.execute(f"SELECT rowid FROM {self.tables.events} LIMIT 0")
            except sqlite3.OperationalError:  # rebuilt WITHOUT ROWID: positions are gone
                events[1].pop("rowid", None)
            else:
                events[1]["rowid"] = "INTEGER"
        return found

    def _expected_types(self, table: Table) -> dict[str, str | None]:
        # SQLite keeps a type per value, not per column: values are checked one by one.
        return {column.name: None for column in self._columns_of(table)}

    def rows(self, upto: int) -> Iterator[Row]:
        query = (
            f"SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, "
            f"c.position IS NOT NULL, c.prev_position, c.digest, c.hash FROM {self._events} e "
            f"LEFT JOIN {self._chain} c ON c.position = e.rowid "
            "WHERE e.rowid > ? AND e.rowid <= ? ORDER BY e.rowid LIMIT ?"
        )
        # SQLite keeps an aggregate id as the 32 hex digits of its 16 bytes.
        encode, fromhex = EVENT_FORMAT.encoder_for_ids_of(16), bytes.fromhex
        # The hot loop: the ledger's own values take the first branch, anything
        # else reads as None (the verifier then asks `describe_event` why).  An id
        # respelt (upper case) would hash the same, so only its exact form passes.
        malformed = (TypeError, ValueError, AttributeError, StructError)
        after = 0
        while page := self._fetch(query, (after, upto, PAGE)):
            for position, originator, version, topic, state, linked, prev, digest, link in page:
                try:
                    originator_bytes = fromhex(originator)
                    preimage: bytes | None = (
                        encode(originator_bytes, version, topic, state)
                        if len(originator) == 32 and originator_bytes.hex() == originator
                        else None
                    )
                except malformed:
                    preimage = None
                yield position, preimage, linked, prev, digest, link
            after = page[-1][0]

    def close(self) -> None:
        self._db.execute("COMMIT")
        self._db.close()


class PostgresLedgerReader(_SqlLedgerReader):
    def __init__(self, store: PostgresStore, events_table: str) -> None:
        super().__init__(LedgerTables.beside(PostgresDialect(store.schema), events_table))
        self._schema = store.schema
        self._conninfo = store.conninfo()
        self._db = psycopg.connect(**self._conninfo, autocommit=True)  # type: ignore[arg-type]
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # Shared with the prefetching connection, which must see the same snapshot.
        row = self._db.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        self._snapshot = str(row[0])
        # NULL in any column makes the whole preimage NULL: read as None, then described.
        self._preimage = EVENT_FORMAT.postgres_expression(
            id_bytes="uuid_send(e.originator_id)",
            version="e.originator_version",
            topic="e.topic",
            state="e.state",
        )

    def _fetch(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(statement, params).fetchall()  # type: ignore[arg-type]

    def _stream(self, statement: str) -> Iterator[tuple[Any, ...]]:
        # A server-side cursor, inside the reader's one snapshot of the store.
        with self._db.cursor(name="ledger_snapshots") as cursor:
            cursor.itersize = _STREAM_PAGE
            cursor.execute(statement)  # type: ignore[arg-type]
            yield from cursor

    def _tables_found(self) -> dict[str, tuple[bool, dict[str, str]]]:
        rows = self._fetch(
            "SELECT c.relname, c.relkind IN ('r', 'p'), a.attname, "
            "format_type(a.atttypid, a.atttypmod) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "AND NOT a.attisdropped WHERE n.nspname = %s AND c.relname = ANY(%s)",
            (self._schema, list(self.tables.names().values())),
        )
        found: dict[str, tuple[bool, dict[str, str]]] = {}
        for name, is_table, column, column_type in rows:
            _, columns = found.setdefault(name, (bool(is_table), {}))
            if column is not None:
                columns[column] = column_type
        return found

    def _expected_types(self, table: Table) -> dict[str, str | None]:
        # The casts and send functions of the queries need these exact types; any
        # other, whatever it holds, means the table was altered.
        types = self.tables.dialect.types
        return {column.name: types[column.kind] for column in self._columns_of(table)}

    def rows(self, upto: int) -> Iterator[Row]:
        # Pages are position ranges, not `> after LIMIT n`: with a LIMIT the planner
        # joins and sorts the whole remaining table for every page.  The server only
        # concatenates the digest's preimage (the hashing stays here, independent of
        # the store being checked); one bytea parses much faster than five columns.
        query = (
            f"SELECT e.notification_id, {self._preimage}, c.position IS NOT NULL, "
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

    def close(self) -> None:
        self._db.close()


def open_reader(settings: Settings, app_name: str = "strongroom") -> LedgerReader:
    """A reader for the store the settings name (the library's table names for each)."""
    store = settings.store
    if isinstance(store, SqliteStore):
        return SqliteLedgerReader(store.path)
    return PostgresLedgerReader(store, f"{app_name}_events")
