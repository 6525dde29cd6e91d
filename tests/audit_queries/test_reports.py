"""The monthly report against a month whose every figure is known (both stores).

A story is told through the real use cases with a manual clock: a few people
set up in October, a November of logins from three networks, refusals, role,
permission and team changes, alerts worked by two officers, a burst folded by
the rate limit; and events on both sides of the month's edges. Each section of
the report is compared with the story's truth, exactly; the activity counts
with the store itself, read through the application (not through the export).
Then the three formats: the HTML asks for nothing and names people by email,
each chart is well-formed SVG, the workbook has native charts over the right
numbers, and every CSV holds its table.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapters.bootstrap import System, open_system
from adapters.clock import ManualClock
from api.world import World
from audit_queries.fresh import fresh_connection
from audit_queries.reports import svg
from audit_queries.reports.csv import csv_files
from audit_queries.reports.custom import ReportEngine, definition_from, gather_custom
from audit_queries.reports.formats import render
from audit_queries.reports.html import render_html
from audit_queries.reports.model import Chart, Report, Series
from audit_queries.reports.monthly import gather_monthly
from audit_queries.reports.networks import network_of
from audit_queries.reports.xlsx import render_xlsx
from client.keys import UserKeys
from domain.access import Permission, Role
from domain.alerts import Alerts
from domain.errors import Forbidden, InvalidInput
from domain.forensic_queries import ForensicQueries
from domain.identity import Identity
from domain.reports import Month, ReportFormat, checked_month, checked_position
from domain.saved_queries import Definition, Parameter, ParameterType
from domain.sessions import AuthenticationFailed
from domain.throttling import Fold, Throttling
from tests.conftest import store_params
from tests.stores import store_settings

NOVEMBER = Month(2026, 11)
GENERATED_AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def at(day: int, hour: int = 9, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Story:
    system: System
    world: World
    clock: ManualClock
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (email, reason), signed in
    before_december_resolution: int = 0  # the last position before A4 was resolved

    def email(self, label: str) -> str:
        return self.world.email(label)

    def id(self, label: str) -> str:
        return str(self.world.ids[label])

    def move_to(self, moment: datetime) -> None:
        self.clock.advance(moment - self.clock.now())

    def report(self, upto: int | None = None) -> Report:
        with fresh_connection(self.system) as connection:
            return gather_monthly(
                connection,
                NOVEMBER,
                generated_at=GENERATED_AT,
                generated_by=f"Olu <{self.email('olu')}>",
                upto=upto,
            )


@pytest.fixture(scope="module", params=store_params())
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each store once for the whole module: the story is told once per store."""
    return str(request.param)


@pytest.fixture(scope="module")
def story(store_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with store_settings(store_kind, tmp_path_factory.mktemp(store_kind)) as settings:
        clock = ManualClock(at(28, month=10))
        system = open_system(settings, clock=clock)
        try:
            yield tell(Story(system, World(system.app), clock))
        finally:
            system.close()


def tell(story: Story) -> Story:
    w, app = story.world, story.system.app
    identity, alerts = Identity(app), Alerts(app)

    # October: the organisation, two officers, and an alert raised before November.
    w.person("ada", name="Ada Lovelace", teams=("A",))
    w.person("bea", name="Bea Koch", teams=("A",))
    w.person("olu", name="Olu Officer", teams=("Audit",))
    w.person("ivy", name="Ivy Officer", teams=("Audit",))
    with w.acting("root"):
        for officer in ("olu", "ivy"):
            identity.set_permissions(w.ids[officer], grant={Permission.AUDIT}, restrict=set())
    w.login("olu", client_ip="10.1.2.5")  # October: not in the report
    october_alert = alerts.raise_system_alert(
        "test-october", 1, type="Test", severity="high", subject=story.id("ada"), message="old"
    )

    # 2 November: logins from the lab, a bad signature from elsewhere, an unknown account.
    story.move_to(at(2))
    w.login("ada", client_ip="10.1.2.3")
    w.login("bea", client_ip="10.1.2.77")
    with pytest.raises(AuthenticationFailed):
        w.login("ada", client_ip="198.51.100.7", keys=UserKeys.generate())
    with pytest.raises(AuthenticationFailed):
        w.login(
            "ghost",
            email="ghost@elsewhere.org",
            keys=UserKeys.generate(),
            client_ip="2001:db8:1:2::5",
        )

    # 3 November: Bea tries what users may not; root changes roles, grants and teams.
    story.move_to(at(3))
    with w.acting("bea"):
        for attempt in (
            lambda: identity.change_role(w.ids["ada"], Role.ADMIN),
            lambda: identity.deactivate_user(w.ids["ada"]),
        ):
            with pytest.raises(Forbidden) as refused:
                attempt()
            story.refusals.append((story.email("bea"), refused.value.reason))
    with w.acting("root"):
        identity.change_role(w.ids["ada"], Role.SUB_ADMIN)
        identity.set_permissions(w.ids["bea"], grant={Permission.TAG_PROJECTS}, restrict=set())
        team_b = identity.create_team(f"B {w.tag}")
        identity.add_team_member(team_b, w.ids["bea"])
        identity.remove_team_member(w.team("A"), w.ids["bea"])
        identity.assign_sub_admin(w.team("A"), w.ids["ada"])

    # 5 November: the October alert is resolved (it is not November's alert).
    story.move_to(at(5))
    with w.acting("olu"):
        alerts.resolve(october_alert, "old news")

    # 10 November: three alerts; Olu takes A1 (acknowledged, resolved 3 h after it was
    # raised), Ivy resolves A2 in half an hour, A3 stays open.
    story.move_to(at(10))
    a1 = alerts.raise_system_alert(
        "test-a1", 2, type="Test", severity="high", subject=story.id("ada"), message="a1"
    )
    a2 = alerts.raise_system_alert(
        "test-a2", 3, type="Test", severity="critical", subject=story.id("bea"), message="a2"
    )
    alerts.raise_system_alert("test-a3", 4, type="Test", severity="low", subject=None, message="a3")
    story.move_to(at(10, 9, 30))
    with w.acting("ivy"):
        alerts.resolve(a2, "handled")
    story.move_to(at(10, 10))
    with w.acting("olu"):
        alerts.acknowledge(a1, "looking")
    story.move_to(at(10, 12))
    with w.acting("olu"):
        alerts.resolve(a1, "fixed")

    # 15 November: seven anonymous requests refused by the rate limit, folded into one record.
    story.move_to(at(15))
    Throttling(app).record_fold(
        Fold(
            source="203.0.113.9",
            client_ip="203.0.113.9",
            window_seconds=60.0,
            first_at=at(15),
            last_at=at(15, 9, 0, 30),
            refused=7,
            by_limit={"anonymous": 7},
            paths={"/api/v1/auth/challenge": 7},
        )
    )

    # 20 November: A4, acknowledged by Olu the next day, resolved by Ivy on 2 December.
    story.move_to(at(20))
    a4 = alerts.raise_system_alert(
        "test-a4", 5, type="Test", severity="medium", subject=story.id("bea"), message="a4"
    )
    story.move_to(at(21))
    with w.acting("olu"):
        alerts.acknowledge(a4, "")

    # The month's last second, and the next month's first: one in, one out.
    story.move_to(at(30, 23, 59, 59))
    w.login("bea", client_ip="2001:db8:1:ff::9")
    story.move_to(at(1, 0, 0, 0, month=12))
    w.login("ada", client_ip="10.1.2.3")
    story.before_december_resolution = story.system.ledger.head()
    story.move_to(at(2, month=12))
    with w.acting("ivy"):
        alerts.resolve(a4, "done")
    return story


def rows(report: Report, section: str, table: str) -> list[tuple[Any, ...]]:
    return list(report.section(section).table(table).rows)


def as_dicts(report: Report, section: str, table: str) -> list[dict[str, Any]]:
    found = report.section(section).table(table)
    return [dict(zip(found.columns, row, strict=True)) for row in found.rows]


# -- the figures --------------------------------------------------------------------------


def test_activity_counts_every_november_event_as_the_store_has_it(story: Story) -> None:
    report = story.report()
    # The truth, read through the application: every stored event, decoded.
    app = story.system.app
    truth: Counter[tuple[date, str]] = Counter()
    actors: Counter[str] = Counter()
    for notification in app.recorder.select_notifications(start=1, limit=100_000):
        event: Any = app.mapper.to_domain_event(notification)
        if NOVEMBER.start <= event.timestamp < NOVEMBER.end:
            truth[(event.timestamp.date(), type(event).__qualname__)] += 1
            actors[event.actor_id] += 1
    assert {(r[0], r[1]): r[2] for r in rows(report, "activity", "per-day")} == dict(truth)
    by_type = {r[0]: r[1] for r in rows(report, "activity", "by-type")}
    assert sum(by_type.values()) == sum(truth.values())
    # Who acted: people by email and name, anything else by its id.
    labels = {story.id(p): story.email(p) for p in ("root", "ada", "bea", "olu", "ivy")}
    by_person = {r["email"]: r["events"] for r in as_dicts(report, "activity", "by-person")}
    assert by_person == {labels.get(actor, actor): n for actor, n in actors.items()}
    names = {r["email"]: r["name"] for r in as_dicts(report, "activity", "by-person")}
    assert names[story.email("ada")] == "Ada Lovelace"
    # The chart's stacks add up to each day's events, on every day of November.
    chart = report.section("activity").charts[0]
    assert chart.categories == [str(n) for n in range(1, 31)]
    per_day = Counter[date]()
    for (day, _), n in truth.items():
        per_day[day] += n
    stacked = [sum(s.values[i] for s in chart.series) for i in range(30)]
    assert stacked == [per_day.get(date(2026, 11, n + 1), 0) for n in range(30)]
    overview = dict(rows(report, "overview", "figures"))
    assert overview["events recorded"] == sum(truth.values())


def test_denials_per_reason_and_per_person(story: Story) -> None:
    report = story.report()
    bea, ada = story.email("bea"), story.email("ada")
    reasons = Counter(reason for _, reason in story.refusals)
    reasons.update({"bad signature": 1, "unknown account": 1, "rate limit": 7})
    assert {r[0]: r[1] for r in rows(report, "denials", "per-reason")} == dict(reasons)
    per_person = {r["email"]: r for r in as_dicts(report, "denials", "per-person")}
    assert set(per_person) == {bea, ada, "ghost@elsewhere.org", "anonymous"}
    assert (per_person[bea]["name"], per_person[bea]["while_signed_in"]) == ("Bea Koch", 2)
    assert per_person[bea]["without_session"] == 0
    assert (per_person[ada]["while_signed_in"], per_person[ada]["without_session"]) == (0, 1)
    assert per_person[ada]["reasons"] == "bad signature"
    assert per_person["ghost@elsewhere.org"]["without_session"] == 1
    assert per_person["ghost@elsewhere.org"]["name"] is None
    assert per_person["anonymous"]["without_session"] == 7
    each = as_dicts(report, "denials", "each")
    assert [(e["email"], e["target"]) for e in each if e["email"] == bea] == [(bea, ada)] * 2
    assert [e["attempts"] for e in each if e["reason"] == "rate limit"] == [7]
    line = report.section("denials").charts[1]
    assert line.series[0].values[1:3] == [2.0, 2.0]  # 2 and 3 November
    assert line.series[0].values[14] == 7.0
    assert sum(line.series[0].values) == 11
    overview = dict(rows(report, "overview", "figures"))
    assert overview["refused attempts (logins included)"] == 11
    assert overview["refused logins"] == 2


def test_alerts_by_severity_status_time_to_resolve_and_officer(story: Story) -> None:
    report = story.report()
    by_severity = {r["severity"]: r for r in as_dicts(report, "alerts", "by-severity")}
    assert list(by_severity) == ["critical", "high", "medium", "low", "info"]
    summary = {
        s: (r["raised"], r["open"], r["acknowledged"], r["resolved"], r["max_hours_to_resolve"])
        for s, r in by_severity.items()
    }
    assert summary == {
        "critical": (1, 0, 0, 1, 0.5),
        "high": (1, 0, 0, 1, 3.0),
        "medium": (1, 0, 0, 1, 288.0),  # resolved on 2 December, as of the report
        "low": (1, 1, 0, 0, None),
        "info": (0, 0, 0, 0, None),
    }
    officers = [
        (r["email"], r["name"], r["acknowledged"], r["resolved"])
        for r in as_dicts(report, "alerts", "by-officer")
    ]
    assert officers == [
        (story.email("ivy"), "Ivy Officer", 0, 2),
        (story.email("olu"), "Olu Officer", 2, 1),
    ]
    each = {r["message"]: r for r in as_dicts(report, "alerts", "each")}
    assert set(each) == {"a1", "a2", "a3", "a4"}  # October's alert is not November's
    assert each["a1"]["subject"] == story.email("ada")
    assert (each["a1"]["acknowledged_by"], each["a1"]["resolved_by"]) == (
        story.email("olu"),
        story.email("olu"),
    )
    assert each["a1"]["resolution_note"] == "fixed"
    stacked = report.section("alerts").charts[0]
    assert [s.name for s in stacked.series] == ["open", "acknowledged", "resolved"]
    assert stacked.series[2].values == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert dict(rows(report, "overview", "figures"))["alerts raised"] == 4


def test_an_earlier_position_gives_the_figures_as_they_were(story: Story) -> None:
    upto = story.before_december_resolution
    report = story.report(upto=upto)
    assert report.position == upto
    medium = next(r for r in as_dicts(report, "alerts", "by-severity") if r["severity"] == "medium")
    assert (medium["acknowledged"], medium["resolved"]) == (1, 0)
    officers = {r["email"]: r["resolved"] for r in as_dicts(report, "alerts", "by-officer")}
    assert officers[story.email("ivy")] == 1
    # November itself is complete by then: the same logins as at the head.
    assert rows(report, "logins", "by-network") == rows(story.report(), "logins", "by-network")
    with pytest.raises(InvalidInput) as bad:
        checked_position(story.system.ledger.head() + 1, story.system.ledger.head())
    assert bad.value.field == "position"


def test_role_permission_and_membership_changes_name_who_and_by_whom(story: Story) -> None:
    report = story.report()
    root, ada, bea = story.email("root"), story.email("ada"), story.email("bea")
    roles = [
        (r["email"], r["name"], r["before"], r["after"], r["by_email"], r["by_name"])
        for r in as_dicts(report, "changes", "roles")
    ]
    assert roles == [(ada, "Ada Lovelace", "user", "sub-admin", root, "Root")]
    permissions = [
        (r["email"], r["granted"], r["by_email"])
        for r in as_dicts(report, "changes", "permissions")
    ]
    assert permissions == [(bea, "tag-projects", root)]  # October's audit grants are not here
    members = [
        (r["team"], r["email"], r["change"], r["by_email"])
        for r in as_dicts(report, "changes", "memberships")
    ]
    tag = story.world.tag
    assert members == [
        (f"B {tag}", bea, "added", root),
        (f"A {tag}", bea, "removed", root),
        (f"A {tag}", ada, "sub-admin assigned", root),
    ]
    chart = report.section("changes").charts[0]
    assert dict(zip(chart.categories, chart.series[0].values, strict=True)) == {
        "role changed": 1,
        "permissions changed": 1,
        "team member added": 1,
        "team member removed": 1,
        "sub-admin assigned": 1,
    }


def test_logins_by_network_and_person(story: Story) -> None:
    report = story.report()
    ada, bea = story.email("ada"), story.email("bea")
    assert rows(report, "logins", "by-network") == [
        ("10.1.2.0/24", 2, 0, 2),
        ("2001:db8:1::/48", 1, 1, 2),  # Bea at 23:59:59 on the 30th; the unknown account
        ("198.51.100.0/24", 0, 1, 1),
    ]
    assert rows(report, "logins", "by-person") == [
        ("10.1.2.0/24", ada, "Ada Lovelace", 1, 0, ""),
        ("10.1.2.0/24", bea, "Bea Koch", 1, 0, ""),
        ("2001:db8:1::/48", bea, "Bea Koch", 1, 0, ""),
        ("2001:db8:1::/48", "ghost@elsewhere.org", None, 0, 1, "unknown account"),
        ("198.51.100.0/24", ada, "Ada Lovelace", 0, 1, "bad signature"),
    ]
    assert dict(rows(report, "overview", "figures"))["successful logins"] == 3


def test_networks_are_slash_24_and_slash_48() -> None:
    assert network_of("10.1.2.250") == "10.1.2.0/24"
    assert network_of("2001:db8:1:ffff::1") == "2001:db8:1::/48"
    assert network_of("::ffff:192.0.2.9") == "192.0.2.0/24"
    assert network_of(None) == "(no address recorded)"
    assert network_of("not an address") == "not an address"


def test_months_are_checked_before_anything_is_recorded() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert checked_month("2026-11", now) == NOVEMBER  # the current month, so far
    assert NOVEMBER.end == datetime(2026, 12, 1, tzinfo=UTC)
    assert Month(2026, 12).end == datetime(2027, 1, 1, tzinfo=UTC)
    for bad, says in [
        ("2026-13", "there is no month 13"),
        ("2026-00", "there is no month 00"),
        ("2026-1", "YYYY-MM"),
        ("November", "YYYY-MM"),
        ("2026-12", "has not begun"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            checked_month(bad, now)
        assert refused.value.field == "month"
        assert says in refused.value.reason


# -- the formats --------------------------------------------------------------------------


def test_the_html_is_self_contained_and_names_people_by_email(story: Story) -> None:
    report = story.report()
    page = render_html(report).decode()
    for fetch in (r"https?://", r"<script", r"<link", r"@import", r"\bsrc\s*=", r"url\("):
        assert not re.search(fetch, page, re.IGNORECASE), fetch
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("#") for h in hrefs)  # only the report's own sections
    assert "default-src 'none'" in page
    for label in ("root", "ada", "bea", "olu", "ivy"):
        assert story.email(label) in page
        assert story.id(label) not in page  # never a bare id where the person is known
    assert "ghost@elsewhere.org" in page
    assert report.chain_hash in page
    assert f"<td>{report.position}</td>" in page.replace(' class="n"', "")
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)
    assert len(svgs) == sum(len(s.charts) for s in report.sections)
    for drawn in svgs:
        assert ET.fromstring(drawn).tag == "svg"


def test_charts_escape_what_the_record_holds() -> None:
    hostile = '<script>alert(1)</script> & "quotes" \x1b[31m \u202e'
    chart = Chart("bar", hostile, [hostile, "b"], [Series(hostile, [3, 1]), Series("x", [1, 0])])
    drawn = svg.render(chart)
    root = ET.fromstring(drawn)
    assert not root.findall(".//script")
    assert "<script>" not in drawn
    assert "\x1b" not in drawn and "\u202e" not in drawn
    assert "\\x1b" in drawn and "\\u202e" in drawn
    for kind in ("stacked", "line"):
        ET.fromstring(svg.render(Chart(kind, "t", ["a"], [Series("s", [2.5])])))  # type: ignore[arg-type]
    empty = svg.render(Chart("bar", "nothing", [], []))
    assert "Nothing recorded" in ET.fromstring(empty).findtext("text[@class='empty']", "")


def test_the_workbook_has_native_charts_over_the_report_numbers(story: Story) -> None:
    report = story.report()
    book = Workbook(render_xlsx(report))
    drawn = [c for s in report.sections for c in s.charts if c.categories]
    assert len(book.charts) == len(drawn)
    # The alerts chart: its three series, over the cells beside it, with the cached values.
    alerts_chart = next(c for c in book.charts.values() if "Alerts by severity and status" in c)
    series = ET.fromstring(alerts_chart).findall(".//c:ser", NS)
    cached = [[float(v.text or 0) for v in s.findall(".//c:val//c:v", NS)] for s in series]
    assert cached == [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 0, 0]]
    assert "'Alerts'!" in alerts_chart or "Alerts!" in alerts_chart
    # The numbers in the sheets are the report's.
    denials = book.sheet("Denials")
    # the chart's data ("rate limit", 7), then the table's row (reason, attempts, people)
    assert [row for row in denials if row[:1] == ["rate limit"]] == [
        ["rate limit", 7],
        ["rate limit", 7, 1],
    ]
    about = {row[0]: row[1] for row in book.sheet("About") if len(row) > 1}
    assert about["includes the log up to position"] == report.position
    assert about["chain hash at that position"] == report.chain_hash
    logins = book.sheet("Logins by network")
    assert ["2001:db8:1::/48", "ghost@elsewhere.org"] in [row[:2] for row in logins]


def test_text_that_looks_like_a_formula_stays_text() -> None:
    report = Report(
        kind="custom",
        title='=HYPERLINK("x")',
        name="t",
        generated_at=GENERATED_AT,
        generated_by="-2+3 <a@b.c>",
        position=1,
        chain_hash="00",
        sections=[],
    )
    book = Workbook(render_xlsx(report))
    assert ["report", '=HYPERLINK("x")'] in book.sheet("About")
    assert "<f>" not in book.parts["xl/worksheets/sheet1.xml"]
    about = csv_files(report)["about.csv"].decode()
    assert "'=HYPERLINK" in about and "'-2+3 <a@b.c>" in about


def test_every_table_is_a_csv_and_the_bundle_holds_all_three(story: Story) -> None:
    report = story.report()
    files = csv_files(report)
    tables = [(s.key, t) for s in report.sections for t in s.tables]
    assert len(files) == 1 + len(tables)
    for key, table in tables:
        read = list(csv.reader(io.StringIO(files[f"{key}-{table.key}.csv"].decode())))
        assert read[0] == table.columns
        assert len(read) == 1 + len(table.rows)
    per_reason = list(csv.DictReader(io.StringIO(files["denials-per-reason.csv"].decode())))
    assert {r["reason"]: r["attempts"] for r in per_reason}["rate limit"] == "7"
    each = list(csv.DictReader(io.StringIO(files["denials-each.csv"].decode())))
    assert each[0]["recorded_at"].endswith("Z")
    bundle = render(report, ReportFormat.BUNDLE)
    assert bundle.filename == "strongroom-monthly-2026-11.zip"
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert names[:2] == ["report.html", "report.xlsx"] and set(files) <= set(names)


# -- custom reports -----------------------------------------------------------------------


def test_a_custom_report_runs_sql_and_saved_queries_each_recorded(story: Story) -> None:
    app = story.system.app
    olu = story.world.acting("olu")
    with fresh_connection(story.system) as connection, olu:
        queries = ForensicQueries(app)
        engine = ReportEngine(connection, 0)
        queries.save_query(
            "logins-from-network",
            Definition(
                sql="SELECT email, count(*) AS logins FROM logins "
                "WHERE client_ip LIKE $prefix || '%' GROUP BY email ORDER BY email",
                parameters=(Parameter("prefix", ParameterType.TEXT),),
                return_type="series",
            ),
            engine,
        )
        definition = definition_from(
            {
                "title": "Lab logins",
                "parameters": {"prefix": "10.9."},
                "queries": [
                    {
                        "title": "Refusals by reason",
                        "sql": "SELECT reason, count(*) AS n FROM denials "
                        "WHERE recorded_at >= $since::TIMESTAMPTZ GROUP BY reason ORDER BY reason",
                        "chart": {"kind": "bar", "x": "reason", "y": ["n"]},
                    },
                    {"title": "From the lab", "saved": "logins-from-network"},
                ],
            }
        )
        before = story.system.ledger.head()
        run = gather_custom(
            connection,
            definition,
            queries,
            parameters={"since": "2026-11-03T00:00:00Z", "prefix": "10.1.2."},
            generated_at=GENERATED_AT,
            generated_by="Olu",
        )
    report = run.report
    first, second = report.sections
    counted = {row[0]: row[1] for row in first.tables[0].rows}
    assert counted["rate limit"] == 1  # one record (of 7 requests)
    assert "bad signature" not in counted  # before the 3rd
    assert first.charts[0].kind == "bar"
    # The request's prefix wins over the definition's; a series draws itself.
    assert second.tables[0].rows == [
        (story.email("ada"), 2),  # 2 November and 1 December (the export is the head)
        (story.email("bea"), 1),
        (story.email("olu"), 1),
    ]
    assert second.charts[0].kind == "line"
    assert "-- saved query logins-from-network, revision 1" in second.sql[0]
    # Each query run is recorded (by the queries capability) with its row count.
    events: list[Any] = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=before + 1, limit=100)
    ]
    recorded = [e for e in events if type(e).__qualname__ == "QueryRun.Recorded"]
    reasons_since_the_3rd = len({reason for _, reason in story.refusals}) + 1  # + rate limit
    assert [(e.saved_query, e.row_count) for e in recorded] == [
        (None, reasons_since_the_3rd),
        ("logins-from-network", 3),
    ]
    assert [q["run_id"] for q in run.queries] == [str(e.originator_id) for e in recorded]
    assert all(e.actor_id == story.id("olu") for e in recorded)


def test_custom_reports_refuse_bad_definitions_naming_the_field(story: Story) -> None:
    cases: list[tuple[Any, str]] = [
        ({"title": "t", "queries": []}, "queries"),
        ({"title": "t", "queries": [{"title": "q"}]}, "queries.0"),
        ({"title": "t", "queries": [{"title": "q", "sql": "x", "saved": "y"}]}, "queries.0"),
        (
            {"title": "t", "queries": [{"title": "q", "sql": "SELECT 1", "tables": 1}]},
            "queries.0.tables",
        ),
        ({"title": "\x1b[2J", "queries": [{"title": "q", "sql": "SELECT 1"}]}, "title"),
        (
            {
                "title": "t",
                "queries": [
                    {
                        "title": "q",
                        "sql": "SELECT 1",
                        "chart": {"kind": "pie", "x": "a", "y": ["b"]},
                    }
                ],
            },
            "queries.0.chart.kind",
        ),
        ({"title": "t", "queries": [{"title": "q", "saved": "Not A Name!"}]}, "queries.0.saved"),
    ]
    for bad, where in cases:
        with pytest.raises(InvalidInput) as refused:
            definition_from(bad)
        assert refused.value.field == where, bad
    with fresh_connection(story.system) as connection, story.world.acting("olu"):
        queries = ForensicQueries(story.system.app)
        needs = definition_from(
            {"title": "t", "queries": [{"title": "q", "sql": "SELECT $missing AS m"}]}
        )
        with pytest.raises(InvalidInput) as refused:
            gather_custom(connection, needs, queries, generated_at=GENERATED_AT, generated_by="x")
        assert refused.value.field == "parameters.missing"
        charted = definition_from(
            {
                "title": "t",
                "queries": [
                    {
                        "title": "q",
                        "sql": "SELECT 'a' AS k, 1 AS v",
                        "chart": {"x": "k", "y": ["nope"]},
                    }
                ],
            }
        )
        with pytest.raises(InvalidInput) as refused:
            gather_custom(connection, charted, queries, generated_at=GENERATED_AT, generated_by="x")
        assert refused.value.field == "queries.0.chart.y"
        garbled = definition_from({"title": "t", "queries": [{"title": "q", "sql": "SELEC 1"}]})
        with pytest.raises(InvalidInput) as refused:
            gather_custom(connection, garbled, queries, generated_at=GENERATED_AT, generated_by="x")
        assert refused.value.field == "queries.0.sql"
        # A write is refused, and the refusal recorded like any other.
        writes = definition_from(
            {"title": "t", "queries": [{"title": "q", "sql": "DELETE FROM events"}]}
        )
        before = story.system.ledger.head()
        with pytest.raises(Forbidden):
            gather_custom(connection, writes, queries, generated_at=GENERATED_AT, generated_by="x")
    app = story.system.app
    kinds = [
        type(app.mapper.to_domain_event(n)).__qualname__
        for n in app.recorder.select_notifications(start=before + 1, limit=10)
    ]
    assert "DeniedAttempt.Recorded" in kinds


# -- reading a workbook without a spreadsheet library -------------------------------------

NS = {
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}


class Workbook:
    """The parts of an .xlsx, its charts, and each sheet's cells as rows of values."""

    def __init__(self, content: bytes) -> None:
        archive = zipfile.ZipFile(io.BytesIO(content))
        self.parts = {name: archive.read(name).decode() for name in archive.namelist()}
        self.charts = {n: x for n, x in self.parts.items() if re.match(r"xl/charts/chart\d+", n)}
        shared = ET.fromstring(self.parts.get("xl/sharedStrings.xml", "<sst/>"))
        self.strings = ["".join(si.itertext()) for si in shared.findall("m:si", NS)]
        book = ET.fromstring(self.parts["xl/workbook.xml"])
        rels = ET.fromstring(self.parts["xl/_rels/workbook.xml.rels"])
        targets = {r.get("Id"): r.get("Target") for r in rels.findall("rel:Relationship", NS)}
        self.sheets = {
            s.get("name"): "xl/" + str(targets[s.get(f"{{{NS['r']}}}id")])
            for s in book.findall("m:sheets/m:sheet", NS)
        }

    def sheet(self, name: str) -> list[list[object]]:
        grid = ET.fromstring(self.parts[self.sheets[name]])
        found = []
        for row in grid.findall("m:sheetData/m:row", NS):
            values: list[object] = []
            for cell in row.findall("m:c", NS):
                column = _column(str(cell.get("r")))
                values += [None] * (column - len(values))
                text = cell.findtext("m:v", None, NS)
                if cell.get("t") == "s":
                    values.append(self.strings[int(text or 0)])
                elif cell.get("t") == "b":
                    values.append(text == "1")
                elif text is None:
                    values.append(None)
                else:
                    number = float(text)
                    values.append(int(number) if number.is_integer() else number)
            found.append(values)
        return found


def _column(reference: str) -> int:
    letters = re.match(r"[A-Z]+", reference)
    assert letters is not None
    index = 0
    for letter in letters.group():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def test_sheet_reader_reads_what_it_is_given() -> None:
    # The reader the workbook tests lean on, on a workbook made independently of reports.
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("S")
    sheet.write_string(0, 0, "a")
    sheet.write_number(0, 2, 2.5)
    sheet.write_boolean(1, 1, True)
    book.close()
    assert Workbook(buffer.getvalue()).sheet("S") == [["a", None, 2.5], [None, True]]
