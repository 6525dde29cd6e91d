"""Liveness and readiness of the service and its store."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import App, CurrentSettings

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(app: App, settings: CurrentSettings) -> dict[str, object]:
    """Whether the service is up and its event store answers, with the newest position."""
    return {
        "status": "ok",
        "store": settings.store.kind,
        "position": app.recorder.max_notification_id() or 0,
    }
