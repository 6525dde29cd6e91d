"""Forensic queries and saved queries: every run recorded, nothing but reading allowed.

The use cases run over a real store and the real DuckDB engine over the
server's own export (audit_queries/query_engine.py), on both stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import System, open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from audit_queries import forensic_db
from audit_queries.query_engine import FreshQueries, SqlCheck, check_sql, json_value
from domain import forensic_queries as fq
from domain.errors import Forbidden, InvalidInput
from domain.forensic_queries import (
    AnswerMisfits,
    BadQuery,
    ForensicQueries,
    Limits,
    QueryTimedOut,
    SqlFailed,
    SqlRefused,
)
from domain.saved_queries import (
    SQL_LENGTH,
    Definition,
    Parameter,
    ParameterType,
    ReturnType,
    SavedQuery,
    SavedQueryExists,
    SavedQueryNotFound,
    SavedQueryRetired,
    Value,
)


@dataclass
class Lab:
    system: System
    world: World
    queries: ForensicQueries
    engine: FreshQueries

    @property
    def officer(self) -> str:
        return str(self.world.ids["officer"])

    def recorded(self, qualname: str) -> list[Any]:
        app = self.system.app
        events = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=100_000)
        ]
        return [e for e in events if type(e).__qualname__ == qualname]

    def history_of(self, name: str) -> list[Any]:
        """The events of one saved query, in order."""
        wanted = SavedQuery.create_id(name)
        app = self.system.app
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=100_000)
            if n.originator_id == wanted
        ]

    def runs(self) -> list[Any]:
        return self.recorded("QueryRun.Recorded")

    def refusals(self) -> list[Any]:
        return self.recorded("DeniedAttempt.Recorded")

    def head(self) -> int:
        return self.system.ledger.head()


@pytest.fixture
def lab(settings: Settings, clock: ManualClock) -> Iterator[Lab]:
    system = open_system(settings, clock=clock)
    world = World(system.app)
    world.person("officer", teams=("A",), audit=True)
    world.person("rae", teams=("A",))
    try:
        yield Lab(system, world, ForensicQueries(system.app), FreshQueries(system))
    finally:
        system.close()


# -- runs, answered and recorded ----------------------------------------------------------


def test_an_officers_query_is_answered_and_recorded_with_who_and_how_many(lab: Lab) -> None:
    sql = "SELECT email FROM people ORDER BY email"
    with lab.world.acting("officer"):
        answer = lab.queries.run_sql(sql, lab.engine)
    emails = sorted(lab.world.email(p) for p in ("officer", "rae", "root"))
    assert answer.columns == ["email"]
    assert answer.rows == [[e] for e in emails]
    assert not answer.truncated
    (run,) = lab.runs()
    assert run.originator_id == answer.run_id
    assert (run.actor_id, run.sql, run.saved_query, run.outcome) == (
        lab.officer,
        sql,
        None,
        "answered",
    )
    assert (run.row_count, run.truncated, run.reason) == (3, False, None)
    # The answer includes everything before the question (the run itself comes after).
    assert run.exported_upto == answer.exported_upto == lab.head() - 1


def test_a_command_committed_is_in_the_very_next_answer(lab: Lab) -> None:
    sql = "SELECT name FROM teams ORDER BY name"
    with lab.world.acting("officer"):
        before = lab.queries.run_sql(sql, lab.engine).rows
    lab.world.team("Fresh")
    with lab.world.acting("officer"):
        after = lab.queries.run_sql(sql, lab.engine).rows
    name = f"Fresh {lab.world.tag}"
    assert [name] not in before
    assert [name] in after


def test_the_row_limit_cuts_the_answer_and_says_so(lab: Lab) -> None:
    with lab.world.acting("officer"):
        answer = lab.queries.run_sql(
            "SELECT * FROM range(50)", lab.engine, limits=Limits(row_limit=10)
        )
    assert answer.row_count == 10 and answer.truncated
    (run,) = lab.runs()
    assert (run.row_count, run.truncated, run.row_limit) == (10, True, 10)


def test_values_come_back_json_safe(lab: Lab) -> None:
    sql = """SELECT TIMESTAMPTZ '2026-03-01 09:00:00+00' AS at, DATE '2026-03-01' AS day,
        1.50 AS d, '00000000-0000-0000-0000-000000000001'::UUID AS id, '\\xAB'::BLOB AS b,
        [1, 2] AS l, {'k': 'v'} AS s, 'nan'::DOUBLE AS n, INTERVAL 90 MINUTE AS i"""
    with lab.world.acting("officer"):
        (row,) = lab.queries.run_sql(sql, lab.engine).rows
    assert row == [
        "2026-03-01T09:00:00+00:00",
        "2026-03-01",
        1.5,
        "00000000-0000-0000-0000-000000000001",
        "ab",
        [1, 2],
        {"k": "v"},
        "NaN",
        "PT1H30M",
    ]


# -- query safety: refused or stopped, and recorded ---------------------------------------

FORBIDDEN = [
    pytest.param("INSERT INTO people VALUES ('x', 'y', 'z', now())", "INSERT", id="insert"),
    pytest.param("CREATE TABLE planted AS SELECT 1", "CREATE", id="create"),
    pytest.param("DROP VIEW people", "DROP", id="drop"),
    pytest.param("ATTACH '{export}/other.db' AS other", "ATTACH", id="attach"),
    pytest.param("COPY (SELECT * FROM events) TO '{export}/stolen.csv'", "COPY", id="copy-to"),
    pytest.param("SELECT * FROM read_csv('/etc/passwd')", "Permission Error", id="read-passwd"),
    pytest.param("SELECT * FROM read_parquet('{elsewhere}/*.parquet')", "Permission", id="other"),
    pytest.param("SELECT * FROM read_text('{home}/audit/signing-key.pem')", "Permission", id="key"),
    pytest.param("INSTALL httpfs", "LOAD", id="install"),
    pytest.param("LOAD httpfs", "LOAD", id="load"),
    pytest.param("SET enable_external_access = true", "SET", id="set"),
    pytest.param(
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{export}/planted.csv'", "EXPLAIN", id="explain-copy"
    ),
    pytest.param("SELECT 1; DROP VIEW people", "one statement", id="two-statements"),
]


@pytest.mark.parametrize(("template", "why"), FORBIDDEN)
def test_forbidden_sql_is_refused_and_recorded(
    lab: Lab, template: str, why: str, tmp_path: Path
) -> None:
    export = lab.system.settings.forensic_export_dir
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sql = template.format(export=export, elsewhere=elsewhere, home=lab.system.settings.home)
    with lab.world.acting("officer"), pytest.raises(Forbidden) as refused:
        lab.queries.run_sql(sql, lab.engine)
    assert why in refused.value.reason
    assert "\n" not in refused.value.reason
    # One record of the attempt, and the refusal beside it, both naming the officer.
    (run,) = lab.runs()
    assert (run.actor_id, run.sql, run.outcome, run.reason) == (
        lab.officer,
        sql,
        "refused",
        refused.value.reason,
    )
    (denied,) = lab.refusals()
    assert (denied.actor_id, denied.action, denied.reason) == (
        lab.officer,
        "run-query",
        refused.value.reason,
    )
    # Nothing was written anywhere it could reach.
    assert sorted(p.name for p in export.glob("*.csv")) == []
    assert not (export / "other.db").exists()
    with lab.world.acting("officer"):
        assert lab.queries.run_sql("SELECT count(*) FROM people", lab.engine).rows == [[3]]


def test_a_runaway_query_is_stopped_at_its_time_limit_and_recorded(lab: Lab) -> None:
    sql = "SELECT count(*) FROM range(10000000000000) a"
    with lab.world.acting("officer"), pytest.raises(QueryTimedOut) as stopped:
        lab.queries.run_sql(sql, lab.engine, limits=Limits(time_limit=0.2))
    assert "time limit of 0.2 s" in str(stopped.value)
    (run,) = lab.runs()
    assert (run.actor_id, run.outcome, run.sql, run.time_limit) == (
        lab.officer,
        "stopped",
        sql,
        0.2,
    )
    assert lab.refusals() == []


def test_bad_sql_fails_with_one_line_and_is_recorded(lab: Lab) -> None:
    with lab.world.acting("officer"), pytest.raises(BadQuery) as bad:
        lab.queries.run_sql("SELECT nope FROM people", lab.engine)
    assert bad.value.field == "sql"
    assert bad.value.reason.startswith("Binder Error: Referenced column")
    (run,) = lab.runs()
    assert (run.outcome, run.reason, run.row_count) == ("failed", bad.value.reason, 0)


OVER_THE_BOUNDS = [
    ("SELECT 1 " + " " * 100_000 + "-- long", Limits(), "sql"),
    ("SELECT '\x1b[2J'", Limits(), "sql"),
    ("SELECT 'gpj.\u202eexe'", Limits(), "sql"),
    ("   ", Limits(), "sql"),
    ("SELECT 1", Limits(row_limit=0), "row_limit"),
    ("SELECT 1", Limits(row_limit=1_000_001), "row_limit"),
    ("SELECT 1", Limits(time_limit=0.05), "time_limit"),
    ("SELECT 1", Limits(time_limit=301), "time_limit"),
    ("SELECT 1", Limits(time_limit=float("nan")), "time_limit"),
]


def test_input_over_the_bounds_is_refused_before_anything_is_recorded(lab: Lab) -> None:
    before = lab.head()
    with lab.world.acting("officer"):
        for sql, limits, field in OVER_THE_BOUNDS:
            with pytest.raises(InvalidInput) as bad:
                lab.queries.run_sql(sql, lab.engine, limits=limits)
            assert bad.value.field == field, (sql[:40], limits)
    assert lab.head() == before


def test_newlines_and_tabs_are_ordinary_sql(lab: Lab) -> None:
    sql = "SELECT\r\n\tcount(*) AS n\r\nFROM people"
    with lab.world.acting("officer"):
        assert lab.queries.run_sql(sql, lab.engine).rows == [[3]]
    assert lab.runs()[0].sql == "SELECT\n\tcount(*) AS n\nFROM people"


def test_a_non_officer_is_refused_and_the_attempt_recorded(lab: Lab) -> None:
    rae = str(lab.world.ids["rae"])
    with lab.world.acting("rae"), pytest.raises(Forbidden):
        lab.queries.run_sql("SELECT * FROM people", lab.engine)
    (run,) = lab.runs()
    assert (run.actor_id, run.outcome, run.sql) == (rae, "refused", "SELECT * FROM people")
    (denied,) = lab.refusals()
    assert (denied.actor_id, denied.action) == (rae, "run-query")
    assert "compliance officers" in denied.reason
    # Saved queries too: each refusal recorded, nothing saved.
    with lab.world.acting("rae"):
        with pytest.raises(Forbidden):
            lab.queries.save_query("mine", Definition(sql="SELECT 1"), SqlCheck())
        with pytest.raises(Forbidden):
            lab.queries.saved_queries()
        with pytest.raises(Forbidden):
            lab.queries.run_saved("anything", lab.engine)
    actions = [d.action for d in lab.refusals()]
    assert actions == ["run-query", "save-query", "read-saved-queries", "run-saved-query"]
    assert [r.saved_query for r in lab.runs()] == [None, "anything"]


# -- saved queries -----------------------------------------------------------------------

PEOPLE_LIKE = Definition(
    sql="SELECT email FROM people WHERE email LIKE $pattern ORDER BY email",
    description="People whose email is like a pattern.",
    tags=("People", "directory"),
    parameters=(Parameter("pattern", ParameterType.TEXT, "a LIKE pattern", "%"),),
)


def test_a_saved_query_lives_revises_retires_and_comes_back(lab: Lab) -> None:
    officer = lab.officer
    with lab.world.acting("officer"):
        saved = lab.queries.save_query("People-Like", PEOPLE_LIKE, SqlCheck())
        assert (saved.name, saved.revision, saved.tags, saved.created_by) == (
            "people-like",
            1,
            ["people", "directory"],
            officer,
        )
        with pytest.raises(SavedQueryExists):
            lab.queries.save_query("people-like", PEOPLE_LIKE, SqlCheck())

        # Run by name: the default, then a given value.
        everyone = lab.queries.run_saved("people-like", lab.engine)
        assert len(everyone.rows) == 3
        officers = lab.queries.run_saved(
            "people-like", lab.engine, parameters={"pattern": "officer%"}
        )
        assert officers.rows == [[lab.world.email("officer")]]

        # A new revision: the next run uses it.
        revised = Definition(
            sql="SELECT count(*) AS n FROM people WHERE email LIKE $pattern",
            tags=("people",),
            parameters=PEOPLE_LIKE.parameters,
            return_type=ReturnType.SCALAR,
        )
        assert lab.queries.update_query("people-like", revised, SqlCheck()).revision == 2
        assert lab.queries.run_saved("people-like", lab.engine).rows == [[3]]

        # Retired: kept, shown as retired, no longer listed, run or changed.
        lab.queries.retire_query("people-like")
        assert lab.queries.saved_query("people-like").retired
        assert lab.queries.saved_queries() == []
        with pytest.raises(SavedQueryRetired):
            lab.queries.run_saved("people-like", lab.engine)
        with pytest.raises(SavedQueryRetired):
            lab.queries.update_query("people-like", revised, SqlCheck())
        with pytest.raises(SavedQueryRetired):
            lab.queries.retire_query("people-like")
        with pytest.raises(SavedQueryNotFound):
            lab.queries.saved_query("never-saved")

        # The name defined again: the same history goes on.
        again = lab.queries.save_query("people-like", PEOPLE_LIKE, SqlCheck())
        assert (again.revision, again.retired) == (3, False)
        assert [q.name for q in lab.queries.saved_queries()] == ["people-like"]

    kinds = [type(e).__qualname__ for e in lab.history_of("people-like")]
    assert kinds == [
        "SavedQuery.Created",
        "SavedQuery.Updated",
        "SavedQuery.Retired",
        "SavedQuery.Restored",
    ]
    runs = lab.runs()
    assert [(r.saved_query, r.revision, r.outcome, r.parameters) for r in runs] == [
        ("people-like", 1, "answered", {}),
        ("people-like", 1, "answered", {"pattern": "officer%"}),
        ("people-like", 2, "answered", {}),
        ("people-like", None, "failed", {}),
    ]
    assert runs[-1].reason == "the saved query people-like was retired"
    assert {r.actor_id for r in runs} == {officer}


def test_saved_queries_are_found_by_tag_and_by_text(lab: Lab) -> None:
    with lab.world.acting("officer"):
        lab.queries.save_query("people-like", PEOPLE_LIKE, SqlCheck())
        lab.queries.save_query(
            "failed-logins",
            Definition(
                sql="SELECT * FROM logins WHERE outcome = 'denied'",
                description="Refused logins, all time.",
                tags=("logins",),
            ),
            SqlCheck(),
        )
        lab.queries.save_query(
            "team-count",
            Definition(sql="SELECT count(*) FROM teams", tags=("directory",), return_type="scalar"),
            SqlCheck(),
        )

        def names(tag: str | None = None, search: str | None = None) -> list[str]:
            return [q.name for q in lab.queries.saved_queries(tag=tag, search=search)]

        assert names() == ["people-like", "failed-logins", "team-count"]
        assert names(tag="directory") == ["people-like", "team-count"]
        assert names(tag="DIRECTORY") == ["people-like", "team-count"]
        assert names(search="REFUSED") == ["failed-logins"]  # the description
        assert names(search="teams") == ["team-count"]  # the SQL
        assert names(tag="logins", search="people") == []
        with pytest.raises(InvalidInput) as bad:
            names(tag="not a tag!")
        assert bad.value.field == "tag"


def test_parameters_are_typed_and_bound_never_pasted_into_the_sql(lab: Lab) -> None:
    definition = Definition(
        sql="SELECT $who AS who, count(*) AS n FROM people WHERE email = $who "
        "AND registered_at >= $since AND CAST(registered_at AS DATE) >= $day AND $k > 0",
        parameters=(
            Parameter("who", ParameterType.TEXT),
            Parameter("since", ParameterType.TIMESTAMP, default="2000-01-01T00:00:00Z"),
            Parameter("day", ParameterType.DATE, default="2000-01-01"),
            Parameter("k", ParameterType.INT, default=1),
        ),
    )
    hostile = "'; DROP VIEW people; --"
    with lab.world.acting("officer"):
        lab.queries.save_query("by-email", definition, SqlCheck())
        # The hostile text is a value compared with emails: it matches none.
        answer = lab.queries.run_saved("by-email", lab.engine, parameters={"who": hostile})
        assert answer.rows == [[hostile, 0]]
        officer = lab.world.email("officer")
        found = lab.queries.run_saved(
            "by-email",
            lab.engine,
            parameters={"who": officer, "since": "2026-03-01T08:00:00+00:00", "k": "5"},
        )
        assert found.rows == [[officer, 1]]
        # ... and the view it tried to drop is still there.
        assert lab.queries.run_sql("SELECT count(*) FROM people", lab.engine).rows == [[3]]
        # The clock of the test says 2026-03-01 09:00 UTC: nobody registered later.
        later = lab.queries.run_saved(
            "by-email", lab.engine, parameters={"who": officer, "since": "2026-03-01T10:00:00"}
        )
        assert later.rows == [[officer, 0]]

        unusable: list[tuple[dict[str, Value], str]] = [
            ({"who": officer, "k": "five"}, "parameters.k"),
            ({"who": officer, "k": True}, "parameters.k"),
            ({"who": officer, "since": "yesterday"}, "parameters.since"),
            ({"who": officer, "day": "2026-13-01"}, "parameters.day"),
            ({"who": 5}, "parameters.who"),
            ({}, "parameters.who"),
            ({"who": officer, "nope": "x"}, "parameters.nope"),
        ]
        for given, field in unusable:
            with pytest.raises(InvalidInput) as bad:
                lab.queries.run_saved("by-email", lab.engine, parameters=given)
            assert bad.value.field == field, given
    failed = [r for r in lab.runs() if r.outcome == "failed"]
    assert len(failed) == 7
    assert failed[0].parameters == {"who": officer, "k": "five"}


def test_ad_hoc_parameters_are_bound_too(lab: Lab) -> None:
    hostile = "x' OR '1'='1"
    with lab.world.acting("officer"):
        answer = lab.queries.run_sql(
            "SELECT count(*) FROM people WHERE email = $email",
            lab.engine,
            parameters={"email": hostile},
        )
        assert answer.rows == [[0]]
        with pytest.raises(InvalidInput) as bad:
            lab.queries.run_sql("SELECT $a", lab.engine, parameters={"a b": 1})
        assert bad.value.field == "parameters"
        with pytest.raises(BadQuery):
            lab.queries.run_sql("SELECT $a, $b", lab.engine, parameters={"a": 1})
    assert lab.runs()[0].parameters == {"email": hostile}


UNUSABLE_DEFINITIONS = [
    (Definition(sql="DROP VIEW people"), "sql"),
    (Definition(sql="SELECT * FROM people WHERE email = ?"), "sql"),
    (Definition(sql="SELECT $a"), "parameters"),
    (
        Definition(sql="SELECT 1", parameters=(Parameter("a", ParameterType.INT),)),
        "parameters",
    ),
    (Definition(sql="SELEC 1"), "sql"),
    (Definition(sql="SELECT 1", tags=("a tag",)), "tags.0"),
    (Definition(sql="SELECT 1", tags=tuple(f"t{i}" for i in range(17))), "tags"),
    (Definition(sql="SELECT 1", return_type="pie"), "return_type"),
    (Definition(sql="SELECT 1", description="\x1b]0;owned\x07"), "description"),
    (
        Definition(sql="SELECT $A", parameters=(Parameter("A", ParameterType.INT),)),
        "parameters.0.name",
    ),
    (
        Definition(sql="SELECT $a", parameters=(Parameter("a", "float"),)),  # type: ignore[arg-type]
        "parameters.0.type",
    ),
    (
        Definition(sql="SELECT $a", parameters=(Parameter("a", ParameterType.INT, "", "x"),)),
        "parameters.0.default",
    ),
    (
        Definition(
            sql="SELECT $a",
            parameters=(Parameter("a", ParameterType.INT), Parameter("a", ParameterType.TEXT)),
        ),
        "parameters",
    ),
]


def test_a_definition_and_its_name_are_checked_before_anything_is_saved(lab: Lab) -> None:
    before = lab.head()
    with lab.world.acting("officer"):
        for definition, field in UNUSABLE_DEFINITIONS:
            with pytest.raises(InvalidInput) as bad:
                lab.queries.save_query("q", definition, SqlCheck())
            assert bad.value.field == field, definition
        # A name goes into URLs and command lines: lower case, digits, '.', '_', '-'.
        for name in ["", "a b", "-x", "x" * 65, "naïve", "a/b"]:
            with pytest.raises(InvalidInput) as bad:
                lab.queries.save_query(name, Definition(sql="SELECT 1"), SqlCheck())
            assert bad.value.field == "name", name
    assert lab.head() == before


def test_each_run_is_held_to_its_return_type(lab: Lab) -> None:
    with lab.world.acting("officer"):
        lab.queries.save_query(
            "not-scalar",
            Definition(sql="SELECT email, name FROM people", return_type="scalar"),
            SqlCheck(),
        )
        lab.queries.save_query(
            "not-series",
            Definition(sql="SELECT email, name FROM people", return_type="series"),
            SqlCheck(),
        )
        lab.queries.save_query(
            "per-day",
            Definition(
                sql="SELECT day, count(*) AS events FROM events GROUP BY day ORDER BY day",
                return_type="series",
            ),
            SqlCheck(),
        )
        with pytest.raises(AnswerMisfits, match="one column and at most one row"):
            lab.queries.run_saved("not-scalar", lab.engine)
        with pytest.raises(AnswerMisfits, match="numbers after its label"):
            lab.queries.run_saved("not-series", lab.engine)
        series = lab.queries.run_saved("per-day", lab.engine)
    assert series.columns == ["day", "events"]
    assert series.rows[0][0] == "2026-03-01"
    outcomes = [(r.saved_query, r.outcome) for r in lab.runs()]
    assert outcomes == [
        ("not-scalar", "failed"),
        ("not-series", "failed"),
        ("per-day", "answered"),
    ]


# -- the engine's parts, alone --------------------------------------------------------------


def test_the_limits_are_the_engines() -> None:
    assert fq.MAX_ROW_LIMIT == forensic_db.MAX_ROW_LIMIT
    assert fq.MAX_TIME_LIMIT == forensic_db.MAX_TIME_LIMIT
    assert fq.DEFAULT_ROW_LIMIT == forensic_db.DEFAULT_ROW_LIMIT
    assert fq.DEFAULT_TIME_LIMIT == forensic_db.DEFAULT_TIME_LIMIT
    assert SQL_LENGTH == forensic_db.MAX_SQL_LENGTH


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'",
        "/* hidden */ explain analyse COPY (SELECT 1) TO 'x.csv'",
        "EXPLAIN (ANALYZE) COPY (SELECT 1) TO 'x.csv'",
        "EXPLAIN (FORMAT json, ANALYZE) CREATE TABLE t AS SELECT 1",
        "EXPLAIN INSERT INTO t VALUES (1)",
    ],
)
def test_explain_explains_only_a_select(sql: str) -> None:
    with pytest.raises(SqlRefused, match="EXPLAIN may only explain a SELECT"):
        check_sql(sql)


def test_the_checker_names_the_parameters_used() -> None:
    assert check_sql("EXPLAIN ANALYZE SELECT $a, $b, $a") == {"a", "b"}
    assert check_sql("FROM people") == frozenset()
    with pytest.raises(SqlFailed, match="Parser Error"):
        check_sql("SELEC 1")


def test_json_values() -> None:
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert json_value(moment) == "2026-03-01T09:30:00+00:00"
    assert json_value(date(2026, 3, 1)) == "2026-03-01"
    assert json_value(time(9, 30)) == "09:30:00"
    assert json_value(Decimal("2.50")) == 2.5
    assert json_value(UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert json_value(b"\x00\xff") == "00ff"
    assert json_value(float("inf")) == "Infinity"
    assert json_value(float("-inf")) == "-Infinity"
    assert json_value(2**100) == 2**100
    assert json_value(timedelta(days=3, seconds=1, microseconds=500_000)) == "P3DT1.5S"
    assert json_value(-timedelta(hours=2)) == "-PT2H"
    assert json_value(timedelta(0)) == "PT0S"
    assert json_value({1: "a"}) == [{"key": 1, "value": "a"}]
    assert json_value({"a": [moment, None]}) == {"a": ["2026-03-01T09:30:00+00:00", None]}
    assert json_value((True, "x")) == [True, "x"]


def test_reasons_are_recorded_as_one_safe_line() -> None:
    assert fq.one_line("Conversion Error: '\x1b[2J'\nLINE 1: ...") == (
        "Conversion Error: '\\u001b[2J'"
    )
    assert len(fq.one_line("x" * 10_000)) == fq.REASON_LENGTH
