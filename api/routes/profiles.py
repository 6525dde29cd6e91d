"""User profiles: named permission templates."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentPrincipal, IdentityUseCases, ReadModels
from api.schemas import Permissions, ProfileOut, error_responses
from domain import text
from projections.identity import profile_listing

router = APIRouter(prefix="/api/v1/profiles", tags=["profiles"], responses=error_responses(401))


class NewProfile(BaseModel):
    name: str = Field(min_length=1, max_length=text.PROFILE_NAME_LENGTH)
    permissions: Permissions


@router.post(
    "",
    status_code=201,
    response_class=Response,  # created, with no body to document
    responses=error_responses(403, 409, 422),
)
def create_profile(
    body: NewProfile, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    """Define a profile such as "Granite User" (admins)."""
    identity.create_profile(body.name, set(body.permissions))
    return Response(status_code=201)


@router.get("", responses=error_responses(503))
def list_profiles(
    identity: IdentityUseCases, principal: CurrentPrincipal, read_models: ReadModels
) -> list[ProfileOut]:
    """Every profile and the permissions it grants (an officer's read is recorded)."""
    read_models.wait_until_current(["profiles"])
    with read_models.engine.connect() as conn:
        listed = [ProfileOut(**p) for p in profile_listing(conn)]
    identity.record_officer_read(identity.acting_user(), "profiles", None, len(listed))
    return listed
