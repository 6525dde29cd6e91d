"""Teams: membership drives what a sub-admin may manage; quotas are raised by super-admins."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import App, CurrentPrincipal
from domain.teams import Quota
from projections.identity import team_listing

router = APIRouter(prefix="/api/v1/teams", tags=["teams"])


class NewTeam(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class Created(BaseModel):
    id: str


class Member(BaseModel):
    user_id: UUID


class QuotaBody(BaseModel):
    storage_bytes: int = Field(ge=0)
    vm_count: int = Field(ge=0)
    cpu_cores: int = Field(ge=0)


@router.post("", status_code=201)
def create_team(body: NewTeam, app: App, principal: CurrentPrincipal) -> Created:
    """A new team with the default quota (sub-admins and up)."""
    return Created(id=str(app.create_team(body.name)))


@router.get("")
def list_teams(request: Request, app: App, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The teams you may see: admins all, others the teams they manage or belong to."""
    runner = request.app.state.projections
    runner.wait_until_current(["teams"])
    with runner.engine.connect() as conn:
        listed = team_listing(conn)
    visible = set(app.visible_team_ids([UUID(t["id"]) for t in listed]))
    return [t for t in listed if UUID(t["id"]) in visible]


@router.get("/{team_id}")
def show_team(team_id: UUID, app: App, principal: CurrentPrincipal) -> dict[str, Any]:
    """One team, if you may see it (refusals are recorded)."""
    return app.view_team(team_id).summary()


@router.post("/{team_id}/members", status_code=204)
def add_member(team_id: UUID, body: Member, app: App, principal: CurrentPrincipal) -> Response:
    app.add_team_member(team_id, body.user_id)
    return Response(status_code=204)


@router.delete("/{team_id}/members/{user_id}", status_code=204)
def remove_member(team_id: UUID, user_id: UUID, app: App, principal: CurrentPrincipal) -> Response:
    """Remove a member; removal from the last team deactivates the account."""
    app.remove_team_member(team_id, user_id)
    return Response(status_code=204)


@router.post("/{team_id}/sub-admins", status_code=204)
def assign_sub_admin(
    team_id: UUID, body: Member, app: App, principal: CurrentPrincipal
) -> Response:
    app.assign_sub_admin(team_id, body.user_id)
    return Response(status_code=204)


@router.put("/{team_id}/quota", status_code=204)
def set_quota(team_id: UUID, body: QuotaBody, app: App, principal: CurrentPrincipal) -> Response:
    """Change the quota (super-admins only)."""
    app.set_team_quota(team_id, Quota(**body.model_dump()))
    return Response(status_code=204)
