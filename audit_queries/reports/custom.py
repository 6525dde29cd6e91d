"""Custom reports: a titled list of queries (SQL, or saved queries by name) with parameters.

A definition, as the API takes it and as a TOML or JSON file holds it for
`strongroom audit report custom --definition FILE`:

    title = "Refusals this week"

    [parameters]                      # values for the queries' $names (the request's win)
    since = "2026-11-23"

    [[queries]]
    title = "Refused attempts by reason"
    sql = '''SELECT reason, count(*) AS n FROM denials
             WHERE recorded_at >= $since::DATE GROUP BY reason'''
    chart = { kind = "bar", x = "reason", y = ["n"] }

    [[queries]]
    title = "Logins from the lab"
    saved = "logins-from-range"       # a saved query, run by name with its typed parameters
    parameters = { cidr = "10.1.2.0/24" }   # for this query only

Each query becomes a section (its SQL shown, its answer as a table, and a chart
when asked for, or when a saved query returns a `series`). Every query runs
through `ForensicQueries` (domain/forensic_queries.py), so each run is recorded
as any other query run (a refusal too), and all of them over ONE fresh
connection: every section of the report reads the same export position.
Every bound is checked before the first query runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import duckdb

from audit_queries import forensic_db
from audit_queries.query_engine import answer_on
from audit_queries.reports.model import (
    CHART_KINDS,
    Chart,
    ChartKind,
    Report,
    Section,
    Series,
    Table,
    slug,
    text_of,
)
from audit_queries.reports.monthly import head
from audit_queries.reports.sections import Reader, named_parameters
from domain import text
from domain.errors import InvalidInput
from domain.forensic_queries import (
    AnswerMisfits,
    EngineAnswer,
    ForensicQueries,
    Limits,
    QueryTimedOut,
    SqlFailed,
    SqlRefused,
    checked_parameters,
)
from domain.saved_queries import ReturnType, Value, checked_name, checked_sql

MAX_QUERIES = 20
TITLE_LENGTH = 200
MAX_Y_COLUMNS = 8
CHART_POINTS = 60  # a chart draws at most this many rows (the table holds them all)
ROW_LIMIT = 10_000
TIME_LIMIT = 60.0


@dataclass(frozen=True)
class ChartSpec:
    kind: ChartKind
    x: str  # the column of category labels
    y: tuple[str, ...]  # the number columns, one series each


@dataclass(frozen=True)
class QuerySpec:
    title: str
    sql: str | None = None
    saved: str | None = None
    parameters: dict[str, Value] = field(default_factory=dict)
    chart: ChartSpec | None = None


@dataclass(frozen=True)
class CustomDefinition:
    title: str
    queries: tuple[QuerySpec, ...]
    parameters: dict[str, Value] = field(default_factory=dict)


def definition_from(data: Mapping[str, Any]) -> CustomDefinition:
    """A definition from its JSON/TOML form, every bound checked (InvalidInput naming the field)."""
    if not isinstance(data, Mapping):
        raise InvalidInput("body", "a report definition is a table (a JSON object)")
    unknown = set(data) - {"title", "queries", "parameters"}
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "not part of a report definition")
    title = text.checked("title", _text(data, "title", "title"), max_length=TITLE_LENGTH)
    queries = data.get("queries")
    if not isinstance(queries, list) or not 1 <= len(queries) <= MAX_QUERIES:
        raise InvalidInput("queries", f"a list of 1 to {MAX_QUERIES} queries")
    return CustomDefinition(
        title,
        tuple(_query(item, f"queries.{n}") for n, item in enumerate(queries)),
        _parameters(data.get("parameters"), "parameters"),
    )


def _query(data: object, where: str) -> QuerySpec:
    if not isinstance(data, Mapping):
        raise InvalidInput(where, "a query is a table: title, and sql or saved")
    unknown = set(data) - {"title", "sql", "saved", "parameters", "chart"}
    if unknown:
        raise InvalidInput(f"{where}.{sorted(unknown)[0]}", "not part of a query")
    title = text.checked(f"{where}.title", _text(data, "title", where), max_length=TITLE_LENGTH)
    sql, saved = data.get("sql"), data.get("saved")
    if (sql is None) == (saved is None):
        raise InvalidInput(where, "give sql or saved (a saved query's name), one of them")
    if sql is not None:
        sql = checked_sql(_text(data, "sql", where), where=f"{where}.sql")
    else:
        saved = checked_name(_text(data, "saved", where), f"{where}.saved")
    return QuerySpec(
        title,
        sql,
        saved,
        _parameters(data.get("parameters"), f"{where}.parameters"),
        _chart(data.get("chart"), f"{where}.chart"),
    )


def _chart(data: object, where: str) -> ChartSpec | None:
    if data is None:
        return None
    if not isinstance(data, Mapping) or set(data) - {"kind", "x", "y"}:
        raise InvalidInput(where, "a chart is {kind, x, y}")
    kind = data.get("kind", "bar")
    if kind not in CHART_KINDS:
        raise InvalidInput(f"{where}.kind", f"one of {', '.join(CHART_KINDS)}")
    x = _text(data, "x", where)
    y = data.get("y")
    if isinstance(y, str):
        y = [y]
    if not (isinstance(y, list) and 1 <= len(y) <= MAX_Y_COLUMNS):
        raise InvalidInput(f"{where}.y", f"1 to {MAX_Y_COLUMNS} column names")
    if not all(isinstance(name, str) and name for name in y):
        raise InvalidInput(f"{where}.y", "column names, as text")
    return ChartSpec(cast(ChartKind, kind), x, tuple(y))


def _parameters(data: object, where: str) -> dict[str, Value]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInput(where, "a table of names and values")
    try:
        return checked_parameters(dict(data))
    except InvalidInput as error:
        raise InvalidInput(where + error.field.removeprefix("parameters"), error.reason) from None


def _text(data: Mapping[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"{where}.{name}" if where != name else name, "text is expected")
    return value


# -- running ------------------------------------------------------------------------------


class ReportEngine:
    """The query engine port over one connection: every query of a report, one position."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, position: int) -> None:
        self.connection = connection
        self.position = position

    def check(self, sql: str) -> frozenset[str]:
        try:
            forensic_db.check(sql)
            return frozenset(named_parameters(sql))
        except forensic_db.QueryRefused as refused:
            raise SqlRefused(str(refused)) from None
        except forensic_db.QueryFailed as failed:
            raise SqlFailed(str(failed)) from None

    def run(
        self,
        sql: str,
        parameters: Mapping[str, object],
        *,
        row_limit: int,
        time_limit: float,
    ) -> EngineAnswer:
        answer = answer_on(
            self.connection, sql, parameters, row_limit=row_limit, time_limit=time_limit
        )
        rows = [list(row) for row in answer.rows]
        return EngineAnswer(answer.columns, rows, answer.truncated, self.position)


@dataclass(frozen=True)
class CustomRun:
    report: Report
    queries: list[dict[str, Any]]  # what the report event records about each query


def gather_custom(
    connection: duckdb.DuckDBPyConnection,
    definition: CustomDefinition,
    queries: ForensicQueries,
    *,
    parameters: Mapping[str, Value] | None = None,
    generated_at: datetime,
    generated_by: str,
) -> CustomRun:
    """Run every query of `definition` (each run recorded by `queries`) into one report.

    Values for `$name`s: the definition's `parameters`, overridden by `parameters`
    (the request's), overridden by a query's own; each query gets those it uses.
    """
    given = {**definition.parameters, **checked_parameters(parameters)}
    position, chain_hash = head(Reader(connection))
    engine = ReportEngine(connection, position)
    sections, recorded = [], []
    for n, spec in enumerate(definition.queries):
        where = f"queries.{n}"
        values = {**given, **spec.parameters}
        try:
            section, run = _run(n, spec, values, queries, engine)
        except (QueryTimedOut, AnswerMisfits) as error:
            field_name = "saved" if isinstance(error, AnswerMisfits) else "sql"
            raise InvalidInput(f"{where}.{field_name}", str(error)) from None
        except InvalidInput as error:
            if error.field.startswith("parameters") or error.field.startswith("queries."):
                raise
            raise InvalidInput(f"{where}.{error.field}", error.reason) from None
        sections.append(section)
        recorded.append(run)
    report = Report(
        kind="custom",
        title=definition.title,
        name=definition.title,
        generated_at=generated_at,
        generated_by=generated_by,
        position=position,
        chain_hash=chain_hash,
        sections=sections,
        parameters=dict(given),
    )
    return CustomRun(report, recorded)


def _run(
    n: int,
    spec: QuerySpec,
    values: dict[str, Value],
    queries: ForensicQueries,
    engine: ReportEngine,
) -> tuple[Section, dict[str, Any]]:
    limits = Limits(row_limit=ROW_LIMIT, time_limit=TIME_LIMIT)
    where = f"queries.{n}"
    chart = spec.chart
    if spec.saved is not None:
        saved = queries.saved_query(spec.saved)
        takes = {p.name for p in saved.parameters}
        used = {name: value for name, value in values.items() if name.lower() in takes}
        answer = queries.run_saved(spec.saved, engine, parameters=used, limits=limits)
        sql = f"-- saved query {saved.name}, revision {saved.revision}\n{saved.sql}"
        if chart is None and saved.return_type == ReturnType.SERIES and answer.columns:
            chart = ChartSpec("line", answer.columns[0], tuple(answer.columns[1:]))
    else:
        sql = spec.sql or ""
        try:
            names = named_parameters(sql)
        except forensic_db.QueryFailed:
            names = set()  # it cannot run: the run below fails, and is recorded, as such
        missing = sorted(name for name in names if name not in values)
        if missing:
            raise InvalidInput(f"parameters.{missing[0]}", f"needed by {where} ({spec.title})")
        used = {name: values[name] for name in names}
        answer = queries.run_sql(sql, engine, parameters=used, limits=limits)
    rows = [tuple(row) for row in answer.rows]
    note = f"Only the first {len(rows)} rows are shown (the row limit)." if answer.truncated else ""
    table = Table("answer", spec.title, list(answer.columns), rows, note, answer.truncated)
    shown = ", ".join(f"{name} = {text_of(value)}" for name, value in sorted(used.items()))
    section = Section(
        f"q{n + 1}-{slug(spec.title)}",
        spec.title,
        f"Parameters: {shown}." if shown else "",
        charts=[_draw(chart, table, f"{where}.chart")] if chart else [],
        tables=[table],
        sql=[sql],
    )
    recorded = {
        "title": spec.title,
        "run_id": str(answer.run_id),
        "saved_query": spec.saved,
        "rows": len(rows),
        "truncated": answer.truncated,
    }
    return section, recorded


def _draw(spec: ChartSpec, table: Table, where: str) -> Chart:
    """The chart a query asked for, over its answer's columns."""
    for name, place in [(spec.x, "x"), *((y, "y") for y in spec.y)]:
        if name not in table.columns:
            raise InvalidInput(
                f"{where}.{place}",
                f"no column {name!r} (the answer has {', '.join(table.columns)})",
            )
    rows = table.rows[:CHART_POINTS]
    series = []
    for name in spec.y:
        values = table.column(name)[: len(rows)]
        if any(isinstance(v, bool) or not isinstance(v, int | float | None) for v in values):
            raise InvalidInput(f"{where}.y", f"the column {name!r} does not hold numbers")
        series.append(Series(name, [float(v or 0) for v in values]))  # type: ignore[arg-type]
    title = table.title + (f" (first {CHART_POINTS} rows)" if len(table.rows) > len(rows) else "")
    return Chart(
        spec.kind,
        title,
        [text_of(v) for v in table.column(spec.x)[: len(rows)]],
        series,
    )
