"""The audit envelope: who did what, from where, in which request.

The API and CLI set an `AuditContext` once per request; every event recorded
inside that request carries its fields.  Recording an event with no context is
an error, so no state change can ever be anonymous.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import uuid4

SYSTEM_ROLE = "system"


class MissingAuditContext(RuntimeError):
    """An event was about to be recorded outside any request or system action."""


@dataclass(frozen=True)
class AuditContext:
    actor_id: str
    actor_role: str
    session_id: str | None
    request_id: str
    client_ip: str | None
    # The peer that forwarded the request, when a trusted proxy did (client_ip is
    # then the client it named); None for a direct connection.
    proxy_ip: str | None = None

    @classmethod
    def system(cls, rule: str, *, request_id: str | None = None) -> AuditContext:
        """The context of an action taken by the system itself because `rule` fired."""
        if not rule:
            raise ValueError("a system action must name the rule that fired")
        return cls(
            actor_id=f"system:{rule}",
            actor_role=SYSTEM_ROLE,
            session_id=None,
            request_id=request_id or uuid4().hex,
            client_ip=None,
        )


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def current() -> AuditContext:
    """The context of the action in progress; refuses when there is none."""
    context = _current.get()
    if context is None:
        raise MissingAuditContext(
            "events can only be recorded inside an audit context (a request or a system rule)"
        )
    return context


def current_or_none() -> AuditContext | None:
    return _current.get()


@contextmanager
def acting_as(context: AuditContext) -> Iterator[AuditContext]:
    """Run a block of work on behalf of `context`'s actor."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
