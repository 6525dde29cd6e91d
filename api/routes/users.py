"""People: registration, the visible directory, and administration."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import App, CurrentPrincipal
from domain.access import Permission, Role
from domain.identity import Registration
from projections.identity import subject_of, user_listing, user_summary

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class RegistrationBody(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    signing_public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    encryption_public_key: str = Field(description="base64 of the raw 32-byte X25519 public key")
    signature: str = Field(description="base64 Ed25519 signature over the registration")


class Registered(BaseModel):
    id: str
    active: bool


class RoleChange(BaseModel):
    role: Role


class ProfileChoice(BaseModel):
    profile: str = Field(min_length=1, max_length=100)


class PermissionChange(BaseModel):
    grant: set[Permission] = Field(default_factory=set)
    restrict: set[Permission] = Field(
        default_factory=set, description='e.g. ["download", "view"] for *cannot download/view*'
    )


@router.post("", status_code=201)
def register(body: RegistrationBody, app: App) -> Registered:
    """Register with your public keys; the account waits, deactivated, for an administrator."""
    user_id = app.register_user(Registration(**body.model_dump()))
    return Registered(id=str(user_id), active=False)


@router.get("/me")
def me(app: App, principal: CurrentPrincipal) -> dict[str, Any]:
    """Your own account."""
    return app.view_user(principal.user_id).summary()


@router.get("")
def list_users(request: Request, app: App, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The users you may see: super-admins all, admins all but super-admins, sub-admins theirs."""
    runner = request.app.state.projections
    runner.wait_until_current(["users"])
    with runner.engine.connect() as conn:
        rows = user_listing(conn)
    visible = {s.id for s in app.visible_people([subject_of(r) for r in rows])}
    return [user_summary(r) for r in rows if UUID(r.id) in visible]


@router.get("/{user_id}")
def show_user(user_id: UUID, app: App, principal: CurrentPrincipal) -> dict[str, Any]:
    """One user's account, if you may see it (refusals are recorded)."""
    return app.view_user(user_id).summary()


@router.post("/{user_id}/activate", status_code=204)
def activate(user_id: UUID, app: App, principal: CurrentPrincipal) -> Response:
    app.activate_user(user_id)
    return Response(status_code=204)


@router.post("/{user_id}/deactivate", status_code=204)
def deactivate(user_id: UUID, app: App, principal: CurrentPrincipal) -> Response:
    app.deactivate_user(user_id)
    return Response(status_code=204)


@router.post("/{user_id}/unlock", status_code=204)
def unlock(user_id: UUID, app: App, principal: CurrentPrincipal) -> Response:
    app.unlock_user(user_id)
    return Response(status_code=204)


@router.put("/{user_id}/role", status_code=204)
def change_role(user_id: UUID, body: RoleChange, app: App, principal: CurrentPrincipal) -> Response:
    """Change a role; the event records the role before and after."""
    app.change_role(user_id, body.role)
    return Response(status_code=204)


@router.put("/{user_id}/profile", status_code=204)
def apply_profile(
    user_id: UUID, body: ProfileChoice, app: App, principal: CurrentPrincipal
) -> Response:
    """Set the user's permissions from a profile such as "Granite User"."""
    app.apply_profile(user_id, body.profile)
    return Response(status_code=204)


@router.put("/{user_id}/permissions", status_code=204)
def set_permissions(
    user_id: UUID, body: PermissionChange, app: App, principal: CurrentPrincipal
) -> Response:
    """Replace the user's explicit grants and restrictions."""
    app.set_permissions(user_id, grant=body.grant, restrict=body.restrict)
    return Response(status_code=204)
