"""Every compliance rule, as actor × action: the outcome and what was recorded.

Like tests/domain/test_access_matrix.py, each case builds a fresh cast in a store
shared by the module, acts as the actor, and checks the outcome *and* the record:
an allowed change is recorded with the actor in its envelope (and happened); a
refusal is one `DeniedAttempt.Recorded` naming actor, action, target and reason
(and changed nothing). The actors are the administrators (super-admin, admin,
the sub-admin of the person's team and of another team), a project member with
the tag permission, a member without it, a non-member, a compliance officer,
and the person acted on themselves. Access to a project's data is one decision
for every role: only a compliant, unrestricted member of an unparked project
gets through, whoever they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from api.world import World
from domain import clock as installed_clock
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.certifications import UniqueName, certification_id
from domain.clock import clock_installed
from domain.compliance_access import Action
from domain.errors import Forbidden
from domain.projects import ResourceKind
from tests.conftest import store_params
from tests.stores import store_settings

RESTRICTED = ["cannot-download", "cannot-view"]


@pytest.fixture(scope="module", params=store_params())
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Strongroom, ManualClock]]:
    kind = request.param
    clock = ManualClock.at_epoch()
    with store_settings(kind, tmp_path_factory.mktemp(kind)) as settings:
        app = open_system(settings, clock=clock).app
        yield app, clock
        app.close()


def cast(app: Strongroom, clock: ManualClock) -> World:
    """Level L (requirement R) on projects P and Q (parked); people around teams A and B.

    In P: `member`, `tagger` (holds the tag permission), `plain`, `restricted`
    (cannot view, cannot download) and `lapsed`, whose certification expired an
    hour ago, on the clock, with nothing recorded yet. `newcomer` is certified and
    in no project; `candidate` holds no certification; `outsider` (team B) holds
    the tag permission and a certification, and is in no project. File f is
    tagged with P, file g with Q; file `untagged` carries no tag.
    """
    w = World(app)
    w.person("super", Role.SUPER_ADMIN)
    w.person("admin", Role.ADMIN)
    w.person("subA", Role.SUB_ADMIN, sub_admin_of=("A",))
    w.person("subB", Role.SUB_ADMIN, sub_admin_of=("B",))
    w.person("officer", audit=True)
    for label in ("member", "newcomer", "candidate", "tagger", "plain", "restricted", "lapsed"):
        w.person(label, teams=("A",))
    w.person("outsider", teams=("B",))
    w.level("L", ("R",))
    w.requirement("Extra")
    w.project("P", "L")
    w.project("Q", "L")
    w.project("S", "L")
    c, now = w.compliance, clock.now()
    with w.acting("root"):
        for label in ("tagger", "outsider"):
            w.identity.set_permissions(
                w.ids[label], grant={Permission.TAG_PROJECTS}, restrict=set()
            )
        for label in ("member", "newcomer", "tagger", "plain", "restricted", "outsider"):
            c.certify(w.ids[label], w.requirements["R"], now + timedelta(days=100))
        c.certify(w.ids["lapsed"], w.requirements["R"], now + timedelta(hours=1))
        for label in ("member", "tagger", "plain", "lapsed"):
            c.add_member(w.projects["P"], w.ids[label])
        c.add_member(w.projects["P"], w.ids["restricted"], RESTRICTED)
        for label in ("member", "tagger", "plain"):
            c.add_member(w.projects["Q"], w.ids[label])
    w.resource("f", ResourceKind.FILE, "P")
    w.resource("g", ResourceKind.FILE, "Q")
    w.resources["untagged"] = (ResourceKind.FILE, uuid4())
    with w.acting("root"):
        c.park(w.projects["Q"], "grant ended")
    clock.advance(timedelta(hours=2))
    return w


# -- what each action does, whom it targets, and how to see that it happened ------------


def file_of(w: World, label: str) -> UUID:
    return w.resources[label][1]


def exists(w: World, kind: str, label: str) -> bool:
    claim = w.compliance.find(UniqueName, UniqueName.create_id(kind, w.named(label)))
    return claim is not None


def certified(w: World, label: str) -> bool:
    held = w.compliance.certification(w.ids[label], w.requirements["R"])
    return held is not None and held.valid_at(installed_clock.now())


def lapsed_in_p(w: World, label: str) -> bool:
    return str(w.ids[label]) in w.compliance.project(w.projects["P"]).lapsed


def member_of(w: World, project: str, label: str) -> bool:
    return w.compliance.project(w.projects[project]).is_member(w.ids[label])


def tagged(w: World, label: str, project: str) -> bool:
    kind, resource_id = w.resources[label]
    return w.projects[project] in w.compliance.tags_of(kind, resource_id)


ADMINS = frozenset({"super", "admin"})
ADMINISTERS_A = ADMINS | {"subA"}
ACTORS = ["super", "admin", "subA", "subB", "tagger", "plain", "outsider", "officer", "self"]
# For the project's data: the person themselves is `member`; and two more states.
DATA_ACTORS = [*ACTORS, "lapsed", "restricted"]


@dataclass(frozen=True)
class Act:
    name: str
    run: Callable[[World], Any]
    target: Callable[[World], str]  # what a refusal names
    allowed: frozenset[str]
    recorded: tuple[str, ...] = ()  # event types an allowed run records, with the actor
    happened: Callable[[World], bool] | None = None  # the change, seen in the domain
    person: str = "member"  # whom `self` stands for
    actors: tuple[str, ...] = tuple(ACTORS)
    why: Callable[[World, str], str] = lambda w, actor: ""  # part of a refusal's reason


def whom(label: str) -> Callable[[World], str]:
    return lambda w: str(w.ids[label])


def project_target(label: str) -> Callable[[World], str]:
    return lambda w: f"project:{w.projects[label]}"


def file_target(label: str) -> Callable[[World], str]:
    return lambda w: f"file:{file_of(w, label)}"


def setup(w: World) -> str:
    return "security-levels"


def data(action: Action, file: str) -> Callable[[World], Any]:
    return lambda w: w.compliance.authorise_data(ResourceKind.FILE, file_of(w, file), action)


def data_in_p(w: World, actor: str, restriction: str | None) -> str:
    """Why `actor` may not have P's data: the first thing the decision finds."""
    if actor == "lapsed":
        return f"non-compliant in project P {w.tag}: L {w.tag}: R {w.tag} expired"
    if actor == "restricted" and restriction is not None:
        return f"restricted in project P {w.tag}: {restriction}"
    return f"not a member of project P {w.tag}"


def data_act(action: Action, restriction: str | None) -> Act:
    allowed = {"tagger", "plain", "self"} | ({"restricted"} if restriction is None else set())
    return Act(
        f"{action}-in-P",
        data(action, "f"),
        file_target("f"),
        frozenset(allowed),
        actors=tuple(DATA_ACTORS),
        why=lambda w, actor: data_in_p(w, actor, restriction),
    )


ACTS = [
    # The compliance vocabulary: admins only.
    Act(
        "create-requirement",
        lambda w: w.compliance.create_requirement(w.named("New"), "", 30),
        setup,
        ADMINS,
        ("Requirement.Created", "UniqueName.Claimed"),
        lambda w: exists(w, "requirement", "New"),
    ),
    Act(
        "create-level",
        lambda w: w.compliance.create_level(w.named("New"), "", [w.requirements["R"]]),
        setup,
        ADMINS,
        ("SecurityLevel.Created", "UniqueName.Claimed"),
        lambda w: exists(w, "security-level", "New"),
    ),
    Act(
        "add-level-requirement",
        lambda w: w.compliance.add_level_requirement(w.levels["L"], w.requirements["Extra"]),
        setup,
        ADMINS,
        # Every member of the level's projects lacks it: they lapse in the same record.
        ("SecurityLevel.RequirementAdded", "Project.MemberLapsed"),
        lambda w: lapsed_in_p(w, "member"),
    ),
    # Certifications: whoever administers the person, never the person themselves.
    Act(
        "certify",
        lambda w: w.compliance.certify(
            w.ids["candidate"],
            w.requirements["R"],
            installed_clock.now() + timedelta(days=30),
        ),
        whom("candidate"),
        ADMINISTERS_A,
        ("Certification.Certified",),
        lambda w: certified(w, "candidate"),
        person="candidate",
    ),
    Act(
        "decertify",
        lambda w: w.compliance.decertify(w.ids["member"], w.requirements["R"], "left the study"),
        whom("member"),
        ADMINISTERS_A,
        ("Certification.Decertified", "Project.MemberLapsed"),
        lambda w: lapsed_in_p(w, "member"),
    ),
    # Projects: under admin control.
    Act(
        "create-project",
        lambda w: w.compliance.create_project(w.named("New"), w.levels["L"]),
        lambda w: f"project:{w.named('New')}",
        ADMINS,
        ("Project.Created", "LevelProjects.Assigned"),
        lambda w: exists(w, "project", "New"),
    ),
    Act(
        "park",
        lambda w: w.compliance.park(w.projects["P"], "grant ended"),
        project_target("P"),
        ADMINS,
        ("Project.Parked",),
        lambda w: w.compliance.project(w.projects["P"]).parked,
    ),
    Act(
        "unpark",
        lambda w: w.compliance.unpark(w.projects["Q"]),
        project_target("Q"),
        ADMINS,
        ("Project.Unparked",),
        lambda w: not w.compliance.project(w.projects["Q"]).parked,
    ),
    # Membership: whoever administers the person.
    Act(
        "add-member",
        lambda w: w.compliance.add_member(w.projects["P"], w.ids["newcomer"], RESTRICTED),
        whom("newcomer"),
        ADMINISTERS_A,
        ("Project.MemberAdded", "UserProjects.Joined"),
        lambda w: member_of(w, "P", "newcomer"),
        person="newcomer",
    ),
    Act(
        "remove-member",
        lambda w: w.compliance.remove_member(w.projects["P"], w.ids["member"], "moved on"),
        whom("member"),
        ADMINISTERS_A,
        ("Project.MemberRemoved", "UserProjects.Left"),
        lambda w: not member_of(w, "P", "member"),
    ),
    Act(
        "set-restrictions",
        lambda w: w.compliance.set_restrictions(
            w.projects["P"], w.ids["member"], ["cannot-download"]
        ),
        whom("member"),
        ADMINISTERS_A,
        ("Project.RestrictionsChanged",),
        lambda w: bool(w.compliance.project(w.projects["P"]).restrictions_of(w.ids["member"])),
    ),
    # Tags: admins, and members holding the tag permission; untagging, admins only.
    Act(
        "tag",
        lambda w: w.compliance.tag(ResourceKind.FILE, file_of(w, "untagged"), w.projects["P"]),
        file_target("untagged"),
        ADMINS | {"tagger"},
        ("ResourceTags.Opened", "ResourceTags.Tagged"),
        lambda w: tagged(w, "untagged", "P"),
    ),
    Act(
        "untag",
        lambda w: w.compliance.untag(ResourceKind.FILE, file_of(w, "f"), w.projects["P"]),
        file_target("f"),
        ADMINS,
        ("ResourceTags.Untagged",),
        lambda w: not tagged(w, "f", "P"),
    ),
    # Seeing a project: admins, its members, officers (recorded).
    Act(
        "view-project",
        lambda w: w.compliance.view_project(w.projects["P"]),
        project_target("P"),
        ADMINS | {"tagger", "plain", "self", "officer"},
    ),
    # The project's data: one decision, no role bypasses it.
    data_act(Action.VIEW_DATA, "cannot-view"),
    data_act(Action.DOWNLOAD_DATA, "cannot-download"),
    # Releasing a key to a secure VM: restrictions are about the member's own machine.
    data_act(Action.RELEASE_KEY, None),
    Act(
        "view-project-data-in-parked-Q",
        data(Action.VIEW_DATA, "g"),
        file_target("g"),
        frozenset(),
        actors=tuple(DATA_ACTORS),
        why=lambda w, actor: f"project Q {w.tag} is parked",
    ),
    Act(
        "download-project-data-in-parked-Q",
        data(Action.DOWNLOAD_DATA, "g"),
        file_target("g"),
        frozenset(),
        actors=tuple(DATA_ACTORS),
        why=lambda w, actor: f"project Q {w.tag} is parked",
    ),
]


@dataclass
class Case:
    actor: str  # "self": the person the action is about
    act: Act
    checks: list[Callable[[World], None]] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.actor in self.act.allowed

    def who(self) -> str:
        return self.act.person if self.actor == "self" else self.actor

    @property
    def id(self) -> str:
        return f"{self.actor}-{self.act.name}-{'allowed' if self.allowed else 'denied'}"


CASES = [Case(actor, act) for act in ACTS for actor in act.actors]


def recorded_since(app: Strongroom, before: int) -> list[Any]:
    return [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=before + 1, limit=100)
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(shared: tuple[Strongroom, ManualClock], case: Case) -> None:
    app, clock = shared
    with clock_installed(clock):
        world = cast(app, clock)
        before = app.recorder.max_notification_id() or 0
        actor_id = str(world.ids[case.who()])

        with world.acting(case.who()):
            if case.allowed:
                outcome = case.act.run(world)
            else:
                with pytest.raises(Forbidden) as refused:
                    case.act.run(world)

        recorded = recorded_since(app, before)
        kinds = [type(e).__qualname__ for e in recorded]
        if case.allowed:
            assert "DeniedAttempt.Recorded" not in kinds
            for kind in case.act.recorded:
                matching = [e for e in recorded if type(e).__qualname__ == kind]
                assert matching, kinds
                assert all(e.actor_id == actor_id for e in matching)
            if case.act.name == "view-project":
                # An officer's read is recorded; anyone else's is an ordinary read.
                assert kinds == (["DirectoryRead.Recorded"] if case.actor == "officer" else [])
                assert recorded == [] or recorded[0].actor_id == actor_id
            if case.act.name.endswith("-in-P"):
                # The decision grants; the vault records the read it then serves.
                assert kinds == []
                assert outcome == f"a compliant member of P {world.tag}"
        else:
            (denial,) = recorded
            assert type(denial).__qualname__ == "DeniedAttempt.Recorded"
            assert denial.actor_id == actor_id
            assert denial.action == refused.value.action
            assert denial.reason == refused.value.reason and denial.reason
            assert denial.target == case.act.target(world)
            assert case.act.why(world, case.actor) in denial.reason
        if case.act.happened is not None:
            assert case.act.happened(world) is case.allowed


# -- admission and tagging refusals that no role avoids --------------------------------


def refusal_of(app: Strongroom, before: int) -> Any:
    (denial,) = recorded_since(app, before)
    assert type(denial).__qualname__ == "DeniedAttempt.Recorded"
    return denial


@pytest.mark.parametrize("actor", ["super", "admin", "subA"])
def test_admission_needs_every_requirement_of_the_level_whoever_admits(
    shared: tuple[Strongroom, ManualClock], actor: str
) -> None:
    app, clock = shared
    with clock_installed(clock):
        w = cast(app, clock)
        before = app.recorder.max_notification_id() or 0
        with w.acting(actor), pytest.raises(Forbidden):
            w.compliance.add_member(w.projects["P"], w.ids["candidate"])
        denial = refusal_of(app, before)
        assert (denial.actor_id, denial.action, denial.target) == (
            str(w.ids[actor]),
            "add-project-member",
            str(w.ids["candidate"]),
        )
        assert denial.reason == (
            f"{w.email('candidate')} cannot join P {w.tag}: L {w.tag}: R {w.tag} not certified"
        )
        # A member whose certification expired on the clock is no more admissible.
        before = app.recorder.max_notification_id() or 0
        with w.acting(actor), pytest.raises(Forbidden):
            w.compliance.add_member(w.projects["S"], w.ids["lapsed"])
        assert "expired" in refusal_of(app, before).reason
        assert not member_of(w, "P", "candidate") and not member_of(w, "S", "lapsed")


def test_a_sub_project_admits_only_its_parents_members_and_a_parked_one_no_one(
    shared: tuple[Strongroom, ManualClock],
) -> None:
    app, clock = shared
    with clock_installed(clock):
        w = cast(app, clock)
        w.project("Sub", "L", parent="S")
        before = app.recorder.max_notification_id() or 0
        with w.acting("admin"), pytest.raises(Forbidden):
            w.compliance.add_member(w.projects["Sub"], w.ids["newcomer"])
        denial = refusal_of(app, before)
        assert denial.reason == (
            f"{w.email('newcomer')} is not a member of S {w.tag}, the parent of Sub {w.tag}"
        )
        before = app.recorder.max_notification_id() or 0
        with w.acting("super"), pytest.raises(Forbidden):
            w.compliance.add_member(w.projects["Q"], w.ids["newcomer"])
        denial = refusal_of(app, before)
        assert denial.reason == "the project is parked: it admits no one until it is unparked"
        assert not member_of(w, "Sub", "newcomer") and not member_of(w, "Q", "newcomer")


def test_data_of_projects_that_may_not_mix_is_never_tagged_together(
    shared: tuple[Strongroom, ManualClock],
) -> None:
    app, clock = shared
    with clock_installed(clock):
        w = cast(app, clock)
        before = app.recorder.max_notification_id() or 0
        with w.acting("super"), pytest.raises(Forbidden):
            w.compliance.tag(ResourceKind.FILE, file_of(w, "f"), w.projects["S"])
        denial = refusal_of(app, before)
        assert (denial.action, denial.target) == ("tag-with-project", f"file:{file_of(w, 'f')}")
        assert denial.reason == (
            f"data of projects that may not mix: P {w.tag} and S {w.tag} (P {w.tag} forbids mixing)"
        )
        assert not tagged(w, "f", "S")


def test_the_expiry_process_records_the_expiry_with_the_lapse_it_causes(
    shared: tuple[Strongroom, ManualClock],
) -> None:
    app, clock = shared
    with clock_installed(clock):
        w = cast(app, clock)
        held = certification_id(w.ids["lapsed"], w.requirements["R"])
        before = app.recorder.max_notification_id() or 0
        with World.system_context("certification-expiry"):
            assert w.compliance.expire(held) is True
            assert w.compliance.expire(held) is False
        recorded = recorded_since(app, before)
        assert [type(e).__qualname__ for e in recorded] == [
            "Certification.Expired",
            "Project.MemberLapsed",
        ]
        assert {e.actor_id for e in recorded} == {"system:certification-expiry"}
        assert recorded[1].user_id == w.ids["lapsed"]
        assert lapsed_in_p(w, "lapsed")
