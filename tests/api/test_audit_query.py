"""Forensic SQL and saved queries over real HTTP: answers as of now, every run recorded.

A real server on loopback (api/local_server.py) over each store; the test keeps
its own application on the same store, as a second process would, to make
history happen and to read what was recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import ApiError, StrongroomClient


@dataclass
class Site:
    url: str
    world: World
    officer: StrongroomClient
    rae: StrongroomClient  # a researcher: no audit capability

    def recorded(self, qualname: str) -> list[Any]:
        app = self.world.app
        events = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=100_000)
        ]
        return [e for e in events if type(e).__qualname__ == qualname]

    def runs(self) -> list[Any]:
        return self.recorded("QueryRun.Recorded")

    def post(self, path: str, body: Any) -> httpx.Response:
        """A raw request as the officer, for bodies the SDK would never send."""
        headers = {"Authorization": f"Bearer {self.officer.token}"}
        return httpx.post(f"{self.url}/api/v1/audit{path}", json=body, headers=headers)


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    app = open_system(settings).app
    world = World(app)
    world.person("officer", teams=("A",), audit=True)
    world.person("rae", teams=("A",))
    with live_server(settings) as url:
        officer = StrongroomClient(url)
        officer.login(world.keys["officer"], world.email("officer"))
        rae = StrongroomClient(url)
        rae.login(world.keys["rae"], world.email("rae"))
        yield Site(url, world, officer, rae)
        officer.close()
        rae.close()
    app.close()


def refused_with(status: int, call: Any) -> ApiError:
    with pytest.raises(ApiError) as refused:
        call()
    assert refused.value.status == status, refused.value.detail
    return refused.value


def test_a_query_answers_as_of_now_and_each_run_is_recorded(site: Site) -> None:
    sql = "SELECT name FROM teams ORDER BY name"
    first = site.officer.query(sql)
    assert first["columns"] == ["name"]
    assert set(first) == {"columns", "rows", "truncated", "row_count", "exported_upto", "run_id"}

    # A command committed (by another process on the store) is in the very next answer.
    site.world.team("Fresh")
    second = site.officer.query(sql)
    assert [f"Fresh {site.world.tag}"] in second["rows"]
    assert [f"Fresh {site.world.tag}"] not in first["rows"]
    assert second["exported_upto"] > first["exported_upto"]

    runs = site.runs()
    assert [(r.actor_id, r.sql, r.outcome, r.row_count) for r in runs] == [
        (str(site.world.ids["officer"]), sql, "answered", first["row_count"]),
        (str(site.world.ids["officer"]), sql, "answered", second["row_count"]),
    ]
    assert [str(r.originator_id) for r in runs] == [first["run_id"], second["run_id"]]
    # Who asked, from where, in which session: the envelope of every event.
    assert runs[0].session_id is not None and runs[0].client_ip == "127.0.0.1"


def test_the_row_limit_cuts_and_parameters_are_bound(site: Site) -> None:
    cut = site.officer.query("SELECT * FROM range(100)", row_limit=7)
    assert (cut["row_count"], cut["truncated"], len(cut["rows"])) == (7, True, 7)
    hostile = "'; DROP VIEW people; --"
    answer = site.officer.query(
        "SELECT $text AS given, $n + 1 AS next", parameters={"text": hostile, "n": 41}
    )
    assert answer["rows"] == [[hostile, 42]]
    assert site.officer.query("SELECT count(*) AS n FROM people")["rows"] == [[3]]


OVER_THE_BOUNDS: list[tuple[dict[str, Any], str]] = [
    ({"sql": "SELECT 1", "row_limit": 0}, "row_limit"),
    ({"sql": "SELECT 1", "row_limit": 1_000_001}, "row_limit"),
    ({"sql": "SELECT 1", "row_limit": "10"}, "row_limit"),
    ({"sql": "SELECT 1", "row_limit": True}, "row_limit"),
    ({"sql": "SELECT 1", "time_limit": 0.05}, "time_limit"),
    ({"sql": "SELECT 1", "time_limit": 300.5}, "time_limit"),
    ({"sql": "SELECT 1", "time_limit": "1"}, "time_limit"),
    ({}, "sql"),
    ({"sql": ""}, "sql"),
    ({"sql": "SELECT 1 --" + "x" * 100_000}, "sql"),
    ({"sql": "SELECT '\x1b[2J'"}, "sql"),
    ({"sql": "SELECT 1", "parameters": {f"p{i}": i for i in range(21)}}, "parameters"),
    ({"sql": "SELECT $a", "parameters": {"a": "x" * 10_001}}, "parameters.a"),
    ({"sql": "SELECT $a", "parameters": {"a b": 1}}, "parameters"),
    ({"sql": "SELECT $a", "parameters": {"a": [1]}}, "parameters.a"),
]


def test_input_over_the_bounds_is_422_naming_the_field_and_not_recorded(site: Site) -> None:
    for body, field in OVER_THE_BOUNDS:
        answer = site.post("/query", body)
        assert answer.status_code == 422, answer.text
        fields = [problem["field"] for problem in answer.json()["detail"]]
        assert fields == [field], (str(body)[:80], fields)
    assert site.runs() == []


def test_bad_sql_is_422_with_one_line_and_recorded(site: Site) -> None:
    answer = site.post("/query", {"sql": "SELECT nope FROM people"})
    assert answer.status_code == 422
    (problem,) = answer.json()["detail"]
    assert problem["field"] == "sql"
    assert problem["reason"].startswith("Binder Error: Referenced column")
    assert "\n" not in problem["reason"]
    (run,) = site.runs()
    assert (run.outcome, run.reason) == ("failed", problem["reason"])


FORBIDDEN = [
    ("INSERT INTO people VALUES ('a', 'b', 'c', now())", "not INSERT"),
    ("DROP VIEW people", "not DROP"),
    ("ATTACH 'x.db' AS x", "not ATTACH"),
    ("COPY (SELECT * FROM events) TO 'stolen.parquet'", "not COPY"),
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
    ("INSTALL httpfs", "not LOAD"),
    ("SET threads = 64", "not SET"),
]


def test_forbidden_sql_is_403_recorded_and_listed_among_the_refusals(site: Site) -> None:
    for sql, why in FORBIDDEN:
        answer = site.post("/query", {"sql": sql})
        assert answer.status_code == 403, (sql, answer.text)
        assert why in answer.json()["detail"]
    officer = str(site.world.ids["officer"])
    runs = site.runs()
    assert [(r.sql, r.outcome, r.actor_id) for r in runs] == [
        (sql, "refused", officer) for sql, _ in FORBIDDEN
    ]
    listed = [
        r for r in site.officer.refusals(limit=1000)["refusals"] if r["action"] == "run-query"
    ]
    assert [(r["actor"], r["reason"]) for r in listed] == [(officer, r.reason) for r in runs]
    assert {r["actor_name"] for r in listed} == {f"Officer <{site.world.email('officer')}>"}


def test_a_runaway_query_is_stopped_with_408_and_recorded(site: Site) -> None:
    refused = refused_with(
        408,
        lambda: site.officer.query("SELECT count(*) FROM range(10000000000000)", time_limit=0.2),
    )
    assert refused.detail == "stopped at the time limit of 0.2 s"
    (run,) = site.runs()
    assert (run.outcome, run.time_limit) == ("stopped", 0.2)


def test_someone_without_the_audit_capability_is_refused_and_recorded(site: Site) -> None:
    refused = refused_with(403, lambda: site.rae.query("SELECT * FROM people"))
    assert "compliance officers" in str(refused.detail)
    refused_with(403, lambda: site.rae.saved_queries())
    refused_with(403, lambda: site.rae.create_saved_query("mine", "SELECT 1"))
    refused_with(403, lambda: site.rae.run_saved_query("anything"))
    rae = str(site.world.ids["rae"])
    assert [(r.actor_id, r.outcome) for r in site.runs()] == [(rae, "refused")] * 2
    denied = [(d.actor_id, d.action) for d in site.recorded("DeniedAttempt.Recorded")]
    assert denied == [
        (rae, "run-query"),
        (rae, "read-saved-queries"),
        (rae, "save-query"),
        (rae, "run-saved-query"),
    ]


def test_saved_queries_over_http_from_creation_to_retirement(site: Site) -> None:
    officer = site.officer
    made = officer.create_saved_query(
        "people-like",
        "SELECT email FROM people WHERE email LIKE $pattern ORDER BY email",
        description="People by email pattern.",
        tags=["directory", "people"],
        parameters=[{"name": "pattern", "type": "text", "default": "%"}],
    )
    assert (made["name"], made["revision"], made["retired"]) == ("people-like", 1, False)
    assert made["created_by_email"] == site.world.email("officer")
    assert made["parameters"] == [
        {"name": "pattern", "type": "text", "description": "", "default": "%"}
    ]
    officer.create_saved_query(
        "team-count", "SELECT count(*) FROM teams", tags=["directory"], return_type="scalar"
    )
    duplicate = refused_with(409, lambda: officer.create_saved_query("people-like", "SELECT 1"))
    assert "exists" in str(duplicate.detail)
    writes = refused_with(422, lambda: officer.create_saved_query("w", "DELETE FROM people"))
    assert writes.detail == [{"field": "sql", "reason": "only SELECT may run here, not DELETE"}]

    # Listing, by tag and by text.
    assert [q["name"] for q in officer.saved_queries()] == ["people-like", "team-count"]
    assert [q["name"] for q in officer.saved_queries(tag="people")] == ["people-like"]
    assert [q["name"] for q in officer.saved_queries(search="COUNT(")] == ["team-count"]
    assert officer.saved_query("team-count")["return_type"] == "scalar"
    refused_with(404, lambda: officer.saved_query("nothing-here"))

    # Running by name, with typed parameters.
    everyone = officer.run_saved_query("people-like")
    assert everyone["row_count"] == 3
    one = officer.run_saved_query("people-like", parameters={"pattern": "rae%"})
    assert one["rows"] == [[site.world.email("rae")]]
    assert officer.run_saved_query("team-count")["rows"] == [[1]]

    # A new revision, then retirement: kept, shown, no longer listed or run.
    revised = officer.update_saved_query(
        "people-like",
        "SELECT count(*) AS n FROM people WHERE email LIKE $pattern",
        parameters=[{"name": "pattern", "type": "text", "default": "%"}],
        return_type="scalar",
    )
    assert (revised["revision"], revised["tags"]) == (2, [])
    assert officer.run_saved_query("people-like")["rows"] == [[3]]
    officer.retire_saved_query("people-like")
    assert officer.saved_query("people-like")["retired"] is True
    assert [q["name"] for q in officer.saved_queries()] == ["team-count"]
    retired = refused_with(409, lambda: officer.run_saved_query("people-like"))
    assert "retired" in str(retired.detail)
    refused_with(409, lambda: officer.retire_saved_query("people-like"))

    runs = [(r.saved_query, r.revision, r.outcome, r.row_count) for r in site.runs()]
    assert runs == [
        ("people-like", 1, "answered", 3),
        ("people-like", 1, "answered", 1),
        ("team-count", 1, "answered", 1),
        ("people-like", 2, "answered", 1),
        ("people-like", None, "failed", 0),
    ]


def test_saved_query_parameters_are_typed(site: Site) -> None:
    site.officer.create_saved_query(
        "since",
        "SELECT count(*) FROM events WHERE recorded_at >= $since AND $n > 0",
        parameters=[{"name": "since", "type": "timestamp"}, {"name": "n", "type": "int"}],
    )
    bad = refused_with(
        422,
        lambda: site.officer.run_saved_query(
            "since", parameters={"since": "2026-01-01T00:00:00Z", "n": "many"}
        ),
    )
    assert bad.detail == [{"field": "parameters.n", "reason": "a whole number is expected"}]
    answer = site.officer.run_saved_query(
        "since", parameters={"since": "2000-01-01T00:00:00+02:00", "n": 1}
    )
    assert answer["rows"][0][0] > 0
    name_too_long = site.post("/saved-queries/" + "x" * 65 + "/run", {})
    assert name_too_long.status_code == 422


def test_the_routes_are_in_the_api_document(site: Site) -> None:
    paths = httpx.get(f"{site.url}/openapi.json").json()["paths"]
    assert {
        "/api/v1/audit/query",
        "/api/v1/audit/saved-queries",
        "/api/v1/audit/saved-queries/{name}",
        "/api/v1/audit/saved-queries/{name}/run",
    } <= set(paths)
    assert "408" in paths["/api/v1/audit/query"]["post"]["responses"]
