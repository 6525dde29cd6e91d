"""The ledger's tables, defined once for both stores.

Each table is a list of columns of a few kinds (integer, bytes, text, aggregate
id); a `Dialect` says how one store spells those kinds, its parameter mark,
how it names a table and how it refuses UPDATE and DELETE.  The writer, the
chained recorders and the verifier's readers all build their SQL from here, so
the two stores differ only where their databases really do.

The library owns the events and snapshots tables; they are described here too,
because the verifier checks that their columns still have the types the library
gave them (see docs/event-store.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg.sql import Identifier

INTEGER, BYTES, TEXT, AGGREGATE_ID = "integer", "bytes", "text", "aggregate id"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str


@dataclass(frozen=True)
class Table:
    role: str  # what the table is, whatever the store calls it
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> str:
        return ", ".join(column.name for column in self.columns)


_EVENT_COLUMNS = (
    Column("originator_id", AGGREGATE_ID),
    Column("originator_version", INTEGER),
    Column("topic", TEXT),
    Column("state", BYTES),
)
_AGGREGATE_KEY = ("originator_id", "originator_version")

EVENTS = Table("events", _EVENT_COLUMNS, _AGGREGATE_KEY)
SNAPSHOTS = Table("snapshots", _EVENT_COLUMNS, _AGGREGATE_KEY)
CHAIN = Table(
    "chain",
    (
        Column("position", INTEGER),
        Column("prev_position", INTEGER),
        Column("digest", BYTES),
        Column("hash", BYTES),
    ),
    ("position",),
)
CHECKPOINTS = Table(
    "checkpoints",
    (
        Column("seq", INTEGER),
        Column("position", INTEGER),
        Column("chain_hash", BYTES),
        Column("previous_digest", BYTES),
        Column("sealed_at", TEXT),
        Column("key_id", TEXT),
        Column("signature", BYTES),
    ),
    ("seq",),
)
SNAPSHOT_SIGNATURES = Table(
    "snapshot signatures",
    (
        Column("originator_id", AGGREGATE_ID),
        Column("originator_version", INTEGER),
        Column("signature", BYTES),
    ),
    _AGGREGATE_KEY,
)


class Dialect(ABC):
    """How one store spells the ledger's tables."""

    name: str
    mark: str  # the parameter placeholder
    position: str  # the events table's position column
    types: Mapping[str, str]

    @abstractmethod
    def qualify(self, table: str) -> str:
        """The table's name as statements spell it."""

    def as_text(self, expression: str) -> str:
        """An aggregate id column as text (SQLite keeps it as text already)."""
        return expression

    def create_table(self, name: str, table: Table) -> str:
        columns = ", ".join(
            f"{column.name} {self.types[column.kind]} NOT NULL" for column in table.columns
        )
        return (
            f"CREATE TABLE IF NOT EXISTS {self.qualify(name)} ("
            f"{columns}, PRIMARY KEY ({', '.join(table.key)})){self._table_options(table)}"
        )

    def _table_options(self, table: Table) -> str:
        return ""

    @abstractmethod
    def append_only(self, table: str) -> list[str]:
        """Statements that make UPDATE and DELETE (and TRUNCATE, where there is one) fail."""

    def prelude(self) -> list[str]:
        """What `append_only` statements need created first."""
        return []


class SqliteDialect(Dialect):
    name = "sqlite"
    mark = "?"
    position = "rowid"
    types = {INTEGER: "INTEGER", BYTES: "BLOB", TEXT: "TEXT", AGGREGATE_ID: "TEXT"}

    def qualify(self, table: str) -> str:
        return table

    def _table_options(self, table: Table) -> str:
        # A single INTEGER key is the rowid; a composite key needs no rowid beside it.
        return " WITHOUT ROWID" if len(table.key) > 1 else ""

    def append_only(self, table: str) -> list[str]:
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            for op in ("UPDATE", "DELETE")
        ]


APPEND_ONLY_FUNCTION = "strongroom_refuse_change"


class PostgresDialect(Dialect):
    name = "postgres"
    mark = "%s"
    position = "notification_id"
    types = {INTEGER: "bigint", BYTES: "bytea", TEXT: "text", AGGREGATE_ID: "uuid"}

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def qualify(self, table: str) -> str:
        return f"{Identifier(self.schema).as_string()}.{Identifier(table).as_string()}"

    def as_text(self, expression: str) -> str:
        return f"{expression}::text"

    def prelude(self) -> list[str]:
        return [
            f"CREATE OR REPLACE FUNCTION {self.qualify(APPEND_ONLY_FUNCTION)}() "
            "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        ]

    def append_only(self, table: str) -> list[str]:
        qualified = self.qualify(table)
        function = self.qualify(APPEND_ONLY_FUNCTION)
        row_trigger = Identifier(f"{table}_append_only").as_string()
        truncate_trigger = Identifier(f"{table}_no_truncate").as_string()
        return [
            f"CREATE OR REPLACE TRIGGER {row_trigger} BEFORE UPDATE OR DELETE ON {qualified} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE OR REPLACE TRIGGER {truncate_trigger} BEFORE TRUNCATE ON {qualified} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]


def snapshots_table_of(events_table: str) -> str:
    """The library's snapshot table beside an events table (stored_events -> stored_snapshots)."""
    return events_table.removesuffix("_events") + "_snapshots"


def events_table_of(snapshots_table: str) -> str:
    return snapshots_table.removesuffix("_snapshots") + "_events"


@dataclass(frozen=True)
class LedgerTables:
    """The names of one store's ledger tables, and the statements shared by its users."""

    dialect: Dialect
    events: str
    snapshots: str

    @classmethod
    def beside(cls, dialect: Dialect, events_table: str) -> LedgerTables:
        return cls(dialect, events_table, snapshots_table_of(events_table))

    @classmethod
    def beside_snapshots(cls, dialect: Dialect, snapshots_table: str) -> LedgerTables:
        return cls(dialect, events_table_of(snapshots_table), snapshots_table)

    @property
    def chain(self) -> str:
        return f"{self.events}_chain"

    @property
    def checkpoints(self) -> str:
        return f"{self.events}_checkpoints"

    @property
    def snapshot_signatures(self) -> str:
        return f"{self.snapshots}_signatures"

    def names(self) -> dict[Table, str]:
        """Each table with the name this store gives it."""
        return {
            EVENTS: self.events,
            CHAIN: self.chain,
            CHECKPOINTS: self.checkpoints,
            SNAPSHOTS: self.snapshots,
            SNAPSHOT_SIGNATURES: self.snapshot_signatures,
        }

    def q(self, name: str) -> str:
        return self.dialect.qualify(name)

    # -- what the application recorder adds --------------------------------------------

    def create_chain_tables(self) -> list[str]:
        return [
            self.dialect.create_table(self.chain, CHAIN),
            self.dialect.create_table(self.checkpoints, CHECKPOINTS),
            *self.dialect.prelude(),
            *self._append_only(self.events, self.chain, self.checkpoints),
        ]

    def select_head(self) -> str:
        """-> position, hash, sealed_position (the newest checkpoint's position)."""
        return (
            f"SELECT position, hash, (SELECT position FROM {self.q(self.checkpoints)} "
            "ORDER BY seq DESC LIMIT 1) AS sealed_position "
            f"FROM {self.q(self.chain)} ORDER BY position DESC LIMIT 1"
        )

    def select_last_checkpoint(self) -> str:
        return (
            f"SELECT {CHECKPOINTS.column_names} FROM {self.q(self.checkpoints)} "
            "ORDER BY seq DESC LIMIT 1"
        )

    def insert_checkpoint(self) -> str:
        return self._insert(self.checkpoints, CHECKPOINTS)

    def select_chained_events(self) -> str:
        """Events in a position range (after, upto], each with its link, in order.

        -> position, originator_id (as text), originator_version, topic, state,
        prev_position, hash
        """
        position, mark = self.dialect.position, self.dialect.mark
        return (
            f"SELECT e.{position} AS position, {self.dialect.as_text('e.originator_id')} "
            "AS originator_id, e.originator_version, e.topic, "
            f"e.state, c.prev_position, c.hash FROM {self.q(self.events)} e "
            f"JOIN {self.q(self.chain)} c ON c.position = e.{position} "
            f"WHERE e.{position} > {mark} AND e.{position} <= {mark} "
            # The range on both tables, so each is read by its key.
            f"AND c.position > {mark} AND c.position <= {mark} ORDER BY e.{position}"
        )

    def select_checkpoints(self) -> str:
        """Checkpoints after a sequence number, in order."""
        return (
            f"SELECT {CHECKPOINTS.column_names} FROM {self.q(self.checkpoints)} "
            f"WHERE seq > {self.dialect.mark} ORDER BY seq"
        )

    # -- what the snapshot recorder adds ------------------------------------------------

    def create_snapshot_tables(self) -> list[str]:
        return [
            self.dialect.create_table(self.snapshot_signatures, SNAPSHOT_SIGNATURES),
            *self.dialect.prelude(),
            *self._append_only(self.snapshots, self.snapshot_signatures),
        ]

    def insert_snapshot_signature(self) -> str:
        return self._insert(self.snapshot_signatures, SNAPSHOT_SIGNATURES)

    def select_signed_snapshots(self, *, gt: bool, lte: bool, desc: bool, limit: bool) -> str:
        """An aggregate's snapshots, each beside its signature (NULL when it has none)."""
        mark = self.dialect.mark
        statement = (
            "SELECT s.originator_id, s.originator_version, s.topic, s.state, g.signature "
            f"FROM {self.q(self.snapshots)} s LEFT JOIN {self.q(self.snapshot_signatures)} g "
            "ON g.originator_id = s.originator_id "
            "AND g.originator_version = s.originator_version "
            f"WHERE s.originator_id = {mark}"
        )
        if gt:
            statement += f" AND s.originator_version > {mark}"
        if lte:
            statement += f" AND s.originator_version <= {mark}"
        statement += f" ORDER BY s.originator_version {'DESC' if desc else 'ASC'}"
        if limit:
            statement += f" LIMIT {mark}"
        return statement

    def _insert(self, name: str, table: Table) -> str:
        marks = ", ".join([self.dialect.mark] * len(table.columns))
        return f"INSERT INTO {self.q(name)} ({table.column_names}) VALUES ({marks})"

    def _append_only(self, *tables: str) -> list[str]:
        return [statement for table in tables for statement in self.dialect.append_only(table)]
