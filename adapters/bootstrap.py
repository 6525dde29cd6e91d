"""Wires the adapters into the domain: the one place an application is built."""

from __future__ import annotations

from adapters.clock import SystemClock
from adapters.settings import Settings
from adapters.signatures import Ed25519Verifier
from domain.application import Strongroom
from domain.clock import Clock, install_clock


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> Strongroom:
    """Install the clock and open the Strongroom application on the configured store."""
    install_clock(clock or SystemClock())
    if settings.store.kind == "sqlite":
        settings.home.mkdir(parents=True, exist_ok=True)
    app = Strongroom(env=settings.app_env())
    app.signatures = Ed25519Verifier()
    return app
