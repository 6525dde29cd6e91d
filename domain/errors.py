"""The kinds of error every capability's errors belong to.

Each capability subclasses these (`UserNotFound(NotFound)`, `EmailTaken(Conflict)`,
…); the API maps a *kind* to its status once, so a new capability's errors need
no new handler.
"""

from __future__ import annotations


class DomainError(Exception):
    """Something the domain refused or could not find; never a bug."""


class NotFound(DomainError):
    """No such thing (404)."""


class Conflict(DomainError):
    """The current state does not allow it: a taken name, a resolved alert (409)."""


class QuotaExceeded(Conflict):
    """It would go beyond a quota (409, naming the quota)."""


class InvalidInput(DomainError, ValueError):
    """A command's input is unusable; says which field and why (422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Forbidden(DomainError):
    """The actor may not do this; the refusal was recorded before this was raised (403)."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action}: {reason}")
        self.action = action
        self.reason = reason


class Unauthenticated(DomainError):
    """Login or session check failed; the reason is recorded, the client sees only 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unavailable(DomainError):
    """A part the command needs (hypervisor, backup server) cannot be reached (503)."""
