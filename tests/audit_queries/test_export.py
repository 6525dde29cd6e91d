"""The export is incremental, resumable and compacted, and only ever continues its own chain.

The story: an organisation is recorded (people, a team, logins, notes), exported,
then more happens over the next days and the export is brought up to date,
interrupted, compacted; every time, the rows must be exactly those of one clean
export of everything, each once, with nothing half-written left in sight.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from audit_queries import export as exporting
from audit_queries.export import ExportProblem, Manifest, export
from audit_queries.export_verify import verify_export
from domain.access import Role
from domain.envelope import AuditContext
from domain.errors import Forbidden
from tests.api.cli_runner import env_for
from tests.audit_queries.exported import (
    events_between,
    parquet_files,
    rows_of,
    temporary_files,
    write_notes,
)
from tests.notes import Note
from tests.stores import store_settings


def file_digests(directory: Path) -> dict[str, str]:
    return {
        relative: hashlib.sha256((directory / relative).read_bytes()).hexdigest()
        for relative in parquet_files(directory)
    }


def assert_clean(directory: Path, settings: Settings) -> None:
    """Each position once, every file named by the manifest, nothing temporary, and it verifies."""
    manifest = Manifest.load(directory)
    positions = rows_of(directory)["position"].to_pylist()
    assert positions == sorted(set(positions))
    assert parquet_files(directory) == {f.path for f in manifest.files}
    assert temporary_files(directory) == []
    assert manifest.events == len(positions)
    report = verify_export(directory, settings.public_key_path)
    assert report.problem is None, report.problem


def test_a_second_run_adds_only_what_is_new(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    system = open_system(settings, clock=clock)
    app = system.app
    try:
        # Monday: an organisation is set up, and the export is taken.
        world = World(app)
        world.person("ada", Role.ADMIN, teams=("Genomics",))
        world.person("bob", teams=("Genomics",))
        world.login("bob")
        monday = system.ledger.head()
        first = export(system.ledger, tmp_path / "export")
        assert (first.start, first.added) == (0, events_between(app, 0, monday))
        assert first.manifest.position == monday
        before = file_digests(tmp_path / "export")

        # Tuesday: more happens; the next run adds only that, in new files.
        clock.advance(timedelta(days=1))
        world.person("cy", teams=("Genomics",))
        with world.acting("ada"), pytest.raises(Forbidden):  # refused, and recorded
            world.identity.change_role(world.ids["bob"], Role.ADMIN)
        with world.acting("root"):
            world.identity.change_role(world.ids["bob"], Role.ADMIN)
        world.login("cy")
        tuesday = system.ledger.head()
        second = export(system.ledger, tmp_path / "export")
        assert second.start == monday
        assert second.added == events_between(app, monday, tuesday)
        assert second.manifest.position == tuesday
        assert second.manifest.events == first.added + second.added
        after = file_digests(tmp_path / "export")
        # What was written on Monday is untouched; Tuesday's rows are in Tuesday's files.
        assert {k: v for k, v in after.items() if k in before} == before
        new_files = [f for f in second.manifest.files if f.path not in before]
        assert len(new_files) == second.files >= 1
        assert all(f.first > monday for f in new_files)
        assert any(f.path.startswith("day=2026-03-02/") for f in new_files)

        # Nothing new: nothing added, nothing written.
        third = export(system.ledger, tmp_path / "export")
        assert (third.added, third.files, third.manifest.position) == (0, 0, tuesday)
        assert file_digests(tmp_path / "export") == after

        # The two runs hold exactly the rows of one clean export of everything.
        clean = export(system.ledger, tmp_path / "clean")
        assert clean.added == first.added + second.added
        assert rows_of(tmp_path / "export").equals(rows_of(tmp_path / "clean"))
        assert_clean(tmp_path / "export", settings)
    finally:
        app.close()


DRIVER = """
import sys
from pathlib import Path
from adapters.bootstrap import open_system
from adapters.settings import Settings
from audit_queries import export as exporting

# Small pages and segments: a file and a manifest write every few events.
exporting.PAGE = 20
system = open_system(Settings.from_env())
exporting.export(system.ledger, Path(sys.argv[1]), segment_rows=20)
system.app.close()
"""


def start_export(settings: Settings, directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(directory)],
        env=env_for(settings),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], object], what: str) -> None:
    """SIGKILL the export as soon as `ready()` holds; fail if it ended first or never got there."""
    deadline = time.monotonic() + 120
    while not ready():
        assert process.poll() is None, f"the export ended before {what}: {process.stderr}"
        assert time.monotonic() < deadline, f"the export never reached {what}"
        time.sleep(0.0005)  # polling for a state, not waiting for time to pass
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def exported_position(directory: Path) -> int:
    try:
        return Manifest.load(directory).position
    except ExportProblem:  # never: the manifest is replaced whole; say so if it happens
        raise AssertionError("a killed run left a manifest that cannot be read") from None


def test_an_export_killed_mid_way_and_rerun_equals_one_clean_run(
    settings: Settings, clock: ManualClock, officer: AuditContext, tmp_path: Path
) -> None:
    system = open_system(settings, clock=clock)
    try:
        World(system.app).person("ada", teams=("Genomics",))
        write_notes(system.app, notes=10, lines=99)
        clock.advance(timedelta(days=1))  # a second day: files per day, in each segment
        write_notes(system.app, notes=2, lines=99)
        head = system.ledger.head()
        directory = tmp_path / "export"

        # Killed once the manifest records a first segment...
        process = start_export(settings, directory)
        kill_when(process, lambda: exported_position(directory) > 0, "a first segment")
        assert 0 < exported_position(directory) < head
        # ...then, rerun, killed while a file is being written (its temporary name in sight)...
        process = start_export(settings, directory)
        kill_when(process, lambda: temporary_files(directory), "a file being written")
        # ...and once more, after a few more files appeared.
        files = len(parquet_files(directory))
        process = start_export(settings, directory)
        kill_when(process, lambda: len(parquet_files(directory)) >= files + 3, "three more files")
        assert exported_position(directory) < head

        # The next run finishes the job: the same rows as one clean run, each once,
        # no temporary files, no file the manifest does not name.
        run = export(system.ledger, directory)
        assert run.manifest.position == head
        export(system.ledger, tmp_path / "clean")
        assert rows_of(directory).equals(rows_of(tmp_path / "clean"))
        assert_clean(directory, settings)
    finally:
        system.app.close()


def test_what_a_killed_run_leaves_is_removed_by_the_next(
    settings: Settings, clock: ManualClock, officer: AuditContext, tmp_path: Path
) -> None:
    system = open_system(settings, clock=clock)
    try:
        write_notes(system.app, notes=3, lines=9)
        directory = tmp_path / "export"
        run = export(system.ledger, directory)
        (named,) = run.manifest.files
        rows = rows_of(directory)
        # What a run killed after writing files but before recording them leaves:
        day = (directory / named.path).parent
        shutil.copy(
            directory / named.path, day / "events-00000000000000000031-00000000000000000040.parquet"
        )
        (day / ".tmp-events-00000000000000000041-00000000000000000050.parquet").write_bytes(b"PAR1")
        (directory / ".tmp-_manifest.json").write_text("{")
        (directory / "_checkpoints" / ".tmp-000000000009.json").write_text("{")

        again = export(system.ledger, directory)
        assert (again.added, again.files) == (0, 0)
        assert rows_of(directory).equals(rows)
        assert_clean(directory, settings)
    finally:
        system.app.close()


def test_many_small_runs_on_one_day_are_compacted(
    settings: Settings, clock: ManualClock, officer: AuditContext, tmp_path: Path
) -> None:
    system = open_system(settings, clock=clock)
    try:
        directory = tmp_path / "export"
        note = Note("log")
        most = 0
        for run in range(exporting.MAX_FILES_PER_DAY + 8):
            note.write(f"entry {run}")
            system.app.save(note)
            export(system.ledger, directory)
            files = len(Manifest.load(directory).files)
            most = max(most, files)
            assert files <= exporting.MAX_FILES_PER_DAY
        # The day filled up to the limit, was merged, and filled again from there.
        assert most == exporting.MAX_FILES_PER_DAY
        assert len(Manifest.load(directory).files) < exporting.MAX_FILES_PER_DAY // 2
        export(system.ledger, tmp_path / "clean")
        assert rows_of(directory).equals(rows_of(tmp_path / "clean"))
        assert_clean(directory, settings)
    finally:
        system.app.close()


@pytest.mark.parametrize("other_has", ["more events", "fewer events"])
def test_an_export_continues_only_the_store_it_was_taken_from(
    settings: Settings,
    store_kind: str,
    clock: ManualClock,
    officer: AuditContext,
    tmp_path: Path,
    other_has: str,
) -> None:
    directory = tmp_path / "export"
    system = open_system(settings, clock=clock)
    try:
        write_notes(system.app, notes=2, lines=9)
        export(system.ledger, directory)
    finally:
        system.app.close()
    before = file_digests(directory), (directory / "_manifest.json").read_bytes()

    # Someone points the same directory at another store.
    with store_settings(store_kind, tmp_path / "other") as other:
        system = open_system(other, clock=clock)
        try:
            write_notes(system.app, notes=3 if other_has == "more events" else 1, lines=9)
            with pytest.raises(ExportProblem, match="does not continue this export"):
                export(system.ledger, directory)
        finally:
            system.app.close()
    # Nothing of the other store got in.
    assert (file_digests(directory), (directory / "_manifest.json").read_bytes()) == before
