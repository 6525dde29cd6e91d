"""One long-lived DuckDB database per export, lent a cursor per question (`forensic_db.shared`).

A question must see one version of the export from its first query to its last,
whatever is exported meanwhile; the next question sees what was exported before
it; and a lent cursor is locked down exactly as a connection of its own.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from audit_queries import forensic_db
from audit_queries.export import Manifest, export
from domain.envelope import AuditContext
from tests.audit_queries.exported import write_notes

COUNT = "SELECT count(*) FROM events"


def count(connection: duckdb.DuckDBPyConnection) -> int:
    return int(forensic_db.run(connection, COUNT).rows[0][0])


def test_each_question_keeps_its_version_and_the_next_sees_what_was_exported(
    settings: Settings, clock: ManualClock, officer: AuditContext, tmp_path: Path
) -> None:
    system = open_system(settings, clock=clock)
    directory = tmp_path / "export"
    try:
        write_notes(system.app, notes=3, lines=2)
        first = export(system.ledger, directory).manifest
        with forensic_db.shared(directory) as asking:
            before = count(asking)
            assert forensic_db.exported_upto(asking) == first.position
            # More is recorded and exported while the question is still being answered.
            write_notes(system.app, notes=2, lines=2)
            second = export(system.ledger, directory).manifest
            assert second.events > first.events
            with forensic_db.shared(directory) as next_question:
                assert count(next_question) == second.events
                assert forensic_db.exported_upto(next_question) == second.position
            assert count(asking) == before == first.events
            assert forensic_db.exported_upto(asking) == first.position
        # Nobody is asking now: the next version is the same database, its views repointed.
        write_notes(system.app, notes=1, lines=1)
        third = export(system.ledger, directory).manifest
        with forensic_db.shared(directory) as later:
            assert (
                count(later)
                == third.events
                == len(forensic_db.run(later, "SELECT DISTINCT position FROM events").rows)
            )
            assert forensic_db.exported_upto(later) == third.position
            assert forensic_db.run(later, "SELECT max(position) FROM events").rows[0][0] == (
                third.position
            )
    finally:
        system.app.close()


def test_a_new_version_while_a_question_runs_gets_its_own_database(
    settings: Settings, clock: ManualClock, officer: AuditContext, tmp_path: Path
) -> None:
    system = open_system(settings, clock=clock)
    directory = tmp_path / "export"
    try:
        write_notes(system.app, notes=2, lines=1)
        export(system.ledger, directory)
        with forensic_db.shared(directory) as first:
            write_notes(system.app, notes=2, lines=1)
            export(system.ledger, directory)
            with forensic_db.shared(directory) as second:
                assert count(second) == Manifest.load(directory).events > count(first)
            # The older database stays open until its last question is answered.
            assert count(first) < Manifest.load(directory).events
    finally:
        system.app.close()


def test_a_lent_cursor_is_locked_down_like_a_connection_of_its_own(
    settings: Settings, clock: ManualClock, officer: AuditContext, tmp_path: Path
) -> None:
    system = open_system(settings, clock=clock)
    directory = tmp_path / "export"
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n1\n")
    try:
        write_notes(system.app, notes=1, lines=1)
        export(system.ledger, directory)
        with forensic_db.shared(directory) as cursor:
            with pytest.raises(forensic_db.QueryRefused):
                forensic_db.run(cursor, f"SELECT * FROM read_csv('{outside}')")
            with pytest.raises(forensic_db.QueryRefused):
                forensic_db.run(cursor, "SET enable_external_access = true")
            with pytest.raises(duckdb.Error):
                cursor.execute("SET enable_external_access = true")
            with pytest.raises(duckdb.Error):
                cursor.execute("SET lock_configuration = false")
        # Nothing an officer's cursor tried changed the database the next question gets.
        with forensic_db.shared(directory) as cursor:
            with pytest.raises(forensic_db.QueryRefused):
                forensic_db.run(cursor, f"SELECT * FROM read_csv('{outside}')")
            assert count(cursor) == Manifest.load(directory).events
    finally:
        system.app.close()
