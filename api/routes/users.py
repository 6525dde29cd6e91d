"""People: registration, the visible directory, and administration."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentPrincipal, IdentityUseCases, ReadModels
from api.schemas import Permissions, UserOut, error_responses
from domain import text
from domain.access import Role
from domain.identity import Registration
from domain.users import User
from projections.identity import subject_of, user_listing

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=error_responses(401))

# What a change to one user can meet: a refusal, a missing user, a write that raced
# another, a malformed id or body.
CHANGE = error_responses(403, 404, 409, 422)


class RegistrationBody(BaseModel):
    email: str = Field(min_length=3, max_length=text.EMAIL_LENGTH)
    name: str = Field(min_length=1, max_length=text.NAME_LENGTH)
    signing_public_key: str = Field(
        max_length=100, description="base64 of the raw 32-byte Ed25519 public key"
    )
    encryption_public_key: str = Field(
        max_length=100, description="base64 of the raw 32-byte X25519 public key"
    )
    signature: str = Field(
        max_length=200, description="base64 Ed25519 signature over the registration"
    )


class Registered(BaseModel):
    id: str
    active: bool


class RoleChange(BaseModel):
    role: Role


class ProfileChoice(BaseModel):
    profile: str = Field(min_length=1, max_length=text.PROFILE_NAME_LENGTH)


class PermissionChange(BaseModel):
    grant: Permissions = Field(default_factory=list)
    restrict: Permissions = Field(
        default_factory=list, description='e.g. ["download", "view"] for *cannot download/view*'
    )


def user_out(user: User) -> UserOut:
    """A user as the aggregate holds it."""
    return UserOut(
        id=str(user.id),
        email=user.email,
        name=user.name,
        role=str(user.role),
        active=user.active,
        locked=user.locked,
        teams=sorted(str(t) for t in user.teams),
        sub_admin_of=sorted(str(t) for t in user.sub_admin_of),
        profile=user.profile,
        permissions=sorted(str(p) for p in user.permissions),
        granted=sorted(str(p) for p in user.granted),
        restricted=sorted(str(p) for p in user.restricted),
        signing_public_key=user.signing_public_key,
        encryption_public_key=user.encryption_public_key,
        last_login_at=user.last_login_at,
    )


def user_row_out(row: Any) -> UserOut:
    """A user as the users read model holds it (the same shape)."""
    return UserOut(
        id=row.id,
        email=row.email,
        name=row.name,
        role=row.role,
        active=row.active,
        locked=row.locked,
        teams=list(row.teams),
        sub_admin_of=list(row.sub_admin_of),
        profile=row.profile,
        permissions=list(row.permissions),
        granted=list(row.granted),
        restricted=list(row.restricted),
        signing_public_key=row.signing_public_key,
        encryption_public_key=row.encryption_public_key,
        last_login_at=row.last_login_at,
    )


@router.post("", status_code=201, responses=error_responses(409, 422))
def register(body: RegistrationBody, identity: IdentityUseCases) -> Registered:
    """Register with your public keys; the account waits, deactivated, for an administrator."""
    user_id = identity.register_user(Registration(**body.model_dump()))
    return Registered(id=str(user_id), active=False)


@router.get("/me")
def me(identity: IdentityUseCases, principal: CurrentPrincipal) -> UserOut:
    """Your own account."""
    return user_out(identity.view_user(principal.user_id))


@router.get("", responses=error_responses(503))
def list_users(
    identity: IdentityUseCases, principal: CurrentPrincipal, read_models: ReadModels
) -> list[UserOut]:
    """The users you may see: super-admins all, admins all but super-admins, sub-admins theirs."""
    read_models.wait_until_current(["users"])
    with read_models.engine.connect() as conn:
        rows = user_listing(conn)
    visible = {s.id for s in identity.visible_people([subject_of(r) for r in rows])}
    return [user_row_out(r) for r in rows if UUID(r.id) in visible]


@router.get("/{user_id}", responses=error_responses(403, 404, 422))
def show_user(user_id: UUID, identity: IdentityUseCases, principal: CurrentPrincipal) -> UserOut:
    """One user's account, if you may see it (refusals are recorded)."""
    return user_out(identity.view_user(user_id))


@router.post("/{user_id}/activate", status_code=204, responses=CHANGE)
def activate(user_id: UUID, identity: IdentityUseCases, principal: CurrentPrincipal) -> Response:
    identity.activate_user(user_id)
    return Response(status_code=204)


@router.post("/{user_id}/deactivate", status_code=204, responses=CHANGE)
def deactivate(user_id: UUID, identity: IdentityUseCases, principal: CurrentPrincipal) -> Response:
    identity.deactivate_user(user_id)
    return Response(status_code=204)


@router.post("/{user_id}/unlock", status_code=204, responses=CHANGE)
def unlock(user_id: UUID, identity: IdentityUseCases, principal: CurrentPrincipal) -> Response:
    identity.unlock_user(user_id)
    return Response(status_code=204)


@router.put("/{user_id}/role", status_code=204, responses=CHANGE)
def change_role(
    user_id: UUID, body: RoleChange, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    """Change a role; the event records the role before and after."""
    identity.change_role(user_id, body.role)
    return Response(status_code=204)


@router.put("/{user_id}/profile", status_code=204, responses=CHANGE)
def apply_profile(
    user_id: UUID, body: ProfileChoice, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    """Set the user's permissions from a profile such as "Granite User"."""
    identity.apply_profile(user_id, body.profile)
    return Response(status_code=204)


@router.put("/{user_id}/permissions", status_code=204, responses=CHANGE)
def set_permissions(
    user_id: UUID, body: PermissionChange, identity: IdentityUseCases, principal: CurrentPrincipal
) -> Response:
    """Replace the user's explicit grants and restrictions."""
    identity.set_permissions(user_id, grant=set(body.grant), restrict=set(body.restrict))
    return Response(status_code=204)
