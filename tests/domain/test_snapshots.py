"""Snapshots keep loading an aggregate independent of how long its history is."""

from __future__ import annotations

from pathlib import Path

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from domain.envelope import AuditContext
from domain.identity import Identity
from domain.logins import Logins
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
        app = open_system(settings, clock=clock).app
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
            reopened = open_system(settings, clock=clock).app
            try:
                loaded = reopened.repository.get(note.id)
                replayed = reopened.repository.get(note.id, version=130)
                assert loaded.version == replayed.version == 130
                assert loaded.lines == replayed.lines == [f"line {i}" for i in range(129)]
            finally:
                reopened.close()
        finally:
            app.close()


def test_every_identity_aggregate_survives_a_snapshot(
    store_kind: str, tmp_path: Path, clock: ManualClock
) -> None:
    # A world with every kind of state: roles, sets of teams, permissions,
    # quotas, sessions with durations; then snapshots of each, read back cold.
    import secrets
    from hashlib import sha256

    from api.world import VISITOR, World
    from domain.access import Permission, Role
    from domain.envelope import acting_as
    from domain.teams import Quota

    with store_settings(store_kind, tmp_path) as settings:
        app = open_system(settings, clock=clock).app
        world = World(app)
        ada = world.person("ada", Role.SUB_ADMIN, teams=("A", "B"), sub_admin_of=("A",))
        with world.acting("root"):
            Identity(app).create_profile("Granite User", {Permission.VIEW, Permission.TAG_PROJECTS})
            Identity(app).apply_profile(ada, "Granite User")
            Identity(app).set_permissions(ada, grant={Permission.AUDIT}, restrict={Permission.VIEW})
            Identity(app).set_team_quota(world.team("A"), Quota(2**40, 4, 32))
        nonce = secrets.token_bytes(32)
        with acting_as(VISITOR):
            Logins(app).issue_challenge(world.email("ada"), nonce)
            principal = Logins(app).login(
                email=world.email("ada"),
                nonce=nonce,
                signature=world.keys["ada"].login_signature(nonce, world.email("ada")),
                token_hash=sha256(b"t").hexdigest(),
            )
        ids = [ada, world.team("A"), principal.session_id]
        originals = [app.repository.get(i) for i in ids]
        for aggregate_id in ids:
            app.take_snapshot(aggregate_id)
        app.close()

        cold = open_system(settings, clock=clock).app
        try:
            for original in originals:
                snapshot = next(cold.snapshots.get(original.id, desc=True, limit=1))
                assert snapshot.originator_version == original.version
                restored = cold.repository.get(original.id)
                assert restored.__dict__ == original.__dict__
            user = Identity(cold).user(ada)
            assert user.role is Role.SUB_ADMIN
            assert user.permissions == {Permission.TAG_PROJECTS, Permission.AUDIT}
        finally:
            cold.close()
