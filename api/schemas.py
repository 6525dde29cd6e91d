"""The shapes of every response body: one model per resource, as `/openapi.json` shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong, for a person to read")


class FieldProblem(BaseModel):
    field: str = Field(description="the request field, dotted for nested ones")
    reason: str


class ValidationErrorBody(BaseModel):
    detail: list[FieldProblem]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error bodies of a route (or router)."""
    described = {
        401: (ErrorBody, "no session, or the session has ended"),
        403: (ErrorBody, "refused; the refusal is recorded"),
        404: (ErrorBody, "no such thing"),
        409: (ErrorBody, "conflicts with the current state (a taken name, a quota)"),
        422: (ValidationErrorBody, "unusable input, naming the field and the reason"),
        429: (ErrorBody, "too many requests from this address; see Retry-After"),
        503: (ErrorBody, "a read model or a part the request needs is unavailable"),
    }
    return {
        status: {"model": described[status][0], "description": described[status][1]}
        for status in statuses
    }


class Created(BaseModel):
    id: str


class Quota(BaseModel):
    storage_bytes: int
    vm_count: int
    cpu_cores: int


class UserOut(BaseModel):
    """A user account: the same shape wherever a user appears."""

    id: str
    email: str
    name: str
    role: str
    active: bool
    locked: bool
    teams: list[str]
    sub_admin_of: list[str]
    profile: str | None
    permissions: list[str]
    granted: list[str]
    restricted: list[str]
    signing_public_key: str
    encryption_public_key: str
    last_login_at: datetime | None


class TeamOut(BaseModel):
    id: str
    name: str
    quota: Quota
    members: list[str]
    sub_admins: list[str]


class ProfileOut(BaseModel):
    name: str
    permissions: list[str]


class AlertOut(BaseModel):
    id: str
    position: int = Field(description="where in the audit log the alert was raised")
    raised_at: datetime
    rule: str
    type: str
    severity: str
    subject: str | None = Field(description="who or what the alert is about (an id)")
    message: str
    actor: str = Field(description="whose action raised it (an id, or system:<rule>)")
    source_position: int = Field(description="the event that triggered it")
    status: str


class AlertPage(BaseModel):
    alerts: list[AlertOut]
    next_after: int = Field(description="pass as `after` for the next page")


class StallOut(BaseModel):
    position: int = Field(description="the event the projection could not apply")
    reason: str
    since: datetime


class ProjectionOut(BaseModel):
    name: str
    position: int
    lag: int
    state: str = Field(description="following, lagging or stalled")
    stall: StallOut | None


class Health(BaseModel):
    status: str = Field(description="ok, or degraded when a projection is stalled")
    store: str
    position: int
    projections: list[ProjectionOut]
