"""Aggregates on their own, in memory: what each event does to state (the fast ring)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import pytest

from adapters.clock import ManualClock
from domain.access import Permission, Role
from domain.alerts import Alert
from domain.clock import clock_installed
from domain.envelope import AuditContext, acting_as
from domain.errors import InvalidInput
from domain.sessions import Session
from domain.teams import DEFAULT_QUOTA, Quota, Team
from domain.users import User

KEY = "A" * 43 + "="


@pytest.fixture(autouse=True)
def context() -> Iterator[ManualClock]:
    with (
        clock_installed(ManualClock.at_epoch()) as clock,
        acting_as(AuditContext("u-ada", "admin", "s-1", "r-1", "10.0.0.1")),
    ):
        yield clock  # type: ignore[misc]


def test_a_registered_user_waits_deactivated_with_default_permissions() -> None:
    user = User(email="a@x.edu", name="A", signing_public_key=KEY, encryption_public_key=KEY)
    assert (user.active, user.role, user.permissions) == (
        False,
        Role.USER,
        {Permission.VIEW, Permission.DOWNLOAD},
    )
    (registered,) = user.collect_events()
    assert (registered.actor_id, registered.client_ip) == ("u-ada", "10.0.0.1")


def test_removal_from_the_last_team_releases_the_user() -> None:
    user = User(email="a@x.edu", name="A", signing_public_key=KEY, encryption_public_key=KEY)
    team = uuid4()
    user.activate()
    user.join_team(team_id=team)
    user.set_permissions(
        profile=None,
        profile_permissions=["view"],
        granted=["audit"],
        restricted=[],
        before=[],
        after=[],
    )
    user.release(team_id=team)
    assert (user.active, user.released, user.teams) == (False, True, set())
    assert user.permissions == {Permission.VIEW, Permission.DOWNLOAD}


def test_restrictions_win_over_grants() -> None:
    user = User(email="a@x.edu", name="A", signing_public_key=KEY, encryption_public_key=KEY)
    user.set_permissions(
        profile="Granite User",
        profile_permissions=["view", "download"],
        granted=["tag-projects"],
        restricted=["download"],
        before=[],
        after=[],
    )
    assert user.permissions == {Permission.VIEW, Permission.TAG_PROJECTS}


def test_a_session_refuses_once_idle_or_expired(context: ManualClock) -> None:
    now = context.now()
    session = Session("hash", uuid4(), "user", now, now + timedelta(hours=12), 1800)
    assert session.refusal(now + timedelta(minutes=29)) is None
    assert session.refusal(now + timedelta(minutes=30)) == "the session was idle too long"
    session.touch(at=now + timedelta(hours=11, minutes=59))
    assert session.refusal(now + timedelta(hours=12)) == "the session has expired"
    session.end(reason="logout")
    assert session.refusal(now) == "the session has ended"


def test_quotas_outside_their_range_are_refused_before_anything_is_recorded() -> None:
    team = Team(name="A", quota=DEFAULT_QUOTA.as_dict())
    for bad in (Quota(2**63, 1, 1), Quota(-1, 1, 1), Quota(1, 10**9, 1), Quota(1, 1, True)):
        with pytest.raises(InvalidInput):
            bad.check()
    assert team.quota == DEFAULT_QUOTA


def test_an_alert_id_is_its_rule_and_position() -> None:
    first = Alert("user_locked", 42, "User Locked", "high", None, "locked", "u-x")
    assert first.id == Alert.create_id("user_locked", 42) != Alert.create_id("user_locked", 43)
    first.acknowledge(note="")
    first.resolve(note="")
    assert first.status == "resolved"
