"""`audit verify` names the first bad position for every way the store can be tampered with.

The story: an officer records 45 events, one per save; the ledger seals a
checkpoint every 10 events (at 10, 20, 30, 40), leaving 41-45 awaiting the next.
Then an attacker with direct database access changes the store, and we verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.ledger.checkpoints import load_public_key
from adapters.settings import Settings
from audit_queries.ledger_reader import open_reader
from audit_queries.verify import (
    ALTERED,
    BAD_SIGNATURE,
    INSERTED,
    MISSING,
    REORDERED,
    UNSIGNED_TAIL,
    VerifyReport,
    verify_ledger,
    verify_store,
)
from domain.envelope import AuditContext
from tests.conftest import needs_postgres
from tests.notes import Note
from tests.stores import store_settings
from tests.tamper import Tamperer

EVENTS = 45


@pytest.fixture
def recorded(settings: Settings, clock: ManualClock, officer: AuditContext) -> Settings:
    app = open_system(settings, clock=clock).app
    try:
        notes = [Note(f"note {i}") for i in range(5)]
        for note in notes:
            app.save(note)
        for i in range(EVENTS - len(notes)):
            note = notes[i % len(notes)]
            note.write(f"line {i}")
            app.save(note)
    finally:
        app.close()
    return settings


@pytest.fixture
def attacker(recorded: Settings) -> Iterator[Tamperer]:
    tamperer = Tamperer(recorded)
    yield tamperer
    tamperer.close()


def assert_fails_at(settings: Settings, position: int, kind: str) -> VerifyReport:
    report = verify_store(settings)
    assert report.problem is not None, "tampering went unnoticed"
    assert (report.problem.position, report.problem.kind) == (position, kind), report.problem
    return report


def test_an_untouched_store_verifies(recorded: Settings) -> None:
    report = verify_store(recorded)
    assert report.problem is None
    assert (report.events, report.checkpoints, report.unsigned) == (EVENTS, 4, 5)


def test_the_checkpoints_are_where_the_interval_puts_them(attacker: Tamperer) -> None:
    assert attacker.checkpoint_positions() == [10, 20, 30, 40]


def test_a_row_changed_behind_the_trigger(recorded: Settings, attacker: Tamperer) -> None:
    attacker.set_state(15, b'{"line":"nothing to see"}')
    assert_fails_at(recorded, 15, ALTERED)


def test_a_row_deleted(recorded: Settings, attacker: Tamperer) -> None:
    attacker.delete_event(15)
    assert_fails_at(recorded, 15, MISSING)


def test_a_row_deleted_with_its_chain_link(recorded: Settings, attacker: Tamperer) -> None:
    attacker.delete_event(15)
    attacker.delete_link(15)
    assert_fails_at(recorded, 15, MISSING)


def test_a_forged_row_inserted(recorded: Settings, attacker: Tamperer) -> None:
    forged = attacker.forge_event()
    assert forged == EVENTS + 1
    assert_fails_at(recorded, forged, INSERTED)


def test_two_rows_swapped(recorded: Settings, attacker: Tamperer) -> None:
    attacker.swap_positions(12, 17)
    report = assert_fails_at(recorded, 12, REORDERED)
    assert report.problem is not None and "position 17" in report.problem.detail


def test_the_tail_truncated_with_its_checkpoints(recorded: Settings, attacker: Tamperer) -> None:
    attacker.truncate_after(25)
    assert_fails_at(recorded, 26, MISSING)


def test_the_tail_truncated_leaving_its_checkpoints(recorded: Settings, attacker: Tamperer) -> None:
    attacker.truncate_after(25, checkpoints=False)
    assert_fails_at(recorded, 26, MISSING)


def test_a_checkpoint_deleted(recorded: Settings, attacker: Tamperer) -> None:
    attacker.delete_checkpoint(2)
    assert_fails_at(recorded, 11, MISSING)


def test_two_consecutive_checkpoints_deleted(recorded: Settings, attacker: Tamperer) -> None:
    attacker.delete_checkpoint(2)
    attacker.delete_checkpoint(3)
    assert_fails_at(recorded, 11, MISSING)


def test_the_newest_checkpoint_deleted(recorded: Settings, attacker: Tamperer) -> None:
    attacker.delete_checkpoint(4)
    assert_fails_at(recorded, 31, MISSING)


def test_the_newest_two_checkpoints_deleted(recorded: Settings, attacker: Tamperer) -> None:
    attacker.delete_checkpoint(3)
    attacker.delete_checkpoint(4)
    assert_fails_at(recorded, 21, MISSING)


def test_a_checkpoint_altered(recorded: Settings, attacker: Tamperer) -> None:
    attacker.set_checkpoint_hash(3, bytes(32))
    assert_fails_at(recorded, 21, BAD_SIGNATURE)


def test_two_consecutive_checkpoints_altered(recorded: Settings, attacker: Tamperer) -> None:
    attacker.set_checkpoint_hash(2, bytes(32))
    attacker.set_checkpoint_hash(3, bytes(32))
    assert_fails_at(recorded, 11, BAD_SIGNATURE)


def test_a_rewritten_chain_is_caught_by_the_checkpoint(
    recorded: Settings, attacker: Tamperer
) -> None:
    # A careful attacker changes an event and recomputes every link after it:
    # the chain is self-consistent again, but checkpoint 2 signed the old hash.
    attacker.set_state(15, b'{"line":"nothing to see"}')
    attacker.rechain_from(15)
    report = assert_fails_at(recorded, 11, ALTERED)
    assert report.problem is not None and "checkpoint 2" in report.problem.detail


def test_forged_events_beyond_the_checkpoint_interval(
    recorded: Settings, attacker: Tamperer
) -> None:
    # Events appended with well-formed links but never sealed by the audit key.
    first = attacker.forge_event()
    attacker.forge_link(first)
    for _ in range(9):
        attacker.forge_link(attacker.forge_event())
    assert_fails_at(recorded, 41, UNSIGNED_TAIL)


def test_a_forged_row_before_the_first_position(recorded: Settings, attacker: Tamperer) -> None:
    # The walk over positions 1.. would never reach it, but the library loads
    # an aggregate's events whatever their position.
    attacker.forge_event(position=-1)
    assert_fails_at(recorded, -1, INSERTED)


def test_an_unreadable_witness_file(recorded: Settings) -> None:
    recorded.witness_path.write_text("{not json")
    report = assert_fails_at(recorded, 40, BAD_SIGNATURE)
    assert report.problem is not None and "witness" in report.problem.detail


@needs_postgres
def test_a_forged_row_without_any_position(
    tmp_path: Path, clock: ManualClock, officer: AuditContext
) -> None:
    with store_settings("postgres", tmp_path) as settings:
        app = open_system(settings, clock=clock).app
        try:
            for i in range(3):
                app.save(Note(f"note {i}"))
        finally:
            app.close()
        attacker = Tamperer(settings)
        try:
            attacker.run(f"ALTER TABLE {attacker.events} ALTER COLUMN $pos DROP NOT NULL")
            attacker.run(
                f"INSERT INTO {attacker.events} (originator_id, originator_version, topic, "
                "state, $pos) VALUES (?, 1, 'domain.forged:Forged', '', NULL)",
                UUID(int=0xF0F0),
            )
        finally:
            attacker.close()
        report = assert_fails_at(settings, 4, INSERTED)
        assert report.problem is not None and "no position" in report.problem.detail


@needs_postgres
def test_a_forged_row_with_a_valid_link_in_a_sequence_gap(
    tmp_path: Path, clock: ManualClock, officer: AuditContext
) -> None:
    with store_settings("postgres", tmp_path) as settings:
        app = open_system(settings, clock=clock).app
        try:
            # A rejected concurrent write leaves a gap in Postgres' positions (3).
            note = Note("gappy")
            app.save(note)
            stale: Note = app.repository.get(note.id)
            note.write("kept")
            app.save(note)
            stale.write("conflicting")
            with pytest.raises(IntegrityError):
                app.save(stale)
            note.write("after the gap")
            app.save(note)
        finally:
            app.close()
        attacker = Tamperer(settings)
        try:
            # The attacker fills the gap with an event and a well-formed link.
            attacker.forge_event(position=3)
            attacker.forge_link(3)
        finally:
            attacker.close()
        assert_fails_at(settings, 3, INSERTED)


def test_a_store_written_to_during_verification_is_seen_as_of_one_moment(
    recorded: Settings, clock: ManualClock, officer: AuditContext
) -> None:
    # The verifier opens its snapshot; then 15 more events arrive, sealing a
    # checkpoint at 50 and another at 60 the verifier must not half-see.
    reader = open_reader(recorded)
    app = open_system(recorded, clock=clock).app
    try:
        note = Note("late")
        app.save(note)
        for i in range(14):
            note.write(f"late {i}")
            app.save(note)
        report = verify_ledger(
            reader,
            load_public_key(recorded.public_key_path),
            checkpoint_every=recorded.checkpoint_every,
        )
    finally:
        reader.close()
        app.close()
    assert report.problem is None, report.problem
    assert (report.events, report.checkpoints) == (EVENTS, 4)
    # A fresh look sees everything, still intact.
    fresh = verify_store(recorded)
    assert fresh.problem is None
    assert (fresh.events, fresh.checkpoints) == (EVENTS + 15, 6)
