"""The clock port: the domain never reads the system clock itself.

Event timestamps, expiries and replays all go through the installed clock, so
tests and replays are deterministic.  `adapters.clock` provides the real one;
`bootstrap` installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class ClockNotInstalled(RuntimeError):
    """Raised when the domain asks for the time before bootstrap installed a clock."""


_installed: Clock | None = None


def install_clock(clock: Clock) -> None:
    """Make `clock` the process-wide source of time for the domain."""
    global _installed
    _installed = clock


def now() -> datetime:
    """The installed clock's reading; refuses to guess when none is installed."""
    if _installed is None:
        raise ClockNotInstalled("no clock installed: call bootstrap() or install_clock()")
    return _installed.now()


@contextmanager
def clock_installed(clock: Clock) -> Iterator[Clock]:
    """Install `clock` for the duration of a block (tests, replays)."""
    global _installed
    previous = _installed
    _installed = clock
    try:
        yield clock
    finally:
        _installed = previous
