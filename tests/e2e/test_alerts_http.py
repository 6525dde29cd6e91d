"""Alerts over HTTP: the officer's queue, the resumable stream, and the metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import ApiError, StrongroomClient
from domain.access import Role
from domain.identity import Identity


@dataclass
class Site:
    url: str
    world: World
    officer: StrongroomClient
    root: StrongroomClient


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    app = open_system(settings).app
    world = World(app)
    world.person("officer", teams=("A",), audit=True)
    # The test keeps its own application on the store, as a second process would.
    with live_server(settings) as url:
        officer = StrongroomClient(url)
        officer.login(world.keys["officer"], world.email("officer"))
        root = StrongroomClient(url)
        root.login(world.keys["root"], world.email("root"))
        yield Site(url, world, officer, root)
    app.close()


def everything(site: Site, expected_at_least: int) -> list[dict[str, object]]:
    """All alerts, once the projections have caught up with at least this many."""
    deadline = time.monotonic() + 30
    while True:
        got = site.officer.alerts(limit=1000)["alerts"]
        if len(got) >= expected_at_least:
            return list(got)
        assert time.monotonic() < deadline, f"only {len(got)} alerts"
        time.sleep(0.05)


def read_stream(
    site: Site, count: int, last_event_id: int | None = None, **filters: str
) -> list[dict[str, object]]:
    """Read `count` alerts from the live stream, then hang up."""
    received: list[dict[str, object]] = []
    stream = site.officer.stream_alerts(after=last_event_id, timeout=30, **filters)  # type: ignore[arg-type]
    for alert in stream:
        received.append(alert)
        if len(received) == count:
            break
    return received


def register_people(site: Site, n: int, prefix: str) -> None:
    for i in range(n):
        site.world.person(f"{prefix}{i}", active=False)  # each raises "User Added"


def test_a_reconnecting_subscriber_misses_nothing_and_sees_nothing_twice(site: Site) -> None:
    register_people(site, 4, "early")
    before = everything(site, 8)
    first = read_stream(site, count=5)
    assert [a["position"] for a in first] == [a["position"] for a in before[:5]]

    # Disconnected: more happens.
    register_people(site, 3, "late")
    with site.world.acting("root"):
        Identity(site.world.app).change_role(site.world.ids["late0"], Role.SUB_ADMIN)
    full = everything(site, len(before) + 4)

    rest = read_stream(site, count=len(full) - 5, last_event_id=int(str(first[-1]["position"])))
    delivered = [a["position"] for a in first + rest]
    assert delivered == [a["position"] for a in full]
    assert len(set(delivered)) == len(delivered)


def test_the_stream_filters_by_severity_type_and_actor(site: Site) -> None:
    register_people(site, 2, "p")
    with site.world.acting("root"):
        Identity(site.world.app).change_role(site.world.ids["p0"], Role.SUB_ADMIN)
    full = everything(site, 5)
    roles = [a for a in full if a["type"] == "Role Changed"]
    got = read_stream(
        site,
        count=len(roles),
        type="Role Changed",
        min_severity="medium",
    )
    assert [a["position"] for a in got] == [a["position"] for a in roles]
    by_root = [a for a in full if a["actor"] == str(site.world.ids["root"])]
    got = read_stream(site, count=len(by_root), actor=str(site.world.ids["root"]))
    assert [a["position"] for a in got] == [a["position"] for a in by_root]


def test_only_officers_see_alerts_and_refusals_are_recorded(site: Site) -> None:
    with pytest.raises(ApiError) as refused:
        site.root.alerts()  # a super-admin, but no audit capability
    assert refused.value.status == 403
    response = httpx.get(
        f"{site.url}/api/v1/alerts/stream", headers={"Authorization": f"Bearer {site.root.token}"}
    )
    assert response.status_code == 403
    app = site.world.app
    recorded = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]
    refusals = [
        (e.action, e.actor_id) for e in recorded if type(e).__qualname__ == "DeniedAttempt.Recorded"
    ]
    root = str(site.world.ids["root"])
    assert ("read-alerts", root) in refusals and ("watch-alerts", root) in refusals


def test_acknowledge_then_resolve(site: Site) -> None:
    first = everything(site, 1)[0]
    site.officer.acknowledge_alert(str(first["id"]), "on it")
    site.officer.resolve_alert(str(first["id"]), "fine")
    deadline = time.monotonic() + 30
    while everything(site, 1)[0]["status"] != "resolved":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(ApiError) as refused:
        site.root.resolve_alert(str(first["id"]))
    assert refused.value.status == 403


def test_metrics_in_prometheus_format(site: Site) -> None:
    everything(site, 1)
    text = httpx.get(f"{site.url}/metrics").text
    assert "# TYPE strongroom_events_total counter" in text
    assert 'strongroom_projection_lag_events{projection="alerts"}' in text
    open_info = next(
        line
        for line in text.splitlines()
        if line.startswith('strongroom_alerts_open{severity="info"}')
    )
    assert int(open_info.split()[-1]) >= 1


def test_officers_see_who_refused_and_read_the_directory_on_the_record(site: Site) -> None:
    app = site.world.app
    root, officer = site.world.ids["root"], site.world.ids["officer"]
    with pytest.raises(ApiError):
        site.root.alerts()  # a super-admin without the audit capability: refused, recorded
    # The refusal names who tried, by name and email as well as id.
    deadline = time.monotonic() + 30
    while not (
        mine := [
            r
            for r in site.officer.refusals(limit=1000)["refusals"]
            if r["actor"] == str(root) and r["action"] == "read-alerts"
        ]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert mine[0]["actor_name"] == f"Root <{site.world.email('root')}>"
    # Sessions, people and profiles: each officer read is recorded.
    assert any(s["user_id"] == str(root) for s in site.officer.sessions(user_id=str(root)))
    site.officer.user(str(root))
    site.officer.profiles()
    recorded = [
        (e.what, e.target)
        for e in (
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=10_000)
        )
        if type(e).__qualname__ == "DirectoryRead.Recorded" and e.actor_id == str(officer)
    ]
    assert ("sessions", str(root)) in recorded
    assert ("user", str(root)) in recorded
    assert ("profiles", None) in recorded
