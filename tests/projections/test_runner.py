"""The projection runner: exactly once across crashes, and rebuilds equal to live following."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.errors import Forbidden
from domain.identity import Identity
from projections.identity import UsersProjection, denied, sessions, team_members, teams, users
from tests.conftest import needs_postgres
from tests.runners import runner_for
from tests.stores import store_settings

TABLES = (users, teams, team_members, sessions, denied)


def story(app: Strongroom) -> World:
    """Enough history to span several pages: people, teams, changes, a refusal."""
    w = World(app)
    for i in range(6):
        w.person(f"p{i}", teams=("A",) if i % 2 else ("B",))
    w.person("lead", Role.SUB_ADMIN, sub_admin_of=("A",))
    with w.acting("root"):
        Identity(app).change_role(w.ids["p1"], Role.SUB_ADMIN)
        Identity(app).set_permissions(
            w.ids["p2"], grant={Permission.AUDIT}, restrict={Permission.VIEW}
        )
        Identity(app).remove_team_member(w.team("B"), w.ids["p4"])
    with w.acting("lead"), contextlib.suppress(Forbidden):
        Identity(app).deactivate_user(w.ids["p0"])
    return w


def dump(runner: object) -> dict[str, list[tuple[object, ...]]]:
    with runner.engine.connect() as conn:  # type: ignore[attr-defined]
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)).all()) for t in TABLES}


def user_events_in_log(app: Strongroom, user_id: object) -> int:
    """How many of a user's events the users read model reads (its own topic list)."""
    topics = {topic.rsplit(".", 1)[-1] for topic in UsersProjection.topics}
    return sum(1 for e in app.events.get(user_id) if type(e).__name__ in topics)


def test_the_read_models_match_the_aggregates(settings: Settings, clock: ManualClock) -> None:
    app = open_system(settings, clock=clock).app
    w = story(app)
    runner = runner_for(settings, app, page=7)
    runner.catch_up_all()
    with runner.engine.connect() as conn:
        for label, user_id in w.ids.items():
            row = conn.execute(select(users).where(users.c.id == str(user_id))).one()
            user = Identity(app).user(user_id)
            assert (row.role, row.active, set(row.teams)) == (
                str(user.role),
                user.active,
                {str(t) for t in user.teams},
            ), label
            assert sorted(row.permissions) == sorted(str(p) for p in user.permissions)
            assert row.events == user_events_in_log(app, user_id)
        refusals = conn.execute(select(denied)).all()
        assert [(r.action, r.target) for r in refusals] == [("deactivate-user", str(w.ids["p0"]))]
        members_of_a = conn.execute(
            select(func.count())
            .select_from(team_members)
            .where(team_members.c.team_id == str(w.team("A")))
        ).scalar_one()
        assert members_of_a == len(Identity(app).team(w.team("A")).members)
    assert set(runner.lag().values()) == {0}
    app.close()


def test_rebuilding_from_zero_gives_what_live_following_gave(
    settings: Settings, clock: ManualClock
) -> None:
    app = open_system(settings, clock=clock).app
    runner = runner_for(settings, app, page=5)
    # Follow live while the story happens.
    runner.start(poll_seconds=0.01)
    try:
        story(app)
        deadline = time.monotonic() + 30
        while any(runner.lag().values()):
            assert time.monotonic() < deadline, runner.lag()
            time.sleep(0.02)
    finally:
        runner.stop()
    live = dump(runner)
    for projection in runner.projections:
        runner.rebuild(projection.name)
    assert dump(runner) == live
    app.close()


CRASHING_RUNNER = textwrap.dedent(
    """
    import os, sys
    from adapters.bootstrap import open_system
    from adapters.settings import Settings
    from projections.runner import Hooks
    from tests.runners import runner_for

    pages = 0
    def crash(position):
        global pages
        pages += 1
        if pages == int(sys.argv[1]):
            os._exit(17)  # dies between applying a page and committing it

    app = open_system(Settings.from_env()).app
    runner_for(Settings.from_env(), app, hooks=Hooks(crash), page=7).catch_up_all()
    """
)


def test_a_crash_between_apply_and_commit_loses_and_repeats_nothing(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    app = open_system(settings, clock=clock).app
    w = story(app)
    app.close()
    script = tmp_path / "crashing_runner.py"
    script.write_text(CRASHING_RUNNER)
    env = {
        "STRONGROOM_HOME": str(settings.home),
        "STRONGROOM_CHECKPOINT_EVERY": str(settings.checkpoint_every),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    if settings.store.kind == "postgres":
        s = settings.store
        env["STRONGROOM_DATABASE_URL"] = f"postgresql://{s.user}@{s.host}:{s.port}/{s.dbname}"  # type: ignore[union-attr]
    # Killed at the third page, then at the fifth, each time mid-transaction.
    for page in ("3", "2"):
        result = subprocess.run([sys.executable, str(script), page], env=env, check=False)
        assert result.returncode == 17
    # A clean run finishes the job.
    app = open_system(settings, clock=clock).app
    runner = runner_for(settings, app, page=7)
    assert 0 < runner.position("users") < app.recorder.max_notification_id()
    runner.catch_up_all()
    with runner.engine.connect() as conn:
        for user_id in w.ids.values():
            row = conn.execute(select(users.c.events).where(users.c.id == str(user_id))).one()
            assert row.events == user_events_in_log(app, user_id)
        assert conn.execute(select(func.count()).select_from(denied)).scalar_one() == 1
    # And it matches a rebuild from zero.
    followed = dump(runner)
    for projection in runner.projections:
        runner.rebuild(projection.name)
    assert dump(runner) == followed
    app.close()


@needs_postgres
def test_on_postgres_commits_by_another_process_wake_the_runner(
    tmp_path: Path, clock: ManualClock
) -> None:
    with store_settings("postgres", tmp_path) as settings:
        follower = open_system(settings, clock=clock).app
        writer = open_system(settings, clock=clock).app  # another "process": no in-process wakeup
        runner = runner_for(settings, follower)
        runner.start(poll_seconds=3600)  # no polling to speak of: only NOTIFY can wake it
        try:
            time.sleep(0.3)  # the listener is up
            World(writer).person("ada")
            deadline = time.monotonic() + 20
            while runner.lag()["users"]:
                assert time.monotonic() < deadline, "the runner was not woken"
                time.sleep(0.05)
        finally:
            runner.stop()
            follower.close()
            writer.close()


def test_two_runners_on_the_same_read_models_apply_each_event_once(
    settings: Settings, clock: ManualClock
) -> None:
    # Two server processes, each with its runner, sharing one set of read models.
    app = open_system(settings, clock=clock).app
    w = story(app)
    first, second, third = (runner_for(settings, app, page=3) for _ in "123")
    # Three runners, and one of them also asked from two threads at once.
    racing = [threading.Thread(target=r.catch_up_all) for r in (first, second, third, first)]
    for thread in racing:
        thread.start()
    for thread in racing:
        thread.join()
    first.catch_up_all()
    with first.engine.connect() as conn:
        for user_id in w.ids.values():
            row = conn.execute(select(users.c.events).where(users.c.id == str(user_id))).one()
            assert row.events == user_events_in_log(app, user_id)
    app.close()


def test_text_older_code_let_through_still_projects(settings: Settings, clock: ManualClock) -> None:
    # A NUL (which Postgres text cannot hold) and a name past today's bounds, recorded
    # behind the command's back as older code could have: the read models follow on.
    from client.keys import UserKeys
    from domain.users import EmailIndex, User

    app = open_system(settings, clock=clock).app
    world = World(app)
    keys = UserKeys.generate()
    with world.acting("root"):
        odd = User(
            email="nul@example.edu",
            name="Nul\x00l " + "x" * 500,
            signing_public_key=keys.signing_public_key,
            encryption_public_key=keys.encryption_public_key,
        )
        app.save(odd, EmailIndex(odd.email, odd.id))
    runner = runner_for(settings, app)
    runner.catch_up_all()
    assert not runner.stalled
    with runner.engine.connect() as conn:
        name = conn.execute(select(users.c.name).where(users.c.id == str(odd.id))).scalar_one()
    assert name.startswith("Nul\\x00l x")
    app.close()
