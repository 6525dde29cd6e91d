"""Anonymous traffic cannot grow the permanent log without bound, and still tells its story.

Over a real `strongroom serve`: per client address, the first refusals in a window
are recorded one by one (enough for the denied-burst alert), the rest are answered
429 with Retry-After and counted into one `ThrottledRequests` event per window,
recorded when the window closes or the server stops.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import RateLimits, Settings
from api.ratelimit import RateLimiter
from client.api import StrongroomClient
from client.keys import UserKeys
from client.session_file import default_key_file
from domain.alerts import Alert
from domain.clock import clock_installed
from domain.denials import DeniedAttempt
from domain.throttling import ANONYMOUS, FAILED_AUTH, MAX_PATHS, ThrottledRequests
from tests.api.cli_runner import ADMIN, PASSPHRASE, env_for, strongroom
from tests.live_server import served

ROOT = ADMIN[1]
FORGED = {"Authorization": "Bearer forged-token-0000"}


@pytest.fixture
def initialised(settings: Settings) -> Settings:
    assert strongroom("init", *ADMIN, env=env_for(settings)).returncode == 0
    return settings


def recorded(settings: Settings, after: int = 0) -> list[Any]:
    """Every event in the store after position `after`, decoded."""
    app = open_system(settings).app
    try:
        notifications = app.recorder.select_notifications(start=after + 1, limit=100_000)
        return [app.mapper.to_domain_event(n) for n in notifications]
    finally:
        app.close()


def head(settings: Settings) -> int:
    app = open_system(settings).app
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def of(kind: type, events: list[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind.Event)]


def eventually(found: Callable[[], list[Any]], what: str) -> list[Any]:
    deadline = time.monotonic() + 30
    while not (got := found()):
        assert time.monotonic() < deadline, f"never recorded: {what}"
        time.sleep(0.1)
    return got


def test_a_hundred_forged_tokens_record_a_bounded_number_of_events(
    initialised: Settings, tmp_path: Path
) -> None:
    # A window longer than the test: everything beyond the limit folds into one count,
    # recorded when the server stops.
    env = env_for(
        initialised, STRONGROOM_RATE_WINDOW_SECONDS="3600", STRONGROOM_RATE_FAILED_AUTH="10"
    )
    with served(initialised, env, tmp_path / "stderr") as server:
        keys = UserKeys.load(default_key_file(initialised.home, ROOT), PASSPHRASE)
        with StrongroomClient(server.url) as root:
            root.login(keys, ROOT)
            before = head(initialised)

            with httpx.Client(base_url=server.url) as http:
                answers = [http.get("/api/v1/users/me", headers=FORGED) for _ in range(100)]
            statuses = Counter(a.status_code for a in answers)
            assert statuses == {401: 10, 429: 90}
            for answer in answers:
                assert answer.headers["X-Request-ID"]
                if answer.status_code == 429:
                    assert int(answer.headers["Retry-After"]) >= 1

            # The denied-burst alert still fires, from the refusals recorded one by one.
            alerts = eventually(
                lambda: [
                    a
                    for a in of(Alert, recorded(initialised, before))
                    if a.rule == "denied_burst" and a.subject == "ip:127.0.0.1"
                ],
                "the denied-burst alert",
            )
            assert len(alerts) == 1

            # A live session from the same address is never limited.
            assert root.request("GET", "/api/v1/users/me")["email"] == ROOT
        during = recorded(initialised, before)
        assert not of(ThrottledRequests, during)  # still counting: its window is open

    after = recorded(initialised, before)
    refusals = [e for e in of(DeniedAttempt, after) if e.action == "authenticate"]
    assert len(refusals) == 10
    assert {e.client_ip for e in refusals} == {"127.0.0.1"}
    (folded,) = of(ThrottledRequests, after)
    assert folded.refused == statuses[429] == 90
    assert folded.source == "127.0.0.1"
    assert folded.client_ip == "127.0.0.1"
    assert folded.actor_id == "system:rate-limit"
    assert folded.by_limit == {"failed-authentication": 90}
    assert folded.paths == {"GET /api/v1/users/me": 90}
    assert folded.first_at <= folded.last_at
    # The bound: 100 anonymous requests recorded the limit's worth of refusals and one
    # count (and the runner raised one alert about them), whatever the window's length.
    assert len([e for e in after if e.actor_role == "anonymous"]) == 10
    assert len(refusals) + len(of(ThrottledRequests, after)) == 11


def test_a_window_that_closes_is_recorded_while_the_server_runs(
    initialised: Settings, tmp_path: Path
) -> None:
    env = env_for(
        initialised,
        STRONGROOM_RATE_WINDOW_SECONDS="1",
        STRONGROOM_RATE_ANONYMOUS="5",
        STRONGROOM_RATE_FAILED_AUTH="5",
    )
    with served(initialised, env, tmp_path / "stderr") as server:
        before = head(initialised)
        with httpx.Client(base_url=server.url) as http:
            answers = [
                http.post("/api/v1/auth/challenge", json={"email": f"probe{i}@x.example"})
                for i in range(40)
            ]
        refused = sum(a.status_code == 429 for a in answers)
        issued = sum(a.status_code == 200 for a in answers)
        assert refused + issued == 40
        assert refused > 0

        def all_folded() -> list[Any]:
            folds = of(ThrottledRequests, recorded(initialised, before))
            return folds if sum(f.refused for f in folds) == refused else []

        # Recorded by the sweeper as each window closes, not at shutdown.
        folds = eventually(all_folded, f"{refused} refusals folded")
        assert all(f.by_limit == {"anonymous": f.refused} for f in folds)
        assert all(set(f.paths) == {"POST /api/v1/auth/challenge"} for f in folds)
        challenges = [e for e in recorded(initialised, before) if type(e).__name__ == "Issued"]
        assert len(challenges) == issued


def test_limits_below_the_burst_alert_are_refused_at_start(initialised: Settings) -> None:
    env = env_for(initialised, STRONGROOM_RATE_FAILED_AUTH="3")
    result = strongroom("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert "STRONGROOM_RATE_FAILED_AUTH" in result.stderr
    assert "denied_burst" in result.stderr


# -- the limiter's bookkeeping, with a hand-turned clock ---------------------------------


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def limiter(clock: ManualClock) -> Iterator[tuple[RateLimiter, Ticks]]:
    ticks = Ticks()
    with clock_installed(clock):
        yield (
            RateLimiter(RateLimits(60, anonymous=3, failed_auth=5, sources=2), monotonic=ticks),
            ticks,
        )


def test_each_window_folds_its_own_refusals(limiter: tuple[RateLimiter, Ticks]) -> None:
    limits, ticks = limiter
    assert [limits.take_anonymous("198.51.100.1") for _ in range(3)] == [None] * 3
    wait = limits.take_anonymous("198.51.100.1")
    assert wait == 60
    limits.refuse("198.51.100.1", ANONYMOUS, "POST", "/api/v1/auth/challenge")
    ticks.at += 59
    limits.close_ended()
    assert limits.take_closed() == []  # still open
    ticks.at += 1
    # The next request opens a new window; the old one is folded.
    assert limits.take_anonymous("198.51.100.1") is None
    (fold,) = limits.take_closed()
    assert (fold.source, fold.refused, fold.paths) == (
        "198.51.100.1",
        1,
        {"POST /api/v1/auth/challenge": 1},
    )
    assert fold.problem() is None


def test_sources_and_paths_are_bounded(limiter: tuple[RateLimiter, Ticks]) -> None:
    limits, _ = limiter
    # An IPv6 client holds a /64: one source, whichever address it uses.
    limits.refuse("2001:db8:1:2::1", FAILED_AUTH, "GET", "/a")
    limits.refuse("2001:db8:1:2::ffff", FAILED_AUTH, "GET", "/a")
    limits.refuse("203.0.113.7", FAILED_AUTH, "GET", "/a")
    # A third source, with the table full (2): it shares one bucket with any others.
    for i in range(MAX_PATHS + 5):
        limits.refuse(f"203.0.113.{100 + i}", FAILED_AUTH, "GET", f"/probe/{i}\x1b[2J")
    limits.close_all()
    folds = {f.source: f for f in limits.take_closed()}
    assert set(folds) == {"2001:db8:1:2::/64", "203.0.113.7", "(other sources)"}
    assert folds["2001:db8:1:2::/64"].refused == 2
    other = folds["(other sources)"]
    assert other.client_ip is None
    assert other.refused == MAX_PATHS + 5
    assert len(other.paths) == MAX_PATHS + 1
    assert other.paths["(other paths)"] == 5
    assert all("\x1b" not in path for path in other.paths)
    assert all(f.problem() is None for f in folds.values())
