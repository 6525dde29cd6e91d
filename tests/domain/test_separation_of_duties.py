"""No one audits themselves: the audit capability is never self-granted, and no one
works an alert about themselves or raised by their own action. Each refusal is recorded."""

from __future__ import annotations

import pytest

from api.world import World
from domain.access import Permission, Role
from domain.alerts import Alert, Alerts, AlertStateConflict
from domain.application import Strongroom
from domain.errors import Forbidden
from domain.identity import Identity


def refusals(app: Strongroom) -> list[tuple[str, str]]:
    events = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]
    return [
        (e.action, e.reason) for e in events if type(e).__qualname__ == "DeniedAttempt.Recorded"
    ]


@pytest.fixture
def world(app: Strongroom) -> World:
    w = World(app)
    w.person("super2", Role.SUPER_ADMIN)
    w.person("officer")
    w.person("ada", teams=("A",))
    with w.acting("root"):
        Identity(app).set_permissions(w.ids["officer"], grant={Permission.AUDIT}, restrict=set())
    return w


def alert_about(app: Strongroom, subject: str, actor: str, position: int) -> Alert:
    with World.system_context("test-rule"):
        alert = Alert("test", position, "Test", "high", subject, "something", actor)
        app.save(alert)
    return alert


def test_no_one_grants_the_audit_capability_to_themselves(app: Strongroom, world: World) -> None:
    with world.acting("root"), pytest.raises(Forbidden):
        Identity(app).set_permissions(world.ids["root"], grant={Permission.AUDIT}, restrict=set())
    assert (
        "set-permissions",
        "no one may grant the audit capability to themselves",
    ) in refusals(app)
    # Another super-admin may grant it.
    with world.acting("super2"):
        Identity(app).set_permissions(world.ids["root"], grant={Permission.AUDIT}, restrict=set())
    assert Permission.AUDIT in Identity(app).user(world.ids["root"]).permissions


def test_no_one_works_an_alert_about_themselves_or_their_own_action(
    app: Strongroom, world: World
) -> None:
    officer, ada = str(world.ids["officer"]), str(world.ids["ada"])
    about_officer = alert_about(app, officer, ada, 1_000_001)
    by_officer = alert_about(app, ada, officer, 1_000_002)
    with world.acting("officer"):
        for alert, reason in (
            (about_officer, "no one works an alert about themselves"),
            (by_officer, "no one works an alert raised by their own action"),
        ):
            for work in (Alerts(app).acknowledge, Alerts(app).resolve):
                with pytest.raises(Forbidden) as refused:
                    work(alert.id, "")
                assert refused.value.reason == reason
    assert ("acknowledge-alert", "no one works an alert about themselves") in refusals(app)
    assert ("resolve-alert", "no one works an alert raised by their own action") in refusals(app)


def test_alert_states_move_one_way(app: Strongroom, world: World) -> None:
    alert = alert_about(app, str(world.ids["ada"]), "system:test", 1_000_003)
    with world.acting("officer"):
        Alerts(app).acknowledge(alert.id, "looking")
        with pytest.raises(AlertStateConflict):
            Alerts(app).acknowledge(alert.id, "again")
        Alerts(app).resolve(alert.id, "fine")
        with pytest.raises(AlertStateConflict):
            Alerts(app).resolve(alert.id, "twice")
        with pytest.raises(AlertStateConflict):
            Alerts(app).acknowledge(alert.id, "after")
    assert Alerts(app).alert(alert.id).status == "resolved"
