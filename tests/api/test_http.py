"""`strongroom serve` over real HTTP: health, the OpenAPI document, the audit public key."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest

from adapters.settings import Settings
from api.local_server import free_port, wait_until_healthy
from tests.api.cli_runner import ADMIN, STRONGROOM, env_for, strongroom


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    env = env_for(settings)
    assert strongroom("init", *ADMIN, env=env).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [STRONGROOM, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(base, lambda: process.poll() is None)
        except RuntimeError:
            raise RuntimeError(f"server did not start: {process.stderr.read()}") from None  # type: ignore[union-attr]
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_health_reports_the_store_position(server: str, settings: Settings) -> None:
    health = httpx.get(f"{server}/healthz").json()
    assert health["status"] == "ok"
    # At least the installation and its first super-admin (the alert rules may
    # already have added alerts about them).
    assert health["position"] >= 5
    assert health["store"] == settings.store.kind


def test_openapi_document_lists_the_routes(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    assert spec["info"]["title"] == "Strongroom"
    assert {"/healthz", "/api/v1/audit/public-key"} <= set(spec["paths"])


def test_public_key_matches_the_cli(server: str, settings: Settings) -> None:
    published = httpx.get(f"{server}/api/v1/audit/public-key").json()
    assert published["algorithm"] == "Ed25519"
    assert published["public_key_pem"] == settings.public_key_path.read_text()
    assert len(published["key_id"]) == 16


def test_request_ids_are_echoed_or_made_up(server: str) -> None:
    given = httpx.get(f"{server}/healthz", headers={"X-Request-ID": "trace-42"})
    assert given.headers["X-Request-ID"] == "trace-42"
    hostile = httpx.get(f"{server}/healthz", headers={"X-Request-ID": "bad id\twith tabs"})
    assert hostile.headers["X-Request-ID"] != "bad id\twith tabs"
    assert len(hostile.headers["X-Request-ID"]) == 32


def test_unknown_routes_are_404_not_500(server: str) -> None:
    assert httpx.get(f"{server}/api/v1/nothing-here").status_code == 404
