"""Signed snapshots: a snapshot is used only if the installation's audit key signed it.

A snapshot is a cache of an aggregate's state at one version.  The library loads
it instead of replaying the events before it, so whoever could change one could
change what the application believes (a role, a membership) without touching
the hash-chained events.  The chained factories therefore hand the library a
snapshot recorder that signs each snapshot as it is written, over

    SNAPSHOT_FORMAT: "sr-snapshot-v1" | len(id) | id | version | len(topic) | topic | state

(the event preimage layout under its own tag, `adapters.ledger.chain`), and keeps
the signature in `<snapshots>_signatures`.  On load, a snapshot whose signature
is missing or wrong is refused with an error in the log, and the library replays
the aggregate from its events instead.  `audit verify` checks every snapshot the
same way (`why_untrusted`).  See docs/decisions/0005-signed-snapshots.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from struct import error as StructError
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import StoredEvent

from adapters.ledger import stored
from adapters.ledger.chain import SNAPSHOT_FORMAT, originator_bytes
from adapters.ledger.checkpoints import CheckpointSigner

log = logging.getLogger(__name__)


def snapshot_signature(signer: CheckpointSigner, snapshot: StoredEvent) -> bytes:
    """The audit key's signature over a snapshot about to be written."""
    return signer.sign_message(
        SNAPSHOT_FORMAT.encode(
            originator_bytes(snapshot.originator_id),
            snapshot.originator_version,
            snapshot.topic,
            snapshot.state,
        )
    )


def why_untrusted(
    public_key: Ed25519PublicKey,
    originator_id: object,
    version: object,
    topic: object,
    state: object,
    signature: object,
) -> str | None:
    """Why a stored snapshot must not be used, or None when the audit key signed exactly it."""
    try:
        preimage = SNAPSHOT_FORMAT.encode(
            stored.aggregate_id(originator_id),
            stored.integer(version, "originator_version"),
            stored.text(topic, "topic"),
            stored.blob(state, "state"),
        )
    except stored.Malformed as malformed:
        return f"its {malformed}"
    except StructError:
        return "its originator_version is out of range"
    if signature is None:
        return "it carries no signature"
    if type(signature) is not bytes:
        return f"its signature holds {stored.describe(signature)}, not bytes"
    try:
        public_key.verify(signature, preimage)
    except InvalidSignature:
        return "its signature is not the audit key's over this snapshot"
    return None


def trusted_snapshots(
    aggregate_id: UUID | str, rows: Iterable[Any], public_key: Ed25519PublicKey
) -> list[StoredEvent]:
    """The snapshots among `rows` that the audit key signed; every other one is logged and left.

    Each row holds originator_id, originator_version, topic, state and signature.
    Leaving a snapshot out makes the library replay the aggregate from its
    events (the chain protects those) rather than trust it.
    """
    trusted = []
    for row in rows:
        values = (
            row["originator_id"],
            row["originator_version"],
            row["topic"],
            row["state"],
            row["signature"],
        )
        reason = why_untrusted(public_key, *values)
        if reason is not None:
            log.error(
                "refused the snapshot of aggregate %s at version %s: %s; "
                "loading the aggregate from its events instead",
                aggregate_id,
                _shown(values[1]),
                reason,
            )
            continue
        trusted.append(
            StoredEvent(
                originator_id=UUID(bytes=stored.aggregate_id(values[0])),
                originator_version=values[1],
                topic=values[2],
                state=values[3],
            )
        )
    return trusted


def _shown(version: object) -> str:
    return str(version) if type(version) is int else f"({stored.describe(version)})"


def snapshots_unreadable(aggregate_id: UUID | str, error: Exception) -> list[StoredEvent]:
    """The store could not give an aggregate's snapshots: replay it from its events instead."""
    log.error(
        "could not read the snapshots of aggregate %s (%s); loading it from its events instead",
        aggregate_id,
        type(error).__name__,
    )
    return []
