"""An attacker with direct database access, for tamper tests: triggers off, rows changed.

Also what tamper tests need around it: a fresh copy of a store to spoil (`store_copy`).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg.sql import Identifier

from adapters.ledger.chain import event_digest, link_hash
from adapters.settings import PostgresStore, Settings, SqliteStore

# What an attacker may turn a Postgres column into, with a conversion from any type.
POSTGRES_RETYPES = {
    "bigint": "('x' || substr(md5({c}::text), 1, 15))::bit(60)::bigint",
    "text": "{c}::text",
    "bytea": "convert_to({c}::text, 'UTF8')",
    "uuid": "md5({c}::text)::uuid",
}


class Tamperer:
    def __init__(self, settings: Settings) -> None:
        store = settings.store
        if isinstance(store, SqliteStore):
            self.db: Any = sqlite3.connect(store.path, isolation_level=None)
            for (name,) in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall():
                self.db.execute(f"DROP TRIGGER {name}")
            self.events, self.position, self.mark = "stored_events", "rowid", "?"
            self.snapshots = "stored_snapshots"
        else:
            assert isinstance(store, PostgresStore)
            self.db = psycopg.connect(**store.conninfo(), autocommit=True)  # type: ignore[arg-type]
            # Replica mode switches off ordinary triggers for this session only.
            self.db.execute("SET session_replication_role = replica")
            self.db.execute(f"SET search_path TO {Identifier(store.schema).as_string()}")
            self.events, self.position, self.mark = "strongroom_events", "notification_id", "%s"
            self.snapshots = "strongroom_snapshots"
        self.chain = f"{self.events}_chain"
        self.checkpoints = f"{self.events}_checkpoints"
        self.signatures = f"{self.snapshots}_signatures"
        self.is_sqlite = isinstance(store, SqliteStore)

    def run(self, sql: str, *params: Any) -> list[Any]:
        sql = sql.replace("$pos", self.position).replace("?", self.mark)
        cursor = self.db.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        self.db.close()

    # -- events -------------------------------------------------------------------------

    def set_state(self, position: int, state: bytes) -> None:
        self.run(f"UPDATE {self.events} SET state = ? WHERE $pos = ?", state, position)

    def delete_event(self, position: int) -> None:
        self.run(f"DELETE FROM {self.events} WHERE $pos = ?", position)

    def delete_link(self, position: int) -> None:
        self.run(f"DELETE FROM {self.chain} WHERE position = ?", position)

    def swap_positions(self, a: int, b: int) -> None:
        for old, new in ((a, -1), (b, a), (-1, b)):
            self.run(f"UPDATE {self.events} SET $pos = ? WHERE $pos = ?", new, old)

    def forge_event(
        self, topic: str = "domain.forged:Forged.Event", position: int | None = None
    ) -> int:
        originator = UUID(int=0xF0F0)
        version = 1 + len(
            self.run(
                f"SELECT 1 FROM {self.events} WHERE originator_id = ?",
                originator.hex if self.is_sqlite else originator,
            )
        )
        oid: Any = originator.hex if self.is_sqlite else originator
        columns, values = "originator_id, originator_version, topic, state", "?, ?, ?, ?"
        params: list[Any] = [oid, version, topic, b'{"forged":true}']
        if position is not None:
            columns, values = f"$pos, {columns}", f"?, {values}"
            params.insert(0, position)
        self.run(f"INSERT INTO {self.events} ({columns}) VALUES ({values})", *params)
        if position is not None:
            return position
        (row,) = self.run(f"SELECT MAX($pos) FROM {self.events}")
        return int(row[0])

    def forge_link(self, position: int) -> None:
        """Append a well-formed chain link for the event at `position` (the format is public)."""
        ((prev_position, prev_hash),) = self.run(
            f"SELECT position, hash FROM {self.chain} WHERE position < ? "
            "ORDER BY position DESC LIMIT 1",
            position,
        )
        self._write_link(position, prev_position, bytes(prev_hash))

    def rechain_from(self, position: int) -> None:
        """Recompute every link from `position` on, as a careful attacker would."""
        ((prev_position, prev_hash),) = self.run(
            f"SELECT position, hash FROM {self.chain} WHERE position < ? "
            "ORDER BY position DESC LIMIT 1",
            position,
        )
        prev_hash = bytes(prev_hash)
        for (current,) in self.run(
            f"SELECT position FROM {self.chain} WHERE position >= ? ORDER BY position", position
        ):
            self.delete_link(current)
            prev_hash = self._write_link(current, prev_position, prev_hash)
            prev_position = current

    def _write_link(self, position: int, prev_position: int, prev_hash: bytes) -> bytes:
        ((oid, version, topic, state),) = self.run(
            f"SELECT originator_id, originator_version, topic, state FROM {self.events} "
            "WHERE $pos = ?",
            position,
        )
        originator = bytes.fromhex(oid) if self.is_sqlite else oid.bytes
        digest = event_digest(originator, version, topic, bytes(state))
        new_hash = link_hash(prev_hash, position, prev_position, digest)
        self.run(
            f"INSERT INTO {self.chain} VALUES (?, ?, ?, ?)",
            position,
            prev_position,
            digest,
            new_hash,
        )
        return new_hash

    def truncate_after(self, position: int, *, checkpoints: bool = True) -> None:
        self.run(f"DELETE FROM {self.events} WHERE $pos > ?", position)
        self.run(f"DELETE FROM {self.chain} WHERE position > ?", position)
        if checkpoints:
            self.run(f"DELETE FROM {self.checkpoints} WHERE position > ?", position)

    # -- any column -----------------------------------------------------------------------

    def stored_id(self, aggregate_id: UUID) -> Any:
        return aggregate_id.hex if self.is_sqlite else aggregate_id

    def set_value(self, table: str, column: str, value: Any, where: str, *params: Any) -> None:
        self.run(f"UPDATE {table} SET {column} = ? WHERE {where}", value, *params)

    def loosen(self, table: str) -> None:
        """Take every constraint off `table`, so that any column can hold anything, NULL too."""
        if self.is_sqlite:
            # SQLite cannot drop a constraint: rebuild the table without any.
            self.run(f"CREATE TABLE loosened AS SELECT * FROM {table}")
            self.run(f"DROP TABLE {table}")
            self.run(f"ALTER TABLE loosened RENAME TO {table}")
            return
        for (constraint,) in self.run(
            "SELECT conname FROM pg_constraint WHERE conrelid = ?::regclass AND contype = 'p'",
            table,
        ):
            self.run(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
        for (column,) in self.run(
            "SELECT attname FROM pg_attribute WHERE attrelid = ?::regclass "
            "AND attnum > 0 AND NOT attisdropped AND attnotnull",
            table,
        ):
            self.run(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")

    def retype(self, table: str, column: str, sql_type: str) -> None:
        """Postgres only: change a column's type, converting what it holds."""
        using = POSTGRES_RETYPES[sql_type].format(c=column)
        self.run(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
        self.run(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {sql_type} USING {using}")

    def snapshot_state(self, aggregate_id: UUID, version: int) -> bytes:
        ((state,),) = self.run(
            f"SELECT state FROM {self.snapshots} WHERE originator_id = ? "
            "AND originator_version = ?",
            self.stored_id(aggregate_id),
            version,
        )
        return bytes(state)

    def set_snapshot_state(self, aggregate_id: UUID, version: int, state: bytes) -> None:
        self.set_value(
            self.snapshots,
            "state",
            state,
            "originator_id = ? AND originator_version = ?",
            self.stored_id(aggregate_id),
            version,
        )

    # -- checkpoints --------------------------------------------------------------------

    def delete_checkpoint(self, seq: int) -> None:
        self.run(f"DELETE FROM {self.checkpoints} WHERE seq = ?", seq)

    def set_checkpoint_hash(self, seq: int, chain_hash: bytes) -> None:
        self.run(f"UPDATE {self.checkpoints} SET chain_hash = ? WHERE seq = ?", chain_hash, seq)

    def checkpoint_positions(self) -> list[int]:
        return [
            int(r[0]) for r in self.run(f"SELECT position FROM {self.checkpoints} ORDER BY seq")
        ]


@contextmanager
def store_copy(
    settings: Settings, home: Path, *, name: str, database: bool = False
) -> Iterator[Settings]:
    """A copy of the store `settings` name, with the same audit key and witness, to spoil.

    SQLite: the file, copied under `home`.  Postgres: the tables, copied into a
    schema `name` of the same database (much faster than a new database), or
    with `database`, a new database made from the store's as its template.
    """
    store = settings.store
    home.mkdir(parents=True)
    shutil.copytree(settings.audit_dir, home / "audit", ignore=shutil.ignore_patterns("witness*"))
    if isinstance(store, SqliteStore):
        source = sqlite3.connect(store.path)
        target = sqlite3.connect(home / "strongroom.db")
        source.backup(target)
        source.close()
        target.close()
        copy = replace(settings, home=home, store=SqliteStore(str(home / "strongroom.db")))
    else:
        assert isinstance(store, PostgresStore)
        if database:
            name = f"{store.dbname}_{uuid4().hex[:8]}"
            _run_on(store, f"CREATE DATABASE {_ident(name)} TEMPLATE {_ident(store.dbname)}")
            copy = replace(settings, home=home, store=replace(store, dbname=name))
        else:
            copy = replace(settings, home=home, store=replace(store, schema=name))
            _copy_schema(store, store.schema, name)
    if settings.witness_path.exists():
        copy.witness_path.write_bytes(settings.witness_path.read_bytes())
    try:
        yield copy
    finally:
        if isinstance(store, PostgresStore) and database:
            _run_on(store, f"DROP DATABASE {_ident(copy.store.dbname)} WITH (FORCE)")  # type: ignore[union-attr]
        elif isinstance(store, PostgresStore):
            _run_on(store, f"DROP SCHEMA {_ident(name)} CASCADE")


def _ident(name: str) -> str:
    return Identifier(name).as_string()


def _run_on(store: PostgresStore, statement: str) -> None:
    with psycopg.connect(**store.conninfo(), autocommit=True) as db:  # type: ignore[arg-type]
        db.execute(statement)  # type: ignore[arg-type]


def _copy_schema(store: PostgresStore, source: str, target: str) -> None:
    with psycopg.connect(**store.conninfo(), autocommit=True) as db:  # type: ignore[arg-type]
        tables = [
            row[0]
            for row in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (source,)
            ).fetchall()
        ]
        to_schema = Identifier(target).as_string()
        with db.transaction():
            db.execute(f"CREATE SCHEMA {to_schema}")
            for table in tables:
                old = f"{Identifier(source).as_string()}.{Identifier(table).as_string()}"
                new = f"{to_schema}.{Identifier(table).as_string()}"
                db.execute(f"CREATE TABLE {new} (LIKE {old} INCLUDING ALL)")
                db.execute(f"INSERT INTO {new} SELECT * FROM {old}")
