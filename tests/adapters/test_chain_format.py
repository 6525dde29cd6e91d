"""The chain format is fixed, and defined once: every encoding of it agrees byte for byte.

The writer's bulk `extend`, the single-event functions, both stores' readers
(SQLite's Python encoder, the Postgres SQL expression) and the verifier all
take the layout from `adapters.ledger.chain`; these tests hold each of them to
the layout as docs/event-store.md spells it, on real stores, with awkward
topics, ids, versions and states.
"""

from __future__ import annotations

from hashlib import sha256
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from adapters.bootstrap import open_system
from adapters.ledger import stored
from adapters.ledger.chain import (
    EVENT_FORMAT,
    GENESIS_HASH,
    SNAPSHOT_FORMAT,
    event_digest,
    event_preimage,
    extend,
    link_hash,
)
from adapters.ledger.checkpoints import load_public_key
from adapters.settings import Settings
from audit_queries.ledger_reader import open_reader
from audit_queries.verify import verify_ledger

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


# -- every encoding of the format, on real stores ----------------------------------------

AWKWARD_EVENTS = [
    (UUID(int=0), 1, "", b""),
    (UUID(int=2**128 - 1), 2**63 - 1, "domain.x:Ünïcødé.Ereignis", bytes(range(256))),
    (UUID("00000000-0000-0000-0000-0000000000ff"), 0, "🙂" * 70, b"\x00\x00\x00"),
    (ID, -1, "quote ' backslash \\ percent %s question ? semicolon ;", b"{}"),
    (UUID("f" * 32), 2, "t" * 70_000, b"x" * 100_000),  # lengths past 16 bits
]
# Postgres text cannot hold NUL; SQLite's can, and the chain must agree there too.
SQLITE_ONLY = [(UUID("0" * 31 + "1"), 3, "nul\x00inside", b"\x00")]


def documented_preimage(
    tag: bytes, aggregate: UUID, version: int, topic: str, state: bytes
) -> bytes:
    """The layout exactly as docs/event-store.md spells it, without the module's helpers."""
    topic_bytes = topic.encode()
    return (
        tag
        + (16).to_bytes(2, "big")
        + aggregate.bytes
        + version.to_bytes(8, "big", signed=True)
        + len(topic_bytes).to_bytes(4, "big")
        + topic_bytes
        + state
    )


def awkward_events(settings: Settings) -> list[tuple[UUID, int, str, bytes]]:
    return AWKWARD_EVENTS + (SQLITE_ONLY if settings.store.kind == "sqlite" else [])


def test_every_encoding_agrees_byte_for_byte_on_a_real_store(settings: Settings) -> None:
    events = awkward_events(settings)
    app = open_system(settings).app
    try:
        # Written through the chained recorder: the writer's `extend` hashes them.
        app.recorder.insert_events([StoredEvent(*event) for event in events])
    finally:
        app.close()

    reader = open_reader(settings)
    try:
        rows = list(reader.rows(reader.bound()))
        report = verify_ledger(
            reader, load_public_key(settings.public_key_path), checkpoint_every=10**6
        )
    finally:
        reader.close()
    assert len(rows) == len(events)
    prev_position, prev_hash = 0, GENESIS_HASH
    for (position, preimage, linked, link_prev, digest, stored_hash), event in zip(
        rows, events, strict=True
    ):
        expected = documented_preimage(b"sr-event-v1\x00", *event)
        # The format object, and the single-event functions built on it.
        assert EVENT_FORMAT.encode(event[0].bytes, *event[1:]) == expected
        assert event_preimage(event[0].bytes, *event[1:]) == expected
        # The store's reader: SQLite's Python encoder, or the Postgres SQL expression.
        assert preimage == expected
        # The writer's inlined digest and link, as stored.
        assert linked and link_prev == prev_position
        assert digest == sha256(expected).digest()
        assert (
            stored_hash
            == sha256(
                b"sr-link-v1\x00"
                + prev_hash
                + position.to_bytes(8, "big")
                + prev_position.to_bytes(8, "big")
                + digest
            ).digest()
        )
        prev_position, prev_hash = position, stored_hash
    # And the verifier's own link hashing accepts every one of them.
    assert report.problem is None, report.problem
    assert report.events == len(events)


def test_snapshots_are_signed_over_the_same_layout_under_their_own_tag(
    settings: Settings,
) -> None:
    snapshots = awkward_events(settings)
    app = open_system(settings).app
    try:
        recorder = app.snapshots.recorder  # type: ignore[union-attr]
        recorder.insert_events([StoredEvent(*snapshot) for snapshot in snapshots])
        # The loading side checks each signature over what it reads back: all accepted.
        for aggregate, version, topic, state in snapshots:
            (loaded,) = recorder.select_events(aggregate, lte=version, desc=True, limit=1)
            assert (loaded.originator_version, loaded.topic, loaded.state) == (
                version,
                topic,
                state,
            )
    finally:
        app.close()

    key = load_public_key(settings.public_key_path)
    reader = open_reader(settings)
    try:
        stored_snapshots = list(reader.snapshots())
    finally:
        reader.close()
    assert len(stored_snapshots) == len(snapshots)
    for snapshot in stored_snapshots:
        aggregate = UUID(bytes=stored.aggregate_id(snapshot.originator_id))
        assert isinstance(snapshot.originator_version, int)
        assert isinstance(snapshot.topic, str) and isinstance(snapshot.state, bytes)
        fields = (snapshot.originator_version, snapshot.topic, snapshot.state)
        expected = documented_preimage(b"sr-snapshot-v1\x00", aggregate, *fields)
        assert SNAPSHOT_FORMAT.encode(aggregate.bytes, *fields) == expected
        assert isinstance(snapshot.signature, bytes)
        key.verify(snapshot.signature, expected)  # raises if not the audit key's over these bytes
