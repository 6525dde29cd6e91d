"""The library's own recorder test cases, run against our chained recorders on both stores.

After each case the whole ledger is verified too, so the library's concurrent
writers and readers also prove the chain stays intact under contention.  The
signing snapshot recorders pass the library's aggregate recorder cases, and
every snapshot they wrote must then verify.
"""

from __future__ import annotations

import tempfile
import threading
import unittest
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)

from adapters.clock import SystemClock
from adapters.ledger.checkpoints import CheckpointSigner, create_signing_key, load_public_key
from adapters.ledger.config import LedgerConfig
from adapters.ledger.postgres import (
    ChainedPostgresApplicationRecorder,
    SignedPostgresSnapshotRecorder,
)
from adapters.ledger.sqlite import ChainedSQLiteApplicationRecorder, SignedSQLiteSnapshotRecorder
from adapters.settings import PostgresStore, Settings
from audit_queries.ledger_reader import LedgerReader, PostgresLedgerReader, SqliteLedgerReader
from audit_queries.verify import verify_ledger
from tests.stores import POSTGRES_URL, POSTGRES_URL_VARIABLE, fresh_postgres_database

CHECKPOINT_EVERY = 500


class LedgerCase(unittest.TestCase):
    """Per test: a fresh store, an audit key, and a full verification at the end."""

    def setUp(self) -> None:
        super().setUp()
        self.stack = ExitStack()
        self.home = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
        create_signing_key(self.home / "key.pem", self.home / "key.pub.pem")
        self.config = LedgerConfig(
            signer=CheckpointSigner.from_file(self.home / "key.pem"),
            checkpoint_every=CHECKPOINT_EVERY,
            witness=None,
            clock=SystemClock().now,
        )
        self.recorders: list[Any] = []
        self.threads_before = set(threading.enumerate())

    def tearDown(self) -> None:
        try:
            # Some library cases signal their reader threads to stop but do not
            # join them; closing a store under a reader mid-query crashes SQLite.
            # (Daemon threads are connection-pool workers, which closing stops.)
            started = set(threading.enumerate()) - self.threads_before
            for thread in (t for t in started if not t.daemon):
                thread.join(timeout=30)
                self.assertFalse(thread.is_alive(), f"{thread.name} did not stop")
            for recorder in self.recorders:
                recorder.datastore.close()
            reader = self.open_reader()
            try:
                report = verify_ledger(
                    reader,
                    load_public_key(self.home / "key.pub.pem"),
                    checkpoint_every=CHECKPOINT_EVERY,
                )
            finally:
                reader.close()
            self.assertIsNone(report.problem, report.problem)
        finally:
            self.stack.close()
            super().tearDown()

    def open_reader(self) -> LedgerReader:
        raise NotImplementedError  # each store's case says how to read it back


class SqliteLedgerCase(LedgerCase):
    def create_recorder(self) -> ChainedSQLiteApplicationRecorder:
        recorder = ChainedSQLiteApplicationRecorder(self.datastore(), config=self.config)
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder

    def datastore(self) -> SQLiteDatastore:
        return SQLiteDatastore(db_name=str(self.home / "store.db"))

    def open_reader(self) -> LedgerReader:
        return SqliteLedgerReader(str(self.home / "store.db"))


@unittest.skipUnless(POSTGRES_URL, f"{POSTGRES_URL_VARIABLE} is not set (CI sets it)")
class PostgresLedgerCase(LedgerCase):
    def setUp(self) -> None:
        super().setUp()
        url = self.stack.enter_context(fresh_postgres_database())
        store = Settings.from_env({"STRONGROOM_DATABASE_URL": url}).store
        assert isinstance(store, PostgresStore)
        self.store = store

    def create_recorder(self) -> ChainedPostgresApplicationRecorder:
        recorder = ChainedPostgresApplicationRecorder(
            self.datastore(), events_table_name="strongroom_events", config=self.config
        )
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder

    def datastore(self) -> PostgresDatastore:
        return PostgresDatastore(
            dbname=self.store.dbname,
            host=self.store.host,
            port=self.store.port,
            user=self.store.user,
            password=self.store.password,
            pool_size=5,
            max_overflow=10,
        )

    def open_reader(self) -> LedgerReader:
        return PostgresLedgerReader(self.store, "strongroom_events")


class TestSqliteApplicationRecorder(SqliteLedgerCase, ApplicationRecorderTestCase):  # type: ignore[misc]
    pass


class TestSqliteNonInterleaving(SqliteLedgerCase, NonInterleavingNotificationIDsBaseCase):  # type: ignore[misc]
    pass


class TestPostgresApplicationRecorder(PostgresLedgerCase, ApplicationRecorderTestCase):  # type: ignore[misc]
    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestPostgresNonInterleaving(PostgresLedgerCase, NonInterleavingNotificationIDsBaseCase):  # type: ignore[misc]
    pass


class SqliteSnapshotCase(SqliteLedgerCase):
    def create_recorder(self) -> SignedSQLiteSnapshotRecorder:  # type: ignore[override]
        super().create_recorder()  # the ledger's tables too, so that it verifies as a whole
        recorder = SignedSQLiteSnapshotRecorder(self.datastore(), signer=self.config.signer)
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder


class PostgresSnapshotCase(PostgresLedgerCase):
    def create_recorder(self) -> SignedPostgresSnapshotRecorder:  # type: ignore[override]
        super().create_recorder()
        recorder = SignedPostgresSnapshotRecorder(
            self.datastore(), events_table_name="strongroom_snapshots", signer=self.config.signer
        )
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder


class TestSqliteSnapshotRecorder(SqliteSnapshotCase, AggregateRecorderTestCase):  # type: ignore[misc]
    pass


class TestPostgresSnapshotRecorder(PostgresSnapshotCase, AggregateRecorderTestCase):  # type: ignore[misc]
    pass
