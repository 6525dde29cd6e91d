"""Snapshots keep loading an aggregate independent of how long its history is."""

from __future__ import annotations

from pathlib import Path

from adapters.bootstrap import bootstrap
from adapters.clock import ManualClock
from domain.envelope import AuditContext
from tests.notes import Note
from tests.stores import store_settings


def test_snapshots_are_taken_at_the_configured_interval(
    store_kind: str, tmp_path: Path, clock: ManualClock, officer: AuditContext
) -> None:
    with store_settings(
        store_kind,
        tmp_path,
        STRONGROOM_SNAPSHOT_INTERVAL="50",
        STRONGROOM_AGGREGATE_CACHE_MAXSIZE="1",
    ) as settings:
        app = bootstrap(settings, clock=clock)
        try:
            # A note with a long history, written one line per save.
            note = Note("long")
            app.save(note)
            for i in range(129):
                note.write(f"line {i}")
                app.save(note)

            # The newest snapshot is at version 100, the last multiple of 50.
            snapshot = next(app.snapshots.get(note.id, desc=True, limit=1))
            assert snapshot.originator_version == 100

            # A fresh application (empty cache) loads the same state as full replay.
            reopened = bootstrap(settings, clock=clock)
            try:
                loaded = reopened.repository.get(note.id)
                replayed = reopened.repository.get(note.id, version=130)
                assert loaded.version == replayed.version == 130
                assert loaded.lines == replayed.lines == [f"line {i}" for i in range(129)]
            finally:
                reopened.close()
        finally:
            app.close()
