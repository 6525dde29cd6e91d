"""The projection runner as tests open it: over one application, with the test's rules."""

from __future__ import annotations

from adapters.ledger.port import Ledger
from adapters.settings import Settings
from domain.application import Strongroom
from projections.alert_rules import AlertRules
from projections.catalogue import open_runner
from projections.runner import Hooks, ProjectionRunner


def runner_for(
    settings: Settings,
    app: Strongroom,
    *,
    rules: AlertRules | None = None,
    hooks: Hooks | None = None,
    page: int = 1000,
) -> ProjectionRunner:
    return open_runner(
        settings.projections_url,
        app,
        Ledger(app.recorder),
        rules=rules or AlertRules(),
        hooks=hooks,
        page=page,
    )
