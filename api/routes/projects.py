"""Projects (members, restrictions, parking) and the project tags on resources, with the
composable-security checks the vault and the VMs ask before they act.

Every change and every check goes through `domain.compliance.Compliance`, which
decides and records (a refusal too, before the 403). Listings come from the
compliance read model, filtered to the projects the caller may see.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from api.deps import ComplianceUseCases, CurrentPrincipal, ReadModels
from api.routes.compliance import Reason
from api.schemas import (
    AccessAllowed,
    Created,
    NonCompliantOut,
    ProjectMemberOut,
    ProjectOut,
    Restrictions,
    TagOut,
    error_responses,
)
from domain.compliance import (
    COMPLIANCE_NAME_LENGTH,
    DESCRIPTION_LENGTH,
    REASON_LENGTH,
    Compliance,
)
from domain.compliance_access import Action
from domain.projects import Project, ResourceKind
from domain.users import User
from projections.compliance import (
    COMPLIANCE,
    non_compliant_members,
    project_listing,
    tag_listing,
)

projects = APIRouter(prefix="/api/v1/projects", tags=["projects"], responses=error_responses(401))
tags = APIRouter(prefix="/api/v1/tags", tags=["projects"], responses=error_responses(401))

# What a change can meet: a refusal, something missing, a taken name, a parked project,
# someone already (or not) a member, a raced write, unusable input.
CHANGE = error_responses(403, 404, 409, 422)
LISTING = error_responses(403, 503)


class NewProject(BaseModel):
    name: str = Field(min_length=1, max_length=COMPLIANCE_NAME_LENGTH)
    security_level_id: UUID
    description: str = Field(default="", max_length=DESCRIPTION_LENGTH)
    parent_id: UUID | None = Field(
        default=None, description="makes it a sub-project: only the parent's members may join"
    )
    allows_mixing: bool = Field(
        default=False,
        strict=True,
        description="whether its data may be placed with the data of other projects that allow it",
    )


class NewMember(BaseModel):
    user_id: UUID
    restrictions: Restrictions = Field(default_factory=list)


class RestrictionsBody(BaseModel):
    restrictions: Restrictions


class Parking(BaseModel):
    reason: str = Field(min_length=1, max_length=REASON_LENGTH)


class DataAction(StrEnum):
    VIEW = "view"
    DOWNLOAD = "download"
    RELEASE_KEY = "release-key"


ACTIONS = {
    DataAction.VIEW: Action.VIEW_DATA,
    DataAction.DOWNLOAD: Action.DOWNLOAD_DATA,
    DataAction.RELEASE_KEY: Action.RELEASE_KEY,
}


class AccessQuestion(BaseModel):
    action: DataAction


class PlacementQuestion(BaseModel):
    destination_kind: ResourceKind
    destination_id: UUID


def project_out(compliance: Compliance, project: Project) -> ProjectOut:
    """A project as its aggregate holds it, its members named from the directory."""
    level = compliance.level(project.security_level_id)
    members = []
    for user_id, restrictions in sorted(project.members.items()):
        person = compliance.find(User, UUID(user_id))
        reason = project.lapsed.get(user_id)
        members.append(
            ProjectMemberOut(
                user_id=user_id,
                email=None if person is None else person.email,
                name=None if person is None else person.name,
                restrictions=sorted(r.value for r in restrictions),
                compliant=reason is None,
                reason=reason,
                since=None,
            )
        )
    return ProjectOut(
        id=str(project.id),
        name=project.name,
        description=project.description,
        security_level_id=str(level.id),
        security_level=level.name,
        parent_id=None if project.parent_id is None else str(project.parent_id),
        parked=project.parked,
        allows_mixing=project.allows_mixing,
        members=members,
    )


def visible_projects(compliance: Compliance, conn: Connection) -> list[ProjectOut]:
    """The listed projects the actor may see (an officer's read is recorded)."""
    listed = [ProjectOut(**row) for row in project_listing(conn)]
    candidates = {UUID(p.id): {UUID(m.user_id) for m in p.members} for p in listed}
    visible = {str(p) for p in compliance.visible_project_ids(candidates)}
    return [p for p in listed if p.id in visible]


# -- projects -----------------------------------------------------------------------------


@projects.post("", status_code=201, responses=CHANGE)
def create_project(
    body: NewProject, compliance: ComplianceUseCases, principal: CurrentPrincipal
) -> Created:
    """A project with a security level, or a sub-project of a parent (admins)."""
    project_id = compliance.create_project(
        body.name,
        body.security_level_id,
        description=body.description,
        parent_id=body.parent_id,
        allows_mixing=body.allows_mixing,
    )
    return Created(id=str(project_id))


@projects.get("", responses=LISTING)
def list_projects(
    compliance: ComplianceUseCases, principal: CurrentPrincipal, read_models: ReadModels
) -> list[ProjectOut]:
    """The projects you may see (admins and officers all, others their own), with each
    member's restrictions and recorded compliance."""
    read_models.wait_until_current([COMPLIANCE, "users"])
    with read_models.engine.connect() as conn:
        return visible_projects(compliance, conn)


@projects.get("/non-compliant", responses=LISTING)
def list_non_compliant(
    compliance: ComplianceUseCases, principal: CurrentPrincipal, read_models: ReadModels
) -> list[NonCompliantOut]:
    """Every member whose lapse is recorded, with the reason, longest first (admins,
    officers: each officer's read recorded)."""
    compliance.may_list_certifications()
    read_models.wait_until_current([COMPLIANCE, "users"])
    with read_models.engine.connect() as conn:
        return [NonCompliantOut(**row) for row in non_compliant_members(conn)]


@projects.get("/{project_id}", responses=error_responses(403, 404, 422))
def show_project(
    project_id: UUID, compliance: ComplianceUseCases, principal: CurrentPrincipal
) -> ProjectOut:
    """One project, if you may see it (refusals are recorded)."""
    return project_out(compliance, compliance.view_project(project_id))


@projects.post("/{project_id}/members", status_code=204, responses=CHANGE)
def add_member(
    project_id: UUID, body: NewMember, compliance: ComplianceUseCases, principal: CurrentPrincipal
) -> Response:
    """Admit a person who holds every requirement of the project's levels now (and who is
    a member of its parent); a refusal names what is missing and is recorded."""
    compliance.add_member(project_id, body.user_id, [r.value for r in body.restrictions])
    return Response(status_code=204)


@projects.delete("/{project_id}/members/{user_id}", status_code=204, responses=CHANGE)
def remove_member(
    project_id: UUID,
    user_id: UUID,
    reason: Reason,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> Response:
    """End a membership (the reason is a query parameter); its history stays."""
    compliance.remove_member(project_id, user_id, reason)
    return Response(status_code=204)


@projects.put("/{project_id}/members/{user_id}/restrictions", status_code=204, responses=CHANGE)
def set_restrictions(
    project_id: UUID,
    user_id: UUID,
    body: RestrictionsBody,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> Response:
    """Replace a member's restrictions (the event records them before and after)."""
    compliance.set_restrictions(project_id, user_id, [r.value for r in body.restrictions])
    return Response(status_code=204)


@projects.post("/{project_id}/park", status_code=204, responses=CHANGE)
def park(
    project_id: UUID, body: Parking, compliance: ComplianceUseCases, principal: CurrentPrincipal
) -> Response:
    """Park a project: it keeps its data, members and history, and grants nothing."""
    compliance.park(project_id, body.reason)
    return Response(status_code=204)


@projects.post("/{project_id}/unpark", status_code=204, responses=CHANGE)
def unpark(
    project_id: UUID, compliance: ComplianceUseCases, principal: CurrentPrincipal
) -> Response:
    """Unpark: the grants come back exactly as they were."""
    compliance.unpark(project_id)
    return Response(status_code=204)


# -- tags, and the checks made before data is released or placed -------------------------


@tags.get("", responses=error_responses(403, 422, 503))
def list_tags(
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
    read_models: ReadModels,
    kind: Annotated[ResourceKind | None, Query(description="only this kind")] = None,
    resource_id: Annotated[UUID | None, Query(description="only this resource")] = None,
    project_id: Annotated[UUID | None, Query(description="only this project's")] = None,
) -> list[TagOut]:
    """Project tags on resources, for the projects you may see."""
    read_models.wait_until_current([COMPLIANCE, "users"])
    with read_models.engine.connect() as conn:
        visible = {p.id for p in visible_projects(compliance, conn)}
        rows = tag_listing(
            conn,
            kind=None if kind is None else kind.value,
            resource_id=resource_id,
            project_id=project_id,
        )
    return [TagOut(**row) for row in rows if row["project_id"] in visible]


@tags.put("/{kind}/{resource_id}/projects/{project_id}", status_code=204, responses=CHANGE)
def tag(
    kind: ResourceKind,
    resource_id: UUID,
    project_id: UUID,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> Response:
    """Tag a resource with a project; refused (and recorded) if it would mix the data of
    projects that forbid it."""
    compliance.tag(kind, resource_id, project_id)
    return Response(status_code=204)


@tags.delete("/{kind}/{resource_id}/projects/{project_id}", status_code=204, responses=CHANGE)
def untag(
    kind: ResourceKind,
    resource_id: UUID,
    project_id: UUID,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> Response:
    compliance.untag(kind, resource_id, project_id)
    return Response(status_code=204)


@tags.post("/{kind}/{resource_id}/access", responses=error_responses(403, 422))
def check_access(
    kind: ResourceKind,
    resource_id: UUID,
    body: AccessQuestion,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> AccessAllowed:
    """May you view, download or have the key of this resource now? Decided on the
    clock over every project it is tagged with; a refusal is a 403, recorded."""
    reason = compliance.authorise_data(kind, resource_id, ACTIONS[body.action])
    return AccessAllowed(allowed=True, reason=reason)


@tags.post("/{kind}/{resource_id}/placement", status_code=204, responses=error_responses(403, 422))
def check_placement(
    kind: ResourceKind,
    resource_id: UUID,
    body: PlacementQuestion,
    compliance: ComplianceUseCases,
    principal: CurrentPrincipal,
) -> Response:
    """May this resource be moved or shared into the destination? 204, or a 403 naming
    both projects (recorded)."""
    compliance.check_placement(kind, resource_id, body.destination_kind, body.destination_id)
    return Response(status_code=204)
