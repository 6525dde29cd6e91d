"""Teams: membership drives what a sub-admin may manage; quotas are raised by super-admins."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentPrincipal, IdentityUseCases, ReadModels
from api.schemas import Created, TeamOut, error_responses, whole_number
from api.schemas import Quota as QuotaOut
from domain import text
from domain.teams import QUOTA_LIMITS, Quota, Team
from projections.identity import team_listing

router = APIRouter(prefix="/api/v1/teams", tags=["teams"], responses=error_responses(401))

# What a change to one team and a member can meet: a refusal, a missing team or user,
# a write that raced another, a malformed id.
CHANGE = error_responses(403, 404, 409, 422)


class NewTeam(BaseModel):
    name: str = Field(min_length=1, max_length=text.TEAM_NAME_LENGTH)


class Member(BaseModel):
    user_id: UUID


class QuotaBody(BaseModel):
    storage_bytes: int = whole_number(QUOTA_LIMITS["storage_bytes"], "bytes of vault storage")
    vm_count: int = whole_number(QUOTA_LIMITS["vm_count"], "virtual machines")
    cpu_cores: int = whole_number(QUOTA_LIMITS["cpu_cores"], "CPU cores over all its VMs")


def team_out(team: Team) -> TeamOut:
    return TeamOut(
        id=str(team.id),
        name=team.name,
        quota=QuotaOut(**team.quota.as_dict()),
        members=sorted(str(m) for m in team.members),
        sub_admins=sorted(str(s) for s in team.sub_admins),
    )


def team_row_out(row: dict[str, Any]) -> TeamOut:
    return TeamOut(**row)


@router.post("", status_code=201, responses=error_responses(403, 409, 422))
def create_team(body: NewTeam, identity: IdentityUseCases, principal: CurrentPrincipal) -> Created:
    """A new team with the default quota (sub-admins and up)."""
    return Created(id=str(identity.create_team(body.name)))


@router.get("", responses=error_responses(503))
def list_teams(
    identity: IdentityUseCases, principal: CurrentPrincipal, read_models: ReadModels
) -> list[TeamOut]:
    """The teams you may see: admins all, others the teams they manage or belong to."""
    read_models.wait_until_current(["teams"])
    with read_models.engine.connect() as conn:
        listed = team_listing(conn)
    visible = set(identity.visible_team_ids([UUID(t["id"]) for t in listed]))
    return [team_row_out(t) for t in listed if UUID(t["id"]) in visible]


@router.get("/{team_id}", responses=error_responses(403, 404, 422))
def show_team(team_id: UUID, identity: IdentityUseCases, principal: CurrentPrincipal) -> TeamOut:
    """One team, if you may see it (refusals are recorded)."""
    return team_out(identity.view_team(team_id))


@router.post("/{team_id}/members", status_code=204, responses=CHANGE)
def add_member(
    team_id: UUID, body: Member, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    identity.add_team_member(team_id, body.user_id)
    return Response(status_code=204)


@router.delete("/{team_id}/members/{user_id}", status_code=204, responses=CHANGE)
def remove_member(
    team_id: UUID, user_id: UUID, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    """Remove a member; removal from the last team deactivates the account."""
    identity.remove_team_member(team_id, user_id)
    return Response(status_code=204)


@router.post("/{team_id}/sub-admins", status_code=204, responses=CHANGE)
def assign_sub_admin(
    team_id: UUID, body: Member, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    identity.assign_sub_admin(team_id, body.user_id)
    return Response(status_code=204)


@router.put("/{team_id}/quota", status_code=204, responses=CHANGE)
def set_quota(
    team_id: UUID, body: QuotaBody, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    """Change the quota (super-admins only)."""
    identity.set_team_quota(team_id, Quota(**body.model_dump()))
    return Response(status_code=204)
