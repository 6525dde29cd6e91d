"""The FastAPI application: REST under /api/v1, health, metrics, SSE and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from api.context import AuditContextMiddleware
from api.docs import install_docs
from api.errors import install_error_handlers
from api.ratelimit import RateLimiter, check_limits, serve_limits
from api.routes import (
    alerts,
    audit,
    audit_export,
    audit_history,
    audit_query,
    audit_questions,
    audit_reports,
    audit_tokens,
    auth,
    compliance,
    dashboard,
    health,
    metrics,
    profiles,
    projects,
    refusals,
    sessions,
    teams,
    users,
)
from domain.clock import Clock

MAX_BODY_BYTES = 1024 * 1024

# Each capability's router; a new capability adds its own here.
ROUTERS = (
    health.router,
    audit.router,
    audit_tokens.router,
    audit_query.router,
    audit_questions.router,
    audit_history.router,
    audit_reports.router,
    audit_export.router,
    auth.router,
    users.router,
    teams.router,
    profiles.router,
    compliance.requirements,
    compliance.levels,
    compliance.certifications,
    projects.projects,
    projects.tags,
    alerts.router,
    refusals.router,
    sessions.router,
    metrics.router,
    dashboard.router,
)


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The web application for `settings`; the system opens when the app starts.

    `clock`: the system clock unless a test injects one (certifications expire on it)."""
    from projections.alert_rules import AlertRules

    rules = AlertRules.load(settings.alert_rules_path)  # a bad rules file stops us before serving
    check_limits(settings.rate_limits, rules)
    limiter = RateLimiter(settings.rate_limits)

    @asynccontextmanager
    async def lifespan(web: FastAPI) -> AsyncIterator[None]:
        with bootstrap(settings, clock=clock) as system:
            system.start()
            web.state.system = system
            # Refusals folded by the rate limit are recorded as their windows close,
            # and all of them before the system closes.
            async with serve_limits(limiter, system.app):
                yield

    web = FastAPI(
        title="Strongroom",
        version="0.1.0",
        description="Management and audit backend of a research-data enclave.",
        lifespan=lifespan,
        # Bodies are small JSON documents; a huge one is refused before it is parsed.
        max_body_size=MAX_BODY_BYTES,
        # FastAPI's pages load from a CDN; api/docs.py serves them from installed files.
        docs_url=None,
        redoc_url=None,
    )
    web.state.settings = settings
    web.add_middleware(AuditContextMiddleware, settings=settings, limiter=limiter)
    install_error_handlers(web)
    for router in ROUTERS:
        web.include_router(router)
    install_docs(web)
    return web
