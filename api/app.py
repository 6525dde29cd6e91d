"""The FastAPI application: REST under /api/v1, health, and (later) SSE and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.bootstrap import bootstrap
from adapters.ledger.sealer import PeriodicSealer
from adapters.settings import Settings
from api.context import AuditContextMiddleware
from api.errors import install_error_handlers
from api.routes import alerts, audit, auth, dashboard, health, metrics, profiles, teams, users
from projections.alert_rules import AlertRules
from projections.catalogue import open_runner


def create_app(settings: Settings) -> FastAPI:
    """The web application for `settings`; the store opens when the app starts."""
    rules = AlertRules.load(settings.alert_rules_path)  # a bad rules file stops us here

    @asynccontextmanager
    async def lifespan(web: FastAPI) -> AsyncIterator[None]:
        strongroom = bootstrap(settings)
        sealer = PeriodicSealer(strongroom.recorder.seal, settings.checkpoint_seconds)  # type: ignore[attr-defined]
        sealer.start()
        runner = open_runner(settings.projections_url, strongroom, rules=rules)
        runner.start()
        web.state.strongroom = strongroom
        web.state.projections = runner
        try:
            yield
        finally:
            runner.stop()
            sealer.stop()
            strongroom.close()

    web = FastAPI(
        title="Strongroom",
        version="0.1.0",
        description="Management and audit backend of a research-data enclave.",
        lifespan=lifespan,
    )
    web.state.settings = settings
    web.add_middleware(AuditContextMiddleware)
    install_error_handlers(web)
    web.include_router(health.router)
    web.include_router(audit.router)
    web.include_router(auth.router)
    web.include_router(users.router)
    web.include_router(teams.router)
    web.include_router(profiles.router)
    web.include_router(alerts.router)
    web.include_router(metrics.router)
    web.include_router(dashboard.router)
    return web
