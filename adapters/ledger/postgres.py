"""The production store: the library's Postgres recorder, chained and append-only."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import psycopg
from eventsourcing.persistence import (
    ApplicationRecorder,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.ledger.chain import Link
from adapters.ledger.checkpoints import Checkpoint
from adapters.ledger.config import LedgerConfig, refuse_unchained_recorder
from adapters.ledger.port import ChainedRecorder
from adapters.ledger.writer import (
    CHECKPOINT_COLUMNS,
    LedgerSQL,
    LedgerWriter,
    chain_table,
    checkpoint_table,
)

APPEND_ONLY_FUNCTION = "strongroom_refuse_change"
log = logging.getLogger(__name__)


def _name(schema: str, table: str) -> str:
    return f"{Identifier(schema).as_string()}.{Identifier(table).as_string()}"


def append_only_triggers(schema: str, table: str) -> list[str]:
    """Triggers that make UPDATE, DELETE and TRUNCATE of `table` fail."""
    qualified = _name(schema, table)
    function = _name(schema, APPEND_ONLY_FUNCTION)
    row_trigger = Identifier(f"{table}_append_only").as_string()
    truncate_trigger = Identifier(f"{table}_no_truncate").as_string()
    return [
        f"CREATE OR REPLACE TRIGGER {row_trigger} BEFORE UPDATE OR DELETE ON {qualified} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        f"CREATE OR REPLACE TRIGGER {truncate_trigger} BEFORE TRUNCATE ON {qualified} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


def links_inserter(chain: str) -> Callable[[Any, list[Link]], None]:
    """One INSERT from four arrays, whatever the number of links."""
    statement = (
        f"INSERT INTO {chain} SELECT * FROM "
        "unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[])"
    )

    def insert_links(cursor: Any, links: list[Link]) -> None:
        cursor.execute(statement, [list(column) for column in zip(*links, strict=True)])

    return insert_links


def ledger_sql(schema: str, events_table: str) -> LedgerSQL:

    chain = _name(schema, chain_table(events_table))
    checkpoints = _name(schema, checkpoint_table(events_table))
    return LedgerSQL(
        create=[
            f"CREATE TABLE IF NOT EXISTS {chain} ("
            "position bigint PRIMARY KEY, prev_position bigint NOT NULL, "
            "digest bytea NOT NULL, hash bytea NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {checkpoints} ("
            "seq bigint PRIMARY KEY, position bigint NOT NULL, chain_hash bytea NOT NULL, "
            "previous_digest bytea NOT NULL, sealed_at text NOT NULL, key_id text NOT NULL, "
            "signature bytea NOT NULL)",
            f"CREATE OR REPLACE FUNCTION {_name(schema, APPEND_ONLY_FUNCTION)}() "
            "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$",
            *append_only_triggers(schema, events_table),
            *append_only_triggers(schema, chain_table(events_table)),
            *append_only_triggers(schema, checkpoint_table(events_table)),
        ],
        select_head=(
            f"SELECT position, hash, (SELECT position FROM {checkpoints} "
            "ORDER BY seq DESC LIMIT 1) AS sealed_position "
            f"FROM {chain} ORDER BY position DESC LIMIT 1"
        ),
        insert_links=links_inserter(chain),
        select_last_checkpoint=(
            f"SELECT {CHECKPOINT_COLUMNS} FROM {checkpoints} ORDER BY seq DESC LIMIT 1"
        ),
        insert_checkpoint=f"INSERT INTO {checkpoints} VALUES (%s, %s, %s, %s, %s, %s, %s)",
    )


class ChainedPostgresApplicationRecorder(ChainedRecorder, PostgresProcessRecorder):
    """Every insert also appends its chain links, and seals a checkpoint when due.

    A process recorder too: a process's outcomes and its tracking position are
    written in one transaction, through the chain like every other event.
    """

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "stored_tracking",
        config: LedgerConfig,
    ) -> None:
        if datastore.enable_db_functions:
            # The library's insert function bypasses the path that writes the chain.
            raise ProgrammingError("POSTGRES_ENABLE_DB_FUNCTIONS cannot be used with the ledger")
        super().__init__(
            datastore,
            events_table_name=events_table_name,
            tracking_table_name=tracking_table_name,
        )
        self.ledger = LedgerWriter(
            ledger_sql(datastore.schema, events_table_name),
            signer=config.signer,
            checkpoint_every=config.checkpoint_every,
            clock=config.clock,
            witness=config.witness,
        )
        self._head_cursors = threading.local()
        self.sql_create_statements.extend(
            Composed([SQL(statement)]) for statement in self.ledger.sql.create
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        self.ledger.committed()
        return ids

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self.ledger.begin()
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        # Queued behind the lock and the insert, in the same pipeline: the chain
        # head arrives with the new positions, in one round trip.
        head_cursor = curs.connection.cursor()
        head_cursor.execute(self.ledger.sql.select_head, prepare=True)
        self._head_cursors.cursor = head_cursor

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert ids is not None
        with self._head_cursors.cursor as head_cursor:
            self.ledger.append(curs, ids, stored_events, head_cursor=head_cursor)
        return ids

    def listen(self, callback: Callable[[], None], stop: threading.Event) -> bool:
        """Call `callback` whenever any process commits events (Postgres NOTIFY)."""

        conninfo = cast("dict[str, Any]", self.datastore.pool.kwargs)

        def run() -> None:
            while not stop.is_set():
                try:
                    with psycopg.connect(**conninfo, autocommit=True) as conn:
                        conn.execute(SQL("LISTEN {0}").format(Identifier(self.channel_name)))
                        callback()  # anything committed before we listened
                        while not stop.is_set():
                            for _ in conn.notifies(timeout=0.5, stop_after=1):
                                callback()
                except psycopg.Error:
                    log.warning("lost the Postgres notification channel; reconnecting")
                    stop.wait(1.0)

        threading.Thread(target=run, name="ledger-listen", daemon=True).start()
        return True

    def seal(self) -> Checkpoint | None:
        """Sign the current head now (the periodic sealer and `audit seal` use this)."""
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            checkpoint = self.ledger.seal_head(curs)
        self.ledger.committed()
        return checkpoint


class ChainedPostgresFactory(PostgresFactory):
    """PERSISTENCE_MODULE target for the production store."""

    def application_recorder(self) -> ApplicationRecorder:
        prefix = self.env.name.lower() or "stored"
        recorder = ChainedPostgresApplicationRecorder(
            self.datastore,
            events_table_name=prefix + "_events",
            tracking_table_name=prefix + "_tracking",
            config=LedgerConfig.from_env(self.env),
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        raise refuse_unchained_recorder("process")
