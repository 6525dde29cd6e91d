"""Signature login and sessions: every refusal is a 401 to the client and an event in the trail."""

from __future__ import annotations

import secrets
from datetime import timedelta
from hashlib import sha256

import pytest

from adapters.clock import ManualClock
from api.world import VISITOR, World
from client.keys import UserKeys
from domain.access import Role
from domain.application import Strongroom
from domain.envelope import acting_as
from domain.identity import Identity
from domain.logins import Logins
from domain.sessions import AuthenticationFailed
from domain.sessions import session_id_for as sha_session


@pytest.fixture
def world(app: Strongroom) -> World:
    w = World(app)
    w.person("ada", teams=("A",))
    return w


def attempt(
    app: Strongroom,
    w: World,
    who: str,
    *,
    keys: UserKeys | None = None,
    nonce: bytes | None = None,
    email: str | None = None,
) -> str:
    """Run the login protocol as a visitor; returns the session token."""
    token = secrets.token_urlsafe(16)
    w.login(who, keys=keys, nonce=nonce, email=email, token_hash=sha256(token.encode()).hexdigest())
    return token


def last_event(app: Strongroom) -> object:
    position = app.recorder.max_notification_id()
    (notification,) = app.recorder.select_notifications(start=position, limit=1)
    return app.mapper.to_domain_event(notification)


def refused(app: Strongroom, reason: str) -> None:
    denial = last_event(app)
    assert type(denial).__qualname__ == "DeniedAttempt.Recorded"
    assert reason in denial.reason  # type: ignore[attr-defined]


def test_a_good_login_starts_a_session_recorded_as_the_user(app: Strongroom, world: World) -> None:
    token = attempt(app, world, "ada")
    with acting_as(VISITOR):
        principal = Logins(app).authenticate(sha256(token.encode()).hexdigest())
    assert principal.user_id == world.ids["ada"]
    started = app.repository.get(principal.session_id)
    assert started.user_id == world.ids["ada"]
    events = list(app.events.get(principal.session_id))
    assert events[0].actor_id == str(world.ids["ada"])


def test_a_replayed_challenge_is_refused(app: Strongroom, world: World) -> None:
    nonce = secrets.token_bytes(32)
    with acting_as(VISITOR):
        Logins(app).issue_challenge(world.email("ada"), nonce)
    attempt(app, world, "ada", nonce=nonce)
    with pytest.raises(AuthenticationFailed):
        attempt(app, world, "ada", nonce=nonce)
    refused(app, "already used")


def test_an_expired_challenge_is_refused(app: Strongroom, world: World, clock: ManualClock) -> None:
    nonce = secrets.token_bytes(32)
    with acting_as(VISITOR):
        Logins(app).issue_challenge(world.email("ada"), nonce)
    clock.advance(timedelta(seconds=61))
    with pytest.raises(AuthenticationFailed):
        attempt(app, world, "ada", nonce=nonce)
    refused(app, "expired")


def test_a_challenge_issued_for_someone_else_is_refused(app: Strongroom, world: World) -> None:
    world.person("bob", teams=("A",))
    nonce = secrets.token_bytes(32)
    with acting_as(VISITOR):
        Logins(app).issue_challenge(world.email("bob"), nonce)
    with pytest.raises(AuthenticationFailed):
        attempt(app, world, "ada", nonce=nonce)
    refused(app, "another account")


def test_a_signature_by_another_key_fails_and_counts(app: Strongroom, world: World) -> None:
    with pytest.raises(AuthenticationFailed):
        attempt(app, world, "ada", keys=UserKeys.generate())
    failed = last_event(app)
    assert type(failed).__qualname__ == "User.LoginFailed"
    assert failed.reason == "bad signature"  # type: ignore[attr-defined]


def test_repeated_failures_lock_the_account_until_an_admin_unlocks_it(
    app: Strongroom, world: World, clock: ManualClock
) -> None:
    impostor = UserKeys.generate()
    for _ in range(Logins.max_failures):
        clock.advance(timedelta(minutes=1))
        with pytest.raises(AuthenticationFailed):
            attempt(app, world, "ada", keys=impostor)
    locked = last_event(app)
    assert type(locked).__qualname__ == "User.Locked"
    # Even the right key is refused now.
    with pytest.raises(AuthenticationFailed):
        attempt(app, world, "ada")
    refused(app, "locked")
    with world.acting("root"):
        Identity(app).unlock_user(world.ids["ada"])
    attempt(app, world, "ada")


def test_failures_spread_beyond_the_window_do_not_lock(
    app: Strongroom, world: World, clock: ManualClock
) -> None:
    impostor = UserKeys.generate()
    for _ in range(Logins.max_failures + 2):
        # Just too far apart for max_failures of them to fit in one window.
        clock.advance(Logins.failure_window / (Logins.max_failures - 1) + timedelta(seconds=1))
        with pytest.raises(AuthenticationFailed):
            attempt(app, world, "ada", keys=impostor)
    assert not Identity(app).user(world.ids["ada"]).locked


@pytest.mark.parametrize(
    ("label", "role", "active", "reason"),
    [
        ("dormant", Role.USER, False, "deactivated"),
        ("keeper", Role.ESCROW, True, "escrow users cannot log in"),
    ],
)
def test_accounts_that_may_not_log_in(
    app: Strongroom, world: World, label: str, role: Role, active: bool, reason: str
) -> None:
    world.person(label, role, active=active)
    with pytest.raises(AuthenticationFailed):
        attempt(app, world, label)
    refused(app, reason)


def test_an_unknown_account_is_refused_like_any_other(app: Strongroom, world: World) -> None:
    with pytest.raises(AuthenticationFailed):
        attempt(app, world, "ada", email="nobody@example.edu")
    refused(app, "unknown account")


@pytest.mark.parametrize(
    ("wait", "reason"),
    [(timedelta(hours=12, minutes=1), "expired"), (timedelta(minutes=31), "idle")],
)
def test_expired_and_idle_sessions_are_refused(
    app: Strongroom, world: World, clock: ManualClock, wait: timedelta, reason: str
) -> None:
    token = attempt(app, world, "ada")
    digest = sha256(token.encode()).hexdigest()
    if reason == "expired":
        # Active all along (every 20 minutes for 11h40), yet the absolute limit holds.
        for _ in range(35):
            clock.advance(timedelta(minutes=20))
            with acting_as(VISITOR):
                Logins(app).authenticate(digest)
        clock.advance(wait - timedelta(minutes=20) * 35)
    else:
        clock.advance(wait)
    with acting_as(VISITOR), pytest.raises(AuthenticationFailed):
        Logins(app).authenticate(digest)
    refused(app, reason)


def test_logout_ends_the_session(app: Strongroom, world: World) -> None:
    token = attempt(app, world, "ada")
    digest = sha256(token.encode()).hexdigest()
    with acting_as(VISITOR):
        Logins(app).logout(digest)
        with pytest.raises(AuthenticationFailed):
            Logins(app).authenticate(digest)
    refused(app, "ended")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda app, w: Identity(app).deactivate_user(w.ids["ada"]), "deactivated"),
        (lambda app, w: Identity(app).change_role(w.ids["ada"], Role.SUB_ADMIN), "role changed"),
        (lambda app, w: Identity(app).remove_team_member(w.team("A"), w.ids["ada"]), "last team"),
    ],
    ids=["deactivated", "role-changed", "removed-from-last-team"],
)
def test_a_change_of_standing_ends_live_sessions_at_once(
    app: Strongroom, world: World, change: object, reason: str
) -> None:
    token = attempt(app, world, "ada")
    digest = sha256(token.encode()).hexdigest()
    with world.acting("root"):
        change(app, world)  # type: ignore[operator]
    # The session's end was recorded with the change, by the administrator.
    session_id = app.repository.get(sha_session(digest)).id
    ended = list(app.events.get(session_id))[-1]
    assert type(ended).__qualname__ == "Session.Ended"
    assert reason in ended.reason  # type: ignore[attr-defined]
    assert ended.actor_id == str(world.ids["root"])  # type: ignore[attr-defined]
    assert not Identity(app).user(world.ids["ada"]).live_sessions
    with acting_as(VISITOR), pytest.raises(AuthenticationFailed):
        Logins(app).authenticate(digest)
    refused(app, "ended")


def test_the_hot_path_reads_only_and_defers_to_authenticate_when_a_write_is_due(
    app: Strongroom, world: World, clock: ManualClock
) -> None:
    token = attempt(app, world, "ada")
    digest = sha256(token.encode()).hexdigest()
    before = app.recorder.max_notification_id()
    principal = Logins(app).live_principal(digest)
    assert principal is not None and principal.user_id == world.ids["ada"]
    assert app.recorder.max_notification_id() == before  # nothing recorded
    # Activity is due to be recorded: the hot path steps aside.
    clock.advance(Logins.touch_every)
    assert Logins(app).live_principal(digest) is None
    with acting_as(VISITOR):
        Logins(app).authenticate(digest)
    assert Logins(app).live_principal(digest) is not None
    # An unknown or ended session is never served by the hot path.
    assert Logins(app).live_principal("0" * 64) is None
    with acting_as(VISITOR):
        Logins(app).logout(digest)
    assert Logins(app).live_principal(digest) is None
