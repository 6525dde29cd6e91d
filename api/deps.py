"""Shared request dependencies, as annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from adapters.settings import Settings
from domain.application import Strongroom
from domain.identity import Principal


def get_app(request: Request) -> Strongroom:
    return request.app.state.strongroom  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_principal(request: Request) -> Principal:
    principal = request.state.principal
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="a session is required: log in and send it as a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal  # type: ignore[no-any-return]


App = Annotated[Strongroom, Depends(get_app)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
