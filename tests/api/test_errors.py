"""Errors by kind, over a real `strongroom serve`: the right status, the request's id, and
no traceback in the server's log for anything but a real fault.

A refusal, a missing thing or a conflict is the domain answering, not the server
failing: the log stays quiet. A real fault (here: the audit public key vanished
from disk under a running server) is a bare 500 and one traceback. Every answer,
whichever layer gives it, carries exactly one X-Request-ID.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from adapters.settings import Settings
from client.api import StrongroomClient
from client.keys import UserKeys
from client.session_file import default_key_file
from tests.api.cli_runner import ADMIN, PASSPHRASE, env_for, strongroom
from tests.live_server import Served, served

ROOT = ADMIN[1]


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Served]:
    env = env_for(settings)
    assert strongroom("init", *ADMIN, env=env).returncode == 0
    with served(settings, env, tmp_path / "stderr") as running:
        yield running


@pytest.fixture
def root(server: Served, settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client with the super-admin's session."""
    keys = UserKeys.load(default_key_file(settings.home, ROOT), PASSPHRASE)
    with StrongroomClient(server.url) as client:
        token = client.login(keys, ROOT)["token"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


def one_request_id(response: httpx.Response) -> str:
    ids = response.headers.get_list("X-Request-ID")
    assert len(ids) == 1, f"{response.status_code}: {ids}"
    return ids[0]


def test_domain_errors_leave_no_traceback_and_every_answer_has_a_request_id(
    server: Served, root: httpx.Client
) -> None:
    answers: dict[str, httpx.Response] = {}
    answers["200"] = root.get("/healthz")
    answers["401 (middleware)"] = httpx.get(
        f"{server.url}/api/v1/users/me", headers={"Authorization": "Bearer not-a-session"}
    )
    answers["401 (no session)"] = httpx.get(f"{server.url}/api/v1/users/me")
    # A super-admin without the audit capability; the refusal is recorded.
    answers["403"] = root.get("/api/v1/alerts")
    answers["404"] = root.get(f"/api/v1/users/{uuid4()}")
    answers["404 (no route)"] = root.get("/api/v1/nothing-here")
    name = f"team-{uuid4().hex[:8]}"
    assert root.post("/api/v1/teams", json={"name": name}).status_code == 201
    answers["409"] = root.post("/api/v1/teams", json={"name": name})
    answers["422"] = root.post("/api/v1/teams", json={})

    assert {label: a.status_code for label, a in answers.items()} == {
        "200": 200,
        "401 (middleware)": 401,
        "401 (no session)": 401,
        "403": 403,
        "404": 404,
        "404 (no route)": 404,
        "409": 409,
        "422": 422,
    }
    ids = [one_request_id(a) for a in answers.values()]
    assert len(set(ids)) == len(ids)
    assert answers["422"].json()["detail"][0]["field"] == "name"
    given = root.get("/api/v1/alerts", headers={"X-Request-ID": "trace-403"})
    assert one_request_id(given) == "trace-403"

    log = server.stderr()
    assert "Traceback" not in log, log
    assert "Exception" not in log, log


def test_a_real_fault_is_a_bare_500_with_its_request_id_and_one_traceback(
    server: Served, root: httpx.Client, settings: Settings
) -> None:
    # The installation's public key disappears from disk under the running server:
    # nothing a client did, and no code path made for tests.
    key = settings.public_key_path
    hidden = key.with_name(key.name + ".away")
    key.rename(hidden)
    try:
        fault = root.get("/api/v1/audit/public-key", headers={"X-Request-ID": "trace-500"})
    finally:
        hidden.rename(key)
    assert fault.status_code == 500
    assert fault.json() == {"detail": "internal error"}
    assert one_request_id(fault) == "trace-500"
    assert str(settings.home) not in fault.text  # no internals to the client

    # The same keep-alive client goes on: the 500 said the connection would close.
    ok = root.get("/api/v1/audit/public-key")
    assert ok.status_code == 200
    one_request_id(ok)
    log = server.stderr()
    assert log.count("Traceback") == 1, log
    assert "AuditKeyError" in log
