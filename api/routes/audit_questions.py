"""The canned forensic questions: breach scope, lineage, timeline, who had, logins.

For compliance officers (the audit capability), and API tokens with the `query`
scope. Each answer is exact and includes everything recorded before the
question was asked (the server's export is brought up to date first); each
question asked is recorded (`ForensicQuestion.Asked`: its parameters and the
answer's row count) before the answer is served. Bad parameters are refused
with 422 naming the field, before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from adapters.bootstrap import System
from api.deps import CurrentPrincipal, CurrentSystem, capability
from api.schemas import MAX_POSITION, Digits, Moment, error_responses
from api.token_scope import requires_scope
from audit_queries import questions
from audit_queries.forensic_db import QueryFailed
from audit_queries.fresh import fresh_connection
from domain import text
from domain.errors import InvalidInput, NotFound, Unavailable
from domain.forensic_questions import ForensicQuestions, Question

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    responses=error_responses(401, 403, 422, 503),
    dependencies=[Depends(requires_scope("query"))],
)

QuestionUseCases = Annotated[ForensicQuestions, Depends(capability(ForensicQuestions))]

From = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=questions.MAX_MOMENT_LENGTH,
        description="window start, included: ISO 8601 with offset, e.g. 2026-03-01T09:00:00Z",
    ),
]
To = Annotated[
    str | None,
    Query(
        alias="to",
        max_length=questions.MAX_MOMENT_LENGTH,
        description="window end, excluded: ISO 8601 with offset",
    ),
]
After = Annotated[
    int, Query(ge=0, le=MAX_POSITION, description="only events after this position"), Digits
]
Limit = Annotated[int, Query(ge=1, le=questions.MAX_ROWS, description="rows at most"), Digits]


# -- response bodies ------------------------------------------------------------------------


class TouchedOut(BaseModel):
    kind: str = Field(description="user, team; group, project, file, vm as they land")
    id: str
    name: str | None = Field(description="a person's email, a team's name")
    count: int = Field(description="allowed events in the scope that touched it")
    first_at: Moment
    last_at: Moment


class TouchedUserOut(BaseModel):
    user_id: str
    email: str | None
    name: str | None
    count: int
    first_at: Moment
    last_at: Moment


class TouchedTeamOut(BaseModel):
    team_id: str
    name: str | None
    count: int
    first_at: Moment
    last_at: Moment


class TypeCountOut(BaseModel):
    event_type: str
    count: int


class DenialOut(BaseModel):
    position: int
    recorded_at: Moment
    event_type: str
    actor_id: str
    actor_email: str | None
    action: str | None
    target: str | None = Field(description="as recorded: an id, an email, team:<id>")
    target_name: str | None = Field(description="the target's email or team name")
    reason: str | None
    session_id: str | None
    client_ip: str | None


class ActorUseOut(BaseModel):
    actor_id: str
    email: str | None
    count: int
    first_at: Moment
    last_at: Moment


class SessionUseOut(BaseModel):
    session_id: str
    count: int
    first_at: Moment
    last_at: Moment
    client_ips: list[str]


class AddressUseOut(BaseModel):
    client_ip: str
    count: int
    first_at: Moment
    last_at: Moment


class BreachScopeOut(BaseModel):
    events: int = Field(description="every event in the scope, allowed or denied")
    actors: list[ActorUseOut]
    sessions: list[SessionUseOut]
    addresses: list[AddressUseOut]
    touched: list[TouchedOut] = Field(description="what allowed events changed or read")
    users: list[TouchedUserOut]
    teams: list[TouchedTeamOut]
    event_counts: list[TypeCountOut]
    denied: list[DenialOut]
    truncated: list[str] = Field(description=f"lists cut at {questions.MAX_ROWS} rows")


class HistoryRowOut(BaseModel):
    position: int
    recorded_at: Moment
    event_type: str
    aggregate_type: str
    aggregate_id: str
    actor_id: str
    actor_email: str | None
    actor_role: str | None
    session_id: str | None
    client_ip: str | None
    proxy_ip: str | None
    outcome: str = Field(description="allowed or denied")
    reason: str | None
    target: str | None
    changes: dict[str, str] = Field(description="the event's own fields, readable")
    summary: str
    relation: str = Field(
        description="lineage: of (its own event) or about (another's, naming it); "
        "timeline: by (the person acted), to (done to them), or both"
    )


class HistoryOut(BaseModel):
    subject: str
    subject_type: str | None
    subject_name: str | None
    rows: list[HistoryRowOut]
    truncated: bool = Field(description="more rows follow: ask again with after=<last position>")


class HolderOut(BaseModel):
    user_id: str
    email: str | None
    name: str | None
    holding: str
    since: Moment = Field(description="when the change that gave it was recorded")
    position: int
    event_type: str
    granted_by: str
    granted_by_email: str | None


class HoldersOut(BaseModel):
    question: str
    value: str
    value_name: str | None
    at: Moment | None
    holders: list[HolderOut]
    truncated: bool


class LoginOut(BaseModel):
    position: int
    recorded_at: Moment
    user_id: str | None
    email: str | None
    client_ip: str | None
    proxy_ip: str | None
    session_id: str | None
    outcome: str
    reason: str | None


class LoginsOut(BaseModel):
    network: str
    addresses: list[str]
    allowed: int
    denied: int
    logins: list[LoginOut]
    truncated: bool


# -- the questions --------------------------------------------------------------------------


@router.get("/breach-scope")
def breach_scope(
    asking: QuestionUseCases,
    system: CurrentSystem,
    principal: CurrentPrincipal,
    actor: Annotated[
        str | None, Query(max_length=text.EMAIL_LENGTH, description="user id or email")
    ] = None,
    session: Annotated[
        str | None, Query(max_length=questions.MAX_SESSION_LENGTH, description="session id")
    ] = None,
    ip: Annotated[
        str | None,
        Query(max_length=questions.MAX_CIDR_LENGTH, description="client address or CIDR range"),
    ] = None,
    start: From = None,
    end: To = None,
) -> BreachScopeOut:
    """Everything an actor, a session or a network touched in [from, to), and what was refused.

    Give one or more of actor, session and ip: events matching all of them count.
    """
    window = questions.parse_window(start, end)
    if actor is None and session is None and ip is None:
        raise InvalidInput("actor", "give an actor, a session or an ip range")
    network = questions.parse_network("ip", ip) if ip is not None else None
    session_id = questions.parse_session(session) if session is not None else None
    asking.officer(Question.BREACH_SCOPE)
    with answering(system) as connection:
        person = questions.find_person(connection, "actor", actor) if actor is not None else None
        addresses = (
            questions.addresses_in(connection, network, window) if network is not None else None
        )
        scope = questions.breach_scope(
            connection, actor=person, session=session_id, addresses=addresses, window=window
        )
    given = {"actor": actor, "session": session_id, "ip": network and str(network)}
    asking.record(
        Question.BREACH_SCOPE,
        {k: v for k, v in given.items() if v} | window.as_parameters(),
        scope.events,
        user_id=UUID(person.user_id) if person is not None else None,
    )
    return BreachScopeOut.model_validate(scope, from_attributes=True)


@router.get("/lineage/{aggregate_id}", responses=error_responses(404))
def lineage(
    asking: QuestionUseCases,
    system: CurrentSystem,
    principal: CurrentPrincipal,
    aggregate_id: Annotated[str, Path(max_length=64, description="any aggregate's id")],
    start: From = None,
    end: To = None,
    after: After = 0,
    limit: Limit = questions.DEFAULT_ROWS,
) -> HistoryOut:
    """Every event of one aggregate, and every event about it, in log order: who, from where."""
    subject = questions.parse_uuid("aggregate_id", aggregate_id)
    window = questions.parse_window(start, end)
    asking.officer(Question.LINEAGE)
    with answering(system) as connection:
        history = questions.lineage(connection, subject, window=window, after=after, limit=limit)
    asking.record(
        Question.LINEAGE,
        {"aggregate_id": subject, "after": str(after), "limit": str(limit)}
        | window.as_parameters(),
        len(history.rows),
        user_id=UUID(subject) if history.subject_type == "User" else None,
        team_id=UUID(subject) if history.subject_type == "Team" else None,
    )
    if history.subject_type is None and not history.rows and after == 0:
        raise NotFound(f"nothing in the history is of or about {subject}")
    return HistoryOut.model_validate(history, from_attributes=True)


@router.get("/timeline/{user}")
def timeline(
    asking: QuestionUseCases,
    system: CurrentSystem,
    principal: CurrentPrincipal,
    user: Annotated[str, Path(max_length=text.EMAIL_LENGTH, description="user id or email")],
    start: From = None,
    end: To = None,
    after: After = 0,
    limit: Limit = questions.DEFAULT_ROWS,
) -> HistoryOut:
    """What a person did (as actor) and what was done to them (as target), merged in order."""
    window = questions.parse_window(start, end)
    asking.officer(Question.TIMELINE)
    with answering(system) as connection:
        person = questions.find_person(connection, "user", user)
        history = questions.timeline(connection, person, window=window, after=after, limit=limit)
    asking.record(
        Question.TIMELINE,
        {"user": user.strip(), "after": str(after), "limit": str(limit)} | window.as_parameters(),
        len(history.rows),
        user_id=UUID(person.user_id),
    )
    return HistoryOut.model_validate(history, from_attributes=True)


@router.get("/who-had")
def who_had(
    asking: QuestionUseCases,
    system: CurrentSystem,
    principal: CurrentPrincipal,
    role: Annotated[str | None, Query(max_length=32, description="a role")] = None,
    team: Annotated[
        str | None, Query(max_length=text.TEAM_NAME_LENGTH, description="team id or name")
    ] = None,
    permission: Annotated[str | None, Query(max_length=32, description="a permission")] = None,
    at: Annotated[
        str | None,
        Query(
            max_length=questions.MAX_MOMENT_LENGTH,
            description="the moment (ISO 8601 with offset); the latest event when left out",
        ),
    ] = None,
) -> HoldersOut:
    """Who held a role, a team's membership (or sub-admin), or a permission at a moment.

    Replays every change up to `at`: the last change at or before it decides, and
    each holder says since when, and by whose doing, they held it.
    """
    given = {"role": role, "team": team, "permission": permission}
    asked = {name: value for name, value in given.items() if value is not None}
    if len(asked) != 1:
        raise InvalidInput("role", "give exactly one of role, team or permission")
    moment = questions.parse_moment("at", at)
    if role is not None:
        questions.parse_choice("role", role, questions.ROLES)
    if permission is not None:
        questions.parse_choice("permission", permission, questions.PERMISSIONS)
    asking.officer(Question.WHO_HAD)
    team_id = None
    with answering(system) as connection:
        if role is not None:
            holders = questions.who_had_role(connection, role, moment)
        elif permission is not None:
            holders = questions.who_had_permission(connection, permission, moment)
        else:
            assert team is not None
            found = questions.find_team(connection, "team", team)
            team_id = UUID(found.team_id)
            holders = questions.who_had_team(connection, found, moment)
    parameters = {name: value.strip() for name, value in asked.items()}
    if moment is not None:
        parameters["at"] = moment.isoformat()
    asking.record(Question.WHO_HAD, parameters, len(holders.holders), team_id=team_id)
    return HoldersOut.model_validate(holders, from_attributes=True)


@router.get("/logins")
def logins(
    asking: QuestionUseCases,
    system: CurrentSystem,
    principal: CurrentPrincipal,
    cidr: Annotated[
        str,
        Query(max_length=questions.MAX_CIDR_LENGTH, description="e.g. 10.1.0.0/16, 2001:db8::/32"),
    ],
    start: From = None,
    end: To = None,
) -> LoginsOut:
    """Every login and refused login from addresses in a range, in [from, to): who, why."""
    network = questions.parse_network("cidr", cidr)
    window = questions.parse_window(start, end)
    asking.officer(Question.LOGINS)
    with answering(system) as connection:
        found = questions.logins_from(connection, network, window)
    asking.record(
        Question.LOGINS, {"cidr": str(network)} | window.as_parameters(), len(found.logins)
    )
    return LoginsOut.model_validate(found, from_attributes=True)


@contextmanager
def answering(system: System) -> Iterator[questions.Connection]:
    """A connection over the export brought up to date; a question past its time limit → 503."""
    try:
        with fresh_connection(system) as connection:
            yield connection
    except QueryFailed as error:
        # Canned SQL fails only by running out of time (anything else is a fault: a 500).
        if "time limit" not in str(error):
            raise
        raise Unavailable(f"the question could not be answered in time ({error})") from error
