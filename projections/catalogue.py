"""Every projection the system keeps, and how to open the runner over them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from projections.alert_rules import AlertRules
from projections.alerts import AlertRulesProcess, AlertsProjection
from projections.identity import (
    DeniedProjection,
    ProfilesProjection,
    SessionsProjection,
    TeamsProjection,
    UsersProjection,
)
from projections.runner import Hooks, Projection, ProjectionRunner


def all_projections(app: Any, rules: AlertRules) -> list[Projection]:
    return [
        UsersProjection(),
        TeamsProjection(),
        SessionsProjection(),
        DeniedProjection(),
        ProfilesProjection(),
        AlertRulesProcess(app, rules),
        AlertsProjection(),
    ]


def projections_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _: Any) -> None:
            # Readers (the API) never wait for the runner's writes.
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

    return engine


def open_runner(
    url: str,
    app: Any,
    *,
    rules: AlertRules | None = None,
    hooks: Hooks | None = None,
    page: int = 1000,
) -> ProjectionRunner:
    """A runner over every projection, reading `app`'s log into the database at `url`."""
    runner = ProjectionRunner(
        engine=projections_engine(url),
        recorder=app.recorder,
        decode=app.mapper.to_domain_event,
        projections=all_projections(app, rules or AlertRules()),
        hooks=hooks,
        page=page,
    )
    app.recorder.ledger.listeners.append(runner.notify)
    return runner
