"""The database itself refuses to change or remove recorded events, links, checkpoints and
snapshots with their signatures."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import ProgrammingError

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import PostgresStore, Settings, SqliteStore
from domain.application import Strongroom
from domain.envelope import AuditContext
from tests.conftest import needs_postgres
from tests.notes import Note
from tests.stores import store_settings

TABLES = {"sqlite": "stored_events", "postgres": "strongroom_events"}
POSITION = {"sqlite": "rowid", "postgres": "notification_id"}


@pytest.fixture
def recorded(app: Strongroom, officer: AuditContext) -> Strongroom:
    note = Note("kept forever")
    app.save(note)
    app.recorder.seal()  # type: ignore[attr-defined]
    return app


@pytest.mark.parametrize("suffix", ["", "_chain", "_checkpoints"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_update_and_delete_are_refused(
    settings: Settings, recorded: Strongroom, store_kind: str, suffix: str, statement: str
) -> None:
    table = TABLES[store_kind] + suffix
    column = {"": POSITION[store_kind], "_chain": "hash", "_checkpoints": "signature"}[suffix]
    assert_refused(settings, statement.format(t=table, c=column))


def assert_refused(settings: Settings, sql: str) -> None:
    store = settings.store
    if isinstance(store, SqliteStore):
        lite = sqlite3.connect(store.path)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            lite.execute(sql)
        lite.close()
    else:
        assert isinstance(store, PostgresStore)
        with (
            psycopg.connect(**store.conninfo()) as db,  # type: ignore[arg-type]
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        ):
            db.execute(sql)  # type: ignore[arg-type]


@needs_postgres
@pytest.mark.parametrize("suffix", ["", "_chain", "_checkpoints"])
def test_truncate_is_refused_on_postgres(
    tmp_path: Path, clock: ManualClock, officer: AuditContext, suffix: str
) -> None:
    # SQLite has no TRUNCATE (its DELETE is covered above); Postgres needs its own trigger.
    with store_settings("postgres", tmp_path) as settings:
        app = open_system(settings, clock=clock).app
        app.save(Note("kept forever"))
        app.close()
        store = settings.store
        assert isinstance(store, PostgresStore)
        with (
            psycopg.connect(**store.conninfo()) as db,  # type: ignore[arg-type]
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        ):
            db.execute(f"TRUNCATE strongroom_events{suffix}")


SNAPSHOTS = {"sqlite": "stored_snapshots", "postgres": "strongroom_snapshots"}


@pytest.mark.parametrize("suffix", ["", "_signatures"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_snapshots_and_their_signatures_are_append_only(
    settings: Settings, recorded: Strongroom, store_kind: str, suffix: str, statement: str
) -> None:
    (notification,) = recorded.recorder.select_notifications(start=1, limit=1)
    recorded.take_snapshot(UUID(str(notification.originator_id)))
    table = SNAPSHOTS[store_kind] + suffix
    assert_refused(settings, statement.format(t=table, c="originator_version"))


def test_no_unchained_recorder_is_handed_out(app: Strongroom) -> None:
    # A process recorder from the library would write events around the chain.
    with pytest.raises(ProgrammingError, match="no chained process recorder"):
        app.factory.process_recorder()
    # Nor an aggregate recorder, but for the snapshots, which it signs.
    with pytest.raises(ProgrammingError, match="no chained events aggregate recorder"):
        app.factory.aggregate_recorder("events")
