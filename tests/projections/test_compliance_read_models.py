"""The compliance read model: what officers and the API list, built from the log alone.

One story per test: the domain records, the runner follows, the listings answer,
and a rebuild from the log answers the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from domain.access import Role
from domain.compliance import Compliance
from domain.projects import ResourceKind
from projections.compliance import (
    COMPLIANCE,
    certification_listing,
    due_certifications,
    level_listing,
    non_compliant_members,
    project_listing,
    requirement_listing,
    tag_listing,
)
from projections.runner import ProjectionRunner
from tests.runners import runner_for


@pytest.fixture
def world(settings: Settings, clock: ManualClock) -> Iterator[World]:
    app = open_system(settings, clock=clock).app
    w = World(app)
    w.person("admin", Role.ADMIN)
    w.person("rita", name="Rita Levi", teams=("DAC",))
    w.person("olga", name="Olga Berg", teams=("DAC",))
    yield w
    app.close()


@pytest.fixture
def runner(settings: Settings, world: World) -> Iterator[ProjectionRunner]:
    runner = runner_for(settings, world.app)
    yield runner
    runner.engine.dispose()


def read(runner: ProjectionRunner, query: Any, **kwargs: Any) -> Any:
    runner.catch_up_all()
    with runner.engine.connect() as conn:
        return query(conn, **kwargs)


def test_requirements_levels_and_projects(
    world: World, runner: ProjectionRunner, clock: ManualClock
) -> None:
    c = Compliance(world.app)
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "yearly training", 365)
        citizenship = c.create_requirement("Citizenship", "", None)
        hipaa = c.create_level("HIPAA", "health data", [training])
        dac = c.create_project("DAC", hipaa, description="the study")
        dua = c.create_project("DUA", hipaa, parent_id=dac, allows_mixing=True)
        c.change_requirement(training, description="every year", lifespan_days=180)
        c.add_level_requirement(hipaa, citizenship)

    assert read(runner, requirement_listing) == [
        {"id": str(citizenship), "name": "Citizenship", "description": "", "lifespan_days": None},
        {
            "id": str(training),
            "name": "DAC Compliance",
            "description": "every year",
            "lifespan_days": 180,
        },
    ]
    # A level lists its requirements in the order they were given, and the projects using it.
    [level] = read(runner, level_listing)
    assert level["name"] == "HIPAA" and level["description"] == "health data"
    assert level["requirements"] == [
        {"id": str(training), "name": "DAC Compliance"},
        {"id": str(citizenship), "name": "Citizenship"},
    ]
    assert level["projects"] == [str(dac), str(dua)]
    # Removing it (acknowledged, the level is in use) takes it off the listing.
    with world.acting("admin"):
        c.remove_level_requirement(hipaa, citizenship, acknowledge=True)
    [level] = read(runner, level_listing)
    assert [r["name"] for r in level["requirements"]] == ["DAC Compliance"]

    listed = {p["name"]: p for p in read(runner, project_listing)}
    assert listed["DAC"] == {
        "id": str(dac),
        "name": "DAC",
        "description": "the study",
        "security_level_id": str(hipaa),
        "security_level": "HIPAA",
        "parent_id": None,
        "parked": False,
        "allows_mixing": False,
        "members": [],
    }
    assert listed["DUA"]["parent_id"] == str(dac) and listed["DUA"]["allows_mixing"] is True

    # Parking shows, and unparking clears it.
    with world.acting("admin"):
        c.park(dac, "audit finding")
    assert {p["name"]: p["parked"] for p in read(runner, project_listing)} == {
        "DAC": True,
        "DUA": False,
    }
    with world.acting("admin"):
        c.unpark(dac)
    assert not any(p["parked"] for p in read(runner, project_listing))


def test_members_lapse_and_are_restored_with_the_reason(
    world: World, runner: ProjectionRunner, clock: ManualClock
) -> None:
    c = Compliance(world.app)
    rita, olga = world.ids["rita"], world.ids["olga"]
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "", 365)
        hipaa = c.create_level("HIPAA", "", [training])
        dac = c.create_project("DAC", hipaa)
        for person in (rita, olga):
            c.certify(person, training, clock.now() + timedelta(days=30))
        c.add_member(dac, rita, ["cannot-download"])
        c.add_member(dac, olga)
        c.set_restrictions(dac, olga, ["cannot-view", "cannot-download"])

    [project] = read(runner, project_listing)
    members = {m["email"]: m for m in project["members"]}
    assert members[world.email("rita")] == {
        "user_id": str(rita),
        "email": world.email("rita"),
        "name": "Rita Levi",
        "restrictions": ["cannot-download"],
        "compliant": True,
        "reason": None,
        "since": None,
    }
    assert members[world.email("olga")]["restrictions"] == ["cannot-download", "cannot-view"]
    assert read(runner, non_compliant_members) == []

    # Rita's certification is withdrawn: she lapses, recorded with the reason.
    clock.advance(timedelta(hours=1))
    lapsed_at = clock.now()
    with world.acting("admin"):
        c.decertify(rita, training, "failed the quiz")
    [lapse] = read(runner, non_compliant_members)
    assert lapse["project_id"] == str(dac) and lapse["project"] == "DAC"
    assert (lapse["user_id"], lapse["email"], lapse["name"]) == (
        str(rita),
        world.email("rita"),
        "Rita Levi",
    )
    assert "DAC Compliance" in lapse["reason"] and "revoked" in lapse["reason"]
    assert lapse["since"] == lapsed_at
    [project] = read(runner, project_listing)
    rita_row = next(m for m in project["members"] if m["user_id"] == str(rita))
    assert (rita_row["compliant"], rita_row["reason"]) == (False, lapse["reason"])

    # Re-certified: restored; the moment of restoration is kept.
    clock.advance(timedelta(hours=1))
    with world.acting("admin"):
        c.certify(rita, training, clock.now() + timedelta(days=30))
    assert read(runner, non_compliant_members) == []
    [project] = read(runner, project_listing)
    rita_row = next(m for m in project["members"] if m["user_id"] == str(rita))
    assert (rita_row["compliant"], rita_row["reason"], rita_row["since"]) == (
        True,
        None,
        clock.now(),
    )

    # Removed: gone from the project.
    with world.acting("admin"):
        c.remove_member(dac, olga, "left the study")
    [project] = read(runner, project_listing)
    assert [m["user_id"] for m in project["members"]] == [str(rita)]


def test_certifications_read_at_a_moment_and_expiring_within_days(
    world: World, runner: ProjectionRunner, clock: ManualClock
) -> None:
    c = Compliance(world.app)
    rita, olga = world.ids["rita"], world.ids["olga"]
    start = clock.now()
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "", 365)
        citizenship = c.create_requirement("Citizenship", "", None)
        c.certify(rita, training, start + timedelta(days=10))
        c.certify(olga, training, start + timedelta(days=100))
        c.certify(rita, citizenship, None)

    listed = read(runner, certification_listing)
    # Soonest expiry first; no expiry last.
    assert [(x["email"], x["requirement"], x["state"]) for x in listed] == [
        (world.email("rita"), "DAC Compliance", "certified"),
        (world.email("olga"), "DAC Compliance", "certified"),
        (world.email("rita"), "Citizenship", "certified"),
    ]
    assert listed[0] == {
        "user_id": str(rita),
        "email": world.email("rita"),
        "name": "Rita Levi",
        "requirement_id": str(training),
        "requirement": "DAC Compliance",
        "state": "certified",
        "certified_at": start,
        "expires_at": start + timedelta(days=10),
        "revoked_reason": None,
    }
    # Expiring within 30 days: Rita's training only.
    within = read(
        runner, certification_listing, expiring_before=start + timedelta(days=30), now=start
    )
    assert [(x["email"], x["requirement"]) for x in within] == [
        (world.email("rita"), "DAC Compliance")
    ]
    assert [x["requirement"] for x in read(runner, certification_listing, user_id=olga)] == [
        "DAC Compliance"
    ]

    # Read at a moment past its expiry, Rita's training is expired before anything
    # records it; the process has it due from that very moment, not a second before.
    moment = start + timedelta(days=10)
    states = {
        (x["email"], x["requirement"]): x["state"]
        for x in read(runner, certification_listing, now=moment)
    }
    assert states[(world.email("rita"), "DAC Compliance")] == "expired"
    assert states[(world.email("olga"), "DAC Compliance")] == "certified"
    assert read(runner, due_certifications, now=moment - timedelta(seconds=1)) == []
    [due] = read(runner, due_certifications, now=moment)
    assert c.certification(rita, training).id == due  # type: ignore[union-attr]
    # An expired one is no longer "expiring".
    later = read(
        runner, certification_listing, expiring_before=moment + timedelta(days=91), now=moment
    )
    assert [x["email"] for x in later] == [world.email("olga")]

    # Withdrawn: revoked with the reason, and no longer due.
    with world.acting("admin"):
        c.decertify(rita, training, "left the university")
    revoked = read(runner, certification_listing, user_id=rita, now=moment)
    assert [(x["requirement"], x["state"], x["revoked_reason"]) for x in revoked] == [
        ("DAC Compliance", "revoked", "left the university"),
        ("Citizenship", "certified", None),
    ]
    assert read(runner, due_certifications, now=moment) == []


def test_recorded_expiry_reads_expired_and_a_renamed_person_shows_at_once(
    world: World, runner: ProjectionRunner, clock: ManualClock
) -> None:
    c = Compliance(world.app)
    rita = world.ids["rita"]
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "", 365)
        c.certify(rita, training, clock.now() + timedelta(days=1))
    clock.advance(timedelta(days=1))
    held = c.certification(rita, training)
    assert held is not None
    with World.system_context("certification-expiry"):
        assert c.expire(held.id)
    [listed] = read(runner, certification_listing)
    assert listed["state"] == "expired"
    assert read(runner, due_certifications, now=clock.now()) == []
    # Re-certified: live again, a new period.
    with world.acting("admin"):
        c.certify(rita, training, clock.now() + timedelta(days=5))
    [listed] = read(runner, certification_listing, now=clock.now())
    assert (listed["state"], listed["certified_at"]) == ("certified", clock.now())


def test_tags_by_kind_resource_and_project(world: World, runner: ProjectionRunner) -> None:
    c = Compliance(world.app)
    with world.acting("admin"):
        level = c.create_level("Open", "", [])
        dac = c.create_project("DAC", level, allows_mixing=True)
        dua = c.create_project("DUA", level, allows_mixing=True)
    file_id, vm_id = uuid4(), uuid4()
    with world.acting("root"):
        c.tag(ResourceKind.FILE, file_id, dac)
        c.tag(ResourceKind.FILE, file_id, dua)
        c.tag(ResourceKind.VM, vm_id, dac)
        c.untag(ResourceKind.FILE, file_id, dua)

    def keys(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [(r["kind"], r["resource_id"], r["project"]) for r in rows]

    assert sorted(keys(read(runner, tag_listing))) == sorted(
        [("file", str(file_id), "DAC"), ("vm", str(vm_id), "DAC")]
    )
    assert keys(read(runner, tag_listing, kind="vm")) == [("vm", str(vm_id), "DAC")]
    assert keys(read(runner, tag_listing, resource_id=file_id)) == [("file", str(file_id), "DAC")]
    assert read(runner, tag_listing, project_id=dua) == []
    [row] = read(runner, tag_listing, kind="file", project_id=dac)
    assert row == {
        "kind": "file",
        "resource_id": str(file_id),
        "project_id": str(dac),
        "project": "DAC",
    }


def test_a_rebuild_from_the_log_answers_the_same(
    world: World, runner: ProjectionRunner, clock: ManualClock
) -> None:
    c = Compliance(world.app)
    rita = world.ids["rita"]
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "", 365)
        hipaa = c.create_level("HIPAA", "", [training])
        dac = c.create_project("DAC", hipaa)
        c.certify(rita, training, clock.now() + timedelta(days=3))
        c.add_member(dac, rita)
        c.decertify(rita, training, "lapsed")
        c.tag(ResourceKind.FOLDER, uuid4(), dac)
    queries = (
        requirement_listing,
        level_listing,
        project_listing,
        certification_listing,
        non_compliant_members,
        tag_listing,
    )
    before = [read(runner, q) for q in queries]
    assert runner.rebuild(COMPLIANCE) > 0
    assert [read(runner, q) for q in queries] == before
    assert UUID(before[4][0]["user_id"]) == rita
