"""Per-address limits on the traffic that records events without a session.

Two kinds of request can make the permanent log grow without anyone logging in:
anonymous writes (challenge, login, registration) and bearer tokens that fail
(each refusal is recorded). Per client address and fixed window:

- the first `anonymous` anonymous writes and the first `failed_auth` failed
  tokens go through and are recorded one by one, as ever: the denied-burst alert
  needs to see them (settings keep `failed_auth` at least its count);
- beyond that the answer is 429 with Retry-After (the end of the window), nothing
  is recorded per request, and the refusals are counted into a `Fold`;
- when the window closes, its fold becomes one `ThrottledRequests` event
  (domain/throttling.py), written by the sweeper; at shutdown every open window
  is folded and written too.

The counts live in this process's memory until their window closes: a crash
loses at most the refusals counted in the windows then open (one window, at most
`window_seconds`, per source), never an individually recorded event.

Sessions are never counted: a request with a live session does not touch this
module. Everything here runs on the event loop (the middleware, the sweeper's
bookkeeping), so it needs no lock; only writing folds goes to a worker thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from adapters.settings import RATE_ANONYMOUS, RATE_FAILED_AUTH, RateLimits, SettingsError
from domain import clock
from domain.application import Strongroom
from domain.throttling import (
    MAX_PATHS,
    OTHER_PATHS,
    Fold,
    Throttling,
    describe,
    printable,
)

if TYPE_CHECKING:
    from projections.alert_rules import AlertRules

log = logging.getLogger(__name__)

OTHER_SOURCES = "(other sources)"
UNKNOWN_SOURCE = "(unknown)"


def source_of(client_ip: str | None) -> tuple[str, str | None]:
    """The key an address is limited under, and the address to record (if it is one).

    An IPv6 client usually holds a whole /64, so it is limited as one; an IPv4
    address is its own source.
    """
    if not client_ip:
        return UNKNOWN_SOURCE, None
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return UNKNOWN_SOURCE, None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped), str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False)), str(address)
    return str(address), str(address)


@dataclass
class Window:
    started: float  # monotonic
    client_ip: str | None
    anonymous: int = 0
    failed: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    by_limit: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)

    @property
    def refused(self) -> int:
        return sum(self.by_limit.values())


class RateLimiter:
    def __init__(
        self, limits: RateLimits, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.monotonic = monotonic
        self.windows: dict[str, Window] = {}
        self.closed: list[Fold] = []  # folds waiting to be written

    # -- the request path -----------------------------------------------------------

    def take_anonymous(self, client_ip: str | None) -> float | None:
        """Count an anonymous write; None if it may go on, else seconds until it may."""
        window = self._window(client_ip)
        if window.anonymous >= self.limits.anonymous:
            return self._retry_after(window)
        window.anonymous += 1
        return None

    def failed_auth_exhausted(self, client_ip: str | None) -> float | None:
        """None if one more failed token may still be recorded, else seconds until it may."""
        window = self._window(client_ip)
        if window.failed >= self.limits.failed_auth:
            return self._retry_after(window)
        return None

    def reserve_failure(self, client_ip: str | None) -> None:
        """Count a token about to be checked as failed, before the check records anything.

        Reserved before the check (which runs in a worker thread), so concurrent
        bad tokens from one source cannot all pass the limit at once.
        """
        self._window(client_ip).failed += 1

    def release_failure(self, client_ip: str | None) -> None:
        """The reserved token was a live session after all (it only needed a write)."""
        window = self.windows.get(self._key(client_ip)[0])
        if window is not None and window.failed > 0:
            window.failed -= 1

    def refuse(self, client_ip: str | None, limit: str, method: str, path: str) -> None:
        """Count a refused request into its source's window."""
        window = self._window(client_ip)
        now = clock.now()
        window.first_at = window.first_at or now
        window.last_at = now
        window.by_limit[limit] += 1
        shown = printable(f"{method} {path}")
        if shown in window.paths or len(window.paths) < MAX_PATHS:
            window.paths[shown] += 1
        else:
            window.paths[OTHER_PATHS] += 1

    # -- windows --------------------------------------------------------------------

    def _key(self, client_ip: str | None) -> tuple[str, str | None]:
        source, address = source_of(client_ip)
        if source not in self.windows and len(self.windows) >= self.limits.sources:
            self.close_ended()
            if len(self.windows) >= self.limits.sources:
                return OTHER_SOURCES, None
        return source, address

    def _window(self, client_ip: str | None) -> Window:
        source, address = self._key(client_ip)
        window = self.windows.get(source)
        now = self.monotonic()
        if window is not None and now - window.started >= self.limits.window_seconds:
            self._close(source, window)
            window = None
        if window is None:
            window = self.windows[source] = Window(started=now, client_ip=address)
        return window

    def _retry_after(self, window: Window) -> float:
        return max(0.0, window.started + self.limits.window_seconds - self.monotonic())

    def _close(self, source: str, window: Window) -> None:
        del self.windows[source]
        if window.refused and window.first_at and window.last_at:
            self.closed.append(
                Fold(
                    source=source,
                    client_ip=window.client_ip,
                    window_seconds=self.limits.window_seconds,
                    first_at=window.first_at,
                    last_at=window.last_at,
                    refused=window.refused,
                    by_limit=dict(window.by_limit),
                    paths=dict(window.paths),
                )
            )

    def close_ended(self) -> None:
        """Fold every window that has ended."""
        now = self.monotonic()
        for source, window in list(self.windows.items()):
            if now - window.started >= self.limits.window_seconds:
                self._close(source, window)

    def close_all(self) -> None:
        """Fold every window, ended or not (at shutdown)."""
        for source, window in list(self.windows.items()):
            self._close(source, window)

    def take_closed(self) -> list[Fold]:
        closed, self.closed = self.closed, []
        return closed


def retry_after_header(seconds: float) -> bytes:
    return str(max(1, math.ceil(seconds))).encode()


def write_folds(app: Strongroom, folds: list[Fold]) -> list[Fold]:
    """Record each fold; returns those that could not be recorded (to try again)."""
    throttling = Throttling(app)
    failed = []
    for fold in folds:
        try:
            throttling.record_fold(fold)
        except Exception:
            log.exception("could not record a rate-limit fold (will retry)")
            failed.append(fold)
    return failed


async def sweep(limiter: RateLimiter, app: Strongroom, every: float) -> None:
    """Fold ended windows and record them, until cancelled."""
    while True:
        await asyncio.sleep(every)
        limiter.close_ended()
        folds = limiter.take_closed()
        if folds:
            unrecorded = await run_in_threadpool(write_folds, app, folds)
            # Kept for the next sweep while the store is away, within a bound.
            keep = max(0, limiter.limits.sources - len(limiter.closed))
            for fold in unrecorded[keep:]:
                log.error("rate-limit fold lost: %s", describe(fold))
            limiter.closed[:0] = unrecorded[:keep]


def flush_all(limiter: RateLimiter, app: Strongroom) -> None:
    """Fold and record every window now (shutdown); what cannot be recorded is logged."""
    limiter.close_all()
    for fold in write_folds(app, limiter.take_closed()):
        log.error("rate-limit fold lost: %s", describe(fold))


def check_limits(limits: RateLimits, rules: AlertRules) -> None:
    """Refuse limits so low that a burst would be folded before its alert could fire."""
    burst = rules.denied_burst
    if not burst.enabled:
        return
    for name, value in ((RATE_FAILED_AUTH, limits.failed_auth), (RATE_ANONYMOUS, limits.anonymous)):
        if value < burst.count:
            raise SettingsError(
                f"{name}: must be at least the denied_burst rule's count ({burst.count}), "
                f"got {value}, or a burst from one address would be folded before it alerts"
            )


@asynccontextmanager
async def serve_limits(limiter: RateLimiter, app: Strongroom) -> AsyncIterator[None]:
    """Run the sweeper while serving; fold and record every window when serving ends."""
    every = min(1.0, limiter.limits.window_seconds / 4)
    sweeper = asyncio.create_task(sweep(limiter, app, every))
    try:
        yield
    finally:
        sweeper.cancel()
        with suppress(asyncio.CancelledError):
            await sweeper
        await run_in_threadpool(flush_all, limiter, app)
