"""Each alert rule fires on its scenario and stays quiet on the near-miss."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from client.keys import UserKeys
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.errors import Forbidden
from domain.identity import Identity
from domain.sessions import AuthenticationFailed
from projections.alert_rules import AlertRules, RulesFileError
from projections.alerts import alerts
from tests.api.cli_runner import ADMIN, env_for, strongroom
from tests.runners import runner_for


@pytest.fixture
def world(settings: Settings, clock: ManualClock) -> World:
    app = open_system(settings, clock=clock).app
    w = World(app)
    w.person("ada", teams=("A",))
    w.person("lead", Role.SUB_ADMIN, sub_admin_of=("A",))
    yield w  # type: ignore[misc]
    app.close()


def raised(settings: Settings, app: Strongroom, rule: str) -> list[str]:
    """Run the rules over everything recorded; the messages of `rule`'s alerts."""
    runner = runner_for(settings, app)
    runner.catch_up_all()
    with runner.engine.connect() as conn:
        rows = conn.execute(
            select(alerts).where(alerts.c.rule == rule).order_by(alerts.c.position)
        ).all()
    return [r.message for r in rows]


def test_user_added_and_its_near_miss(settings: Settings, world: World) -> None:
    app = world.app
    before = raised(settings, app, "user_added")
    with world.acting("root"):
        Identity(app).set_permissions(
            world.ids["ada"], grant={Permission.TAG_PROJECTS}, restrict=set()
        )
    assert raised(settings, app, "user_added") == before  # a change is not a new user
    world.person("newcomer", active=False)
    # Officers see who: the name and the email.
    assert raised(settings, app, "user_added")[-1] == (
        f"Newcomer <{world.email('newcomer')}> registered an account"
    )


def test_state_and_role_changes(settings: Settings, world: World) -> None:
    app = world.app
    states, roles = (
        len(raised(settings, app, "state_changed")),
        len(raised(settings, app, "role_changed")),
    )
    with world.acting("root"):
        Identity(app).change_role(world.ids["ada"], Role.USER)  # the same role: nothing recorded
    assert len(raised(settings, app, "role_changed")) == roles
    with world.acting("root"):
        Identity(app).deactivate_user(world.ids["ada"])
        Identity(app).change_role(world.ids["ada"], Role.SUB_ADMIN)
    ada, root = f"Ada <{world.email('ada')}>", f"Root <{world.email('root')}>"
    assert raised(settings, app, "state_changed")[states:] == [f"{ada}: account deactivated"]
    assert raised(settings, app, "role_changed")[roles:] == [
        f"{ada}: role changed from user to sub-admin by {root}"
    ]


@pytest.mark.parametrize("failures", [4, 5], ids=["near-miss", "fires"])
def test_user_locked(settings: Settings, world: World, clock: ManualClock, failures: int) -> None:
    app = world.app
    impostor = UserKeys.generate()
    for _ in range(failures):
        clock.advance(timedelta(seconds=30))
        with pytest.raises(AuthenticationFailed):
            world.login("ada", client_ip="10.1.2.3", keys=impostor)
    locked = raised(settings, app, "user_locked")
    assert len(locked) == (1 if failures == 5 else 0)


@pytest.mark.parametrize(
    ("second_ip", "fires"),
    [("10.1.200.7", False), ("10.9.0.1", True)],
    ids=["same-network", "another-network"],
)
def test_ip_change(settings: Settings, world: World, second_ip: str, fires: bool) -> None:
    app = world.app
    world.login("ada", client_ip="10.1.2.3")
    world.login("ada", client_ip=second_ip)
    messages = raised(settings, app, "ip_change")
    ada = f"Ada <{world.email('ada')}>"
    assert messages == (
        [f"{ada}: login from {second_ip}; the previous login came from 10.1.2.3"] if fires else []
    )


@pytest.mark.parametrize(
    ("spacing", "fires"),
    [(timedelta(minutes=3), False), (timedelta(minutes=2), True)],
    ids=["spread-out", "burst"],
)
def test_denied_burst(
    settings: Settings, world: World, clock: ManualClock, spacing: timedelta, fires: bool
) -> None:
    # Five refusals for the sub-admin: 2 minutes apart fit in 10 minutes; 3 do not.
    app = world.app
    for _ in range(5):
        clock.advance(spacing)
        with world.acting("lead"), pytest.raises(Forbidden):
            Identity(app).change_role(world.ids["ada"], Role.ADMIN)
    bursts = raised(settings, app, "denied_burst")
    assert len(bursts) == (1 if fires else 0)


def test_an_officers_directory_reads_are_not_refusals(
    settings: Settings, world: World, clock: ManualClock
) -> None:
    # A read is recorded as DirectoryRead.Recorded: the same event name as a refusal's.
    app = world.app
    world.person("officer", teams=("A",), audit=True)
    for _ in range(6):
        clock.advance(timedelta(seconds=30))
        with world.acting("officer"):
            Identity(app).view_user(world.ids["ada"])
    assert raised(settings, app, "denied_burst") == []


def test_an_export_of_the_history_is_announced(settings: Settings, world: World) -> None:
    from uuid import uuid4

    from domain.envelope import AuditContext, acting_as
    from domain.exports import ForensicExport

    with acting_as(AuditContext("system:export", "system", None, uuid4().hex, None)):
        world.app.save(
            ForensicExport(
                destination="/media/usb/copy",
                format="parquet",
                from_position=0,
                to_position=40,
                events=40,
            )
        )
    assert raised(settings, world.app, "history_exported") == [
        "positions 1 to 40 of the history (40 events) were copied to /media/usb/copy "
        "by system:export"
    ]


@pytest.mark.parametrize(
    ("at_hour", "fires"), [(18, False), (22, True)], ids=["late-but-in-hours", "night"]
)
def test_outside_hours(
    settings: Settings, world: World, clock: ManualClock, at_hour: int, fires: bool
) -> None:
    app = world.app
    clock.advance(timedelta(hours=at_hour - 9, minutes=59))  # from 09:00 to hh:59
    with world.acting("root"):
        Identity(app).deactivate_user(world.ids["ada"])
        Identity(app).activate_user(world.ids["ada"])  # a second action the same night: one alert
    night = raised(settings, app, "outside_hours")
    assert len(night) == (1 if fires else 0)


def test_a_disabled_rule_stays_quiet(settings: Settings, world: World) -> None:
    app = world.app
    rules = AlertRules()
    quiet = replace(rules, user_added=replace(rules.user_added, enabled=False))
    runner = runner_for(settings, app, rules=quiet)
    runner.catch_up_all()
    with runner.engine.connect() as conn:
        assert conn.execute(select(alerts).where(alerts.c.rule == "user_added")).all() == []


# -- the rules file ------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def test_a_rules_file_overrides_the_defaults(tmp_path: Path) -> None:
    rules = AlertRules.load(
        write(
            tmp_path,
            """
[denied_burst]
count = 3
minutes = 5
severity = "critical"

[outside_hours]
start = 06:30:00
timezone = "America/New_York"
""",
        )
    )
    assert (rules.denied_burst.count, rules.denied_burst.minutes) == (3, 5)
    assert rules.denied_burst.severity == "critical"
    assert rules.outside_hours.timezone == "America/New_York"
    assert rules.user_locked == AlertRules().user_locked


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[denied_burst]\ncount = 3\n\n[not_a_rule]\nx = 1\n", "line 4: unknown rule [not_a_rule]"),
        (
            '[denied_burst]\ncount = 3\nseverity = "dire"\n',
            "line 3: [denied_burst] severity: must be one of",
        ),
        ("[denied_burst]\n\ncount = 0\n", "line 3: [denied_burst] count: a whole number"),
        ('[outside_hours]\nstart = "7am"\n', "line 2: [outside_hours] start: a time of day"),
        (
            '[outside_hours]\ntimezone = "Mars/Olympus"\n',
            "line 2: [outside_hours] timezone: unknown time zone",
        ),
        ("[ip_change]\nprefix = 40\n", "line 2: [ip_change] prefix must be between 1 and 32"),
        ("[user_locked]\nenabled = yes\n", "line 2"),
        (
            '[user_locked]\nseverity = "high"\ncolour = "red"\n',
            "line 3: [user_locked] colour: unknown setting",
        ),
    ],
)
def test_a_bad_rules_file_is_refused_with_line_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(RulesFileError) as refused:
        AlertRules.load(write(tmp_path, text))
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_rebuilding_the_rules_process_applies_the_configured_rules(
    settings: Settings, tmp_path: Path
) -> None:
    # History the rules process has never seen, and a rules file that switches
    # "User Added" off.
    rules = tmp_path / "rules.toml"
    rules.write_text("[user_added]\nenabled = false\n")
    env = env_for(settings, STRONGROOM_ALERT_RULES=str(rules))
    assert strongroom("init", *ADMIN, env=env).returncode == 0
    app = open_system(settings).app
    world = World(app)
    world.person("ada")
    with world.acting("root"):
        Identity(app).change_role(world.ids["ada"], Role.SUB_ADMIN)
    app.close()

    rebuilt = strongroom("projections", "rebuild", "alert-rules", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr

    # Only what the configured rules raise was recorded: no "User Added"; a "Role
    # Changed" for each of the three role changes (two super-admins made, and ada).
    app = open_system(settings).app
    raised_rules = [
        e.rule
        for e in (
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=10_000)
        )
        if type(e).__qualname__ == "Alert.Raised"
    ]
    app.close()
    assert "user_added" not in raised_rules
    assert raised_rules.count("role_changed") == 3
