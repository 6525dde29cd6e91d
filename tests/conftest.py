from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from domain.application import Strongroom
from domain.envelope import AuditContext, acting_as
from tests.stores import POSTGRES_URL, POSTGRES_URL_VARIABLE, STORE_KINDS, store_settings

needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason=f"{POSTGRES_URL_VARIABLE} is not set (CI sets it)"
)


STORE_FIXTURES = {"settings", "store_kind", "app", "shared_app"}
# Modules whose every test opens a store of its own (not through the fixtures).
STORE_MODULES = {
    "test_append_only",
    "test_processes",
    "test_racing_writers",
    "test_recorder_conformance",
    "test_runner",
    "test_snapshots",
    "test_verify_tampering",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sort every test into its ring: e2e (servers, CLI, browser), store, or fast."""
    for item in items:
        path = item.path.as_posix()
        if "/tests/e2e/" in path or "/tests/api/" in path:
            item.add_marker(pytest.mark.e2e)
        elif (
            STORE_FIXTURES & set(getattr(item, "fixturenames", ()))
            or item.path.stem in STORE_MODULES
        ):
            item.add_marker(pytest.mark.store)
        else:
            item.add_marker(pytest.mark.fast)


def store_params() -> list[object]:
    return [
        pytest.param(kind, marks=[needs_postgres] if kind == "postgres" else [], id=kind)
        for kind in STORE_KINDS
    ]


@pytest.fixture(params=store_params())
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(store_kind: str, tmp_path: Path) -> Iterator[Settings]:
    with store_settings(store_kind, tmp_path / "home") as settings:
        yield settings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Iterator[Strongroom]:
    application = open_system(settings, clock=clock).app
    try:
        yield application
    finally:
        application.close()


@pytest.fixture
def officer() -> Iterator[AuditContext]:
    """Act as a named person for the duration of a test."""
    context = AuditContext(
        actor_id="u-ada",
        actor_role="admin",
        session_id="s-1",
        request_id="r-1",
        client_ip="10.1.2.3",
    )
    with acting_as(context):
        yield context
