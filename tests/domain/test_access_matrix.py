"""Every rule of the seed's "Administrator roles", as actor × action × target.

Each case builds a fresh cast in a shared store, runs the command as the actor,
and checks the outcome *and* what was recorded: the change event with the actor
in its envelope, or an access-denied event naming actor, action, target and reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from api.world import World
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.errors import Forbidden
from domain.identity import Identity
from domain.teams import Quota
from tests.conftest import store_params
from tests.stores import store_settings


@pytest.fixture(scope="module", params=store_params())
def shared_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Strongroom]:
    kind = request.param
    with store_settings(kind, tmp_path_factory.mktemp(kind)) as settings:
        app = open_system(settings, clock=ManualClock.at_epoch()).app
        yield app
        app.close()


def cast(app: Strongroom) -> World:
    """Actors and targets around two teams, A and B."""
    w = World(app)
    w.person("super", Role.SUPER_ADMIN)
    w.person("admin", Role.ADMIN)
    w.person("subA", Role.SUB_ADMIN, sub_admin_of=("A",))
    w.person("user", teams=("A",))
    w.person("escrow", Role.ESCROW)
    w.person("asleep", Role.ADMIN, active=False)
    w.person("super2", Role.SUPER_ADMIN)
    w.person("admin2", Role.ADMIN)
    w.person("subB", Role.SUB_ADMIN, sub_admin_of=("B",))
    w.person("inA", teams=("A",))
    w.person("inB", teams=("B",))
    w.person("inAB", teams=("A", "B"))
    w.person("fresh", active=False)
    w.person("freshAdmin", Role.ADMIN, active=False)
    w.person("escrowT", Role.ESCROW)
    w.person("released", teams=("A",))
    with w.acting("root"):
        Identity(app).remove_team_member(w.team("A"), w.ids["released"])
    return w


Run = Callable[[Strongroom, World], Any]


def on(target: str, method: str, *args: Any, **kwargs: Any) -> Run:
    return lambda app, w: getattr(Identity(app), method)(w.ids[target], *args, **kwargs)


def team_op(method: str, team: str, target: str) -> Run:
    return lambda app, w: getattr(Identity(app), method)(w.team(team), w.ids[target])


@dataclass
class Case:
    actor: str
    action: str
    run: Run
    target: str | None
    allowed: bool
    recorded: str | None = None  # the event topic suffix an allowed case records
    why: str = ""
    checks: list[Callable[[Strongroom, World], None]] = field(default_factory=list)

    @property
    def id(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        return f"{self.actor}-{self.action}-{self.target or 'none'}-{verdict}"


def deactivate(actor: str, target: str, allowed: bool) -> Case:
    return Case(
        actor, "deactivate", on(target, "deactivate_user"), target, allowed, "User.Deactivated"
    )


def role(actor: str, target: str, new: Role, allowed: bool) -> Case:
    return Case(
        actor, f"role->{new}", on(target, "change_role", new), target, allowed, "User.RoleChanged"
    )


def released_user_is_deactivated_with_defaults(app: Strongroom, w: World) -> None:
    user = Identity(app).user(w.ids["inA"])
    assert (user.active, user.teams, user.released) == (False, set(), True)
    assert user.permissions == {Permission.VIEW, Permission.DOWNLOAD}


def still_active_in_b(app: Strongroom, w: World) -> None:
    user = Identity(app).user(w.ids["inAB"])
    assert user.active and user.teams == {w.team("B")}


CASES = [
    # Super-admins modify everyone.
    deactivate("super", "super2", True),
    deactivate("super", "admin2", True),
    role("super", "super2", Role.ADMIN, True),
    role("super", "inA", Role.ADMIN, True),
    # Admins modify basic users and sub-admins, not admins or super-admins.
    deactivate("admin", "admin2", False),
    deactivate("admin", "super2", False),
    deactivate("admin", "subB", True),
    deactivate("admin", "inB", True),
    deactivate("admin", "escrowT", True),
    role("admin", "inA", Role.SUB_ADMIN, True),
    role("admin", "subB", Role.USER, True),
    role("admin", "inA", Role.ADMIN, False),
    role("admin", "inA", Role.SUPER_ADMIN, False),
    role("admin", "admin2", Role.USER, False),
    role("admin", "admin", Role.SUPER_ADMIN, False),
    Case("admin", "activate", on("fresh", "activate_user"), "fresh", True, "User.Activated"),
    Case(
        "admin",
        "quota",
        lambda app, w: Identity(app).set_team_quota(w.team("A"), Quota(1, 1, 1)),
        None,
        False,
    ),
    # Sub-admins manage only members of their teams...
    deactivate("subA", "inA", True),
    deactivate("subA", "inAB", True),
    deactivate("subA", "inB", False),
    deactivate("subA", "subB", False),
    deactivate("subA", "admin2", False),
    Case(
        "subA",
        "restrict",
        on("inA", "set_permissions", grant=set(), restrict={Permission.DOWNLOAD, Permission.VIEW}),
        "inA",
        True,
        "User.PermissionsChanged",
    ),
    Case(
        "subA",
        "restrict",
        on("inB", "set_permissions", grant=set(), restrict={Permission.DOWNLOAD}),
        "inB",
        False,
    ),
    role("subA", "inA", Role.SUB_ADMIN, False),
    # ...may onboard a deactivated user with no team into their own team only...
    Case(
        "subA",
        "add-to-A",
        team_op("add_team_member", "A", "fresh"),
        "fresh",
        True,
        "Team.MemberAdded",
    ),
    Case("subA", "add-to-B", team_op("add_team_member", "B", "fresh"), "fresh", False),
    Case("subA", "add-to-A", team_op("add_team_member", "A", "inB"), "inB", False),
    Case("subA", "add-to-A", team_op("add_team_member", "A", "freshAdmin"), "freshAdmin", False),
    Case(
        "subA",
        "add-to-A",
        team_op("add_team_member", "A", "released"),
        "released",
        True,
        "Team.MemberAdded",
    ),
    Case("subA", "activate", on("fresh", "activate_user"), "fresh", False),
    # ...and removal from the last team deactivates and restores default permissions.
    Case(
        "subA",
        "remove-from-A",
        team_op("remove_team_member", "A", "inA"),
        "inA",
        True,
        "User.ReleasedFromLastTeam",
        checks=[released_user_is_deactivated_with_defaults],
    ),
    Case(
        "subA",
        "remove-from-A",
        team_op("remove_team_member", "A", "inAB"),
        "inAB",
        True,
        "User.LeftTeam",
        checks=[still_active_in_b],
    ),
    Case("subA", "remove-from-B", team_op("remove_team_member", "B", "inB"), "inB", False),
    # Once released, only a super-admin may change the role.
    role("admin", "released", Role.SUB_ADMIN, False),
    role("super", "released", Role.SUB_ADMIN, True),
    # Teams: created by sub-admins and up; sub-admins assigned by admins; quotas by super-admins.
    Case(
        "subA",
        "create-team",
        lambda app, w: Identity(app).create_team(f"C {w.tag}"),
        None,
        True,
        "Team.Created",
    ),
    Case(
        "user", "create-team", lambda app, w: Identity(app).create_team(f"C {w.tag}"), None, False
    ),
    Case(
        "admin",
        "assign-sub-admin",
        team_op("assign_sub_admin", "A", "subB"),
        "subB",
        True,
        "Team.SubAdminAssigned",
    ),
    Case("admin", "assign-sub-admin", team_op("assign_sub_admin", "A", "inA"), "inA", False),
    Case("subA", "assign-sub-admin", team_op("assign_sub_admin", "A", "subB"), "subB", False),
    Case(
        "super",
        "quota",
        lambda app, w: Identity(app).set_team_quota(w.team("A"), Quota(2**40, 8, 64)),
        None,
        True,
        "Team.QuotaChanged",
    ),
    Case(
        "subA",
        "quota",
        lambda app, w: Identity(app).set_team_quota(w.team("A"), Quota(2**40, 8, 64)),
        None,
        False,
    ),
    # The audit capability: never for escrow users.
    Case(
        "admin",
        "grant-audit",
        on("escrowT", "set_permissions", grant={Permission.AUDIT}, restrict=set()),
        "escrowT",
        False,
    ),
    Case(
        "admin",
        "grant-audit",
        on("inA", "set_permissions", grant={Permission.AUDIT}, restrict=set()),
        "inA",
        True,
        "User.PermissionsChanged",
    ),
    # Users and escrow users administer no one; a deactivated admin does nothing.
    deactivate("user", "inA", False),
    deactivate("escrow", "inA", False),
    deactivate("asleep", "inA", False),
    Case(
        "escrow", "create-team", lambda app, w: Identity(app).create_team(f"E {w.tag}"), None, False
    ),
    # Visibility.
    Case("subA", "view", on("inA", "view_user"), "inA", True),
    Case("subA", "view", on("fresh", "view_user"), "fresh", True),
    Case("subA", "view", on("inB", "view_user"), "inB", False),
    Case("admin", "view", on("admin2", "view_user"), "admin2", True),
    Case("admin", "view", on("super2", "view_user"), "super2", False),
    Case("super", "view", on("super2", "view_user"), "super2", True),
    Case("user", "view", on("inA", "view_user"), "inA", False),
    Case("user", "view", on("user", "view_user"), "user", True),
    Case("subA", "view-team", lambda app, w: Identity(app).view_team(w.team("A")), None, True),
    Case("user", "view-team", lambda app, w: Identity(app).view_team(w.team("A")), None, True),
    Case("user", "view-team", lambda app, w: Identity(app).view_team(w.team("B")), None, False),
    Case("subA", "view-team", lambda app, w: Identity(app).view_team(w.team("B")), None, False),
    Case("admin", "view-team", lambda app, w: Identity(app).view_team(w.team("B")), None, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(shared_app: Strongroom, case: Case) -> None:
    app = shared_app
    world = cast(app)
    before = app.recorder.max_notification_id() or 0
    actor_id = str(world.ids[case.actor])

    with world.acting(case.actor):
        if case.allowed:
            case.run(app, world)
        else:
            with pytest.raises(Forbidden) as refused:
                case.run(app, world)

    recorded = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=before + 1, limit=50)
    ]
    if case.allowed:
        assert not any(type(e).__qualname__ == "DeniedAttempt.Recorded" for e in recorded)
        if case.recorded:
            matching = [e for e in recorded if type(e).__qualname__ == case.recorded]
            assert matching, [type(e).__qualname__ for e in recorded]
            assert all(e.actor_id == actor_id for e in matching)
        for check in case.checks:
            check(app, world)
    else:
        (denial,) = recorded
        assert type(denial).__qualname__ == "DeniedAttempt.Recorded"
        assert denial.actor_id == actor_id
        assert denial.action == refused.value.action
        assert denial.reason == refused.value.reason and denial.reason
        if case.target is not None:
            assert denial.target == str(world.ids[case.target])


def test_an_actor_who_is_not_a_user_is_refused_and_recorded(shared_app: Strongroom) -> None:
    from domain.envelope import AuditContext, acting_as

    world = cast(shared_app)
    with acting_as(AuditContext.system("a-rule-with-no-business-here")), pytest.raises(Forbidden):
        Identity(shared_app).deactivate_user(world.ids["inA"])
    position = shared_app.recorder.max_notification_id()
    (notification,) = shared_app.recorder.select_notifications(start=position, limit=1)
    denial = shared_app.mapper.to_domain_event(notification)
    assert type(denial).__qualname__ == "DeniedAttempt.Recorded"
    assert (denial.action, denial.actor_id) == ("act", "system:a-rule-with-no-business-here")
    assert Identity(shared_app).user(world.ids["inA"]).active
