"""The access rules on their own, in memory: deny by default, a reason for every answer.

The fast ring. The full matrix with stores, commands and recorded refusals is
test_access_matrix.py; this checks `decide` itself for every kind of resource.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import uuid4

import pytest

from domain.access import Permission, Resource, Role, Subject, decide
from domain.audit_access import AlertCase, AuditAction, AuditTrail
from domain.identity_access import (
    Action,
    Membership,
    Organisation,
    PermissionChange,
    Person,
    RoleChange,
    TeamRecord,
)

TEAM_A, TEAM_B = uuid4(), uuid4()


def someone(
    role: Role = Role.USER,
    *,
    active: bool = True,
    teams: frozenset = frozenset(),  # type: ignore[type-arg]
    sub_admin_of: frozenset = frozenset(),  # type: ignore[type-arg]
    permissions: frozenset[Permission] = frozenset({Permission.VIEW, Permission.DOWNLOAD}),
    released: bool = False,
) -> Subject:
    return Subject(uuid4(), role, active, teams, sub_admin_of, released, permissions)


SUPER, ADMIN = someone(Role.SUPER_ADMIN), someone(Role.ADMIN)
SUB_A = someone(Role.SUB_ADMIN, sub_admin_of=frozenset({TEAM_A}))
IN_A, IN_B = someone(teams=frozenset({TEAM_A})), someone(teams=frozenset({TEAM_B}))
NEWCOMER = someone(active=False)
ESCROW = someone(Role.ESCROW)
OFFICER = someone(permissions=frozenset({Permission.AUDIT}))


class Unknown(Resource):
    """A kind of resource no rule was written for."""


class Nothing(StrEnum):
    POKE = "poke"


CASES: list[tuple[str, Subject, StrEnum, Resource, bool]] = [
    ("super deactivates anyone", SUPER, Action.DEACTIVATE, Person(ADMIN), True),
    ("admin cannot touch a super-admin", ADMIN, Action.DEACTIVATE, Person(SUPER), False),
    ("sub-admin manages its team", SUB_A, Action.ACTIVATE, Person(IN_A), True),
    ("sub-admin not another team", SUB_A, Action.ACTIVATE, Person(IN_B), False),
    ("no one deactivates themselves", SUPER, Action.DEACTIVATE, Person(SUPER), False),
    ("a user manages no one", IN_A, Action.UNLOCK, Person(IN_B), False),
    ("a user sees itself", IN_A, Action.VIEW_USER, Person(IN_A), True),
    ("a user sees no one else", IN_A, Action.VIEW_USER, Person(IN_B), False),
    ("sub-admin sees a newcomer to onboard", SUB_A, Action.VIEW_USER, Person(NEWCOMER), True),
    (
        "sub-admin onboards a newcomer",
        SUB_A,
        Action.ADD_TO_TEAM,
        Membership(NEWCOMER, TEAM_A),
        True,
    ),
    (
        "sub-admin not into another team",
        SUB_A,
        Action.ADD_TO_TEAM,
        Membership(NEWCOMER, TEAM_B),
        False,
    ),
    ("sub-admins change no roles", SUB_A, Action.CHANGE_ROLE, RoleChange(IN_A, Role.ADMIN), False),
    ("admin grants sub-admin", ADMIN, Action.CHANGE_ROLE, RoleChange(IN_A, Role.SUB_ADMIN), True),
    ("admin cannot grant admin", ADMIN, Action.CHANGE_ROLE, RoleChange(IN_A, Role.ADMIN), False),
    (
        "no one changes their own role",
        SUPER,
        Action.CHANGE_ROLE,
        RoleChange(SUPER, Role.USER),
        False,
    ),
    (
        "a released account: super-admins only",
        ADMIN,
        Action.CHANGE_ROLE,
        RoleChange(someone(released=True), Role.SUB_ADMIN),
        False,
    ),
    (
        "escrow users never hold audit",
        SUPER,
        Action.SET_PERMISSIONS,
        PermissionChange(ESCROW, frozenset({Permission.AUDIT})),
        False,
    ),
    ("only super-admins set quotas", ADMIN, Action.SET_QUOTA, TeamRecord(TEAM_A), False),
    ("super-admin sets quotas", SUPER, Action.SET_QUOTA, TeamRecord(TEAM_A), True),
    ("members see their team", IN_A, Action.VIEW_TEAM, TeamRecord(TEAM_A), True),
    ("and not another", IN_A, Action.VIEW_TEAM, TeamRecord(TEAM_B), False),
    ("sub-admins create teams", SUB_A, Action.CREATE_TEAM, Organisation(), True),
    ("users do not", IN_A, Action.CREATE_TEAM, Organisation(), False),
    ("only admins define profiles", SUB_A, Action.CREATE_PROFILE, Organisation(), False),
    ("officers read the trail", OFFICER, AuditAction.READ_ALERTS, AuditTrail(), True),
    ("a super-admin is no officer", SUPER, AuditAction.READ_ALERTS, AuditTrail(), False),
    (
        "officers work alerts",
        OFFICER,
        AuditAction.RESOLVE_ALERT,
        AlertCase(uuid4(), str(IN_A.id), str(SUPER.id)),
        True,
    ),
    (
        "an inactive actor does nothing",
        someone(Role.SUPER_ADMIN, active=False),
        Action.CREATE_TEAM,
        Organisation(),
        False,
    ),
    ("an escrow actor does nothing", ESCROW, Action.VIEW_USER, Person(ESCROW), False),
    ("no rule, no access", SUPER, Nothing.POKE, Unknown(), False),
]


@pytest.mark.parametrize(
    ("why", "actor", "action", "resource", "allowed"), CASES, ids=[c[0] for c in CASES]
)
def test_decide(
    why: str, actor: Subject, action: StrEnum, resource: Resource, allowed: bool
) -> None:
    decision = decide(actor, action, resource)
    assert decision.allowed is allowed, decision.reason
    assert decision.reason  # every answer says why
