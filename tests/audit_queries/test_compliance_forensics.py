"""The compliance capability in the forensic export, its views, OCSF and the monthly report.

The story (both stores), told through the real use cases with a manual clock:
at the end of October an admin sets up a requirement, a level and two
projects, certifies two people and admits them; in November restrictions are
lifted, resources tagged (one tagging and one admission refused), a
certification expires and the expiry process records it, it is renewed, a
requirement is added to the level and removed again, a certification is
withdrawn, a project parked and unparked, a member removed, the requirement's
lifespan shortened; in December a project is parked. Exported with the real
exporter and read through the forensic views in DuckDB: the export's columns,
the views row for row, the OCSF records (valid for their class), and the
monthly report's compliance section, all against the story's known truth.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import duckdb
import pytest

from adapters.bootstrap import System, open_system
from adapters.clock import ManualClock
from api.world import World
from audit_queries import forensic_db, ocsf
from audit_queries.export import export
from audit_queries.reports.model import Report, Section
from audit_queries.reports.monthly import gather_monthly
from domain.access import Role
from domain.certifications import certification_id
from domain.compliance import Compliance
from domain.errors import Forbidden
from domain.projects import ResourceKind
from domain.reports import Month
from tests.conftest import store_params
from tests.stores import store_settings

NOVEMBER = Month(2026, 11)


def at(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@dataclass
class Compliant:
    """What the compliance story made: ids by name, the resources it tagged."""

    world: World
    requirements: dict[str, UUID] = field(default_factory=dict)
    level: UUID | None = None
    projects: dict[str, UUID] = field(default_factory=dict)
    resources: dict[str, UUID] = field(default_factory=dict)

    def id(self, label: str) -> str:
        return str(self.world.ids[label])

    def email(self, label: str) -> str:
        return self.world.email(label)


def record_compliance(world: World, clock: ManualClock) -> Compliant:
    """Every compliance event type, at least once, and the refusals the capability
    records; each step as long after the one before as in WHEN (a story from START
    has WHEN's times). tests/audit_queries/test_ocsf.py tells it too."""
    last = [START]

    def step(name: str) -> None:
        clock.advance(WHEN[name] - last[0])
        last[0] = WHEN[name]

    story = Compliant(world)
    c = Compliance(world.app)
    world.person("ada", Role.ADMIN, name="Ada Admin")
    world.person("cora", name="Cora Lee", teams=("Oncology Lab",))
    world.person("dev", name="Dev Rao")
    world.person("erin", name="Erin Moss")
    ids = world.ids
    step("set-up")
    with world.acting("ada"):
        irb = story.requirements["IRB Training"] = c.create_requirement("IRB Training", "", 365)
        level = story.level = c.create_level("Restricted", "", [irb])
        for name in ("Oncology", "Cardiology"):
            story.projects[name] = c.create_project(name, level)
        oncology, cardiology = story.projects["Oncology"], story.projects["Cardiology"]
        c.certify(ids["cora"], irb, clock.now() + timedelta(days=11))
        c.certify(ids["dev"], irb, clock.now() + timedelta(days=300))
        c.add_member(oncology, ids["cora"], ["cannot-download"])
        c.add_member(oncology, ids["dev"])
        c.add_member(cardiology, ids["dev"])
    step("restrictions")
    with world.acting("ada"):
        c.set_restrictions(oncology, ids["cora"], [])
    step("tags")
    for kind in ResourceKind:
        story.resources[str(kind)] = uuid4()
    with world.acting("ada"):
        for kind in (ResourceKind.FILE, ResourceKind.GROUP, ResourceKind.FOLDER):
            c.tag(kind, story.resources[str(kind)], oncology)
        c.tag(ResourceKind.VM, story.resources["vm"], cardiology)
        # Oncology's data may not mix with Cardiology's: refused, and recorded.
        with pytest.raises(Forbidden):
            c.tag(ResourceKind.FILE, story.resources["file"], cardiology)
        c.untag(ResourceKind.GROUP, story.resources["group"], oncology)
    step("refused admission")
    with world.acting("ada"), pytest.raises(Forbidden):
        c.add_member(oncology, ids["erin"])
    step("expiry")
    with World.system_context("certification-expiry"):
        assert c.expire(certification_id(ids["cora"], irb))
    step("renewal")
    with world.acting("ada"):
        c.certify(ids["cora"], irb, clock.now() + timedelta(days=30))
    step("new requirement")
    with world.acting("ada"):
        export_control = c.create_requirement("Export Control", "", None)
        story.requirements["Export Control"] = export_control
        c.add_level_requirement(level, export_control)
    step("dev certified")
    with world.acting("ada"):
        c.certify(ids["dev"], export_control, None)
    step("withdrawn")
    with world.acting("ada"):
        c.decertify(ids["cora"], irb, "left the study")
    step("requirement removed")
    with world.acting("ada"):
        c.remove_level_requirement(level, export_control, acknowledge=True)
    step("parked")
    with world.acting("ada"):
        c.park(cardiology, "grant ended")
    step("unparked")
    with world.acting("ada"):
        c.unpark(cardiology)
    step("removed")
    with world.acting("ada"):
        c.remove_member(oncology, ids["cora"], "left the study")
    step("lifespan")
    with world.acting("ada"):
        c.change_requirement(irb, lifespan_days=180)
    step("december")
    with world.acting("ada"):
        c.park(oncology, "audit")
    return story


# When each step of the story happens (the report's month is November).
START = at(29, month=10)
WHEN = {
    "set-up": at(30, month=10),
    "restrictions": at(2),
    "tags": at(3),
    "refused admission": at(8),
    "expiry": at(10, 10),  # cora's certification passed at 09:00
    "renewal": at(12),
    "new requirement": at(15),
    "dev certified": at(16),
    "withdrawn": at(18),
    "requirement removed": at(20),
    "parked": at(22),
    "unparked": at(25),
    "removed": at(26),
    "lifespan": at(27),
    "december": at(2, month=12),
}


@dataclass
class Story:
    system: System
    compliant: Compliant
    export_dir: Path
    connection: duckdb.DuckDBPyConnection

    def rows(self, sql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.connection.sql(sql).to_arrow_table().to_pylist()
        return result


@pytest.fixture(scope="module", params=store_params())
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each store once for the whole module: the story is told once per store."""
    return str(request.param)


@pytest.fixture(scope="module")
def story(store_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    home = tmp_path_factory.mktemp(store_kind)
    with store_settings(store_kind, home / "home") as settings:
        clock = ManualClock(START)
        system = open_system(settings, clock=clock)
        try:
            compliant = record_compliance(World(system.app, tag=""), clock)
            export(system.ledger, home / "export")
            connection = forensic_db.connect(home / "export", for_sql="ocsf")
            with contextlib.closing(connection):
                yield Story(system, compliant, home / "export", connection)
        finally:
            system.close()


# -- the export's columns -------------------------------------------------------------------


def test_the_columns_name_the_project_the_person_and_the_resource(story: Story) -> None:
    s = story.compliant
    oncology = str(s.projects["Oncology"])
    rows = story.rows(
        "SELECT event_type, aggregate_id, user_id, project_id, file_id, group_id, vm_id, "
        "target, outcome, reason FROM events WHERE position > 0 ORDER BY position"
    )
    of = lambda kind: [r for r in rows if r["event_type"] == kind]  # noqa: E731

    # A project's own events are about the project; membership events about the person too.
    for row in rows:
        if row["event_type"].startswith("Project."):
            assert row["project_id"] == row["aggregate_id"], row
    added = [(r["project_id"], r["user_id"]) for r in of("Project.MemberAdded")]
    assert added == [
        (oncology, s.id("cora")),
        (oncology, s.id("dev")),
        (str(s.projects["Cardiology"]), s.id("dev")),
    ]
    lapses = [(r["user_id"], r["reason"]) for r in of("Project.MemberLapsed")]
    assert lapses[0] == (s.id("cora"), "Restricted: IRB Training expired 2026-11-10")
    assert (
        s.id("cora"),
        "Restricted: IRB Training revoked 2026-11-18; Restricted: Export Control not certified",
    ) in lapses
    assert [r["reason"] for r in of("Project.Parked")] == ["grant ended", "audit"]
    assert [r["reason"] for r in of("Project.MemberRemoved")] == ["left the study"]

    # Every certification event names its person, each read alone.
    certified = of("Certification.Certified")
    assert [r["user_id"] for r in certified] == [s.id("cora"), s.id("dev"), s.id("dev")]
    whose = {r["aggregate_id"]: r["user_id"] for r in certified}
    for kind in ("Certification.Recertified", "Certification.Decertified"):
        (row,) = of(kind)
        assert row["user_id"] == whose[row["aggregate_id"]] is not None
    (expired,) = of("Certification.Expired")
    assert expired["user_id"] == whose[expired["aggregate_id"]] and expired["reason"] is None
    assert [r["reason"] for r in of("Certification.Decertified")] == ["left the study"]

    # Every tag event names its resource in the column of its kind.
    for row in of("ResourceTags.Tagged") + of("ResourceTags.Untagged"):
        kind, resource = row["target"].split(":")
        if kind != "folder":
            assert row[f"{kind}_id"] == resource
    opened = {r["target"]: r for r in of("ResourceTags.Opened")}
    for kind, column in (("file", "file_id"), ("group", "group_id"), ("vm", "vm_id")):
        row = opened[f"{kind}:{s.resources[kind]}"]
        assert row[column] == str(s.resources[kind])
        assert [row[c] for c in ("file_id", "group_id", "vm_id") if c != column] == [None, None]
    folder = opened[f"folder:{s.resources['folder']}"]
    assert (folder["file_id"], folder["group_id"], folder["vm_id"]) == (None, None, None)
    assert [r["project_id"] for r in of("ResourceTags.Untagged")] == [oncology]
    assert all(r["user_id"] is not None for r in of("UserProjects.Joined"))
    assert [r["project_id"] for r in of("UserProjects.Joined")] == [
        oncology,
        oncology,
        str(s.projects["Cardiology"]),
    ]

    # Refusals name what they were about: the file that may not mix, the person not admitted.
    refused = {r["target"].split(":")[0]: r for r in of("DeniedAttempt.Recorded") if r["target"]}
    assert refused["file"]["file_id"] == str(s.resources["file"])
    assert refused["file"]["outcome"] == "denied"
    assert "may not mix" in refused["file"]["reason"]
    (admission,) = [r for r in of("DeniedAttempt.Recorded") if r["user_id"] == s.id("erin")]
    assert admission["reason"] == (
        f"{s.email('erin')} cannot join Oncology: Restricted: IRB Training not certified"
    )


# -- the views ---------------------------------------------------------------------------------


def test_the_certifications_view_tells_each_change(story: Story) -> None:
    s = story.compliant
    ada, expiry = s.email("ada"), "system:certification-expiry"
    found = [
        (r["recorded_at"], r["email"], r["requirement"], r["change"], r["expires_at"], r["reason"])
        + (r["actor_email"] or r["actor_id"],)
        for r in story.rows("SELECT * FROM certifications ORDER BY position")
    ]
    cora, dev = s.email("cora"), s.email("dev")
    assert found == [
        (WHEN["set-up"], cora, "IRB Training", "certified", at(10), None, ada),
        (
            WHEN["set-up"],
            dev,
            "IRB Training",
            "certified",
            WHEN["set-up"] + timedelta(days=300),
            None,
            ada,
        ),
        (WHEN["expiry"], cora, "IRB Training", "expired", at(10), None, expiry),
        (WHEN["renewal"], cora, "IRB Training", "recertified", at(12, month=12), None, ada),
        (WHEN["dev certified"], dev, "Export Control", "certified", None, None, ada),
        (WHEN["withdrawn"], cora, "IRB Training", "decertified", None, "left the study", ada),
    ]
    ids = {
        (r["user_id"], r["requirement_id"], r["certification_id"])
        for r in story.rows("SELECT * FROM certifications")
    }
    assert (
        s.id("cora"),
        str(s.requirements["IRB Training"]),
        str(certification_id(UUID(s.id("cora")), s.requirements["IRB Training"])),
    ) in ids


def test_the_project_membership_view_tells_joins_lapses_and_parking(story: Story) -> None:
    s = story.compliant
    ada, expiry = s.email("ada"), "system:certification-expiry"
    cora, dev = s.email("cora"), s.email("dev")
    found = [
        (
            r["recorded_at"],
            r["project"],
            r["email"],
            r["change"],
            r["restrictions_before"],
            r["restrictions"],
            r["reason"],
            r["actor_email"] or r["actor_id"],
        )
        for r in story.rows("SELECT * FROM project_membership ORDER BY position")
    ]
    # One command's lapses in several projects are saved project by project, people in
    # the order of their ids: compare each moment's rows in a fixed order.
    irb_revoked = "Restricted: IRB Training revoked 2026-11-18"
    no_export = "Restricted: Export Control not certified"
    assert in_order(found) == in_order(
        [
            (WHEN["set-up"], "Oncology", cora, "added", None, ["cannot-download"], None, ada),
            (WHEN["set-up"], "Oncology", dev, "added", None, [], None, ada),
            (WHEN["set-up"], "Cardiology", dev, "added", None, [], None, ada),
            (
                WHEN["restrictions"],
                "Oncology",
                cora,
                "restrictions changed",
                ["cannot-download"],
                [],
                None,
                ada,
            ),
            (
                WHEN["expiry"],
                "Oncology",
                cora,
                "lapsed",
                None,
                None,
                "Restricted: IRB Training expired 2026-11-10",
                expiry,
            ),
            (WHEN["renewal"], "Oncology", cora, "restored", None, None, None, ada),
            # Adding a requirement lapses everyone who lacks it, in every project of the level.
            (WHEN["new requirement"], "Oncology", cora, "lapsed", None, None, no_export, ada),
            (WHEN["new requirement"], "Oncology", dev, "lapsed", None, None, no_export, ada),
            (WHEN["new requirement"], "Cardiology", dev, "lapsed", None, None, no_export, ada),
            (WHEN["dev certified"], "Cardiology", dev, "restored", None, None, None, ada),
            (WHEN["dev certified"], "Oncology", dev, "restored", None, None, None, ada),
            (
                WHEN["withdrawn"],
                "Oncology",
                cora,
                "lapsed",
                None,
                None,
                f"{irb_revoked}; {no_export}",
                ada,
            ),
            (WHEN["requirement removed"], "Oncology", cora, "lapsed", None, None, irb_revoked, ada),
            (WHEN["parked"], "Cardiology", None, "parked", None, None, "grant ended", ada),
            (WHEN["unparked"], "Cardiology", None, "unparked", None, None, None, ada),
            (WHEN["removed"], "Oncology", cora, "removed", None, None, "left the study", ada),
            (WHEN["december"], "Oncology", None, "parked", None, None, "audit", ada),
        ]
    )


def in_order(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows by time, project, person and change (what one save records has one time)."""
    return sorted(rows, key=lambda r: (r[0], r[1], r[2] or "", r[3]))


def test_the_project_tags_view_names_the_resource_and_who_tagged_it(story: Story) -> None:
    s = story.compliant
    ada, r = s.email("ada"), s.resources
    found = [
        (row["recorded_at"], row["project"], row["change"], row["resource_kind"])
        + (row["resource_id"], row["actor_email"])
        for row in story.rows("SELECT * FROM project_tags ORDER BY position")
    ]
    tags = WHEN["tags"]
    assert found == [
        (tags, "Oncology", "tagged", "file", str(r["file"]), ada),
        (tags, "Oncology", "tagged", "group", str(r["group"]), ada),
        (tags, "Oncology", "tagged", "folder", str(r["folder"]), ada),
        (tags, "Cardiology", "tagged", "vm", str(r["vm"]), ada),
        (tags, "Oncology", "untagged", "group", str(r["group"]), ada),
    ]


def test_the_named_views_hold_requirements_levels_and_projects(story: Story) -> None:
    s = story.compliant
    requirements = story.rows(
        "SELECT requirement_id, name, lifespan_days FROM requirements ORDER BY created_at, name"
    )
    assert [(r["name"], r["lifespan_days"]) for r in requirements] == [
        ("IRB Training", 180),  # as last changed
        ("Export Control", None),
    ]
    projects = story.rows("SELECT * FROM projects ORDER BY name")
    assert [(p["name"], p["security_level"], p["parent_id"]) for p in projects] == [
        ("Cardiology", "Restricted", None),
        ("Oncology", "Restricted", None),
    ]
    assert {p["project_id"] for p in projects} == {str(i) for i in s.projects.values()}


def test_who_lost_compliance_in_a_project_in_a_month_is_one_query(story: Story) -> None:
    # The docs' example, as written there.
    found = story.connection.execute(
        """SELECT recorded_at, email, reason, coalesce(actor_email, actor_id) AS by_whom
        FROM project_membership
        WHERE project = 'Oncology' AND change = 'lapsed'
          AND day BETWEEN DATE '2026-11-01' AND DATE '2026-11-30'
        ORDER BY position"""
    ).fetchall()
    cora, dev, ada = (story.compliant.email(p) for p in ("cora", "dev", "ada"))
    assert sorted((row[0], row[1], row[3]) for row in found) == [
        (WHEN["expiry"], cora, "system:certification-expiry"),
        (WHEN["new requirement"], cora, ada),
        (WHEN["new requirement"], dev, ada),
        (WHEN["withdrawn"], cora, ada),
        (WHEN["requirement removed"], cora, ada),
    ]


# -- OCSF ----------------------------------------------------------------------------------------

COMPLIANCE_TYPES = (
    "Requirement.",
    "SecurityLevel.",
    "Certification.",
    "Project.",
    "ResourceTags.",
    "UserProjects.",
    "LevelProjects.",
    "UniqueName.",
)


def test_every_compliance_event_is_valid_ocsf(story: Story) -> None:
    # Imported here: test_ocsf.py imports this module's story.
    from tests.audit_queries.test_ocsf import problems

    rows = story.rows("SELECT * FROM ocsf ORDER BY position")
    counts = dict(
        story.connection.execute("SELECT event_type, count(*) FROM events GROUP BY ALL").fetchall()
    )
    ours = [r for r in rows if r["metadata"]["event_code"].startswith(COMPLIANCE_TYPES)]
    invalid = {r["position"]: problems(ocsf.record(r)) for r in ours}
    assert {k: v for k, v in invalid.items() if v} == {}
    assert not [r for r in rows if r["class_uid"] == ocsf.BASE_EVENT.uid]
    # Every compliance rule was exercised; the left-out types are not emitted.
    rules = {rule.event_type for rule in ocsf.RULES if rule.event_type.startswith(COMPLIANCE_TYPES)}
    assert rules == {r["metadata"]["event_code"] for r in ours}
    excluded = {t for t in ocsf.EXCLUDED if t.startswith(COMPLIANCE_TYPES)}
    assert excluded and not excluded & rules
    assert sum(counts[t] for t in rules) == len(ours)


def test_the_ocsf_records_say_whose_standing_changed_and_why(story: Story) -> None:
    s = story.compliant
    rows = story.rows("SELECT * FROM ocsf ORDER BY position")

    def of(code: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["metadata"]["event_code"] == code]

    (expired,) = of("Certification.Expired")
    assert (expired["class_name"], expired["activity_name"]) == (
        "User Access Management",
        "Revoke Privileges",
    )
    assert expired["user"]["email_addr"] == s.email("cora")
    assert expired["privileges"] == ["IRB Training"]
    assert expired["actor"]["user"]["uid"] == "system:certification-expiry"
    assert expired["actor"]["user"]["type"] == "System"
    (withdrawn,) = of("Certification.Decertified")
    assert (withdrawn["status_detail"], withdrawn["user"]["email_addr"]) == (
        "left the study",
        s.email("cora"),
    )
    lapse = of("Project.MemberLapsed")[0]
    assert (lapse["class_uid"], lapse["activity_name"]) == (3006, "Revoke Privileges")
    assert lapse["group"] == {
        "uid": str(s.projects["Oncology"]),
        "name": "Oncology",
        "type": "Project",
    }
    assert lapse["status_detail"] == "Restricted: IRB Training expired 2026-11-10"
    assert lapse["message"] == (
        f"{s.email('cora')} no longer compliant in project Oncology: "
        "Restricted: IRB Training expired 2026-11-10"
    )
    (lifted,) = of("Project.RestrictionsChanged")
    assert (lifted["activity_name"], lifted["privileges"]) == ("Assign Privileges", ["download"])
    (parked, _) = of("Project.Parked")
    assert (parked["class_uid"], parked["activity_id"], parked["activity_name"]) == (
        3004,
        99,
        "Park",
    )
    assert parked["entity"]["name"] == "Cardiology"
    tagged = of("ResourceTags.Tagged")
    assert {(t["entity"]["type"], t["entity"]["uid"]) for t in tagged} == {
        (kind, str(s.resources[kind])) for kind in ("file", "group", "folder", "vm")
    }
    # A refused tagging is API Activity on the file; a refused admission on the person.
    refusals = [
        r for r in of("DeniedAttempt.Recorded") if r["api"]["operation"] == "tag-with-project"
    ]
    assert [(r["activity_name"], r["resources"]) for r in refusals] == [
        ("Update", [{"uid": str(s.resources["file"]), "name": None, "type": "file"}])
    ]
    # Membership of a team and of a project are told apart by the group's type.
    assert {r["group"]["type"] for r in rows if r["class_uid"] == 3006} == {"Team", "Project"}


# -- the monthly report ---------------------------------------------------------------------------


def november(story: Story) -> Report:
    return gather_monthly(
        story.connection,
        NOVEMBER,
        generated_at=at(5, month=12),
        generated_by="Olu <olu@example.edu>",
    )


def figures_of(section: Section) -> dict[str, Any]:
    return {str(row[0]): row[1] for row in section.table("figures").rows}


def test_the_monthly_report_has_the_month_s_compliance(story: Story) -> None:
    s = story.compliant
    section = november(story).section("compliance")
    ada, expiry = s.email("ada"), "system:certification-expiry"
    cora, dev = s.email("cora"), s.email("dev")
    assert figures_of(section) == {
        "certifications granted": 2,  # cora renewed, dev certified for Export Control
        "certifications withdrawn": 1,
        "certifications expired": 1,
        "lapses recorded": 6,
        "people who lapsed": 2,
        "members restored": 3,
        "projects parked": 1,  # Oncology's parking in December is not November's
        "projects unparked": 1,
    }
    certifications = section.table("certifications")
    assert [
        (row[1], row[2], row[3], row[4], row[6], row[7])  # who, name, what, change, why, by
        for row in certifications.rows
    ] == [
        (cora, "Cora Lee", "IRB Training", "expired", None, expiry),
        (cora, "Cora Lee", "IRB Training", "recertified", None, ada),
        (dev, "Dev Rao", "Export Control", "certified", None, ada),
        (cora, "Cora Lee", "IRB Training", "decertified", "left the study", ada),
    ]
    standing = section.table("standing")
    assert in_order(
        [(row[0], row[1], row[2], row[4], row[6]) for row in standing.rows]
    ) == in_order(
        [
            (WHEN["expiry"], "Oncology", cora, "lapsed", expiry),
            (WHEN["renewal"], "Oncology", cora, "restored", ada),
            (WHEN["new requirement"], "Oncology", cora, "lapsed", ada),
            (WHEN["new requirement"], "Oncology", dev, "lapsed", ada),
            (WHEN["new requirement"], "Cardiology", dev, "lapsed", ada),
            (WHEN["dev certified"], "Cardiology", dev, "restored", ada),
            (WHEN["dev certified"], "Oncology", dev, "restored", ada),
            (WHEN["withdrawn"], "Oncology", cora, "lapsed", ada),
            (WHEN["requirement removed"], "Oncology", cora, "lapsed", ada),
        ]
    )
    assert standing.rows[0][5] == "Restricted: IRB Training expired 2026-11-10"
    assert [(row[1], row[2], row[3], row[4]) for row in section.table("parking").rows] == [
        ("Cardiology", "parked", "grant ended", ada),
        ("Cardiology", "unparked", None, ada),
    ]
    by_requirement, by_project = section.charts
    assert by_requirement.categories == ["IRB Training", "Export Control"]
    assert {series.name: series.values for series in by_requirement.series} == {
        "granted": [1.0, 1.0],
        "withdrawn": [1.0, 0.0],
        "expired": [1.0, 0.0],
    }
    assert by_project.categories == ["Oncology", "Cardiology"]
    assert {series.name: series.values for series in by_project.series} == {
        "lapsed": [5.0, 1.0],
        "restored": [2.0, 1.0],
    }


def test_a_report_up_to_an_earlier_position_holds_only_what_was_recorded_by_then(
    story: Story,
) -> None:
    (expiry,) = story.connection.execute(
        "SELECT position FROM events WHERE event_type = 'Certification.Expired'"
    ).fetchone() or (0,)
    report = gather_monthly(
        story.connection,
        NOVEMBER,
        generated_at=at(5, month=12),
        generated_by="Olu <olu@example.edu>",
        upto=expiry,
    )
    figures = figures_of(report.section("compliance"))
    assert (figures["certifications expired"], figures["lapses recorded"]) == (1, 0)
