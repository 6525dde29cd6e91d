"""Compliance reports: the monthly report and custom reports from saved queries.

For compliance officers (the audit capability), and API tokens with the `query`
scope. A report includes everything recorded before it was asked for (the
server's export is brought up to date first), names the log position and chain
hash it includes, and is recorded (`ComplianceReport.Generated`: who, which
report, which month, which position) before the file is handed over. Bad input
is refused with 422 naming the field, before anything is recorded.

The answer is the file itself, with its media type and
`Content-Disposition: attachment; filename=...`; `X-Report-Position` repeats
the position it includes (ask again with `position` for the same figures).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from adapters.bootstrap import System
from api.deps import CurrentPrincipal, CurrentSystem, capability
from api.schemas import MAX_POSITION, error_responses
from api.token_scope import requires_scope
from audit_queries.forensic_db import QueryFailed
from audit_queries.fresh import fresh_connection
from audit_queries.reports.custom import MAX_QUERIES, MAX_Y_COLUMNS, definition_from, gather_custom
from audit_queries.reports.formats import XLSX_TYPE, Rendered, render
from audit_queries.reports.monthly import gather_monthly, head
from audit_queries.reports.sections import Reader
from domain import clock
from domain.errors import InvalidInput, Unavailable
from domain.forensic_queries import ForensicQueries
from domain.reports import ReportAction, ReportFormat, Reports, checked_position
from domain.saved_queries import NAME_LENGTH, SQL_LENGTH, Value
from domain.users import User

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    responses=error_responses(401, 403, 422, 503),
    dependencies=[Depends(requires_scope("query"))],
)

ReportUseCases = Annotated[Reports, Depends(capability(Reports))]
QueryUseCases = Annotated[ForensicQueries, Depends(capability(ForensicQueries))]
COLUMN_LENGTH = 200

FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report file (html, xlsx, a zip of CSVs, or the bundle zip)",
        "content": {"text/html": {}, XLSX_TYPE: {}, "application/zip": {}},
        "headers": {
            "Content-Disposition": {
                "description": 'attachment; filename="strongroom-...."',
                "schema": {"type": "string"},
            },
            "X-Report-Position": {
                "description": "the last log position the report includes",
                "schema": {"type": "string"},
            },
        },
    }
}
FormatField = Annotated[
    ReportFormat,
    Field(
        description="html: one self-contained file; xlsx: native Excel charts; csv-zip: one "
        "CSV per table; bundle: a zip of all three from one reading"
    ),
]


class MonthlyReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str = Field(max_length=20, description="YYYY-MM in UTC; the current month so far")
    format: FormatField = ReportFormat.HTML
    position: int | None = Field(
        default=None,
        ge=1,
        le=MAX_POSITION,
        description="read the log only up to this position (the same figures again)",
    )


class ChartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["bar", "line", "stacked"] = "bar"
    x: str = Field(max_length=COLUMN_LENGTH, description="the column of labels")
    y: list[Annotated[str, Field(max_length=COLUMN_LENGTH)]] = Field(
        min_length=1, max_length=MAX_Y_COLUMNS, description="number columns, one series each"
    )


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=200)
    sql: str | None = Field(
        default=None, max_length=SQL_LENGTH, description="one SELECT over the views; or:"
    )
    saved: str | None = Field(default=None, max_length=NAME_LENGTH, description="a saved query")
    parameters: dict[str, Value] = Field(default_factory=dict, description="for this query only")
    chart: ChartIn | None = None


class DefinitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=200)
    queries: list[QueryIn] = Field(min_length=1, max_length=MAX_QUERIES)
    parameters: dict[str, Value] = Field(default_factory=dict, description="$name values")


class CustomReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: DefinitionIn
    parameters: dict[str, Value] = Field(
        default_factory=dict, description="values for $names, over the definition's"
    )
    format: FormatField = ReportFormat.HTML


@router.post(
    "/reports/monthly",
    response_class=Response,
    responses=FILE_RESPONSES,
    summary="The monthly compliance report",
)
def monthly_report(
    body: MonthlyReportIn,
    reports: ReportUseCases,
    principal: CurrentPrincipal,
    system: CurrentSystem,
) -> Response:
    """Activity, denials, alerts, role and membership changes, logins by network: one month."""
    month = reports.month(body.month)
    officer = reports.officer(ReportAction.MONTHLY)
    with gathering(system) as connection:
        upto = checked_position(body.position, head(Reader(connection))[0])
        report = gather_monthly(
            connection, month, generated_at=clock.now(), generated_by=_who(officer), upto=upto
        )
    rendered = render(report, body.format)
    # No record, no report: recorded before it is handed over.
    reports.record(
        kind=report.kind,
        name=report.name,
        format=body.format,
        position=report.position,
        chain_hash=report.chain_hash,
        month=month,
        rows=report.rows,
    )
    return _file(rendered, report.position)


@router.post(
    "/reports/custom",
    response_class=Response,
    responses={**FILE_RESPONSES, **error_responses(404, 409)},
    summary="A custom report from SQL and saved queries",
)
def custom_report(
    body: CustomReportIn,
    reports: ReportUseCases,
    queries: QueryUseCases,
    principal: CurrentPrincipal,
    system: CurrentSystem,
) -> Response:
    """Each query a section (its SQL, a table, a chart if asked); every query run recorded."""
    try:
        definition = definition_from(body.definition.model_dump())
    except InvalidInput as error:
        raise InvalidInput(f"definition.{error.field}", error.reason) from None
    officer = reports.officer(ReportAction.CUSTOM)
    with gathering(system) as connection:
        try:
            run = gather_custom(
                connection,
                definition,
                queries,
                parameters=body.parameters,
                generated_at=clock.now(),
                generated_by=_who(officer),
            )
        except InvalidInput as error:
            if not error.field.startswith("queries."):
                raise
            raise InvalidInput(f"definition.{error.field}", error.reason) from None
    report = run.report
    rendered = render(report, body.format)
    reports.record(
        kind=report.kind,
        name=report.name,
        format=body.format,
        position=report.position,
        chain_hash=report.chain_hash,
        queries=run.queries,
        parameters=report.parameters,
        rows=report.rows,
    )
    return _file(rendered, report.position)


@contextmanager
def gathering(system: System) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection over the export brought up to date; the report's SQL out of time → 503."""
    try:
        with fresh_connection(system) as connection:
            yield connection
    except QueryFailed as error:
        # The monthly report's SQL is ours: it fails only by running out of time.
        if "time limit" not in str(error):
            raise
        raise Unavailable(f"the report could not be gathered in time ({error})") from error


def _who(user: User) -> str:
    return f"{user.name} <{user.email}>"


def _file(rendered: Rendered, position: int) -> Response:
    return Response(
        content=rendered.content,
        media_type=rendered.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{rendered.filename}"',
            "X-Report-Position": str(position),
            "Cache-Control": "no-store",
        },
    )
