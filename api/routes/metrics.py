"""Prometheus metrics: projection lag and state, events recorded, open alerts by severity.

Counts only, no user data; like /healthz it needs no session (bind the server to
a private address, as `strongroom serve` does by default).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from api.deps import CurrentSystem
from projections.alerts import open_by_severity

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, system: CurrentSystem) -> str:
    """The service's numbers in the Prometheus text format."""
    state = request.app.state
    runner = system.projections
    head = system.ledger.head()
    now = time.monotonic()
    previous = getattr(state, "last_scrape", None)
    state.last_scrape = (now, head)
    rate = (head - previous[1]) / (now - previous[0]) if previous and now > previous[0] else 0.0
    with runner.engine.connect() as conn:
        open_alerts = open_by_severity(conn)
    statuses = runner.status()
    lines = [
        "# HELP strongroom_events_total Events recorded in the audit log (its head position).",
        "# TYPE strongroom_events_total counter",
        f"strongroom_events_total {head}",
        "# HELP strongroom_events_per_second Events recorded per second since the last scrape.",
        "# TYPE strongroom_events_per_second gauge",
        f"strongroom_events_per_second {rate:.3f}",
        "# HELP strongroom_projection_lag_events How many events each read model is behind.",
        "# TYPE strongroom_projection_lag_events gauge",
    ]
    lines += [
        f'strongroom_projection_lag_events{{projection="{s.name}"}} {s.lag}' for s in statuses
    ]
    lines += [
        "# HELP strongroom_projection_stalled 1 when a read model stopped on an event it cannot"
        " apply.",
        "# TYPE strongroom_projection_stalled gauge",
    ]
    lines += [
        f'strongroom_projection_stalled{{projection="{s.name}"}} {int(s.state == "stalled")}'
        for s in statuses
    ]
    lines += [
        "# HELP strongroom_alerts_open Alerts not yet resolved, by severity.",
        "# TYPE strongroom_alerts_open gauge",
    ]
    lines += [
        f'strongroom_alerts_open{{severity="{severity}"}} {count}'
        for severity, count in open_alerts.items()
    ]
    return "\n".join(lines) + "\n"
