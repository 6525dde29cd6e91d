"""The FastAPI application: REST under /api/v1, health, metrics, SSE and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from api.context import AuditContextMiddleware
from api.errors import install_error_handlers
from api.routes import alerts, audit, auth, dashboard, health, metrics, profiles, teams, users

# Each capability's router; a new capability adds its own here.
ROUTERS = (
    health.router,
    audit.router,
    auth.router,
    users.router,
    teams.router,
    profiles.router,
    alerts.router,
    metrics.router,
    dashboard.router,
)


def create_app(settings: Settings) -> FastAPI:
    """The web application for `settings`; the system opens when the app starts."""
    from projections.alert_rules import AlertRules

    AlertRules.load(settings.alert_rules_path)  # a bad rules file stops us before serving

    @asynccontextmanager
    async def lifespan(web: FastAPI) -> AsyncIterator[None]:
        with bootstrap(settings) as system:
            system.start()
            web.state.system = system
            yield

    web = FastAPI(
        title="Strongroom",
        version="0.1.0",
        description="Management and audit backend of a research-data enclave.",
        lifespan=lifespan,
    )
    web.state.settings = settings
    web.add_middleware(AuditContextMiddleware)
    install_error_handlers(web)
    for router in ROUTERS:
        web.include_router(router)
    return web
