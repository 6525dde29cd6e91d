"""Every projection and process the system keeps, and how to open the runner over them.

A capability that adds read models or processes adds them to `all_projections`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from adapters.ledger.port import Ledger
from domain.application import Strongroom
from projections.alert_rules import AlertRules
from projections.alerts import AlertRulesProcess, AlertsProjection
from projections.compliance import ComplianceProjection
from projections.identity import (
    DeniedProjection,
    ProfilesProjection,
    SessionsProjection,
    TeamsProjection,
    UsersProjection,
)
from projections.runner import Hooks, Projection, ProjectionRunner, Stall


def all_projections(app: Strongroom, rules: AlertRules) -> list[Projection]:
    return [
        UsersProjection(),
        TeamsProjection(),
        SessionsProjection(),
        DeniedProjection(),
        ProfilesProjection(),
        ComplianceProjection(),
        AlertRulesProcess(app, rules),
        AlertsProjection(),
    ]


def projections_engine(url: str) -> Engine:
    # No pre-ping: it costs a round trip per checkout, and a dropped connection
    # only fails one round, which the runner retries.
    engine = create_engine(url)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _: Any) -> None:
            # Readers (the API) never wait for the runner's writes.
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

    return engine


def open_runner(
    url: str,
    app: Strongroom,
    ledger: Ledger,
    *,
    rules: AlertRules,
    hooks: Hooks | None = None,
    page: int = 1000,
    on_stall: Callable[[str, Stall], None] | None = None,
) -> ProjectionRunner:
    """A runner over every projection, reading `app`'s log into the database at `url`."""
    return ProjectionRunner(
        engine=projections_engine(url),
        app=app,
        ledger=ledger,
        projections=all_projections(app, rules),
        hooks=hooks,
        page=page,
        on_stall=on_stall,
    )
