"""Compliance over real HTTP: requirements, levels, certifications, projects and tags.

A live server (in this process, on loopback) over a real store (SQLite, and
Postgres when configured), on a clock the test moves. People are set up through
the real use cases before the server starts; every request then goes through the
client SDK or plain httpx, as any client's would. Refusals are checked where an
officer would see them: the refusals listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import ApiError, StrongroomClient
from domain.access import Role

PEOPLE = ("root", "admin", "sub", "rita", "olga", "olu")


@dataclass
class Org:
    url: str
    clock: ManualClock
    tag: str
    ids: dict[str, str]
    emails: dict[str, str]
    clients: dict[str, StrongroomClient]

    def __getitem__(self, label: str) -> StrongroomClient:
        return self.clients[label]

    def name(self, text: str) -> str:
        """A name unique to this test's world."""
        return f"{text} {self.tag}"

    def raw(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The server's answer itself, for bodies the SDK would never send."""
        token = self.clients[who].token
        return httpx.request(
            method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    def refusals(self) -> list[tuple[str, str]]:
        """(action, reason) of every refusal, as the officer sees them."""
        page = self.clients["olu"].refusals(limit=1000)
        return [(r["action"], r["reason"]) for r in page["refusals"]]


@pytest.fixture
def org(settings: Settings, clock: ManualClock) -> Iterator[Org]:
    app = open_system(settings, clock=clock).app
    try:
        world = World(app)
        world.person("admin", Role.ADMIN)
        world.person("sub", Role.SUB_ADMIN, sub_admin_of=("DAC",))
        world.person("rita", teams=("DAC",), name="Rita")
        world.person("olga", teams=("DAC",), name="Olga")
        world.person("olu", teams=("Audit",), audit=True)
    finally:
        app.close()
    with live_server(settings, clock=clock) as url:
        clients = {}
        for label in PEOPLE:
            clients[label] = StrongroomClient(url)
            clients[label].login(world.keys[label], world.email(label))
        yield Org(
            url,
            clock,
            world.tag,
            {label: str(world.ids[label]) for label in PEOPLE},
            {label: world.email(label) for label in PEOPLE},
            clients,
        )
        for client in clients.values():
            client.close()


@dataclass
class Setup:
    training: str  # "DAC Compliance", 365 days
    citizenship: str  # no lifespan
    hipaa: str  # the level holding the training
    dac: str  # a project at that level
    dua: str  # its sub-project


@pytest.fixture
def setup(org: Org) -> Setup:
    admin = org["admin"]
    training = admin.create_requirement(
        org.name("DAC Compliance"), description="yearly", lifespan_days=365
    )
    citizenship = admin.create_requirement(org.name("US citizen"))
    hipaa = admin.create_security_level(org.name("HIPAA"), requirement_ids=[training])
    dac = admin.create_project(org.name("DAC"), hipaa, description="the data access committee")
    dua = admin.create_project(org.name("DUA"), hipaa, parent_id=dac)
    return Setup(training, citizenship, hipaa, dac, dua)


def iso(org: Org, days: float) -> str:
    return (org.clock.now() + timedelta(days=days)).isoformat()


def refused(status: int, call: Any, *args: Any, **kwargs: Any) -> Any:
    """The detail of the ApiError `call` raises, which must have `status`."""
    with pytest.raises(ApiError) as error:
        call(*args, **kwargs)
    assert error.value.status == status, error.value.detail
    return error.value.detail


def field_of(detail: Any) -> str:
    assert isinstance(detail, list), detail
    return str(detail[0]["field"])


def test_a_project_grants_its_compliant_members_and_stops_when_a_certification_goes(
    org: Org, setup: Setup
) -> None:
    admin, sub, rita = org["admin"], org["sub"], org["rita"]
    # The vocabulary is everyone's to read.
    requirements = {r["name"]: r for r in rita.requirements()}
    assert requirements[org.name("DAC Compliance")]["lifespan_days"] == 365
    assert requirements[org.name("US citizen")]["lifespan_days"] is None
    levels = {v["name"]: v for v in rita.security_levels()}
    assert levels[org.name("HIPAA")]["requirements"] == [
        {"id": setup.training, "name": org.name("DAC Compliance")}
    ]

    # The sub-admin certifies the team's members; Rita's expires sooner.
    sub.certify(org.ids["rita"], setup.training, iso(org, 20))
    sub.certify(org.ids["olga"], setup.training, iso(org, 200))
    expiring = admin.certifications(expiring_within_days=30)
    assert [(c["email"], c["requirement"], c["state"]) for c in expiring] == [
        (org.emails["rita"], org.name("DAC Compliance"), "certified")
    ]
    assert len(admin.certifications()) == 2
    # Rita sees her own certifications, and no one else's.
    assert [c["email"] for c in rita.certifications(user_id=org.ids["rita"])] == [
        org.emails["rita"]
    ]

    # Admitted, restricted from downloading; the project shows her by name.
    sub.add_project_member(setup.dac, org.ids["rita"], ["cannot-download"])
    shown = admin.project(setup.dac)
    assert shown["security_level"] == org.name("HIPAA")
    assert [
        (m["email"], m["name"], m["restrictions"], m["compliant"]) for m in shown["members"]
    ] == [(org.emails["rita"], "Rita", ["cannot-download"], True)]
    # Members see their projects; others do not.
    assert [p["name"] for p in rita.projects()] == [org.name("DAC")]
    assert org["olga"].projects() == []
    listed = {p["name"]: p for p in admin.projects()}
    assert listed[org.name("DUA")]["parent_id"] == setup.dac
    assert listed[org.name("DAC")]["members"][0]["email"] == org.emails["rita"]

    # A file tagged with the project: she may view it, not download it.
    file_id = str(uuid4())
    admin.tag("file", file_id, setup.dac)
    assert rita.tags(resource_id=file_id) == [
        {
            "kind": "file",
            "resource_id": file_id,
            "project_id": setup.dac,
            "project": org.name("DAC"),
        }
    ]
    allowed = rita.check_access("file", file_id, "view")
    assert allowed["allowed"] is True and org.name("DAC") in allowed["reason"]
    detail = refused(403, rita.check_access, "file", file_id, "download")
    assert "cannot-download" in detail
    assert ("download-project-data", detail.partition(": ")[2]) in org.refusals()

    # Decertified: the project stops granting at once, and the lapse is listed.
    sub.decertify(org.ids["rita"], setup.training, "training record falsified")
    assert "revoked" in refused(403, rita.check_access, "file", file_id, "view")
    lapsed = org["olu"].non_compliant_members()
    assert [(m["project"], m["email"]) for m in lapsed] == [(org.name("DAC"), org.emails["rita"])]
    assert "revoked" in lapsed[0]["reason"]
    mine = admin.certifications(user_id=org.ids["rita"])
    assert [(c["state"], c["revoked_reason"]) for c in mine] == [
        ("revoked", "training record falsified")
    ]


def test_expiry_is_decided_on_the_server_clock(org: Org, setup: Setup) -> None:
    admin, rita = org["admin"], org["rita"]
    # Ten minutes, then twenty pass: sessions stay alive (they end after 30 idle minutes).
    admin.certify(org.ids["rita"], setup.training, iso(org, 10 / (24 * 60)))
    admin.add_project_member(setup.dac, org.ids["rita"])
    file_id = str(uuid4())
    admin.tag("file", file_id, setup.dac)
    rita.check_access("file", file_id, "release-key")
    org.clock.advance(timedelta(minutes=20))
    assert "expired" in refused(403, rita.check_access, "file", file_id, "release-key")
    assert [c["state"] for c in admin.certifications(user_id=org.ids["rita"])] == ["expired"]
    # Nothing is expiring any more: it has expired.
    assert admin.certifications(expiring_within_days=1) == []


def test_parking_grants_nothing_until_unparked(org: Org, setup: Setup) -> None:
    admin, rita = org["admin"], org["rita"]
    admin.certify(org.ids["rita"], setup.training, iso(org, 30))
    admin.add_project_member(setup.dac, org.ids["rita"])
    folder = str(uuid4())
    admin.tag("folder", folder, setup.dac)
    admin.park_project(setup.dac, "grant ended")
    assert admin.project(setup.dac)["parked"] is True
    assert "parked" in refused(403, rita.check_access, "folder", folder, "view")
    # A parked project admits no one.
    admin.certify(org.ids["olga"], setup.training, iso(org, 30))
    refused(403, admin.add_project_member, setup.dac, org.ids["olga"])
    admin.unpark_project(setup.dac)
    rita.check_access("folder", folder, "view")


def test_members_restrictions_and_tags_change_and_undo(org: Org, setup: Setup) -> None:
    admin, rita = org["admin"], org["rita"]
    admin.certify(org.ids["rita"], setup.training, iso(org, 30))
    admin.add_project_member(setup.dac, org.ids["rita"])
    admin.set_project_restrictions(setup.dac, org.ids["rita"], ["cannot-view", "cannot-download"])
    assert admin.project(setup.dac)["members"][0]["restrictions"] == [
        "cannot-download",
        "cannot-view",
    ]
    vm = str(uuid4())
    admin.tag("vm", vm, setup.dac)
    assert "cannot-view" in refused(403, rita.check_access, "vm", vm, "view")
    admin.set_project_restrictions(setup.dac, org.ids["rita"], [])
    rita.check_access("vm", vm, "view")
    admin.untag("vm", vm, setup.dac)
    assert admin.tags(kind="vm", resource_id=vm) == []
    # Untagged data carries no project: nothing to be a member of.
    assert "no project tag" in rita.check_access("vm", vm, "view")["reason"]
    admin.remove_project_member(setup.dac, org.ids["rita"], "left the study")
    assert admin.project(setup.dac)["members"] == []
    assert rita.projects() == []


def test_requirements_and_levels_change_in_the_open(org: Org, setup: Setup) -> None:
    admin = org["admin"]
    admin.change_requirement(setup.training, description="every year", lifespan_days=None)
    changed = {r["id"]: r for r in admin.requirements()}[setup.training]
    assert (changed["description"], changed["lifespan_days"]) == ("every year", None)
    admin.change_requirement(setup.training, lifespan_days=30)
    assert {r["id"]: r for r in admin.requirements()}[setup.training]["lifespan_days"] == 30

    # Rita, certified and a member, lapses when the level gains a requirement she lacks.
    admin.certify(org.ids["rita"], setup.training, iso(org, 20))
    admin.add_project_member(setup.dac, org.ids["rita"])
    affected = admin.add_level_requirement(setup.hipaa, setup.citizenship)
    assert {p["name"] for p in affected} == {org.name("DAC"), org.name("DUA")}
    lapsed = admin.non_compliant_members()
    assert [(m["email"], m["project"]) for m in lapsed] == [(org.emails["rita"], org.name("DAC"))]
    assert org.name("US citizen") in lapsed[0]["reason"]
    assert admin.project(setup.dac)["members"][0]["compliant"] is False

    # A level in use loses a requirement only when the weakening is acknowledged.
    detail = refused(409, admin.remove_level_requirement, setup.hipaa, setup.citizenship)
    assert org.name("DAC") in detail and "acknowledge" in detail
    affected = admin.remove_level_requirement(setup.hipaa, setup.citizenship, acknowledge=True)
    assert {p["name"] for p in affected} == {org.name("DAC"), org.name("DUA")}
    assert admin.non_compliant_members() == []


def test_refusals_are_403_and_recorded(org: Org, setup: Setup) -> None:
    rita, admin, sub = org["rita"], org["admin"], org["sub"]
    assert "only admins" in refused(403, rita.create_requirement, org.name("Mine"))
    assert "themselves" in refused(403, rita.certify, org.ids["rita"], setup.training, iso(org, 10))
    # A sub-admin creates no projects, and lists no one's certifications but their people's.
    refused(403, sub.create_project, org.name("Side"), setup.hipaa)
    refused(403, rita.certifications)
    refused(403, rita.certifications, user_id=org.ids["olga"])
    refused(403, rita.non_compliant_members)
    # Admission without the requirement names it.
    detail = refused(403, admin.add_project_member, setup.dac, org.ids["olga"])
    assert org.name("DAC Compliance") in detail and "not certified" in detail
    # Without membership of the parent, no sub-project.
    admin.certify(org.ids["olga"], setup.training, iso(org, 10))
    assert "the parent of" in refused(403, admin.add_project_member, setup.dua, org.ids["olga"])
    # Not a member: the project is not hers to see.
    refused(403, rita.project, setup.dac)

    # Data of a project that forbids mixing does not go where another's is.
    state = admin.create_project(org.name("State"), setup.hipaa)
    mine, theirs = str(uuid4()), str(uuid4())
    admin.tag("file", mine, setup.dac)
    admin.tag("folder", theirs, state)
    detail = refused(403, admin.check_placement, "file", mine, "folder", theirs)
    assert org.name("DAC") in detail and org.name("State") in detail
    refused(403, admin.tag, "file", mine, state)

    actions = [action for action, _ in org.refusals()]
    for action in (
        "manage-security-levels",
        "certify",
        "create-project",
        "view-certifications",
        "add-project-member",
        "view-project",
        "place-project-data",
        "tag-with-project",
    ):
        assert action in actions, action


def test_missing_things_are_404_and_conflicts_409(org: Org, setup: Setup) -> None:
    admin = org["admin"]
    nobody = str(uuid4())
    refused(404, admin.project, nobody)
    refused(404, admin.certify, nobody, setup.training, iso(org, 10))
    refused(404, admin.certify, org.ids["rita"], nobody, iso(org, 10))
    refused(404, admin.create_security_level, org.name("Empty"), requirement_ids=[nobody])
    refused(404, admin.create_project, org.name("Orphan"), nobody)
    refused(404, admin.tag, "file", nobody, nobody)
    refused(404, admin.add_level_requirement, setup.hipaa, nobody)

    # Taken names, whatever the case.
    refused(409, admin.create_requirement, org.name("DAC Compliance").upper())
    refused(409, admin.create_security_level, org.name("HIPAA"))
    refused(409, admin.create_project, org.name("dac"), setup.hipaa)
    # Already a member; not a member; nothing to withdraw; not tagged.
    admin.certify(org.ids["rita"], setup.training, iso(org, 10))
    admin.add_project_member(setup.dac, org.ids["rita"])
    assert "already a member" in refused(409, admin.add_project_member, setup.dac, org.ids["rita"])
    refused(409, admin.remove_project_member, setup.dac, org.ids["olga"], "never joined")
    refused(409, admin.decertify, org.ids["olga"], setup.training, "never certified")
    refused(409, admin.untag, "file", nobody, setup.dac)
    # A parked parent has no new sub-projects.
    admin.park_project(setup.dac, "paused")
    refused(409, admin.create_project, org.name("Late"), setup.hipaa, parent_id=setup.dac)


def test_bad_input_is_422_naming_the_field(org: Org, setup: Setup) -> None:
    admin = org["admin"]
    rita = org.ids["rita"]

    def field(method: str, path: str, **kwargs: Any) -> str:
        answer = org.raw("admin", method, path, **kwargs)
        assert answer.status_code == 422, answer.text
        return field_of(answer.json()["detail"])

    body: dict[str, Any]
    certify = {"user_id": rita, "requirement_id": setup.training}
    naive = (org.clock.now() + timedelta(days=3)).replace(tzinfo=None).isoformat()
    assert field("POST", "/api/v1/certifications", json={**certify, "expires_at": naive}) == (
        "expires_at"
    )
    # Beyond the requirement's lifespan; in the past; missing for a requirement with one.
    for expires_at in (iso(org, 400), iso(org, -1), None):
        body = {**certify, "expires_at": expires_at}
        assert field("POST", "/api/v1/certifications", json=body) == "expires_at"
    assert field("POST", "/api/v1/certifications", json={**certify, "expires_at": "soon"}) == (
        "expires_at"
    )
    # Numbers: whole, and within bounds; "10" is not a number.
    for lifespan in (0, 10**30, 36_501, "10", 1.5, True):
        body = {"name": org.name(f"R{lifespan!r}"), "lifespan_days": lifespan}
        assert field("POST", "/api/v1/requirements", json=body) == "lifespan_days"
    for days in ("0", "3651", "99999999999999999999", "+5", "1.0"):
        path = f"/api/v1/certifications?expiring_within_days={days}"
        assert field("GET", path) == "expiring_within_days"
    # Text that could deceive whoever reads it, or too much of it.
    for name in ("evil\x1b[2J", "gpj\u202eexe", "", "x" * 101):
        assert field("POST", "/api/v1/requirements", json={"name": name}) == "name"
        body = {"name": name, "security_level_id": setup.hipaa}
        assert field("POST", "/api/v1/projects", json=body) == "name"
    assert field("POST", f"/api/v1/projects/{setup.dac}/park", json={"reason": "a\u2066b"}) == (
        "reason"
    )
    path = f"/api/v1/certifications/{rita}/{setup.training}"
    assert field("DELETE", path) == "reason"
    assert field("DELETE", path, params={"reason": "x" * 501}) == "reason"
    # Restrictions and kinds are from their lists; each restriction once.
    members = f"/api/v1/projects/{setup.dac}/members"
    for restrictions in (["cannot-fly"], ["cannot-view", "cannot-view"], "cannot-view"):
        body = {"user_id": rita, "restrictions": restrictions}
        assert field("POST", members, json=body).startswith("restrictions")
    resource = uuid4()
    assert field("PUT", f"/api/v1/tags/disk/{resource}/projects/{setup.dac}") == "kind"
    assert field("POST", f"/api/v1/tags/file/{resource}/access", json={"action": "delete"}) == (
        "action"
    )
    body = {"destination_kind": "usb", "destination_id": str(uuid4())}
    assert field("POST", f"/api/v1/tags/file/{resource}/placement", json=body) == (
        "destination_kind"
    )
    assert field("GET", "/api/v1/tags?kind=disk") == "kind"
    # Ids are ids; booleans are booleans.
    assert field("GET", "/api/v1/projects/not-an-id") == "project_id"
    body = {"name": org.name("Mix"), "security_level_id": setup.hipaa, "allows_mixing": "yes"}
    assert field("POST", "/api/v1/projects", json=body) == "allows_mixing"
    level_path = f"/api/v1/security-levels/{setup.hipaa}/requirements/{setup.training}"
    assert field("DELETE", level_path, params={"acknowledge": "1"}) == "acknowledge"
    # The domain refused before recording anything: no such requirement exists.
    assert all(not r["name"].startswith("R") for r in admin.requirements())
