"""The hash chain format (version 1), defined once.

Each stored event gets one link, written in the same transaction as the event:

    digest = SHA-256("sr-event-v1" | len(id) | id | version | len(topic) | topic | state)
    hash   = SHA-256("sr-link-v1" | prev_hash | position | prev_position | digest)

`position` is the event's notification id (its place in the one audit timeline);
`prev_position` and `prev_hash` are those of the link before it (0 and 32 zero
bytes for the first).  Recording `prev_position` lets a verifier tell a deleted
event from an altered one even where the store's positions have legitimate gaps
(Postgres sequences skip numbers on rolled-back inserts).

`EVENT_FORMAT` and `LINK_FORMAT` are the only definitions of these layouts.  The
writer, the verifier and both stores' readers take their encoders from them (a
Python closure for the hot loops, a SQL expression for the Postgres reader), and
snapshots are signed over the same layout under their own tag (`SNAPSHOT_FORMAT`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from hashlib import sha256
from struct import Struct
from uuid import UUID

GENESIS_HASH = bytes(32)
GENESIS_POSITION = 0

# position, prev_position, digest, hash: a plain tuple, as it goes straight to the database.
Link = tuple[int, int, bytes, bytes]

Encoder = Callable[[bytes, int, str, bytes], bytes]
LinkHasher = Callable[[bytes, int, int, bytes], bytes]

# How Postgres writes a big-endian integer of each `struct` code.  Unsigned codes
# are only used for lengths, which never reach the sign bit, so the signed send
# functions give the same bytes.
_POSTGRES_SEND = {
    "h": ("int2send", "int2"),
    "H": ("int2send", "int2"),
    "i": ("int4send", "int4"),
    "I": ("int4send", "int4"),
    "q": ("int8send", "int8"),
    "Q": ("int8send", "int8"),
}


@dataclass(frozen=True)
class PreimageFormat:
    """The layout of the bytes an event (or a snapshot) is hashed or signed over.

    tag | len(id) | id | version | len(topic) | topic as UTF-8 | state, with the
    integers big-endian in the widths of the given `struct` codes.
    """

    tag: bytes
    id_length: str = "H"
    version: str = "q"
    topic_length: str = "I"

    def encoder(self) -> Encoder:
        """The fast encoder: a closure over prepacked parts, for loops over every event."""
        tag = self.tag
        pack_id_length = Struct(">" + self.id_length).pack
        pack_version_and_topic_length = Struct(">" + self.version + self.topic_length).pack

        def encode(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
            topic_bytes = topic.encode()
            return (
                tag
                + pack_id_length(len(originator))
                + originator
                + pack_version_and_topic_length(version, len(topic_bytes))
                + topic_bytes
                + state
            )

        return encode

    def encoder_for_ids_of(self, id_length: int) -> Encoder:
        """As `encoder`, with the id's length prefix packed once: only for ids of that length."""
        head = self.tag + Struct(">" + self.id_length).pack(id_length)
        pack_version_and_topic_length = Struct(">" + self.version + self.topic_length).pack

        def encode(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
            topic_bytes = topic.encode()
            return (
                head
                + originator
                + pack_version_and_topic_length(version, len(topic_bytes))
                + topic_bytes
                + state
            )

        return encode

    @cached_property
    def encode(self) -> Encoder:
        return self.encoder()

    def postgres_expression(self, *, id_bytes: str, version: str, topic: str, state: str) -> str:
        """The same bytes, concatenated by Postgres from the given column expressions."""
        topic_bytes = f"convert_to({topic}, 'UTF8')"
        return " || ".join(
            [
                f"'\\x{self.tag.hex()}'::bytea",
                _postgres_integer(self.id_length, f"octet_length({id_bytes})"),
                id_bytes,
                _postgres_integer(self.version, version),
                _postgres_integer(self.topic_length, f"octet_length({topic_bytes})"),
                topic_bytes,
                state,
            ]
        )


def _postgres_integer(code: str, expression: str) -> str:
    function, sql_type = _POSTGRES_SEND[code]
    return f"{function}(({expression})::{sql_type})"


@dataclass(frozen=True)
class LinkFormat:
    """What a link's hash is taken over: tag | prev_hash | position | prev_position | digest."""

    tag: bytes
    positions: str = "QQ"

    def hasher(self) -> LinkHasher:
        tag, pack_positions = self.tag, Struct(">" + self.positions).pack

        def link_hash(prev_hash: bytes, position: int, prev_position: int, digest: bytes) -> bytes:
            return sha256(
                tag + prev_hash + pack_positions(position, prev_position) + digest
            ).digest()

        return link_hash

    @cached_property
    def hash(self) -> LinkHasher:
        return self.hasher()


EVENT_FORMAT = PreimageFormat(tag=b"sr-event-v1\x00")
LINK_FORMAT = LinkFormat(tag=b"sr-link-v1\x00")
# A snapshot is signed over its event-shaped content; its own tag keeps a
# snapshot signature from ever standing for an event, and the other way round.
SNAPSHOT_FORMAT = replace(EVENT_FORMAT, tag=b"sr-snapshot-v1\x00")


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
    return EVENT_FORMAT.encode(originator, version, topic, state)


def event_digest(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
    """The digest of one stored event's content, independent of where it sits."""
    return sha256(EVENT_FORMAT.encode(originator, version, topic, state)).digest()


def link_hash(prev_hash: bytes, position: int, prev_position: int, digest: bytes) -> bytes:
    """The chain hash of the event at `position`, binding it to the one before."""
    return LINK_FORMAT.hash(prev_hash, position, prev_position, digest)


def extend(
    prev_position: int,
    prev_hash: bytes,
    events: list[tuple[int, bytes, int, str, bytes]],
) -> list[Link]:
    """Links for `events` (position, originator, version, topic, state) after the given head.

    Runs for every event written, inside the writing transaction: the encoders
    are looked up once, not per event.
    """
    encode, hash_link = EVENT_FORMAT.encode, LINK_FORMAT.hash
    links = []
    for position, originator, version, topic, state in events:
        digest = sha256(encode(originator, version, topic, state)).digest()
        prev_hash = hash_link(prev_hash, position, prev_position, digest)
        links.append((position, prev_position, digest, prev_hash))
        prev_position = position
    return links
