"""Errors shared by every area of the domain."""

from __future__ import annotations


class InvalidInput(ValueError):
    """A command's input is unusable; says which field and why (the API answers 422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
