"""Time travel: every aggregate type, as of every position, is its own history replayed by hand.

The story below gives every aggregate type in the domain a history (several
versions wherever the type can change), with snapshots every 2 versions, so
loading an old version starts from a snapshot taken *before* it while newer
snapshots exist. The expected state is built independently: the notification
log decoded event by event and applied with the library's `mutate`, never
through the repository, snapshots or the export that time travel uses.
"""

from __future__ import annotations

import copy
import importlib
import json
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import AggregateCreated
from eventsourcing.utils import get_topic

import domain
from adapters.bootstrap import System, open_system
from adapters.clock import ManualClock
from api.world import VISITOR, World
from audit_queries.time_travel import (
    AsOf,
    NeverRecorded,
    NotYetRecorded,
    Point,
    TimeTravel,
    looking_back,
    parse_as_of,
    render_state,
    to_json_value,
)
from client.keys import UserKeys
from domain.access import Permission, Role
from domain.aggregate import AuditedAggregate
from domain.alerts import Alerts
from domain.application import Strongroom
from domain.certifications import certification_id
from domain.compliance import Compliance
from domain.envelope import AuditContext, acting_as
from domain.errors import Forbidden, InvalidInput
from domain.exports import ExportReads, ForensicExport
from domain.forensic_queries import QueryRun
from domain.forensic_questions import ForensicQuestion
from domain.history_reads import AGGREGATE, History, HistoryAction
from domain.identity import Identity, Registration
from domain.installation import Setup
from domain.logins import AuthenticationFailed, Logins
from domain.machine_access import MachineAccess
from domain.projects import ResourceKind
from domain.reports import ComplianceReport
from domain.saved_queries import SavedQuery, SavedQueryCatalogue
from domain.teams import Quota
from domain.throttling import Fold, Throttling
from tests.stores import store_settings

SNAPSHOT_INTERVAL = 2
STEP = timedelta(minutes=1)
# What officers are not shown, by type; every other type is shown whole.
WITHHELD = {"AccessToken": ["token_hash"]}


@pytest.fixture
def system(store_kind: str, tmp_path: Path, clock: ManualClock) -> Iterator[System]:
    with store_settings(
        store_kind, tmp_path / "home", STRONGROOM_SNAPSHOT_INTERVAL=str(SNAPSHOT_INTERVAL)
    ) as settings:
        opened = open_system(settings, clock=clock)
        try:
            yield opened
        finally:
            opened.close()


# -- the aggregate types, found rather than listed ------------------------------------------


def domain_aggregate_types() -> dict[str, type[AuditedAggregate]]:
    """Every AuditedAggregate subclass in the domain, by topic: new capabilities included."""
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")
    found: dict[str, type[AuditedAggregate]] = {}
    stack: list[type[AuditedAggregate]] = [AuditedAggregate]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("domain."):
                found[get_topic(sub)] = sub
    return found


def can_change(kind: type[AuditedAggregate]) -> bool:
    """Whether the type has an event besides the one that creates it."""
    return any(
        isinstance(value, type)
        and issubclass(value, AuditedAggregate.Event)
        and not issubclass(value, AggregateCreated)
        and value.__name__ != "Event"
        for value in vars(kind).values()
    )


# -- the story -------------------------------------------------------------------------------


@dataclass
class Story:
    world: World
    # When each step happened (the clock moves a minute between steps).
    moments: list[datetime] = field(default_factory=list)


def tell_story(app: Strongroom, clock: ManualClock) -> Story:
    """A history in which every aggregate type appears, most with several versions."""
    moments: list[datetime] = []

    def step() -> None:
        moments.append(clock.now())
        clock.advance(STEP)

    # The installation and its first super-admin, as `strongroom init` records them.
    root_keys = UserKeys.generate()
    with acting_as(AuditContext.system("bootstrap")):
        Setup(app).initialise(
            audit_key_id="k1",
            audit_public_key="-----BEGIN PUBLIC KEY-----",
            store_kind="test",
            first_super_admin=Registration(**root_keys.registration("root@example.edu", "Root")),
        )
    step()
    world = World(app, tag="", root_email="root@example.edu")
    world.keys["root"] = root_keys
    identity = Identity(app)
    ada = world.person("ada", teams=("A",))
    step()
    officer = world.person("olu", teams=("A",))
    bob = world.person("bob", Role.SUB_ADMIN, teams=("B",), sub_admin_of=("B",))
    with world.acting("root"):
        identity.set_permissions(officer, grant={Permission.AUDIT}, restrict=set())
        identity.create_profile("Granite User", {Permission.VIEW, Permission.TAG_PROJECTS})
        identity.apply_profile(ada, "Granite User")
        identity.set_team_quota(world.team("A"), Quota(2**40, 4, 32))
        identity.add_team_member(world.team("B"), ada)
    step()

    # Ada logs in, is seen again after a while (Touched), and logs out.
    token = sha256(b"ada's session").hexdigest()
    world.login("ada", token_hash=token)
    clock.advance(2 * STEP)
    with acting_as(VISITOR):
        Logins(app).authenticate(token)
        Logins(app).logout(token)
    step()

    # Bob fails five logins (locked); root unlocks him. Someone unknown tries too.
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            world.login("bob", keys=UserKeys.generate())
    with world.acting("root"):
        identity.unlock_user(bob)
    with pytest.raises(AuthenticationFailed):
        world.login("nobody", email="nobody@example.edu", keys=UserKeys.generate())
    step()

    # The officer reads the directory, works an alert, exports, makes and revokes tokens.
    alert = Alerts(app).raise_system_alert(
        "test-rule", 1, type="Test", severity="low", subject=str(ada), message="ada did it"
    )
    first, second = sha256(b"siem secret").hexdigest(), sha256(b"script secret").hexdigest()
    with world.acting("olu"):
        identity.view_user(bob)
        Alerts(app).acknowledge(alert, "looking")
        Alerts(app).resolve(alert, "fine")
        app.save(ForensicExport("/srv/exports", "parquet", 0, 40, 40))
        ExportReads(app).record_read("_manifest.json", 40, 3)
        access = MachineAccess(app)
        access.create_token(name="siem", scopes=["query"], token_hash=first, expires_in_days=30)
        access.create_token(name="script", scopes=["query"], token_hash=second, expires_in_days=1)
        access.revoke_token(first[:16], "leaked")
        access.authenticate_token(second, "query", "GET /api/v1/audit/organisation")
        History(app).record_read(what=AGGREGATE, target=ada, as_of="3", position=3, version=2)
    with world.acting("ada"), pytest.raises(Forbidden):
        History(app).officer(HistoryAction.READ_ORGANISATION_AS_OF)
    step()

    # What the other forensic capabilities record: built here as their use cases
    # would save them (this test is about loading them back, not about those).
    with world.acting("olu"):
        app.save(
            QueryRun(
                sql="SELECT count(*) FROM events",
                saved_query=None,
                revision=None,
                parameters={},
                row_limit=100,
                time_limit=5.0,
                outcome="answered",
                row_count=1,
                truncated=False,
                reason=None,
                exported_upto=40,
            ),
            ForensicQuestion("lineage", {"aggregate": str(ada)}, 3, ada, None),
            ComplianceReport(
                "monthly", "2026-03", "html", 40, "00" * 32, moments[0], clock.now(), [], {}, 12
            ),
        )
        definition: dict[str, Any] = {
            "sql": "SELECT * FROM logins",
            "description": "",
            "tags": ["logins"],
            "parameters": [],
            "return_type": "table",
            "by": str(officer),
        }
        saved = SavedQuery("logins", **definition)
        catalogue = SavedQueryCatalogue()
        catalogue.list_name("logins")
        catalogue.list_name("denials")
        app.save(saved, catalogue, SavedQuery("denials", **definition))
        saved.update(**(definition | {"tags": ["logins", "network"]}))
        saved.retire(by=str(officer))
        saved.restore(**definition)
        app.save(saved)
    step()

    # The rate limit folds a burst of refusals into one counted event.
    Throttling(app).record_fold(
        Fold(
            source="203.0.113.9",
            client_ip="203.0.113.9",
            window_seconds=60.0,
            first_at=clock.now(),
            last_at=clock.now() + timedelta(seconds=5),
            refused=3,
            by_limit={"anonymous": 3},
            paths={"/api/v1/auth/challenge": 3},
        )
    )
    # Compliance: a requirement changed, a level that gains one, a project whose member
    # is certified, restricted, lapses and is restored; a tag put on and taken off.
    c = Compliance(app)
    with world.acting("root"):
        training = c.create_requirement("Training", "yearly", 365)
        c.change_requirement(training, description="the yearly training")
        hipaa = c.create_level("HIPAA", "", [training])
        dac = c.create_project("DAC", hipaa)
        c.certify(ada, training, clock.now() + timedelta(days=1))
        c.add_member(dac, ada, ["cannot-view"])
        c.set_restrictions(dac, ada, [])
        citizenship = c.create_requirement("Citizenship", "", None)
        c.add_level_requirement(hipaa, citizenship)
        c.certify(ada, citizenship, None)
        c.tag(ResourceKind.FILE, file_id := uuid4(), dac)
        c.untag(ResourceKind.FILE, file_id, dac)
        c.park(dac, "paused")
        c.unpark(dac)
    step()
    clock.advance(timedelta(days=1))
    with World.system_context("certification-expiry"):
        c.expire(certification_id(ada, training))
    with world.acting("root"):
        c.certify(ada, training, clock.now() + timedelta(days=30))
        c.decertify(ada, citizenship, "moved abroad")
        c.remove_member(dac, ada, "left the study")
    step()

    # Ada leaves her teams (released from the last); bob is deactivated.
    with world.acting("root"):
        identity.remove_team_member(world.team("B"), ada)
        identity.remove_team_member(world.team("A"), ada)
        identity.deactivate_user(bob)
    step()
    return Story(world, moments)


# -- the expected states, replayed by hand --------------------------------------------------


@dataclass(frozen=True)
class Step:
    position: int
    recorded_at: datetime
    aggregate: AuditedAggregate  # a copy, as it was right after this event


def replayed(app: Strongroom) -> dict[UUID, list[Step]]:
    """Each aggregate after each of its events: the log decoded and mutated one event at a time."""
    current: dict[UUID, Any] = {}
    steps: dict[UUID, list[Step]] = {}
    start = 1
    while page := app.recorder.select_notifications(start=start, limit=500):
        for notification in page:
            event: Any = app.mapper.to_domain_event(notification)
            aggregate = event.mutate(current.get(event.originator_id))
            current[event.originator_id] = aggregate
            steps.setdefault(event.originator_id, []).append(
                Step(notification.id, event.timestamp, copy.deepcopy(aggregate))
            )
        start = page[-1].id + 1
    return steps


def as_of(steps: list[Step], position: int) -> Step | None:
    before = [s for s in steps if s.position <= position]
    return before[-1] if before else None


class Checker:
    """Compares time travel with the replayed history; each position is resolved once."""

    def __init__(self, past: TimeTravel) -> None:
        self.past = past
        self.points: dict[int, Point] = {}
        self.checked = 0

    def point(self, position: int) -> Point:
        if position not in self.points:
            self.points[position] = self.past.point(AsOf(position=position))
        return self.points[position]

    def same(self, aggregate_id: UUID, position: int, expected: Step | None) -> None:
        self.checked += 1
        point = self.point(position)
        if expected is None:
            with pytest.raises(NotYetRecorded, match=f"did not exist at position {position}"):
                self.past.aggregate(aggregate_id, point)
            return
        found = self.past.aggregate(aggregate_id, point)
        assert found.version == expected.aggregate.version, (aggregate_id, position)
        assert vars(found.aggregate) == vars(expected.aggregate), (found.type, position)
        assert found.recorded_at == expected.recorded_at
        shown = render_state(expected.aggregate)
        assert (found.state, found.withheld) == (shown.state, shown.withheld)
        json.dumps(found.state)  # JSON as it stands


# -- the tests --------------------------------------------------------------------------------


def by_type(steps: dict[UUID, list[Step]]) -> dict[str, list[UUID]]:
    found: dict[str, list[UUID]] = {}
    for aggregate_id, history in steps.items():
        found.setdefault(get_topic(type(history[-1].aggregate)), []).append(aggregate_id)
    return found


def test_the_story_gives_every_aggregate_type_in_the_domain_a_history(
    system: System, clock: ManualClock
) -> None:
    tell_story(system.app, clock)
    steps = replayed(system.app)
    told = by_type(steps)
    types = domain_aggregate_types()
    # A capability that lands with a new aggregate type fails here until the story has it.
    missing = sorted(set(types) - set(told))
    assert not missing, f"add these to tell_story() so time travel is tested on them: {missing}"
    for topic, kind in types.items():
        most = max(len(steps[i]) for i in told[topic])
        assert most >= (2 if can_change(kind) else 1), f"{topic} has only {most} versions"


def test_every_aggregate_type_as_of_every_position_is_its_history_replayed(
    system: System, clock: ManualClock
) -> None:
    app = system.app
    tell_story(app, clock)
    steps = replayed(app)
    with looking_back(system) as past:
        check = Checker(past)
        head = past.head()
        for ids in by_type(steps).values():
            # Every aggregate where it changes, just before, at 0 and at the head; the
            # longest history of each type that can change, at every position of the log
            # (one that cannot change has a single step, which its boundaries pin down).
            longest = max(ids, key=lambda i: len(steps[i]))
            if len(steps[longest]) > 1:
                for position in range(head + 1):
                    check.same(longest, position, as_of(steps[longest], position))
            for aggregate_id in ids:
                history = steps[aggregate_id]
                positions = {0, head} | {p for s in history for p in (s.position - 1, s.position)}
                for position in sorted(positions):
                    check.same(aggregate_id, position, as_of(history, position))
        assert check.checked > head * 10

    # Old versions were loaded while newer snapshots existed, and from older ones:
    # the library takes the newest snapshot at or below the version asked for.
    user = max(
        (i for i, h in steps.items() if type(h[-1].aggregate).__name__ == "User"),
        key=lambda i: len(steps[i]),
    )
    snapshots = [s.originator_version for s in app.snapshots.get(user)]  # type: ignore[union-attr]
    assert len(steps[user]) > 6
    assert snapshots == list(range(SNAPSHOT_INTERVAL, len(steps[user]) + 1, SNAPSHOT_INTERVAL))


def test_what_officers_are_not_shown_is_withheld_and_said(
    system: System, clock: ManualClock
) -> None:
    tell_story(system.app, clock)
    steps = replayed(system.app)
    with looking_back(system) as past:
        point = past.point(AsOf(position=past.head()))
        for aggregate_id, history in steps.items():
            found = past.aggregate(aggregate_id, point)
            assert found.withheld == WITHHELD.get(found.type, []), found.type
            assert "(withheld)" not in json.dumps(found.state), found.type
            if found.type == "AccessToken":
                assert "token_hash" not in found.state
                assert history[-1].aggregate.token_hash not in json.dumps(found.state)  # type: ignore[attr-defined]
                assert found.state["revoked"] is True or found.state["name"] == "script"
            if found.type == "Session":
                assert found.state["idle"] == 30 * 60  # a duration, in seconds
                assert found.state["ended"] is True
            if found.type == "Team" and found.state["name"] == "A":
                assert found.state["quota"] == {
                    "storage_bytes": 2**40,
                    "vm_count": 4,
                    "cpu_cores": 32,
                }
            if found.type == "Profile":
                assert found.state == {
                    "name": "Granite User",
                    "permissions": ["tag-projects", "view"],  # a set, sorted
                }


def test_the_serialiser_withholds_what_it_cannot_show_safely() -> None:
    withheld: list[str] = []
    shown = to_json_value(
        {
            "key": b"\x00secret bytes",
            "nested": {"private_key": "x", "ok": {3, 1, 2}},
            "when": datetime(2026, 3, 1, 9, tzinfo=UTC),
            "how_long": timedelta(minutes=2),
            "role": Role.SUB_ADMIN,
            "odd": object(),
            "nan": float("nan"),
        },
        "state",
        withheld,
    )
    assert shown == {
        "key": "(withheld)",
        "nested": {"ok": [1, 2, 3]},
        "when": "2026-03-01T09:00:00+00:00",
        "how_long": 120.0,
        "role": "sub-admin",
        "odd": "(withheld)",
        "nan": "nan",
    }
    assert withheld == ["state.key", "state.nested.private_key", "state.odd"]


def test_state_as_of_a_time_is_the_state_at_the_last_position_recorded_by_then(
    system: System, clock: ManualClock
) -> None:
    app = system.app
    story = tell_story(app, clock)
    steps = replayed(app)
    times = sorted({(s.recorded_at, s.position) for h in steps.values() for s in h})
    ada = story.world.ids["ada"]
    with looking_back(system) as past:
        check = Checker(past)
        for moment in [
            story.moments[0] - timedelta(days=1),
            *story.moments,
            *(m + STEP / 2 for m in story.moments),
            story.moments[-1] + timedelta(days=365),
        ]:
            point = past.point(AsOf(moment=moment))
            by_then = [p for t, p in times if t <= moment]
            assert point.position == (max(by_then) if by_then else 0), moment
            if by_then:
                assert point.at == max(t for t, p in times if p == point.position)
            check.same(ada, point.position, as_of(steps[ada], point.position))
        # A moment in another offset is the same moment.
        later = story.moments[2].astimezone(datetime.now(UTC).astimezone().tzinfo)
        assert (
            past.point(AsOf(moment=later)).position
            == past.point(AsOf(moment=story.moments[2])).position
        )


def test_before_it_existed_or_if_it_never_did_is_not_found(
    system: System, clock: ManualClock
) -> None:
    story = tell_story(system.app, clock)
    steps = replayed(system.app)
    bob = story.world.ids["bob"]
    created = steps[bob][0].position
    with looking_back(system) as past:
        with pytest.raises(
            NotYetRecorded,
            match=f"User {bob} did not exist at position {created - 1} "
            f"\\(it was first recorded at position {created}\\)",
        ):
            past.aggregate(bob, past.point(AsOf(position=created - 1)))
        with pytest.raises(NotYetRecorded, match="did not exist at position 0"):
            past.aggregate(bob, past.point(AsOf(position=0)))
        before = past.point(AsOf(moment=story.moments[0] - timedelta(hours=1)))
        assert (before.position, before.at) == (0, None)
        with pytest.raises(NeverRecorded, match="no aggregate"):
            past.aggregate(uuid4(), past.point(AsOf(position=past.head())))
        head = past.head()
        with pytest.raises(InvalidInput) as beyond:
            past.point(AsOf(position=head + 1))
        assert beyond.value.field == "as_of"
        assert f"beyond the end of the log ({head})" in beyond.value.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", AsOf(position=0)),
        ("1042", AsOf(position=1042)),
        ("2026-11-27T09:00:00Z", AsOf(moment=datetime(2026, 11, 27, 9, tzinfo=UTC))),
        ("2026-11-27T10:30:00+01:30", AsOf(moment=datetime(2026, 11, 27, 9, tzinfo=UTC))),
    ],
)
def test_as_of_is_a_position_or_a_time_with_its_offset(text: str, expected: AsOf) -> None:
    parsed = parse_as_of(text)
    assert parsed == expected or parsed.moment == expected.moment
    assert str(parsed) in (text, "2026-11-27T09:00:00+00:00")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "1 to 64 characters"),
        ("-1", "neither a position"),
        ("+5", "neither a position"),
        ("1.5", "neither a position"),
        ("yesterday", "neither a position"),
        ("2026-11-27T09:00:00", "needs its UTC offset"),
        ("2026-11-27", "needs its UTC offset"),
        ("2026-11-27T09:00:00 01:00", "write the + of an offset as %2B"),
        (str(2**63), "at most"),
        ("9" * 65, "1 to 64 characters"),
        ("١٢", "neither a position"),  # digits, but not ASCII ones
        ("0001-01-01T00:00:00+01:00", "year 1 to 9999"),
        ("9999-12-31T23:59:59-01:00", "year 1 to 9999"),
    ],
)
def test_unusable_as_of_is_refused_naming_the_field(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_as_of(text)
    assert refused.value.field == "as_of"
    assert reason in refused.value.reason


# -- the organisation as of a date, against a story with known truth --------------------------


def people(past: TimeTravel, moment: datetime) -> dict[str, tuple[Any, ...]]:
    organisation = past.organisation(past.point(AsOf(moment=moment)))
    return {
        p.email: (
            p.role,
            p.active,
            p.locked,
            p.permissions,
            [t.name for t in p.teams],
            [t.name for t in p.sub_admin_of],
        )
        for p in organisation.people
    }


def teams(past: TimeTravel, moment: datetime) -> dict[str, tuple[Any, ...]]:
    organisation = past.organisation(past.point(AsOf(moment=moment)))
    return {
        t.name: (
            [m.email for m in t.members],
            [s.email for s in t.sub_admins],
            t.quota["vm_count"],
        )
        for t in organisation.teams
    }


# The super-admin a World starts from, as `people()` shows a person.
ROOT: tuple[Any, ...] = ("super-admin", True, False, ["download", "view"], [], [])


def test_the_organisation_as_of_each_date_is_what_was_true_then(
    system: System, clock: ManualClock
) -> None:
    app = system.app
    identity = Identity(app)
    start = clock.now()
    world = World(app, tag="")  # root@example.edu, a super-admin

    # Day 1: Ada joins the Lab; Bob registers (not yet active).
    clock.advance(timedelta(days=1))
    day1 = clock.now()
    ada = world.person("ada", teams=("Lab",))
    bob = world.register("bob")

    # Day 2: Bob becomes the Lab's sub-admin; Ada gets a profile; the Lab a bigger quota.
    clock.advance(timedelta(days=1))
    day2 = clock.now()
    with world.acting("root"):
        identity.change_role(bob, Role.SUB_ADMIN)
        identity.activate_user(bob)
        identity.add_team_member(world.team("Lab"), bob)
        identity.assign_sub_admin(world.team("Lab"), bob)
        identity.create_profile("Granite User", {Permission.VIEW, Permission.TAG_PROJECTS})
        identity.apply_profile(ada, "Granite User")
        identity.set_team_quota(world.team("Lab"), Quota(2**40, 6, 48))

    # Day 3: Ada is locked out, then removed from the Lab (her last team); Bob makes Ops.
    clock.advance(timedelta(days=1))
    day3 = clock.now()
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            world.login("ada", keys=UserKeys.generate())
    with world.acting("root"):
        identity.remove_team_member(world.team("Lab"), ada)
    world.team("Ops", by="bob")
    clock.advance(timedelta(days=1))

    with looking_back(system) as past:
        assert people(past, start - timedelta(seconds=1)) == {}
        assert people(past, start) == {"root@example.edu": ROOT}
        assert people(past, day1 + timedelta(hours=1)) == {
            "root@example.edu": ROOT,
            "ada@example.edu": ("user", True, False, ["download", "view"], ["Lab"], []),
            "bob@example.edu": ("user", False, False, ["download", "view"], [], []),
        }
        assert teams(past, day1 + timedelta(hours=1)) == {"Lab": (["ada@example.edu"], [], 2)}
        assert people(past, day2) == {
            "root@example.edu": ROOT,
            "ada@example.edu": ("user", True, False, ["tag-projects", "view"], ["Lab"], []),
            "bob@example.edu": ("sub-admin", True, False, ["download", "view"], ["Lab"], ["Lab"]),
        }
        assert teams(past, day2) == {
            "Lab": (["ada@example.edu", "bob@example.edu"], ["bob@example.edu"], 6)
        }
        assert people(past, day3) == {
            "root@example.edu": ROOT,
            # Locked, then released from her last team: inactive, back to the defaults.
            "ada@example.edu": ("user", False, True, ["download", "view"], [], []),
            "bob@example.edu": (
                "sub-admin",
                True,
                False,
                ["download", "view"],
                ["Lab"],
                ["Lab", "Ops"],
            ),
        }
        assert teams(past, day3) == {
            "Lab": (["bob@example.edu"], ["bob@example.edu"], 6),
            "Ops": ([], ["bob@example.edu"], 2),
        }
        organisation = past.organisation(past.point(AsOf(moment=day2)))
        assert [(p.name, p.permissions) for p in organisation.profiles] == [
            ("Granite User", ["tag-projects", "view"])
        ]
        assert organisation.more == {}
        assert past.organisation(past.point(AsOf(moment=day1))).profiles == []
        # As of a position: the same cut as the time that resolves to it.
        point = past.point(AsOf(moment=day2))
        by_position = past.organisation(past.point(AsOf(position=point.position)))
        assert by_position.people == past.organisation(point).people
