"""Snapshots are signed with the audit key: a forged one is refused on load and named by verify.

The story: an admin, Ada, is recorded with a snapshot every 2 versions, so her
newest state is loaded from a snapshot.  Someone with write access to the
database rewrites that snapshot to make her a super-admin (or swaps in an
older snapshot, or removes its signature).  A fresh application must still load
her as the admin the events say she is, say so in the log, and `audit verify`
must fail at the position of the event the snapshot claims to follow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from audit_queries.verify import FORGED_SNAPSHOT, verify_store
from domain.access import Role
from domain.identity import Identity
from tests.stores import store_settings
from tests.tamper import Tamperer

ADMIN = b'{"_type_":"role","_data_":"admin"}'
SUPER_ADMIN = b'{"_type_":"role","_data_":"super-admin"}'


@pytest.fixture
def snapshotting(store_kind: str, tmp_path: Path) -> Iterator[Settings]:
    with store_settings(store_kind, tmp_path, STRONGROOM_SNAPSHOT_INTERVAL="2") as settings:
        yield settings


def record_ada(settings: Settings, clock: ManualClock) -> tuple[UUID, int, int]:
    """Ada the admin: registered, made admin, activated, joined a team (version 4)."""
    app = open_system(settings, clock=clock).app
    try:
        world = World(app)
        ada = world.person("ada", Role.ADMIN, teams=("A",))
        world.person("bob", teams=("A",))  # so that Ada's last event is not the log's last
        version: int = app.repository.get(ada).version
        position = position_of(app, ada, version)
    finally:
        app.close()
    return ada, version, position


def position_of(app: object, aggregate: UUID, version: int) -> int:
    recorder = app.recorder  # type: ignore[attr-defined]
    for notification in recorder.select_notifications(start=1, limit=1000):
        if notification.originator_id == aggregate and notification.originator_version == version:
            return int(notification.id)
    raise LookupError(aggregate)


def load_role(settings: Settings, clock: ManualClock, ada: UUID) -> Role:
    """Ada's role as a fresh application loads it (no cache: from her snapshot, if trusted)."""
    app = open_system(settings, clock=clock).app
    try:
        return Identity(app).user(ada).role
    finally:
        app.close()


def test_a_snapshot_made_super_admin_is_refused_logged_and_reported(
    snapshotting: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    ada, version, position = record_ada(snapshotting, clock)
    assert verify_store(snapshotting).problem is None
    assert load_role(snapshotting, clock, ada) is Role.ADMIN

    # The attacker rewrites her newest snapshot: same aggregate, same version, a new role.
    attacker = Tamperer(snapshotting)
    state = attacker.snapshot_state(ada, version)
    assert state.count(ADMIN) == 1
    attacker.set_snapshot_state(ada, version, state.replace(ADMIN, SUPER_ADMIN))
    attacker.close()

    # A fresh application refuses the snapshot, says so, and loads her from her events.
    with caplog.at_level(logging.ERROR, logger="adapters.ledger.snapshots"):
        assert load_role(snapshotting, clock, ada) is Role.ADMIN
    (refusal,) = [r for r in caplog.records if r.name == "adapters.ledger.snapshots"]
    assert refusal.levelno == logging.ERROR
    assert str(ada) in refusal.getMessage()
    assert f"at version {version}:" in refusal.getMessage()
    assert "not the audit key's" in refusal.getMessage()

    # Verification names the event the snapshot claims to follow.
    problem = verify_store(snapshotting).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (position, FORGED_SNAPSHOT)
    assert str(ada) in problem.detail and f"version {version}" in problem.detail


def test_an_older_snapshot_put_in_the_place_of_the_newest_is_refused(
    snapshotting: Settings, clock: ManualClock
) -> None:
    ada, version, position = record_ada(snapshotting, clock)
    # A genuinely signed snapshot, of version 2, with its signature, copied over version 4:
    # the signature covers the version, so it does not carry over.
    attacker = Tamperer(snapshotting)
    older = attacker.snapshot_state(ada, version - 2)
    ((signature,),) = attacker.run(
        f"SELECT signature FROM {attacker.signatures} WHERE originator_id = ? "
        "AND originator_version = ?",
        attacker.stored_id(ada),
        version - 2,
    )
    attacker.set_snapshot_state(ada, version, older)
    attacker.set_value(
        attacker.signatures,
        "signature",
        bytes(signature),
        "originator_id = ? AND originator_version = ?",
        attacker.stored_id(ada),
        version,
    )
    attacker.close()

    app = open_system(snapshotting, clock=clock).app
    try:
        loaded = Identity(app).user(ada)
        assert (loaded.version, loaded.role, loaded.active) == (version, Role.ADMIN, True)
        assert len(loaded.teams) == 1  # joined at version 4: not in the version 2 state
    finally:
        app.close()
    problem = verify_store(snapshotting).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (position, FORGED_SNAPSHOT)


def test_a_snapshot_whose_signature_was_removed_is_refused(
    snapshotting: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    ada, version, position = record_ada(snapshotting, clock)
    attacker = Tamperer(snapshotting)
    attacker.run(
        f"DELETE FROM {attacker.signatures} WHERE originator_id = ? AND originator_version = ?",
        attacker.stored_id(ada),
        version,
    )
    attacker.close()

    with caplog.at_level(logging.ERROR, logger="adapters.ledger.snapshots"):
        assert load_role(snapshotting, clock, ada) is Role.ADMIN
    assert any("carries no signature" in r.getMessage() for r in caplog.records)
    problem = verify_store(snapshotting).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (position, FORGED_SNAPSHOT)
    assert "carries no signature" in problem.detail


def test_signed_snapshots_are_used_without_complaint(
    snapshotting: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    ada, version, _ = record_ada(snapshotting, clock)
    app = open_system(snapshotting, clock=clock).app
    try:
        with caplog.at_level(logging.ERROR, logger="adapters.ledger.snapshots"):
            (snapshot,) = app.snapshots.get(ada, desc=True, limit=1)  # type: ignore[union-attr]
            loaded = Identity(app).user(ada)
        assert snapshot.originator_version == version
        assert loaded.role is Role.ADMIN
    finally:
        app.close()
    assert not caplog.records
    assert verify_store(snapshotting).problem is None
