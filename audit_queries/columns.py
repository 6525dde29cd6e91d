"""The forensic export's columns, and how each stored event fills them.

One row per event. The envelope and the chain columns are the same for every
event; the *target* columns (who or what an event is about) and the *outcome*
come from small extractors registered per event type, so a capability that
lands adds its own (see docs/architecture.md, "adding a capability"):

    @extractor("domain.vault:File.Downloaded")
    def _download(payload: Payload, row: Row) -> None:
        row["file_id"] = uuid_field(payload, "file_id")
        row["bytes"] = payload.get("size")

Extraction reads the stored JSON as the application's transcoder wrote it (the
export refuses a store with a cipher or compressor), so no domain object is
built per event: this runs for every event in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pyarrow as pa

FORMAT = "strongroom-export-v1"

Payload = dict[str, Any]
Row = dict[str, Any]
Extractor = Callable[[Payload, Row], None]

# The columns that say who or what an event is about; each later capability adds
# its own here (a new column is null in files written before it existed, which
# DuckDB's `union_by_name` reads as such).
TARGET_COLUMNS: list[str] = ["user_id", "team_id", "group_id", "project_id", "file_id", "vm_id"]

ENVELOPE_COLUMNS = ["actor_id", "actor_role", "session_id", "request_id", "client_ip", "proxy_ip"]

SCHEMA = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),
        pa.field("prev_position", pa.int64(), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        # "User.RoleChanged": the aggregate's class and the event's name
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("aggregate_type", pa.string(), nullable=False),
        pa.field("aggregate_id", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        *(pa.field(name, pa.string()) for name in ENVELOPE_COLUMNS),
        *(pa.field(name, pa.string()) for name in TARGET_COLUMNS),
        pa.field("bytes", pa.int64()),
        # as recorded by a refusal: an id, an email, "team:<id>", "alert:<id>"
        pa.field("target", pa.string()),
        pa.field("outcome", pa.string(), nullable=False),  # "allowed" or "denied"
        pa.field("reason", pa.string()),
        # The stored event exactly: topic and payload (the stored JSON, byte for byte
        # as UTF-8) are what the chain's digest is taken over, so an export can be
        # verified with the audit public key alone.
        pa.field("topic", pa.string(), nullable=False),
        pa.field("payload", pa.string(), nullable=False),
        pa.field("chain_hash", pa.string(), nullable=False),  # 64 hex digits
    ]
)
COLUMN_NAMES = SCHEMA.names

# The aggregate types that are themselves a target: their id fills the column.
AGGREGATE_TARGETS: dict[str, str] = {"User": "user_id", "Team": "team_id"}

_EXTRACTORS: dict[str, list[Extractor]] = {}


def extractor(*topics: str) -> Callable[[Extractor], Extractor]:
    """Register `fn(payload, row)` for events of these topics ("module:Class.Event")."""

    def register(fn: Extractor) -> Extractor:
        for topic in topics:
            _EXTRACTORS.setdefault(topic, []).append(fn)
        return fn

    return register


def uuid_field(payload: Payload, name: str) -> str | None:
    """A UUID field as canonical text, as the transcoder stores it ({"_type_": "uuid_hex"})."""
    value = payload.get(name)
    if isinstance(value, dict) and value.get("_type_") == "uuid_hex":
        return str(UUID(hex=str(value["_data_"])))
    if isinstance(value, str) and value:
        try:
            return str(UUID(value))
        except ValueError:
            return None
    return None


def event_names(topic: str) -> tuple[str, str]:
    """("User.RoleChanged", "User") from "domain.users:User.RoleChanged"."""
    qualname = topic.rpartition(":")[2]
    return qualname, qualname.partition(".")[0]


def new_row() -> Row:
    return {"outcome": "allowed", "reason": None, "target": None, "bytes": None} | dict.fromkeys(
        TARGET_COLUMNS
    )


def fill(topic: str, aggregate_type: str, aggregate_id: str, payload: Payload, row: Row) -> None:
    """The target and outcome columns of one event, into `row`."""
    column = AGGREGATE_TARGETS.get(aggregate_type)
    if column is not None:
        row[column] = aggregate_id
    for name in TARGET_COLUMNS:
        if row[name] is None and name in payload:
            row[name] = uuid_field(payload, name)
    for extract in _EXTRACTORS.get(topic, ()):
        extract(payload, row)


# -- identity and logins ---------------------------------------------------------


@extractor("domain.denials:DeniedAttempt.Recorded")
def _denied(payload: Payload, row: Row) -> None:
    row["outcome"] = "denied"
    row["reason"] = payload.get("reason")
    target = payload.get("target")
    row["target"] = target
    if isinstance(target, str):
        kind, _, rest = target.partition(":")
        if rest and f"{kind}_id" in TARGET_COLUMNS:
            row[f"{kind}_id"] = uuid_field({"id": rest}, "id")
        elif not rest:
            row["user_id"] = uuid_field({"id": target}, "id")


@extractor("domain.throttling:ThrottledRequests.Counted")
def _throttled(payload: Payload, row: Row) -> None:
    row["outcome"] = "denied"
    row["reason"] = "rate limit"
    row["target"] = payload.get("source")


@extractor("domain.users:User.LoginFailed")
def _login_failed(payload: Payload, row: Row) -> None:
    row["outcome"] = "denied"
    row["reason"] = payload.get("reason")


@extractor("domain.sessions:Challenge.Used")
def _challenge_used(payload: Payload, row: Row) -> None:
    # The login this challenge was for; a refused one is also recorded as the
    # refusal itself (a DeniedAttempt, or User.LoginFailed for a bad signature).
    outcome = payload.get("outcome")
    if isinstance(outcome, str) and outcome.startswith("refused"):
        row["outcome"] = "denied"
        row["reason"] = outcome.partition(": ")[2] or outcome


@extractor("domain.users:User.Locked")
def _locked(payload: Payload, row: Row) -> None:
    row["reason"] = payload.get("reason")


@extractor("domain.sessions:Session.Ended")
def _session_ended(payload: Payload, row: Row) -> None:
    row["reason"] = payload.get("reason")


@extractor("domain.alerts:Alert.Raised")
def _alert(payload: Payload, row: Row) -> None:
    subject = payload.get("subject")
    row["target"] = subject
    if row["user_id"] is None and isinstance(subject, str):
        row["user_id"] = uuid_field({"id": subject}, "id")


@extractor("domain.reads:DirectoryRead.Recorded")
def _directory_read(payload: Payload, row: Row) -> None:
    target = payload.get("target")
    row["target"] = target
    if isinstance(target, str):
        column = "team_id" if payload.get("what") == "team" else "user_id"
        row[column] = uuid_field({"id": target}, "id")
