"""User profiles: named permission templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import App, CurrentPrincipal
from domain.access import Permission
from projections.identity import profile_listing

router = APIRouter(prefix="/api/v1/profiles", tags=["profiles"])


class NewProfile(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    permissions: set[Permission]


@router.post("", status_code=201)
def create_profile(body: NewProfile, app: App, principal: CurrentPrincipal) -> Response:
    """Define a profile such as "Granite User" (admins)."""
    app.create_profile(body.name, body.permissions)
    return Response(status_code=201)


@router.get("")
def list_profiles(request: Request, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Every profile and the permissions it grants."""
    runner = request.app.state.projections
    runner.wait_until_current(["profiles"])
    with runner.engine.connect() as conn:
        return profile_listing(conn)
