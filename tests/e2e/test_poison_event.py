"""A poison event stops only the read model that cannot apply it, and says so loudly.

Kept as a regression test even though the domain now refuses such quotas: the
event is injected through the aggregate directly (a path only a test takes),
as an older version of the code, or a bug, could have recorded it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import StrongroomClient
from domain.access import Permission
from domain.identity import Identity
from tests.api.cli_runner import env_for, strongroom


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def stalls_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if "stalled at position" in r.getMessage())


def test_a_poison_event_stalls_one_read_model_and_raises_one_alert(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="projections.runner")
    app = open_system(settings).app
    world = World(app)
    world.person("officer")
    with world.acting("root"):
        Identity(app).set_permissions(
            world.ids["officer"], grant={Permission.AUDIT}, restrict=set()
        )
    # The poison: a quota no column can hold, recorded behind the command's back.
    team = Identity(app).team(world.team("A"))
    with world.acting("root"):
        team.change_quota(
            before=team.quota.as_dict(),
            after={"storage_bytes": 2**63, "vm_count": 2, "cpu_cores": 8},
        )
        app.save(team)
    poison = app.recorder.max_notification_id()
    world.person("after")  # life goes on after it
    app.close()

    for restart in (False, True):
        with live_server(settings) as url:
            officer = StrongroomClient(url)
            officer.login(world.keys["officer"], world.email("officer"))

            # Health tells the truth: degraded, naming the projection, position and reason.
            health = eventually(
                lambda: (h := httpx.get(f"{url}/healthz").json())["status"] == "degraded" and h,
                "the stall to show in health",
            )
            teams = next(p for p in health["projections"] if p["name"] == "teams")
            assert teams["state"] == "stalled"
            assert teams["stall"]["position"] == poison
            assert teams["stall"]["reason"]

            # Every other read model follows the log to its head.
            def others_caught_up() -> bool:
                states = httpx.get(f"{url}/healthz").json()["projections"]
                return all(p["lag"] == 0 for p in states if p["name"] != "teams")

            eventually(others_caught_up, "the other projections to reach the head")

            # The officers are told once, by an alert no projection has to raise.
            page = officer.alerts(type="Projection stalled")["alerts"]
            assert [(a["subject"], a["source_position"]) for a in page] == [
                ("projection:teams", poison)
            ]
            assert page[0]["severity"] == "critical"

            # A stalled listing is an error, not stale data with a 200.
            with httpx.Client(base_url=url) as http:
                listing = http.get(
                    "/api/v1/teams", headers={"Authorization": f"Bearer {officer.token}"}
                )
            assert listing.status_code == 503
            assert "stalled at position" in listing.json()["detail"]
            assert "SQL" not in listing.json()["detail"]
            metrics = httpx.get(f"{url}/metrics").text
            assert 'strongroom_projection_stalled{projection="teams"} 1' in metrics
            assert 'strongroom_projection_stalled{projection="users"} 0' in metrics
        # Logged once per server run, not once per round.
        assert stalls_logged(caplog) == (2 if restart else 1)

    # Rebuilding it fails with a line, not a traceback.
    rebuilt = strongroom("projections", "rebuild", "teams", env=env_for(settings))
    assert rebuilt.returncode == 1
    assert f"stalled at position {poison}" in rebuilt.stderr
    assert "Traceback" not in rebuilt.stderr
