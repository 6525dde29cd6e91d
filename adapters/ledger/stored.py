"""Reading the values of a store that is not trusted.

Whoever can write the database chooses what each column holds: another storage
type, NULL, a number too large, text that is not UTF-8.  Everything that reads
the ledger back to check it (the verifier, the snapshot check on load) takes
values through these functions, which accept exactly what the ledger writes and
raise `Malformed` for anything else, so an odd value is a finding, never a crash.

Messages describe a value by its type and size only: its content is the
attacker's, and it ends up in terminals and alerts.
"""

from __future__ import annotations

from uuid import UUID


class Malformed(ValueError):
    """A stored value is not of the type, or in the form, that the ledger writes."""


def describe(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{len(value)} bytes"
    if isinstance(value, str):
        return f"text of {len(value)} characters"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return "a real number"
    return f"a value of type {type(value).__name__}"


def integer(value: object, column: str) -> int:
    if type(value) is not int:  # bool is an int too, and never what was written
        raise Malformed(f"{column} holds {describe(value)}, not an integer")
    return value


def blob(value: object, column: str, *, length: int | None = None) -> bytes:
    if type(value) is not bytes:
        raise Malformed(f"{column} holds {describe(value)}, not bytes")
    if length is not None and len(value) != length:
        raise Malformed(f"{column} holds {len(value)} bytes, not {length}")
    return value


def text(value: object, column: str) -> str:
    if type(value) is not str:
        raise Malformed(f"{column} holds {describe(value)}, not text")
    try:
        value.encode()
    except UnicodeEncodeError:
        # Only a store's non-UTF-8 bytes, decoded with escapes, can look like this.
        raise Malformed(f"{column} holds text that is not UTF-8") from None
    return value


def aggregate_id(value: object, column: str = "originator_id") -> bytes:
    """An aggregate id's 16 bytes, from a UUID (Postgres) or 32 lower-case hex digits (SQLite).

    Only the exact form the library writes is accepted: the library finds an
    aggregate's events by comparing ids as stored, so an id respelt (upper case,
    dashes) would hide its event from the aggregate while hashing the same.
    """
    if type(value) is UUID:
        return value.bytes
    if type(value) is str:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(raw) == 16 and raw.hex() == value:
            return raw
        raise Malformed(f"{column} holds {describe(value)}, not 32 lower-case hex digits")
    raise Malformed(f"{column} holds {describe(value)}, not an aggregate id")
