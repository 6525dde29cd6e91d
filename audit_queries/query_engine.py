"""The DuckDB side of the `ForensicQueries` port (domain/forensic_queries.py).

- `check_sql(sql)`: what `forensic_db.check` refuses, and also an EXPLAIN of
  anything but a SELECT (`EXPLAIN ANALYZE` runs the statement it explains: a
  COPY under it would write into the export directory, which the connection
  may reach); answers the `$name` parameters the SQL uses.
- `FreshQueries(system)`: runs through `fresh.fresh_connection`, so an answer
  includes everything recorded before the question was asked, and says up to
  which position (`exported_upto`). Values come back JSON-safe (`json_value`).

`forensic_db`'s errors become the port's: QueryRefused → SqlRefused,
QueryFailed → SqlFailed, or SqlStopped when it was the time limit (QueryStopped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import duckdb

from audit_queries import forensic_db
from audit_queries.fresh import fresh_connection
from domain.forensic_queries import EngineAnswer, SqlFailed, SqlRefused, SqlStopped

if TYPE_CHECKING:
    from adapters.bootstrap import System


JsonValue = None | bool | int | float | str | list[Any] | dict[str, Any]


def check_sql(sql: str) -> frozenset[str]:
    """The named parameters `sql` uses, if it may run here; SqlRefused or SqlFailed if not."""
    try:
        forensic_db.check(sql)
        statement = duckdb.extract_statements(sql)[0]
    except forensic_db.QueryRefused as error:
        raise SqlRefused(str(error)) from None
    except (forensic_db.QueryFailed, duckdb.Error) as error:
        raise SqlFailed(str(error)) from None
    return frozenset(statement.named_parameters)


class SqlCheck:
    """The checker alone (no store): for saving a query where nothing runs."""

    def check(self, sql: str) -> frozenset[str]:
        return check_sql(sql)


class FreshQueries(SqlCheck):
    """The `QueryEngine` over the server's own export, brought up to date before each run."""

    def __init__(self, system: System) -> None:
        self.system = system

    def run(
        self,
        sql: str,
        parameters: Mapping[str, object],
        *,
        row_limit: int,
        time_limit: float,
    ) -> EngineAnswer:
        check_sql(sql)
        # The SQL names the lazy views (`ocsf`) it needs created.
        with fresh_connection(self.system, for_sql=sql) as connection:
            exported_upto = _exported_upto(connection)
            answer = answer_on(
                connection, sql, parameters, row_limit=row_limit, time_limit=time_limit
            )
        return EngineAnswer(
            columns=answer.columns,
            rows=[[json_value(value) for value in row] for row in answer.rows],
            truncated=answer.truncated,
            exported_upto=exported_upto,
        )


def answer_on(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    parameters: Mapping[str, object],
    *,
    row_limit: int,
    time_limit: float,
) -> forensic_db.Answer:
    """`forensic_db.run`, its failures as the port's: SqlRefused, SqlStopped, SqlFailed."""
    try:
        return forensic_db.run(
            connection, sql, dict(parameters) or None, time_limit=time_limit, row_limit=row_limit
        )
    except forensic_db.QueryRefused as error:
        raise SqlRefused(str(error)) from None
    except forensic_db.QueryStopped as error:
        raise SqlStopped(str(error)) from None
    except forensic_db.QueryFailed as error:
        raise SqlFailed(str(error)) from None


def _exported_upto(connection: duckdb.DuckDBPyConnection) -> int:
    """The last position this connection's views include (the manifest's when it was opened)."""
    return forensic_db.exported_upto(connection)


def json_value(value: object) -> JsonValue:
    """A DuckDB value as JSON can hold it, exactly where JSON can.

    Times, dates and clock times as ISO 8601 (with the offset when there is one);
    intervals as ISO 8601 durations; UUIDs as text; BLOBs as hex; DECIMAL as a
    JSON number (cast to VARCHAR in the SQL for every digit); NaN and the
    infinities, which JSON lacks, as the strings "NaN", "Infinity", "-Infinity";
    lists as arrays, structs as objects, maps as objects when their keys are text
    and as [{"key", "value"}] pairs otherwise.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return json_value(float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: json_value(item) for key, item in value.items()}
        return [{"key": json_value(k), "value": json_value(v)} for k, v in value.items()]
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    return str(value)


def iso_duration(span: timedelta) -> str:
    """`P3DT4H5M6.5S`; a negative span starts with `-`."""
    sign = "-" if span < timedelta(0) else ""
    span = abs(span)
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or span.microseconds:
        fraction = f".{span.microseconds:06d}".rstrip("0") if span.microseconds else ""
        clock += f"{seconds}{fraction}S"
    days = f"{span.days}D" if span.days else ""
    if not days and not clock:
        return "PT0S"
    return f"{sign}P{days}{'T' + clock if clock else ''}"
