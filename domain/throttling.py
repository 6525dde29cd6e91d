"""Refusals by the rate limit, folded: one counted event per source and window.

Anonymous traffic (challenges, logins, registrations) and bearer tokens that fail
each record an event, so without a limit anyone could grow the permanent log at
will. The API limits them per client address. The first refusals in a window are
recorded one by one as ever (so the denied-burst alert still sees a burst); the
requests beyond the limit are answered 429 and counted, and when the window
closes the count is recorded here, once: who probed, from where, how often, on
which paths. The counting happens in memory, so a crash loses at most the counts
of the windows still open (one window per source); see api/ratelimit.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from eventsourcing.domain import event

from domain import envelope
from domain.aggregate import AuditedAggregate
from domain.capability import Capability
from domain.envelope import SYSTEM_ROLE, AuditContext
from domain.errors import InvalidInput
from domain.text import unsafe_character

RULE = "rate-limit"
# Bounds on what one folded event may hold: its paths come from anonymous
# clients, so they are truncated, escaped and capped before they are recorded.
MAX_PATHS = 20
MAX_PATH_LENGTH = 200
MAX_SOURCE_LENGTH = 64
OTHER_PATHS = "(other paths)"
# The limits a request can be refused by: too many anonymous writes, or too many
# bearer tokens that failed, from one source in one window.
ANONYMOUS = "anonymous"
FAILED_AUTH = "failed-authentication"
LIMITS = frozenset({ANONYMOUS, FAILED_AUTH})


def printable(text: str, max_length: int = MAX_PATH_LENGTH) -> str:
    """`text` with anything a reader's terminal could be fooled by escaped, and truncated."""
    safe = "".join(f"\\u{ord(ch):04x}" if unsafe_character(ch) is not None else ch for ch in text)
    return safe if len(safe) <= max_length else safe[: max_length - 1] + "…"


@dataclass(frozen=True)
class Fold:
    """What one source's refused requests in one window add up to."""

    source: str  # a client address, an IPv6 /64, or "(other sources)"
    client_ip: str | None  # the address to put in the envelope, when there is one
    window_seconds: float
    first_at: datetime
    last_at: datetime
    refused: int
    by_limit: dict[str, int]
    paths: dict[str, int]

    def problem(self) -> tuple[str, str] | None:
        """The first bound this fold breaks, as (field, reason); None when it may be recorded."""
        if not 0 < len(self.source) <= MAX_SOURCE_LENGTH:
            return "source", f"1 to {MAX_SOURCE_LENGTH} characters"
        if self.refused < 1:
            return "refused", "at least one refused request"
        if self.last_at < self.first_at:
            return "last_at", "not before first_at"
        if not set(self.by_limit) <= LIMITS or sum(self.by_limit.values()) != self.refused:
            return "by_limit", f"counts per limit ({', '.join(sorted(LIMITS))}) adding up"
        if len(self.paths) > MAX_PATHS + 1 or sum(self.paths.values()) != self.refused:
            return "paths", f"at most {MAX_PATHS} paths and the rest, adding up"
        if any(len(p) > MAX_PATH_LENGTH or unsafe_character(p) for p in self.paths):
            return "paths", f"printable, at most {MAX_PATH_LENGTH} characters each"
        return None


class ThrottledRequests(AuditedAggregate):
    """One source's requests refused by the rate limit in one window (a new one each time)."""

    @event("Counted")
    def __init__(
        self,
        source: str,
        window_seconds: float,
        first_at: datetime,
        last_at: datetime,
        refused: int,
        by_limit: dict[str, int],
        paths: dict[str, int],
    ) -> None:
        self.source = source
        self.window_seconds = window_seconds
        self.first_at = first_at
        self.last_at = last_at
        self.refused = refused
        self.by_limit = by_limit
        self.paths = paths


class Throttling(Capability):
    def record_fold(self, fold: Fold) -> ThrottledRequests:
        """Record what a closed window refused, as the system's rate-limit rule, from its source."""
        problem = fold.problem()
        if problem is not None:
            raise InvalidInput(*problem)
        context = AuditContext(
            actor_id=f"system:{RULE}",
            actor_role=SYSTEM_ROLE,
            session_id=None,
            request_id=uuid4().hex,
            client_ip=fold.client_ip,
        )
        with envelope.acting_as(context):
            counted = ThrottledRequests(
                source=fold.source,
                window_seconds=fold.window_seconds,
                first_at=fold.first_at,
                last_at=fold.last_at,
                refused=fold.refused,
                by_limit=dict(fold.by_limit),
                paths=dict(fold.paths),
            )
            self.save(counted)
        return counted


def describe(counted: Any) -> str:
    """One line for a person: N requests from X refused between T1 and T2, on which paths."""
    paths = ", ".join(f"{p} ×{n}" for p, n in sorted(counted.paths.items(), key=lambda i: -i[1]))
    return (
        f"{counted.refused} requests from {counted.source} refused by the rate limit "
        f"between {counted.first_at:%Y-%m-%d %H:%M:%S} and {counted.last_at:%H:%M:%S}: {paths}"
    )
