"""Shared request dependencies, as annotated aliases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request

from adapters.bootstrap import System
from adapters.settings import Settings
from domain.alerts import Alerts
from domain.capability import Capability
from domain.identity import Identity
from domain.logins import Logins, Principal
from projections.runner import ProjectionRunner

C = TypeVar("C", bound=Capability)


def get_system(request: Request) -> System:
    system: System = request.app.state.system
    return system


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_projections(request: Request) -> ProjectionRunner:
    return get_system(request).projections


def get_principal(request: Request) -> Principal:
    principal: Principal | None = request.state.principal
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="a session is required: log in and send it as a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def capability(kind: type[C]) -> Callable[[Request], C]:
    """A dependency that hands a route the use cases of one capability."""

    def use(request: Request) -> C:
        return kind(get_system(request).app)

    return use


CurrentSystem = Annotated[System, Depends(get_system)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
ReadModels = Annotated[ProjectionRunner, Depends(get_projections)]
IdentityUseCases = Annotated[Identity, Depends(capability(Identity))]
LoginUseCases = Annotated[Logins, Depends(capability(Logins))]
AlertUseCases = Annotated[Alerts, Depends(capability(Alerts))]
