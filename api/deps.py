"""Shared request dependencies, as annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from adapters.settings import Settings
from domain.application import Strongroom


def get_app(request: Request) -> Strongroom:
    return request.app.state.strongroom  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


App = Annotated[Strongroom, Depends(get_app)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
