"""Compliance in the domain: expiry on the clock, parking, admission, mixing, decertification.

Each refusal is asserted together with the event that records it.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from adapters.clock import ManualClock
from api.world import World
from domain.access import Role
from domain.application import Strongroom
from domain.compliance import Compliance
from domain.compliance_access import Action
from domain.errors import Forbidden, InvalidInput
from domain.projects import Project, ResourceKind


def events(app: Strongroom) -> list[object]:
    return [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=100_000)
    ]


def refusals(app: Strongroom) -> list[tuple[str, str]]:
    return [
        (e.action, e.reason)  # type: ignore[attr-defined]
        for e in events(app)
        if type(e).__qualname__ == "DeniedAttempt.Recorded"
    ]


@pytest.fixture
def world(app: Strongroom) -> World:
    w = World(app)
    w.person("admin", Role.ADMIN)
    w.person("sub", Role.SUB_ADMIN, sub_admin_of=("DAC",))
    w.person("rita", teams=("DAC",))
    w.person("olga", teams=("DAC",))
    return w


@pytest.fixture
def dac(app: Strongroom, world: World, clock: ManualClock) -> dict[str, object]:
    """HIPAA with "DAC Compliance" (365 days), project DAC with sub-project DUA."""
    c = Compliance(app)
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance " + world.tag, "yearly", 365)
        hipaa = c.create_level("HIPAA " + world.tag, "", [training])
        project = c.create_project("DAC " + world.tag, hipaa)
        sub = c.create_project("DUA " + world.tag, hipaa, parent_id=project)
    return {"training": training, "hipaa": hipaa, "dac": project, "dua": sub}


def test_expiry_is_decided_on_the_clock_and_recorded_once(
    app: Strongroom, world: World, dac: dict, clock: ManualClock
) -> None:
    c = Compliance(app)
    expires = clock.now() + timedelta(days=30)
    with world.acting("sub"):
        c.certify(world.ids["rita"], dac["training"], expires)
        c.add_member(dac["dac"], world.ids["rita"])
    file_id = uuid4()
    with world.acting("admin"):
        c.tag(ResourceKind.FILE, file_id, dac["dac"])
    clock.advance(expires - clock.now() - timedelta(seconds=1))
    with world.acting("rita"):
        assert "compliant member" in c.authorise_data(ResourceKind.FILE, file_id, Action.VIEW_DATA)
    clock.advance(timedelta(seconds=1))
    with world.acting("rita"), pytest.raises(Forbidden) as refused:
        c.authorise_data(ResourceKind.FILE, file_id, Action.VIEW_DATA)
    assert "expired" in refused.value.reason
    assert refusals(app)[-1][0] == "view-project-data"
    cert = c.certification(world.ids["rita"], dac["training"])
    with World.system_context("certification-expiry"):
        assert c.expire(cert.id) is True
        assert c.expire(cert.id) is False
    kinds = [type(e).__qualname__ for e in events(app)]
    assert kinds.count("Certification.Expired") == 1
    assert kinds.count("Project.MemberLapsed") == 1
    project = c.project(dac["dac"])
    assert "expired" in project.lapsed[str(world.ids["rita"])]
    # Re-certifying restores the member, recorded.
    with world.acting("admin"):
        c.certify(world.ids["rita"], dac["training"], clock.now() + timedelta(days=10))
    assert str(world.ids["rita"]) not in c.project(dac["dac"]).lapsed
    with world.acting("rita"):
        c.authorise_data(ResourceKind.FILE, file_id, Action.VIEW_DATA)


def test_admission_needs_every_requirement_and_the_parent(
    app: Strongroom, world: World, dac: dict, clock: ManualClock
) -> None:
    c = Compliance(app)
    with world.acting("admin"), pytest.raises(Forbidden) as refused:
        c.add_member(dac["dac"], world.ids["olga"])
    assert "not certified" in refused.value.reason
    with world.acting("admin"):
        c.certify(world.ids["olga"], dac["training"], clock.now() + timedelta(days=1))
    with world.acting("admin"), pytest.raises(Forbidden) as refused:
        c.add_member(dac["dua"], world.ids["olga"])
    assert "the parent of" in refused.value.reason
    with world.acting("admin"):
        c.add_member(dac["dac"], world.ids["olga"])
        c.add_member(dac["dua"], world.ids["olga"], ["cannot-download"])
    with world.acting("admin"), pytest.raises(InvalidInput) as bad:
        c.certify(world.ids["olga"], dac["training"], clock.now() + timedelta(days=400))
    assert bad.value.field == "expires_at"


def test_parking_grants_nothing_and_unparking_restores_it(
    app: Strongroom, world: World, dac: dict, clock: ManualClock
) -> None:
    c = Compliance(app)
    with world.acting("admin"):
        c.certify(world.ids["rita"], dac["training"], clock.now() + timedelta(days=100))
        c.add_member(dac["dac"], world.ids["rita"])
        c.add_member(dac["dua"], world.ids["rita"], ["cannot-download"])
        c.tag(ResourceKind.FILE, f := uuid4(), dac["dua"])
        c.park(dac["dac"], "grant ended")
    with world.acting("rita"), pytest.raises(Forbidden) as refused:
        c.authorise_data(ResourceKind.FILE, f, Action.VIEW_DATA)
    assert "parked" in refused.value.reason
    with world.acting("admin"):
        c.unpark(dac["dac"])
    with world.acting("rita"):
        c.authorise_data(ResourceKind.FILE, f, Action.VIEW_DATA)
    with world.acting("rita"), pytest.raises(Forbidden) as refused:
        c.authorise_data(ResourceKind.FILE, f, Action.DOWNLOAD_DATA)
    assert "cannot-download" in refused.value.reason


def test_decertification_removes_access_and_keeps_membership(
    app: Strongroom, world: World, dac: dict, clock: ManualClock
) -> None:
    c = Compliance(app)
    with world.acting("admin"):
        c.certify(world.ids["rita"], dac["training"], clock.now() + timedelta(days=100))
        c.add_member(dac["dac"], world.ids["rita"])
        c.tag(ResourceKind.FOLDER, f := uuid4(), dac["dac"])
        c.decertify(world.ids["rita"], dac["training"], "left the study")
    with world.acting("rita"), pytest.raises(Forbidden) as refused:
        c.authorise_data(ResourceKind.FOLDER, f, Action.VIEW_DATA)
    assert "revoked" in refused.value.reason
    project: Project = c.project(dac["dac"])
    assert project.is_member(world.ids["rita"])
    assert "revoked" in project.lapsed[str(world.ids["rita"])]


def test_mixing_is_refused_with_both_projects_named(
    app: Strongroom, world: World, dac: dict
) -> None:
    c = Compliance(app)
    with world.acting("admin"):
        gov = c.create_project("Federal " + world.tag, dac["hipaa"])
        state = c.create_project("State " + world.tag, dac["hipaa"])
        c.tag(ResourceKind.FILE, f := uuid4(), gov)
        c.tag(ResourceKind.FOLDER, d := uuid4(), state)
    with world.acting("admin"), pytest.raises(Forbidden) as refused:
        c.check_placement(ResourceKind.FILE, f, ResourceKind.FOLDER, d)
    assert "Federal" in refused.value.reason and "State" in refused.value.reason
    with world.acting("admin"), pytest.raises(Forbidden):
        c.tag(ResourceKind.FILE, f, state)
    assert refusals(app)[-1][0] == "tag-with-project"


def test_every_compliance_aggregate_survives_a_snapshot(
    store_kind: str, tmp_path, clock: ManualClock
) -> None:
    from adapters.bootstrap import open_system
    from domain.certifications import certification_id
    from domain.compliance import LevelProjects, UserProjects
    from domain.projects import tags_id
    from tests.stores import store_settings

    with store_settings(store_kind, tmp_path) as settings:
        app = open_system(settings, clock=clock).app
        world = World(app)
        world.person("rita")
        c = Compliance(app)
        with world.acting("root"):
            training = c.create_requirement("Training", "yearly", 365)
            level = c.create_level("HIPAA", "", [training])
            project = c.create_project("DAC", level)
            c.certify(world.ids["rita"], training, clock.now() + timedelta(days=3))
            c.add_member(project, world.ids["rita"], ["cannot-view", "cannot-download"])
            c.tag(ResourceKind.VM, vm := uuid4(), project)
        clock.advance(timedelta(days=4))
        with World.system_context("certification-expiry"):
            c.expire(certification_id(world.ids["rita"], training))
        ids = [
            training,
            level,
            project,
            certification_id(world.ids["rita"], training),
            UserProjects.create_id(world.ids["rita"]),
            LevelProjects.create_id(level),
            tags_id(ResourceKind.VM, vm),
        ]
        originals = [app.repository.get(i) for i in ids]
        for aggregate_id in ids:
            app.take_snapshot(aggregate_id)
        app.close()
        cold = open_system(settings, clock=clock).app
        try:
            for original in originals:
                restored = cold.repository.get(original.id)
                assert restored.__dict__ == original.__dict__, type(original).__name__
        finally:
            cold.close()


def test_a_level_in_use_changes_its_requirements_only_in_the_open(
    app: Strongroom, world: World, dac: dict, clock: ManualClock
) -> None:
    from domain.compliance import LevelInUse

    c = Compliance(app)
    with world.acting("admin"):
        c.certify(world.ids["rita"], dac["training"], clock.now() + timedelta(days=100))
        c.add_member(dac["dac"], world.ids["rita"])
        citizenship = c.create_requirement("Citizenship " + world.tag, "", None)
        # Adding a requirement: every member who lacks it lapses, in the same record.
        affected = c.add_level_requirement(dac["hipaa"], citizenship)
    assert set(affected) == {dac["dac"], dac["dua"]}
    lapse = c.project(dac["dac"]).lapsed[str(world.ids["rita"])]
    assert lapse == f"HIPAA {world.tag}: Citizenship {world.tag} not certified"
    # Removing one from a level in use must be acknowledged, naming the projects.
    with world.acting("admin"), pytest.raises(LevelInUse) as refused:
        c.remove_level_requirement(dac["hipaa"], citizenship)
    assert f"DAC {world.tag}" in str(refused.value)
    with world.acting("admin"):
        c.remove_level_requirement(dac["hipaa"], citizenship, acknowledge=True)
    assert str(world.ids["rita"]) not in c.project(dac["dac"]).lapsed
    kinds = [type(e).__qualname__ for e in events(app)]
    assert kinds.count("Project.MemberLapsed") == 1
    assert kinds.count("Project.MemberRestored") == 1
