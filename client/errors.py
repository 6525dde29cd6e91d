"""What the client SDK raises, in a module of its own so catching it costs no imports."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The server refused a request; carries its status and what it said."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class KeyFileError(Exception):
    """The key file is missing, malformed, or the passphrase is wrong."""
