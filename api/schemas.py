"""The shapes of every response body: one model per resource, as `/openapi.json` shows them;
and the bounds every request body is held to before anything is recorded."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from domain.access import Permission
from domain.projects import Restriction

T = TypeVar("T", bound=Hashable)


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong, for a person to read")


class FieldProblem(BaseModel):
    field: str = Field(description="the request field, dotted for nested ones")
    reason: str


class ValidationErrorBody(BaseModel):
    detail: list[FieldProblem]


UNAUTHENTICATED_HEADERS = {
    "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}},
}
THROTTLED_HEADERS = {
    "Retry-After": {
        "description": "seconds until the address may try again",
        "schema": {"type": "string"},
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error bodies of a route (or router)."""
    described = {
        401: (ErrorBody, "no session, or the session has ended"),
        403: (ErrorBody, "refused; the refusal is recorded"),
        404: (ErrorBody, "no such thing"),
        409: (ErrorBody, "conflicts with the current state (a taken name), or raced another write"),
        422: (ValidationErrorBody, "unusable input, naming the field and the reason"),
        429: (ErrorBody, "too many anonymous writes or failed tokens from this address"),
        503: (ErrorBody, "a read model or a part the request needs is unavailable"),
    }
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model, description = described[status]
        documented[status] = {"model": model, "description": description}
        if status == 401:
            documented[status]["headers"] = UNAUTHENTICATED_HEADERS
        if status == 429:
            documented[status]["headers"] = THROTTLED_HEADERS
    return documented


# -- request bounds -----------------------------------------------------------------------
# Checked before a route runs, so before anything is recorded: an event is forever, and
# every read model must be able to hold what it says.


def whole_number(high: int, description: str, *, low: int = 0, optional: bool = False) -> Any:
    """A JSON integer from `low` to `high`; "10" and true are refused, not converted.

    `optional`: it may be left out or null (None)."""
    return Field(
        None if optional else ...,
        strict=True,
        ge=low,
        le=high,
        description=f"{description}, {low} to {high}",
    )


def _each_once(values: list[T]) -> list[T]:
    if len(set(values)) != len(values):
        raise ValueError("each value may appear once")
    return values


# A set of permissions, bounded as it arrives: a list of a million "view" is refused,
# not collapsed into one.
Permissions = Annotated[
    list[Permission],
    Field(max_length=len(Permission), json_schema_extra={"uniqueItems": True}),
    AfterValidator(_each_once),
]

# What a project member may not do with its data: each at most once.
Restrictions = Annotated[
    list[Restriction],
    Field(
        max_length=len(Restriction),
        json_schema_extra={"uniqueItems": True},
        description='e.g. ["cannot-download"]; empty for none',
    ),
    AfterValidator(_each_once),
]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# A moment with its offset, always. Every time here comes from the clock in UTC, but
# a read model on SQLite hands it back without the offset (it stores none).
Moment = Annotated[datetime, AfterValidator(_utc)]


def _plain_boolean(value: object) -> object:
    # A query string is text: only "true" and "false" are booleans to us ("1", "yes": no).
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("true or false is expected")
    return value


def _plain_digits(value: object) -> object:
    # A query string is text: "+10", "10.0", " 10" and "1_0" are not whole numbers to us.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("a whole number in plain digits is expected")
    return value


MAX_POSITION = 2**63 - 1  # positions are 64-bit signed in both stores

Digits = BeforeValidator(_plain_digits)
TrueOrFalse = BeforeValidator(_plain_boolean)


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
    last_login_at: Moment | None


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
    raised_at: Moment
    rule: str
    type: str
    severity: str
    subject: str | None = Field(description="who or what the alert is about (an id)")
    subject_name: str | None = Field(description='who that is: "Name <email>", or the id')
    message: str
    actor: str = Field(description="whose action raised it (an id, or system:<rule>)")
    actor_name: str | None = Field(description='who that is: "Name <email>", or the id')
    source_position: int = Field(description="the event that triggered it")
    status: str


class AlertPage(BaseModel):
    alerts: list[AlertOut]
    next_after: int = Field(description="pass as `after` for the next page")


class StallOut(BaseModel):
    position: int = Field(description="the event the projection could not apply")
    reason: str
    since: Moment


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


# -- compliance: requirements, security levels, certifications, projects, tags -------------


class Named(BaseModel):
    """A reference to something by its id and its name."""

    id: str
    name: str


class RequirementOut(BaseModel):
    id: str
    name: str
    description: str
    lifespan_days: int | None = Field(
        description="how long a certification for it may last, in days; null for no limit"
    )


class SecurityLevelOut(BaseModel):
    id: str
    name: str
    description: str
    requirements: list[Named] = Field(description="what every member of its projects must hold")


class LevelChange(BaseModel):
    projects_affected: list[Named] = Field(
        description="the projects using the level (their members were reassessed)"
    )


class CertificationOut(BaseModel):
    user_id: str
    email: str | None = Field(description="null only while the directory catches up")
    name: str | None
    requirement_id: str
    requirement: str
    state: str = Field(description="certified, expired or revoked")
    certified_at: Moment
    expires_at: Moment | None
    revoked_reason: str | None


class ProjectMemberOut(BaseModel):
    user_id: str
    email: str | None = Field(description="null only while the directory catches up")
    name: str | None
    restrictions: list[str] = Field(description="cannot-view, cannot-download")
    compliant: bool = Field(description="as recorded: a lapse is recorded when it happens")
    reason: str | None = Field(description='why not, e.g. "HIPAA training: expired 2026-11-01"')
    since: Moment | None = Field(
        description="when the last lapse or restoration was recorded (in listings; "
        "null for a member who never lapsed, and in a single project's view)"
    )


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    security_level_id: str
    security_level: str
    parent_id: str | None = Field(description="the parent project of a sub-project")
    parked: bool = Field(description="a parked project keeps its data and grants nothing")
    allows_mixing: bool = Field(description="whether its data may be placed with other projects'")
    members: list[ProjectMemberOut]


class NonCompliantOut(BaseModel):
    project_id: str
    project: str
    user_id: str
    email: str | None = Field(description="null only while the directory catches up")
    name: str | None
    reason: str
    since: Moment = Field(description="when the lapse was recorded")


class TagOut(BaseModel):
    kind: str = Field(description="file, folder, group or vm")
    resource_id: str
    project_id: str
    project: str


class AccessAllowed(BaseModel):
    allowed: bool = Field(description="always true: a refusal is a 403 (and recorded)")
    reason: str
