"""Security requirements, the security levels that hold them, and people's certifications.

Every change goes through `domain.compliance.Compliance`, which checks the input,
decides who may, and records the change (or the refusal). Listings come from the
compliance read model, once it holds everything recorded before the request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import ComplianceUseCases, CurrentPrincipal, ReadModels
from api.schemas import (
    CertificationOut,
    Created,
    Digits,
    LevelChange,
    Named,
    RequirementOut,
    SecurityLevelOut,
    TrueOrFalse,
    error_responses,
    whole_number,
)
from domain import clock
from domain.certifications import MAX_LIFESPAN_DAYS
from domain.compliance import (
    COMPLIANCE_NAME_LENGTH,
    DESCRIPTION_LENGTH,
    MAX_REQUIREMENTS_PER_LEVEL,
    REASON_LENGTH,
    Compliance,
)
from projections.compliance import (
    COMPLIANCE,
    certification_listing,
    level_listing,
    requirement_listing,
)

# "Expiring within N days" looks at most ten years ahead.
MAX_EXPIRING_WITHIN_DAYS = 3650

requirements = APIRouter(
    prefix="/api/v1/requirements", tags=["compliance"], responses=error_responses(401)
)
levels = APIRouter(
    prefix="/api/v1/security-levels", tags=["compliance"], responses=error_responses(401)
)
certifications = APIRouter(
    prefix="/api/v1/certifications", tags=["compliance"], responses=error_responses(401)
)

# What a change can meet: a refusal, something missing, a taken name or a raced write,
# unusable input.
CHANGE = error_responses(403, 404, 409, 422)
# What a listing can meet: a refusal, a stalled read model.
LISTING = error_responses(403, 503)


class NewRequirement(BaseModel):
    name: str = Field(min_length=1, max_length=COMPLIANCE_NAME_LENGTH)
    description: str = Field(default="", max_length=DESCRIPTION_LENGTH)
    lifespan_days: int | None = whole_number(
        MAX_LIFESPAN_DAYS,
        "the longest a certification lasts, in days (null: no limit)",
        low=1,
        optional=True,
    )


class RequirementChange(BaseModel):
    """Only the fields given change; `lifespan_days: null` removes the limit."""

    description: str | None = Field(default=None, max_length=DESCRIPTION_LENGTH)
    lifespan_days: int | None = whole_number(
        MAX_LIFESPAN_DAYS,
        "the longest a certification lasts, in days (null: no limit)",
        low=1,
        optional=True,
    )


class NewLevel(BaseModel):
    name: str = Field(min_length=1, max_length=COMPLIANCE_NAME_LENGTH)
    description: str = Field(default="", max_length=DESCRIPTION_LENGTH)
    requirement_ids: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_REQUIREMENTS_PER_LEVEL,
        description="the requirements every member of its projects must hold",
    )


class Certify(BaseModel):
    user_id: UUID
    requirement_id: UUID
    expires_at: AwareDatetime | None = Field(
        description="with its UTC offset, within the requirement's lifespan; "
        "null only for a requirement without one"
    )


Reason = Annotated[
    str, Query(min_length=1, max_length=REASON_LENGTH, description="why, for the record")
]


def _named_projects(compliance: Compliance, project_ids: list[UUID]) -> LevelChange:
    named = [Named(id=str(p), name=compliance.project(p).name) for p in project_ids]
    return LevelChange(projects_affected=sorted(named, key=lambda p: p.name.lower()))


# -- requirements -------------------------------------------------------------------------


@requirements.post("", status_code=201, responses=error_responses(403, 409, 422))
def create_requirement(
    body: NewRequirement, compliance: ComplianceUseCases, principal: CurrentPrincipal
) -> Created:
    """A security requirement such as "HIPAA training" (admins); names are unique."""
    return Created(
        id=str(compliance.create_requirement(body.name, body.description, body.lifespan_days))
    )


@requirements.get("", responses=LISTING)
def list_requirements(
    compliance: ComplianceUseCases, principal: CurrentPrincipal, read_models: ReadModels
) -> list[RequirementOut]:
    """Every security requirement, by name."""
    compliance.may_view_security_levels()
    read_models.wait_until_current([COMPLIANCE])
    with read_models.engine.connect() as conn:
        return [RequirementOut(**row) for row in requirement_listing(conn)]


@requirements.patch("/{requirement_id}", status_code=204, responses=CHANGE)
def change_requirement(
    requirement_id: UUID,
    body: RequirementChange,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> Response:
    """Change a description or lifespan; a shorter lifespan applies to new certifications."""
    changes: dict[str, Any] = {}
    if body.description is not None:
        changes["description"] = body.description
    if "lifespan_days" in body.model_fields_set:
        changes["lifespan_days"] = body.lifespan_days
    compliance.change_requirement(requirement_id, **changes)
    return Response(status_code=204)


# -- security levels ----------------------------------------------------------------------


@levels.post("", status_code=201, responses=error_responses(403, 404, 409, 422))
def create_level(
    body: NewLevel, compliance: ComplianceUseCases, principal: CurrentPrincipal
) -> Created:
    """A security level such as "HIPAA": a named set of requirements (admins)."""
    return Created(
        id=str(compliance.create_level(body.name, body.description, body.requirement_ids))
    )


@levels.get("", responses=LISTING)
def list_levels(
    compliance: ComplianceUseCases, principal: CurrentPrincipal, read_models: ReadModels
) -> list[SecurityLevelOut]:
    """Every security level and the requirements it holds."""
    compliance.may_view_security_levels()
    read_models.wait_until_current([COMPLIANCE])
    with read_models.engine.connect() as conn:
        return [SecurityLevelOut(**row) for row in level_listing(conn)]


@levels.put("/{level_id}/requirements/{requirement_id}", responses=CHANGE)
def add_level_requirement(
    level_id: UUID,
    requirement_id: UUID,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> LevelChange:
    """Add a requirement; members of the level's projects who lack it lapse (recorded)."""
    return _named_projects(compliance, compliance.add_level_requirement(level_id, requirement_id))


@levels.delete("/{level_id}/requirements/{requirement_id}", responses=CHANGE)
def remove_level_requirement(
    level_id: UUID,
    requirement_id: UUID,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
    acknowledge: Annotated[
        bool,
        Query(description="required (true) when projects use the level: it weakens them"),
        TrueOrFalse,
    ] = False,
) -> LevelChange:
    """Remove a requirement; a level in use answers 409 naming its projects unless
    `acknowledge=true`."""
    affected = compliance.remove_level_requirement(
        level_id, requirement_id, acknowledge=acknowledge
    )
    return _named_projects(compliance, affected)


# -- certifications -----------------------------------------------------------------------


@certifications.post("", status_code=204, responses=CHANGE)
def certify(body: Certify, compliance: ComplianceUseCases, principal: CurrentPrincipal) -> Response:
    """Certify (or re-certify) a person for a requirement until `expires_at`."""
    compliance.certify(body.user_id, body.requirement_id, body.expires_at)
    return Response(status_code=204)


@certifications.delete("/{user_id}/{requirement_id}", status_code=204, responses=CHANGE)
def decertify(
    user_id: UUID,
    requirement_id: UUID,
    reason: Reason,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> Response:
    """Withdraw a certification (the reason is a query parameter); the person's projects
    that need it stop granting at once."""
    compliance.decertify(user_id, requirement_id, reason)
    return Response(status_code=204)


@certifications.get("", responses=error_responses(403, 404, 422, 503))
def list_certifications(
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
    read_models: ReadModels,
    user_id: Annotated[UUID | None, Query(description="only this person's")] = None,
    expiring_within_days: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_EXPIRING_WITHIN_DAYS,
            description="only live ones that expire within this many days from now",
        ),
        Digits,
    ] = None,
) -> list[CertificationOut]:
    """Certifications: everyone's (admins, officers) or one person's (themselves, those
    who administer them, officers); each officer's read is recorded."""
    if user_id is None:
        compliance.may_list_certifications()
    else:
        compliance.may_view_certifications(user_id)
    now = clock.now()
    before = None if expiring_within_days is None else now + timedelta(days=expiring_within_days)
    read_models.wait_until_current([COMPLIANCE, "users"])
    with read_models.engine.connect() as conn:
        rows = certification_listing(conn, user_id=user_id, expiring_before=before, now=now)
    return [CertificationOut(**row) for row in rows]
