"""Liveness and readiness of the service and its store."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import App

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(app: App) -> dict[str, object]:
    """Whether the service is up and its event store answers."""
    return {
        "status": "ok",
        "store": app.factory.env.get("PERSISTENCE_MODULE", "").rsplit(":", 1)[-1],
        "position": app.recorder.max_notification_id() or 0,
    }
