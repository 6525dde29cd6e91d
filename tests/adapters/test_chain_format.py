"""The chain format is fixed: the bulk writer and the single-event functions agree with it."""

from __future__ import annotations

from hashlib import sha256
from uuid import UUID

from adapters.ledger.chain import GENESIS_HASH, event_digest, extend, link_hash

ID = UUID("12345678-1234-5678-1234-567812345678")


def test_digest_and_link_follow_the_documented_layout() -> None:
    # Spelled out as docs/event-store.md spells it, without the module's helpers.
    topic = b"domain.x:Note.Written"
    expected_digest = sha256(
        b"sr-event-v1\x00"
        + (16).to_bytes(2, "big")
        + ID.bytes
        + (7).to_bytes(8, "big", signed=True)
        + len(topic).to_bytes(4, "big")
        + topic
        + b"{}"
    ).digest()
    assert event_digest(ID.bytes, 7, "domain.x:Note.Written", b"{}") == expected_digest
    expected_hash = sha256(
        b"sr-link-v1\x00"
        + GENESIS_HASH
        + (3).to_bytes(8, "big")
        + (0).to_bytes(8, "big")
        + expected_digest
    ).digest()
    assert link_hash(GENESIS_HASH, 3, 0, expected_digest) == expected_hash


def test_the_bulk_writer_matches_the_single_event_functions() -> None:
    events = [(p, ID.bytes, p, "t", f"state {p}".encode()) for p in (1, 2, 5, 9)]
    links = extend(0, GENESIS_HASH, events)
    prev_position, prev_hash = 0, GENESIS_HASH
    for (position, originator, version, topic, state), link in zip(events, links, strict=True):
        digest = event_digest(originator, version, topic, state)
        assert link == (
            position,
            prev_position,
            digest,
            link_hash(prev_hash, position, prev_position, digest),
        )
        prev_position, prev_hash = position, link[3]
