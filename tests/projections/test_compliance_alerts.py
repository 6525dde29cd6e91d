"""The compliance alert rules: each fires on its scenario, once, naming people and projects.

"Certification expiring" is raised on the certification's event when it is
certified already within the window, and by the expiry process's round when it
enters the window later; either way once per certification period.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.bootstrap import System, open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from domain.access import Role
from domain.compliance import Compliance
from projections.alert_rules import AlertRules, CertificationExpiring, RulesFileError
from projections.alerts import alerts
from projections.compliance import CertificationExpiry
from projections.runner import ProjectionRunner
from tests.runners import runner_for


@pytest.fixture
def system(settings: Settings, clock: ManualClock) -> Iterator[System]:
    system = open_system(settings, clock=clock)
    yield system
    system.close()


@pytest.fixture
def world(system: System) -> World:
    w = World(system.app)
    w.person("admin", Role.ADMIN, name="Ada Admin")
    w.person("rita", name="Rita Levi")
    return w


@pytest.fixture
def setup(world: World) -> dict[str, Any]:
    c = Compliance(world.app)
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "", 365)
        hipaa = c.create_level("HIPAA", "", [training])
        dac = c.create_project("DAC", hipaa)
    return {"training": training, "dac": dac}


def rita(world: World) -> str:
    return f"Rita Levi <{world.email('rita')}>"


def raised(runner: ProjectionRunner, rule: str) -> list[Any]:
    runner.catch_up_all()
    with runner.engine.connect() as conn:
        return list(
            conn.execute(
                select(alerts).where(alerts.c.rule == rule).order_by(alerts.c.position)
            ).all()
        )


def expiry(system: System, runner: ProjectionRunner, rules: AlertRules) -> CertificationExpiry:
    """The expiry process over `runner` (with the test's rules)."""
    return CertificationExpiry(system.app, runner, system.clock, rules)


def test_certified_within_the_window_is_warned_of_on_its_event(
    settings: Settings, system: System, world: World, setup: dict[str, Any], clock: ManualClock
) -> None:
    runner = runner_for(settings, system.app)
    c = Compliance(system.app)
    with world.acting("admin"):
        c.certify(world.ids["rita"], setup["training"], clock.now() + timedelta(days=20))
    [alert] = raised(runner, "certification_expiring")
    assert alert.type == "Certification expiring"
    assert alert.severity == "low"
    assert alert.subject == str(world.ids["rita"])
    assert alert.subject_name == rita(world)
    assert alert.message == (
        f"{rita(world)}: DAC Compliance certification expires 2026-03-21 09:00 UTC (within 30 days)"
    )
    assert alert.actor_name == f"Ada Admin <{world.email('admin')}>"
    # The expiry process's rounds leave a certification warned of on its event alone.
    process = expiry(system, runner, AlertRules())
    for _ in range(2):
        clock.advance(timedelta(days=1))
        process.run_once()
    assert len(raised(runner, "certification_expiring")) == 1
    # A rebuild of the rules process raises nothing again.
    runner.rebuild("alert-rules")
    assert len(raised(runner, "certification_expiring")) == 1


def test_entering_the_window_later_is_warned_of_by_the_expiry_round(
    settings: Settings, system: System, world: World, setup: dict[str, Any], clock: ManualClock
) -> None:
    runner = runner_for(settings, system.app)
    c = Compliance(system.app)
    expires = clock.now() + timedelta(days=100)
    with world.acting("admin"):
        c.certify(world.ids["rita"], setup["training"], expires)
    process = expiry(system, runner, AlertRules())
    # A second before the window: nothing.
    clock.advance(expires - timedelta(days=30, seconds=1) - clock.now())
    runner.catch_up_all()
    process.run_once()
    assert raised(runner, "certification_expiring") == []
    # At the window's edge: one, raised by the rule, naming Rita and the requirement.
    clock.advance(timedelta(seconds=1))
    runner.catch_up_all()
    process.run_once()
    [alert] = raised(runner, "certification_expiring")
    assert alert.source_actor == "system:alert-rule:certification_expiring"
    assert alert.subject_name == rita(world)
    assert "DAC Compliance certification expires 2026-06-09 09:00 UTC" in alert.message
    # Later rounds, a second process, and the rules process add nothing.
    other = open_system(settings, clock=clock)
    try:
        other_runner = runner_for(settings, other.app)
        for each in (process, expiry(other, other_runner, AlertRules())):
            clock.advance(timedelta(days=1))
            each.runner.catch_up_all()
            each.run_once()
    finally:
        other.close()
    assert len(raised(runner, "certification_expiring")) == 1

    # Re-certified: a new period, warned of again when it comes near.
    with world.acting("admin"):
        c.certify(world.ids["rita"], setup["training"], clock.now() + timedelta(days=200))
    clock.advance(timedelta(days=171))
    runner.catch_up_all()
    process.run_once()
    assert len(raised(runner, "certification_expiring")) == 2


def test_the_window_is_configurable_and_the_rule_can_be_off(
    settings: Settings, system: System, world: World, setup: dict[str, Any], clock: ManualClock
) -> None:
    week = replace(
        AlertRules(), certification_expiring=CertificationExpiring(severity="medium", days=7)
    )
    runner = runner_for(settings, system.app, rules=week)
    c = Compliance(system.app)
    with world.acting("admin"):
        c.certify(world.ids["rita"], setup["training"], clock.now() + timedelta(days=20))
    process = expiry(system, runner, week)
    runner.catch_up_all()
    process.run_once()
    assert raised(runner, "certification_expiring") == []  # 20 days away: not within 7
    clock.advance(timedelta(days=13))
    runner.catch_up_all()
    process.run_once()
    [alert] = raised(runner, "certification_expiring")
    assert alert.severity == "medium" and "(within 7 days)" in alert.message

    off = replace(AlertRules(), certification_expiring=CertificationExpiring(enabled=False))
    with world.acting("root"):
        c.certify(world.ids["admin"], setup["training"], clock.now() + timedelta(days=3))
    quiet = runner_for(settings, system.app, rules=off)
    quiet.rebuild("alert-rules")
    expiry(system, quiet, off).run_once()
    assert len(raised(quiet, "certification_expiring")) == 1  # Rita's, from before


def test_expired_and_member_non_compliant(
    settings: Settings, system: System, world: World, setup: dict[str, Any], clock: ManualClock
) -> None:
    runner = runner_for(settings, system.app)
    c = Compliance(system.app)
    with world.acting("admin"):
        c.certify(world.ids["rita"], setup["training"], clock.now() + timedelta(days=40))
        c.add_member(setup["dac"], world.ids["rita"])
    assert raised(runner, "member_non_compliant") == []
    clock.advance(timedelta(days=40))
    runner.catch_up_all()
    expiry(system, runner, AlertRules()).run_once()

    [expired] = raised(runner, "certification_expired")
    assert expired.type == "Certification expired" and expired.severity == "medium"
    assert expired.subject_name == rita(world)
    assert expired.message == (
        f"{rita(world)}: DAC Compliance certification expired 2026-04-10 09:00 UTC"
    )
    assert expired.source_actor == "system:certification-expiry"

    [lapsed] = raised(runner, "member_non_compliant")
    assert lapsed.type == "Member non-compliant" and lapsed.severity == "high"
    assert lapsed.subject == str(world.ids["rita"])
    assert lapsed.message == (
        f"{rita(world)} is not compliant in project DAC: HIPAA: DAC Compliance expired 2026-04-10"
    )

    # A revocation says so, with its own reason.
    with world.acting("admin"):
        c.certify(world.ids["rita"], setup["training"], clock.now() + timedelta(days=40))
        c.decertify(world.ids["rita"], setup["training"], "failed the quiz")
    assert [a.message for a in raised(runner, "member_non_compliant")][1:] == [
        f"{rita(world)} is not compliant in project DAC: HIPAA: DAC Compliance revoked 2026-04-10"
    ]
    # Once each, whatever is replayed.
    runner.rebuild("alert-rules")
    assert len(raised(runner, "member_non_compliant")) == 2
    assert len(raised(runner, "certification_expired")) == 1


def test_project_parked_and_unparked(
    settings: Settings, system: System, world: World, setup: dict[str, Any]
) -> None:
    runner = runner_for(settings, system.app)
    c = Compliance(system.app)
    with world.acting("admin"):
        c.park(setup["dac"], "audit finding 12")
        c.unpark(setup["dac"])
    admin = f"Ada Admin <{world.email('admin')}>"
    [parked] = raised(runner, "project_parked")
    assert (parked.type, parked.severity) == ("Project parked", "medium")
    assert parked.subject == f"project:{setup['dac']}"
    assert parked.subject_name == "project DAC"
    assert parked.message == f"project DAC parked: audit finding 12 (by {admin})"
    [unparked] = raised(runner, "project_unparked")
    assert (unparked.type, unparked.severity) == ("Project unparked", "low")
    assert unparked.message == f"project DAC unparked: its grants are back (by {admin})"

    rules = AlertRules()
    off = replace(rules, project_parked=replace(rules.project_parked, enabled=False))
    quiet = runner_for(settings, system.app, rules=off)
    with world.acting("admin"):
        c.park(setup["dac"], "again")
    assert len(raised(quiet, "project_parked")) == 1  # the first one only


def test_the_rules_file_sets_the_window(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[certification_expiring]\ndays = 14\nseverity = "high"\n')
    rules = AlertRules.load(path)
    assert rules.certification_expiring == CertificationExpiring(severity="high", days=14)
    assert rules.member_non_compliant == AlertRules().member_non_compliant


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[certification_expiring]\ndays = 0\n", "line 2: [certification_expiring] days: a whole"),
        (
            "[certification_expiring]\n\ndays = 40000\n",
            "line 3: [certification_expiring] days must be at most 36500",
        ),
        ("[member_non_compliant]\ndays = 3\n", "line 2: [member_non_compliant] days: unknown"),
    ],
)
def test_a_bad_window_is_refused_with_line_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesFileError) as refused:
        AlertRules.load(path)
    assert message in str(refused.value)
