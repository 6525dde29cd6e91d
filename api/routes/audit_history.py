"""Time travel: an aggregate, or the organisation, as of a position or a time.

Officers only (the audit capability). Each look at the past is recorded as a
`HistoryRead` (who, what, as of what was asked and the position it came to)
before the answer is served; a refusal is recorded before the 403. `as_of` is
checked before anything is recorded: a whole number from 0 to the end of the
log, or an ISO 8601 time with its UTC offset; anything else is a 422 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.deps import CurrentPrincipal, CurrentSystem, capability
from api.schemas import Moment, Quota, error_responses
from api.token_scope import requires_scope
from audit_queries.time_travel import Point, looking_back, parse_as_of
from domain.errors import NotFound
from domain.history_reads import AGGREGATE, AS_OF_LENGTH, ORGANISATION, History, HistoryAction

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    responses=error_responses(401, 403, 422),
    # Machines (an auditor's script, a SIEM) may ask too, with a `query` token.
    dependencies=[Depends(requires_scope("query"))],
)

HistoryUseCases = Annotated[History, Depends(capability(History))]
AsOf = Annotated[
    str,
    Query(
        max_length=AS_OF_LENGTH,
        description="a log position (0 to the end of the log), or an ISO 8601 time with its "
        "UTC offset, e.g. 2026-11-27T09:00:00Z",
        examples=["1042", "2026-11-27T09:00:00Z"],
    ),
]


class PointOut(BaseModel):
    as_of: str = Field(description="what was asked: a position, or a time (in UTC)")
    as_of_position: int = Field(description="the answer includes every event up to here")
    as_of_time: Moment | None = Field(
        description="when the last event up to as_of_position was recorded (null: none was)"
    )


class AggregateAsOf(PointOut):
    aggregate_id: UUID
    type: str = Field(description="the aggregate's kind: User, Team, Alert, ...")
    version: int = Field(description="its version at that point")
    recorded_at: Moment = Field(description="when that version was recorded")
    created_at: Moment
    state: dict[str, Any] = Field(
        description="its attributes as JSON: ids and times as text, sets sorted, durations "
        "in seconds"
    )
    withheld: list[str] = Field(
        description="attributes not shown: secrets and what stands for them (e.g. a token's "
        "hash), bytes, kinds not known to the serialiser"
    )


class PersonRef(BaseModel):
    user_id: UUID
    email: str | None


class TeamRef(BaseModel):
    team_id: UUID
    name: str | None


class PersonAsOf(BaseModel):
    user_id: UUID
    email: str
    name: str
    role: str
    active: bool
    locked: bool
    profile: str | None
    permissions: list[str] = Field(
        description="what they could use: (profile | granted) - restricted"
    )
    granted: list[str]
    restricted: list[str]
    teams: list[TeamRef]
    sub_admin_of: list[TeamRef]
    registered_at: Moment


class TeamAsOf(BaseModel):
    team_id: UUID
    name: str
    quota: Quota
    members: list[PersonRef]
    sub_admins: list[PersonRef]
    created_at: Moment


class ProfileAsOf(BaseModel):
    name: str
    permissions: list[str]
    created_at: Moment


class OrganisationAsOf(PointOut):
    people: list[PersonAsOf] = Field(description="everyone registered by then, by email")
    teams: list[TeamAsOf]
    profiles: list[ProfileAsOf]
    more: dict[str, list[dict[str, Any]]] = Field(
        description="what later capabilities add (projects, certifications), by name"
    )


def _point(point: Point) -> dict[str, Any]:
    return {
        "as_of": str(point.as_of),
        "as_of_position": point.position,
        "as_of_time": point.at,
    }


@router.get("/aggregates/{aggregate_id}", responses=error_responses(404))
def aggregate_as_of(
    aggregate_id: UUID,
    as_of: AsOf,
    history: HistoryUseCases,
    principal: CurrentPrincipal,
    system: CurrentSystem,
) -> AggregateAsOf:
    """Any aggregate's state as of a log position or a time (officers; each read recorded).

    404 when no aggregate has that id, or when it did not exist yet at that point.
    """
    asked = parse_as_of(as_of)
    history.officer(HistoryAction.READ_STATE_AS_OF)
    with looking_back(system) as past:
        point = past.point(asked)
        try:
            found = past.aggregate(aggregate_id, point)
        except NotFound:
            # Looking for something that was not there is a look too.
            history.record_read(
                what=AGGREGATE, target=aggregate_id, as_of=str(asked), position=point.position
            )
            raise
    history.record_read(
        what=AGGREGATE,
        target=aggregate_id,
        as_of=str(asked),
        position=point.position,
        version=found.version,
    )
    return AggregateAsOf(
        **_point(point),
        aggregate_id=found.aggregate_id,
        type=found.type,
        version=found.version,
        recorded_at=found.recorded_at,
        created_at=found.created_at,
        state=found.state,
        withheld=found.withheld,
    )


@router.get("/organisation")
def organisation_as_of(
    as_of: AsOf,
    history: HistoryUseCases,
    principal: CurrentPrincipal,
    system: CurrentSystem,
) -> OrganisationAsOf:
    """People, roles, teams, members, sub-admins and profiles as of a position or a time.

    Officers only; each read recorded.
    """
    asked = parse_as_of(as_of)
    history.officer(HistoryAction.READ_ORGANISATION_AS_OF)
    with looking_back(system) as past:
        point = past.point(asked)
        organisation = past.organisation(point)
    history.record_read(what=ORGANISATION, target=None, as_of=str(asked), position=point.position)
    return OrganisationAsOf.model_validate(
        {
            **_point(point),
            "people": organisation.people,
            "teams": organisation.teams,
            "profiles": organisation.profiles,
            "more": organisation.more,
        },
        from_attributes=True,
    )
