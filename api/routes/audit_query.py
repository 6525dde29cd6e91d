"""Forensic SQL over the export, and saved queries (compliance officers).

Every run goes through `audit_queries.query_engine.FreshQueries`: the export is
brought up to date first, so an answer includes everything recorded before the
question, and says up to which position. Every run is recorded (a `QueryRun`:
who, the SQL or the saved query and its parameters, rows, truncated, or why it
failed); a refused one also as a refusal (403). Status codes:

- 422: input over its bounds (nothing recorded), bad SQL or a bad parameter
  value (recorded as failed), naming the field;
- 403: not an officer, or SQL that reaches for what it may not (recorded);
- 408: stopped at its time limit (recorded); the request was fine, the answer
  took too long: narrow the query or raise `time_limit` (at most 300 s);
- 409: a saved name in use, a retired query, or an answer that does not fit the
  saved query's return type (recorded as failed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, Field

from api.deps import CurrentPrincipal, capability
from api.schemas import ErrorBody, Moment, error_responses
from api.token_scope import requires_scope
from audit_queries.query_engine import FreshQueries, SqlCheck
from domain import saved_queries as bounds
from domain.forensic_queries import (
    DEFAULT_ROW_LIMIT,
    DEFAULT_TIME_LIMIT,
    MAX_ROW_LIMIT,
    MAX_TIME_LIMIT,
    MIN_TIME_LIMIT,
    ForensicQueries,
    Limits,
    QueryAnswer,
    QueryTimedOut,
)
from domain.saved_queries import Definition, Parameter, ParameterType, ReturnType, SavedQuery

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=error_responses(401, 403, 422))

ForensicUseCases = Annotated[ForensicQueries, Depends(capability(ForensicQueries))]
# API tokens with the `query` scope may ask questions and read saved queries; only
# sessions define, change or retire them.
QUERY_SCOPE = [Depends(requires_scope("query"))]
TIMED_OUT: dict[int | str, dict[str, Any]] = {
    408: {"model": ErrorBody, "description": "stopped at its time limit (recorded)"},
}

BoundedText = Annotated[str, Field(max_length=bounds.VALUE_LENGTH)]


def _one_of(*kinds: type) -> Any:
    """Refuse a value of another kind with one problem naming the field (not one per kind)."""

    def check(value: object) -> object:
        if value is not None and not isinstance(value, kinds):
            raise ValueError(f"{' or '.join(k.__name__ for k in kinds)} or null is expected")
        if isinstance(value, str) and len(value) > bounds.VALUE_LENGTH:
            raise ValueError(f"at most {bounds.VALUE_LENGTH} characters")
        return value

    return BeforeValidator(check)


# A value for a `$name` parameter: JSON text, a number, true, false or null.
ParameterValue = Annotated[BoundedText | int | float | bool | None, _one_of(str, int, float, bool)]
DefaultValue = Annotated[BoundedText | int | None, _one_of(str, int)]
ParameterName = Annotated[str, Field(max_length=bounds.PARAMETER_NAME_LENGTH)]
QueryName = Annotated[str, Field(max_length=bounds.NAME_LENGTH)]
NameInPath = Annotated[
    str, Path(max_length=bounds.NAME_LENGTH, description="the saved query's name")
]


class Runnable(BaseModel):
    """The limits of one run."""

    row_limit: int = Field(
        DEFAULT_ROW_LIMIT,
        strict=True,
        ge=1,
        le=MAX_ROW_LIMIT,
        description=f"at most this many rows, 1 to {MAX_ROW_LIMIT}; more say `truncated`",
    )
    time_limit: float = Field(
        DEFAULT_TIME_LIMIT,
        strict=True,
        ge=MIN_TIME_LIMIT,
        le=MAX_TIME_LIMIT,
        description=f"seconds, {MIN_TIME_LIMIT:g} to {MAX_TIME_LIMIT:g}; past it the query stops",
    )

    def limits(self) -> Limits:
        return Limits(self.row_limit, self.time_limit)


class SqlQuery(Runnable):
    sql: str = Field(
        min_length=1,
        max_length=bounds.SQL_LENGTH,
        description="one SELECT over the forensic views (docs/forensics.md)",
    )
    parameters: dict[ParameterName, ParameterValue] = Field(
        default_factory=dict,
        max_length=bounds.MAX_PARAMETERS,
        description="values for `$name` parameters in the SQL, bound, never pasted in",
    )


class SavedRun(Runnable):
    parameters: dict[ParameterName, ParameterValue] = Field(
        default_factory=dict,
        max_length=bounds.MAX_PARAMETERS,
        description="values for the saved query's parameters (defaults fill the rest)",
    )


class QueryResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(
        description="JSON values: times ISO 8601, UUIDs as text, BLOBs as hex, NaN as text"
    )
    truncated: bool = Field(description="more rows than row_limit: the answer was cut")
    row_count: int
    exported_upto: int = Field(description="the last log position the answer includes")
    run_id: str = Field(description="the QueryRun event that records this run")


class ParameterIn(BaseModel):
    name: ParameterName
    type: ParameterType
    description: str = Field("", max_length=bounds.PARAMETER_DESCRIPTION_LENGTH)
    default: DefaultValue = None


class SavedDefinition(BaseModel):
    sql: str = Field(min_length=1, max_length=bounds.SQL_LENGTH)
    description: str = Field("", max_length=bounds.DESCRIPTION_LENGTH)
    tags: list[Annotated[str, Field(max_length=bounds.TAG_LENGTH)]] = Field(
        default_factory=list, max_length=bounds.MAX_TAGS
    )
    parameters: list[ParameterIn] = Field(default_factory=list, max_length=bounds.MAX_PARAMETERS)
    return_type: ReturnType = Field(
        ReturnType.TABLE,
        description="table; scalar (one column, at most one row); "
        "series (a label column, then number columns: chart-ready)",
    )

    def definition(self) -> Definition:
        return Definition(
            sql=self.sql,
            description=self.description,
            tags=tuple(self.tags),
            parameters=tuple(
                Parameter(p.name, p.type, p.description, p.default) for p in self.parameters
            ),
            return_type=self.return_type,
        )


class NewSavedQuery(SavedDefinition):
    name: QueryName = Field(description="lower case, digits, '.', '_', '-'; unique")


class ParameterOut(BaseModel):
    name: str
    type: str
    description: str
    default: str | int | None


class SavedQueryOut(BaseModel):
    name: str
    description: str
    tags: list[str]
    parameters: list[ParameterOut]
    return_type: str
    sql: str
    revision: int = Field(description="1 when created; each update or re-definition adds one")
    retired: bool
    created_at: Moment
    created_by: str
    created_by_email: str | None
    updated_at: Moment
    updated_by: str
    updated_by_email: str | None


def result(answer: QueryAnswer) -> QueryResult:
    return QueryResult(
        columns=answer.columns,
        rows=answer.rows,
        truncated=answer.truncated,
        row_count=answer.row_count,
        exported_upto=answer.exported_upto,
        run_id=str(answer.run_id),
    )


def saved_out(queries: ForensicQueries, query: SavedQuery) -> SavedQueryOut:
    created_at: datetime = query.created_on
    updated_at: datetime = query.modified_on
    return SavedQueryOut(
        name=query.name,
        description=query.description,
        tags=list(query.tags),
        parameters=[ParameterOut(**p.as_dict()) for p in query.parameters],
        return_type=query.return_type,
        sql=query.sql,
        revision=query.revision,
        retired=query.retired,
        created_at=created_at,
        created_by=query.created_by,
        created_by_email=queries.email_of(query.created_by),
        updated_at=updated_at,
        updated_by=query.updated_by,
        updated_by_email=queries.email_of(query.updated_by),
    )


def timed_out(error: QueryTimedOut) -> HTTPException:
    return HTTPException(status_code=408, detail=str(error))


def engine(request: Request) -> FreshQueries:
    return FreshQueries(request.app.state.system)


@router.post("/query", dependencies=QUERY_SCOPE, responses=TIMED_OUT)
def run_query(
    body: SqlQuery, queries: ForensicUseCases, principal: CurrentPrincipal, request: Request
) -> QueryResult:
    """Run one SELECT over the forensic views, as of now (officers only; recorded)."""
    try:
        answer = queries.run_sql(
            body.sql, engine(request), parameters=body.parameters, limits=body.limits()
        )
    except QueryTimedOut as error:
        raise timed_out(error) from None
    return result(answer)


@router.post("/saved-queries", status_code=201, responses=error_responses(409))
def create_saved_query(
    body: NewSavedQuery, queries: ForensicUseCases, principal: CurrentPrincipal
) -> SavedQueryOut:
    """Save a query under a unique name (its SQL is checked; parameters must match `$name`s)."""
    query = queries.save_query(body.name, body.definition(), SqlCheck())
    return saved_out(queries, query)


@router.get("/saved-queries", dependencies=QUERY_SCOPE)
def list_saved_queries(
    queries: ForensicUseCases,
    principal: CurrentPrincipal,
    tag: Annotated[str | None, Query(max_length=bounds.TAG_LENGTH)] = None,
    search: Annotated[
        str | None,
        Query(
            max_length=bounds.SEARCH_LENGTH,
            description="text in the name, description, tags or SQL (any case)",
        ),
    ] = None,
) -> list[SavedQueryOut]:
    """The saved queries in use (not retired), with this tag and mentioning this text."""
    return [saved_out(queries, q) for q in queries.saved_queries(tag=tag, search=search)]


@router.get("/saved-queries/{name}", dependencies=QUERY_SCOPE, responses=error_responses(404))
def show_saved_query(
    name: NameInPath, queries: ForensicUseCases, principal: CurrentPrincipal
) -> SavedQueryOut:
    """One saved query, retired or not."""
    return saved_out(queries, queries.saved_query(name))


@router.put("/saved-queries/{name}", responses=error_responses(404, 409))
def update_saved_query(
    name: NameInPath, body: SavedDefinition, queries: ForensicUseCases, principal: CurrentPrincipal
) -> SavedQueryOut:
    """A new revision: the whole definition replaced (the earlier ones stay in the history)."""
    return saved_out(queries, queries.update_query(name, body.definition(), SqlCheck()))


@router.delete("/saved-queries/{name}", status_code=204, responses=error_responses(404, 409))
def retire_saved_query(
    name: NameInPath, queries: ForensicUseCases, principal: CurrentPrincipal
) -> Response:
    """Retire a saved query: it stops running and changing, and stays in the history."""
    queries.retire_query(name)
    return Response(status_code=204)


@router.post(
    "/saved-queries/{name}/run",
    dependencies=QUERY_SCOPE,
    responses={**error_responses(404, 409), **TIMED_OUT},
)
def run_saved_query(
    name: NameInPath,
    body: SavedRun,
    queries: ForensicUseCases,
    principal: CurrentPrincipal,
    request: Request,
) -> QueryResult:
    """Run a saved query with typed parameters, as of now (officers only; recorded)."""
    try:
        answer = queries.run_saved(
            name, engine(request), parameters=body.parameters, limits=body.limits()
        )
    except QueryTimedOut as error:
        raise timed_out(error) from None
    return result(answer)
