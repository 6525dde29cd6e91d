"""The hash chain format (version 1).

Each stored event gets one link, written in the same transaction as the event:

    digest = SHA-256("sr-event-v1" | len(id) | id | version | len(topic) | topic | state)
    hash   = SHA-256("sr-link-v1" | prev_hash | position | prev_position | digest)

`position` is the event's notification id (its place in the one audit timeline);
`prev_position` and `prev_hash` are those of the link before it (0 and 32 zero
bytes for the first).  Recording `prev_position` lets a verifier tell a deleted
event from an altered one even where the store's positions have legitimate gaps
(Postgres sequences skip numbers on rolled-back inserts).
"""

from __future__ import annotations

from hashlib import sha256
from struct import Struct
from uuid import UUID

GENESIS_HASH = bytes(32)
GENESIS_POSITION = 0

EVENT_TAG = b"sr-event-v1\x00"
LINK_TAG = b"sr-link-v1\x00"
_ID_LENGTH = Struct(">H")
VERSION_AND_TOPIC_LENGTH = Struct(">qI")
POSITIONS = Struct(">QQ")  # position, prev_position, as hashed into a link


# position, prev_position, digest, hash: a plain tuple, as it goes straight to the database.
Link = tuple[int, int, bytes, bytes]


def originator_bytes(originator_id: UUID | str | bytes) -> bytes:
    """The canonical bytes of an aggregate id: a UUID's 16 bytes."""
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    if isinstance(originator_id, bytes):
        return originator_id
    # SQLite keeps UUIDs as 32 hex digits.
    return UUID(originator_id).bytes


def event_preimage(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
    """The exact bytes an event's digest is taken over."""
    topic_bytes = topic.encode()
    return (
        EVENT_TAG
        + _ID_LENGTH.pack(len(originator))
        + originator
        + VERSION_AND_TOPIC_LENGTH.pack(version, len(topic_bytes))
        + topic_bytes
        + state
    )


def event_digest(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
    """The digest of one stored event's content, independent of where it sits."""
    return sha256(event_preimage(originator, version, topic, state)).digest()


def link_hash(prev_hash: bytes, position: int, prev_position: int, digest: bytes) -> bytes:
    """The chain hash of the event at `position`, binding it to the one before."""
    return sha256(LINK_TAG + prev_hash + POSITIONS.pack(position, prev_position) + digest).digest()


def extend(
    prev_position: int,
    prev_hash: bytes,
    events: list[tuple[int, bytes, int, str, bytes]],
) -> list[Link]:
    """Links for `events` (position, originator, version, topic, state) after the given head.

    The same computation as `event_digest` and `link_hash`, inlined: this runs for
    every event written, inside the writing transaction.
    """
    pack_id, pack_vt, pack_positions = (
        _ID_LENGTH.pack,
        VERSION_AND_TOPIC_LENGTH.pack,
        POSITIONS.pack,
    )
    links = []
    for position, originator, version, topic, state in events:
        topic_bytes = topic.encode()
        digest = sha256(
            EVENT_TAG
            + pack_id(len(originator))
            + originator
            + pack_vt(version, len(topic_bytes))
            + topic_bytes
            + state
        ).digest()
        prev_hash = sha256(
            LINK_TAG + prev_hash + pack_positions(position, prev_position) + digest
        ).digest()
        links.append((position, prev_position, digest, prev_hash))
        prev_position = position
    return links
