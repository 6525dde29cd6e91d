"""Time travel: an aggregate, or the organisation, as of a position or a time."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
