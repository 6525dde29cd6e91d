"""Shared request dependencies, as annotated aliases.

Each one only looks something up, so each is `async def`: FastAPI runs a plain
`def` dependency in a worker thread, and a thread hop per dependency cost more
than the lookup (two or three hops a request, before the route's own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.bootstrap import System
from adapters.settings import Settings
from api.token_scope import refuse_unscoped_token
from domain.alerts import Alerts
from domain.capability import Capability
from domain.compliance import Compliance
from domain.identity import Identity
from domain.logins import Logins, Principal
from projections.runner import ProjectionRunner

C = TypeVar("C", bound=Capability)


def _system(request: Request) -> System:
    system: System = request.app.state.system
    return system


async def get_system(request: Request) -> System:
    return _system(request)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_projections(request: Request) -> ProjectionRunner:
    return _system(request).projections


# Declares the bearer scheme in /openapi.json, so /docs has an Authorize button and every
# route that needs a session says so. It checks nothing: the audit middleware has already
# authenticated the token (and answered 401 for a dead one) before any route runs.
bearer = HTTPBearer(
    scheme_name="bearer",
    description="a session token from POST /api/v1/auth/login",
    auto_error=False,
)


async def get_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    await refuse_unscoped_token(request)  # API tokens reach only routes with a scope
    principal: Principal | None = request.state.principal
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="a session is required: log in and send it as a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def capability(kind: type[C]) -> Callable[[Request], Awaitable[C]]:
    """A dependency that hands a route the use cases of one capability."""

    async def use(request: Request) -> C:
        await refuse_unscoped_token(request)  # API tokens reach only routes with a scope
        return kind(_system(request).app)

    return use


CurrentSystem = Annotated[System, Depends(get_system)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
ReadModels = Annotated[ProjectionRunner, Depends(get_projections)]
IdentityUseCases = Annotated[Identity, Depends(capability(Identity))]
LoginUseCases = Annotated[Logins, Depends(capability(Logins))]
AlertUseCases = Annotated[Alerts, Depends(capability(Alerts))]
ComplianceUseCases = Annotated[Compliance, Depends(capability(Compliance))]
