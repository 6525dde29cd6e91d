"""The report routes over real HTTP: officers get the file, and every report taken is recorded.

A live server on a real store (both stores); an officer and a user logged in
through the SDK with their own keys. The officer's report is the file itself
(media type, Content-Disposition, the position it includes) and is recorded
with who took it, which month, and that position; anyone else is refused and
the refusal recorded; bad input is a 422 naming the field, and records nothing.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import ApiError, StrongroomClient
from domain.access import Permission
from domain.audit_access import OFFICERS_ONLY
from domain.identity import Identity
from domain.reports import Month


@dataclass
class Served:
    url: str
    settings: Settings
    world: World
    officer: StrongroomClient
    user: StrongroomClient

    def events(self, after: int = 0) -> list[Any]:
        """Every event recorded after `after`, decoded (read beside the running server)."""
        app = open_system(self.settings).app
        try:
            return [
                app.mapper.to_domain_event(n)
                for n in app.recorder.select_notifications(start=after + 1, limit=10_000)
            ]
        finally:
            app.close()

    def head(self) -> int:
        app = open_system(self.settings).app
        try:
            return app.recorder.max_notification_id() or 0
        finally:
            app.close()


@pytest.fixture
def served(settings: Settings) -> Iterator[Served]:
    app = open_system(settings).app
    world = World(app)
    world.person("olu", name="Olu Officer", teams=("Audit",))
    world.person("ada", name="Ada Lovelace", teams=("A",))
    with world.acting("root"):
        Identity(app).set_permissions(world.ids["olu"], grant={Permission.AUDIT}, restrict=set())
    app.close()
    with live_server(settings) as url:
        officer, user = StrongroomClient(url), StrongroomClient(url)
        officer.login(world.keys["olu"], world.email("olu"))
        user.login(world.keys["ada"], world.email("ada"))
        try:
            yield Served(url, settings, world, officer, user)
        finally:
            officer.close()
            user.close()


def this_month() -> str:
    return str(Month.of(datetime.now(UTC)))


def post(served: Served, path: str, body: dict[str, Any], token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{served.url}/api/v1/audit/reports/{path}", json=body, headers=headers, timeout=120
    )


def test_an_officer_gets_the_monthly_report_and_taking_it_is_recorded(served: Served) -> None:
    month = this_month()
    answer = post(served, "monthly", {"month": month}, served.officer.token)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="strongroom-monthly-{month}.html"'
    )
    position = int(answer.headers["x-report-position"])
    page = answer.text
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page and "<script" not in page
    for label in ("olu", "ada", "root"):
        assert served.world.email(label) in page
    # Recorded: who, which report, which month, the position it includes.
    taken = [e for e in served.events() if type(e).__qualname__ == "ComplianceReport.Generated"]
    assert len(taken) == 1
    event = taken[0]
    assert event.actor_id == str(served.world.ids["olu"])
    assert (event.kind, event.name, event.format) == ("monthly", month, "html")
    assert event.position == position
    assert event.period_start == Month(int(month[:4]), int(month[5:])).start
    assert len(event.chain_hash) == 64 and event.chain_hash in page
    assert event.rows > 0


def test_each_format_has_its_media_type_and_file_name(served: Served) -> None:
    month = this_month()
    expected = {
        "xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"strongroom-monthly-{month}.xlsx",
        ),
        "csv-zip": ("application/zip", f"strongroom-monthly-{month}-csv.zip"),
        "bundle": ("application/zip", f"strongroom-monthly-{month}.zip"),
    }
    for format, (media_type, filename) in expected.items():
        got = served.officer.monthly_report(month, format=format)
        assert (got["media_type"], got["filename"]) == (media_type, filename)
        names = zipfile.ZipFile(io.BytesIO(got["content"])).namelist()
        if format == "xlsx":
            assert any(name.startswith("xl/charts/chart") for name in names)
        elif format == "csv-zip":
            assert "about.csv" in names and "denials-per-reason.csv" in names
        else:
            assert {"report.html", "report.xlsx", "about.csv"} <= set(names)
    # The same figures again, at the position the first one included.
    first = served.officer.monthly_report(month, format="csv-zip")
    again = served.officer.monthly_report(month, format="csv-zip", position=first["position"])
    activity = "activity-by-type.csv"
    assert _member(first, activity) == _member(again, activity)


def _member(answer: dict[str, Any], name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(answer["content"])).read(name)


def test_anyone_but_an_officer_is_refused_and_the_refusal_recorded(served: Served) -> None:
    before = served.head()
    with pytest.raises(ApiError) as refused:
        served.user.monthly_report(this_month(), format="html")
    assert refused.value.status == 403
    with pytest.raises(ApiError) as refused:
        served.user.custom_report(
            {"title": "t", "queries": [{"title": "q", "sql": "SELECT 1 AS one"}]}
        )
    assert refused.value.status == 403
    denials = [e for e in served.events(before) if type(e).__qualname__ == "DeniedAttempt.Recorded"]
    ada = str(served.world.ids["ada"])
    assert [(d.actor_id, d.action, d.reason) for d in denials] == [
        (ada, "report-monthly", OFFICERS_ONLY),
        (ada, "report-custom", OFFICERS_ONLY),
    ]
    taken = [e for e in served.events(before) if "ComplianceReport" in type(e).__qualname__]
    assert taken == []
    no_session = post(served, "monthly", {"month": this_month()}, None)
    assert no_session.status_code == 401


def test_bad_input_is_a_422_naming_the_field_and_records_nothing(served: Served) -> None:
    token = served.officer.token
    before = served.head()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"month": "2026-13"}, "month", "there is no month 13"),
        ({"month": "2026-1"}, "month", "YYYY-MM"),
        ({"month": "2999-01"}, "month", "has not begun"),
        ({"month": this_month(), "format": "pdf"}, "format", "html"),
        ({"month": this_month(), "position": 0}, "position", "greater than or equal to 1"),
        ({"month": this_month(), "colour": "red"}, "colour", "not permitted"),
    ]
    for body, field, says in cases:
        answer = post(served, "monthly", body, token)
        assert answer.status_code == 422, (body, answer.text)
        [problem] = answer.json()["detail"]
        assert problem["field"] == field, body
        assert says in problem["reason"], (body, problem)
    # Nothing recorded by the officer (the alert rules may record on their own meanwhile).
    olu = str(served.world.ids["olu"])
    assert [e for e in served.events(before) if e.actor_id == olu] == []
    # A position past the log's head is refused too (after the export is brought up to date).
    answer = post(served, "monthly", {"month": this_month(), "position": 2**62}, token)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "position"


def test_a_custom_report_over_http(served: Served) -> None:
    definition = {
        "title": "Who logged in",
        "queries": [
            {
                "title": "Logins per person",
                "sql": "SELECT email, count(*) AS logins FROM logins "
                "WHERE outcome = $outcome GROUP BY email ORDER BY email",
                "chart": {"kind": "bar", "x": "email", "y": ["logins"]},
            }
        ],
    }
    got = served.officer.custom_report(definition, parameters={"outcome": "allowed"}, format="html")
    assert got["filename"] == "strongroom-custom-who-logged-in.html"
    page = got["content"].decode()
    assert served.world.email("ada") in page and "<svg" in page
    taken = [e for e in served.events() if type(e).__qualname__ == "ComplianceReport.Generated"]
    assert [(e.kind, e.name, e.parameters) for e in taken] == [
        ("custom", "Who logged in", {"outcome": "allowed"})
    ]
    assert [q["rows"] for q in taken[0].queries] == [2]  # Olu and Ada
    # A query that cannot run names itself; a parameter nobody gave names the parameter.
    bad_sql = {"title": "t", "queries": [{"title": "q", "sql": "SELECT nope FROM events"}]}
    with pytest.raises(ApiError) as refused:
        served.officer.custom_report(bad_sql)
    assert refused.value.status == 422
    assert refused.value.detail[0]["field"] == "definition.queries.0.sql"
    with pytest.raises(ApiError) as refused:
        served.officer.custom_report(definition)
    assert refused.value.detail[0]["field"] == "parameters.outcome"
