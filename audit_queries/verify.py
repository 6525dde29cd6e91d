"""Verification of the audit ledger: the hash chain, the checkpoints, the witness, the snapshots.

Checks that the ledger's tables are still the ones the ledger created, walks
every stored event in position order beside its chain link, then checks the
checkpoint sequence against the chain and the witness file, and every snapshot's
signature, and reports the first position where the store no longer matches
what was recorded.  The store is treated as hostile: whatever a column holds,
the outcome is a verdict with a position, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.ledger import stored
from adapters.ledger.chain import GENESIS_HASH, GENESIS_POSITION, LINK_FORMAT
from adapters.ledger.checkpoints import (
    GENESIS_DIGEST,
    Checkpoint,
    Witness,
    load_public_key,
    signature_is_valid,
    stored_checkpoint,
)
from adapters.ledger.snapshots import why_untrusted
from adapters.settings import Settings
from audit_queries.ledger_reader import LedgerReader, StoredSnapshot, open_reader

# What can be wrong, as reported by `strongroom audit verify`.
ALTERED = "altered"
MISSING = "missing"
INSERTED = "inserted"
REORDERED = "reordered"
UNSIGNED_TAIL = "unsigned tail"
BAD_SIGNATURE = "bad signature"
FORGED_SNAPSHOT = "forged snapshot"

# Where a problem is reported when the ledger's tables themselves were changed:
# nothing in them can be trusted, from the start of the log.
START_OF_LOG = 1

_PROGRESS_EVERY = 50_000


@dataclass(frozen=True)
class Problem:
    position: int
    kind: str
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    events: int
    checkpoints: int
    last_position: int
    unsigned: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _Walk:
    events: int = 0
    last_position: int = GENESIS_POSITION
    problem: Problem | None = None
    unsigned: int = 0
    first_unsigned: int | None = None


def verify_store(
    settings: Settings,
    *,
    public_key: Path | None = None,
    progress: Callable[[int], None] | None = None,
    on_bound: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the store `settings` name, with its home's public key and witness."""
    key = load_public_key(public_key or settings.public_key_path)
    witness: Checkpoint | stored.Malformed | None
    try:
        witness = Witness(settings.witness_path).read()
    except stored.Malformed as unreadable:
        witness = unreadable
    reader = open_reader(settings)
    try:
        if on_bound is not None:
            on_bound(reader.bound())
        return verify_ledger(
            reader,
            key,
            checkpoint_every=settings.checkpoint_every,
            witness=witness,
            progress=progress,
        )
    finally:
        reader.close()


def verify_ledger(
    reader: LedgerReader,
    public_key: Ed25519PublicKey,
    *,
    checkpoint_every: int,
    witness: Checkpoint | stored.Malformed | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check the whole ledger; the report names the first bad position, if any."""
    faults = reader.schema_faults()
    if faults:
        # Its queries would read columns of types the ledger never gave them.
        return _tables_changed(faults)
    # Checkpoints first, then the bound: every signed position is then inside the walk.
    entries = _read_checkpoints(reader)
    checkpoints = [entry for entry in entries if isinstance(entry, Checkpoint)]
    upto = reader.bound()
    signed_positions = {c.position for c in checkpoints}
    sealed_up_to = max(signed_positions, default=GENESIS_POSITION)
    hashes_at_checkpoints: dict[int, bytes] = {}
    walk = _walk_chain(
        reader, upto, signed_positions, hashes_at_checkpoints, sealed_up_to, progress
    )

    problems = [walk.problem] if walk.problem else []
    problems += _check_positions(reader, upto)
    problems += check_checkpoints(
        entries, public_key, walk.problem, walk.last_position, hashes_at_checkpoints
    )
    if isinstance(witness, stored.Malformed):
        problems.append(_unreadable_witness(witness, checkpoints))
    elif witness is not None:
        problems += _check_witness(witness, checkpoints, public_key, walk)
    problems += _check_snapshots(reader, public_key, upto)
    problems += _check_unsigned_tail(walk, sealed_up_to, checkpoint_every)
    first = min(problems, key=lambda p: p.position) if problems else None
    return VerifyReport(
        events=walk.events,
        checkpoints=len(checkpoints),
        last_position=walk.last_position,
        unsigned=walk.unsigned,
        problem=first,
    )


def _tables_changed(faults: list[str]) -> VerifyReport:
    problem = Problem(
        START_OF_LOG, ALTERED, f"the ledger's tables were changed: {'; '.join(faults)}"
    )
    return VerifyReport(
        events=0, checkpoints=0, last_position=GENESIS_POSITION, unsigned=0, problem=problem
    )


def _check_unsigned_tail(walk: _Walk, sealed_up_to: int, checkpoint_every: int) -> list[Problem]:
    if walk.problem is not None or walk.unsigned < checkpoint_every:
        return []
    assert walk.first_unsigned is not None
    return [
        Problem(
            walk.first_unsigned,
            UNSIGNED_TAIL,
            f"{walk.unsigned} events after position {sealed_up_to} carry no signed "
            f"checkpoint; the ledger seals at least every {checkpoint_every} events",
        )
    ]


def _walk_chain(
    reader: LedgerReader,
    upto: int,
    signed_positions: set[int],
    hashes_at_checkpoints: dict[int, bytes],
    sealed_up_to: int,
    progress: Callable[[int], None] | None,
) -> _Walk:
    walk = _Walk()
    last_position, last_hash = GENESIS_POSITION, GENESIS_HASH
    count = 0
    # The hot loop: one pass, two hashes an event, locals only.  Comparisons with
    # `!=` hold for values of any type; only the slow paths look closer.
    hash_link = LINK_FORMAT.hash
    for position, preimage, linked, prev_position, digest, stored_hash in reader.rows(upto):
        if not linked:
            walk.problem = Problem(
                position, INSERTED, "this event has no chain link: the ledger did not record it"
            )
            break
        if preimage is None:
            walk.problem = Problem(
                position,
                ALTERED,
                "the stored event is not what the ledger wrote: " + reader.describe_event(position),
            )
            break
        if prev_position != last_position:
            intact = (
                sha256(preimage).digest() == digest
                and hash_link(last_hash, position, last_position, digest) == stored_hash
            )
            walk.problem = _broken_link(reader, position, prev_position, last_position, intact)
            break
        if sha256(preimage).digest() != digest:
            walk.problem = _changed_content(reader, position, preimage)
            break
        if hash_link(last_hash, position, last_position, digest) != stored_hash:
            walk.problem = Problem(position, ALTERED, "the chain link itself was changed")
            break
        if position in signed_positions:
            hashes_at_checkpoints[position] = stored_hash
        if position > sealed_up_to:
            walk.unsigned += 1
            if walk.first_unsigned is None:
                walk.first_unsigned = position
        last_position, last_hash = position, stored_hash
        count += 1
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress(count)
    walk.events = count
    walk.last_position = last_position
    if walk.problem is None:
        # A link past the last event: the event it chained was removed.
        orphan = reader.first_link_after(last_position, upto)
        if orphan is not None:
            walk.problem = Problem(
                orphan, MISSING, "the chain records an event here that the store no longer holds"
            )
    if progress is not None:
        progress(count)
    return walk


def _broken_link(
    reader: LedgerReader, position: int, prev_position: object, last_position: int, intact: bool
) -> Problem:
    """The link at `position` does not name the walk's last position as its predecessor."""
    if type(prev_position) is not int:
        return Problem(
            position,
            ALTERED,
            f"the chain link's prev_position holds {stored.describe(prev_position)}, "
            "not a position",
        )
    if intact or not GENESIS_POSITION <= prev_position < position:
        # The link's hash still binds it to the walk's last position (or it names
        # a position no link can follow): only its prev_position column was changed.
        return Problem(
            position,
            ALTERED,
            f"the chain link's prev_position was changed from {last_position} to {prev_position}",
        )
    if prev_position > last_position:
        return Problem(
            prev_position,
            MISSING,
            f"the event at position {prev_position} is gone (the chain link at {position} "
            "follows it)",
        )
    # The link skips back over positions: the first of them was never chained.
    inserted = reader.first_event_after(prev_position) or last_position
    return Problem(
        inserted,
        INSERTED,
        f"position {inserted} is not part of the recorded chain: the link at {position} "
        f"follows position {prev_position}",
    )


def _check_positions(reader: LedgerReader, upto: int) -> list[Problem]:
    """Events the walk over positions 1.. cannot see, which the library would still load."""
    lowest = reader.lowest_position()
    if lowest is not None and lowest <= GENESIS_POSITION:
        return [
            Problem(
                lowest,
                INSERTED,
                f"an event sits at position {lowest}, before the log's first position: "
                "the ledger never puts one there",
            )
        ]
    unplaced = reader.events_without_position()
    if unplaced:
        return [
            Problem(
                upto + 1,
                INSERTED,
                f"{unplaced} event(s) have no position at all: the ledger never writes one",
            )
        ]
    return []


def _changed_content(reader: LedgerReader, position: int, preimage: bytes) -> Problem:
    recorded_at = reader.position_of_digest(sha256(preimage).digest())
    if recorded_at is not None and recorded_at != position:
        return Problem(
            position,
            REORDERED,
            f"this position holds the event the chain recorded at position {recorded_at}",
        )
    return Problem(position, ALTERED, "the stored event differs from what the chain recorded")


def _read_checkpoints(reader: LedgerReader) -> list[Checkpoint | stored.Malformed]:
    """The stored checkpoints in order, each one either well-formed or why it is not."""
    entries: list[Checkpoint | stored.Malformed] = []
    for row in reader.checkpoints():
        try:
            entries.append(stored_checkpoint(*row))
        except stored.Malformed as malformed:
            entries.append(malformed)
    return entries


def check_checkpoints(
    entries: list[Checkpoint | stored.Malformed],
    public_key: Ed25519PublicKey,
    walk_problem: Problem | None,
    last_position: int,
    hashes_at_checkpoints: dict[int, bytes],
    *,
    holder: str = "the store",
    deleted: str = MISSING,
) -> list[Problem]:
    """The checkpoint chain against the walk of the events (in a store, or an export).

    `entries` are the checkpoints in order; `hashes_at_checkpoints` the chain
    hashes the walk found at their positions, up to its first problem (if any)
    and its last position. A gap in the sequence is reported as `deleted`.
    """
    previous_digest, previous_position = GENESIS_DIGEST, GENESIS_POSITION
    for expected_seq, checkpoint in enumerate(entries, start=1):
        start = previous_position + 1
        if isinstance(checkpoint, stored.Malformed):
            return [
                Problem(
                    start,
                    BAD_SIGNATURE,
                    f"the checkpoint in the place of checkpoint {expected_seq} cannot carry "
                    f"a signature by the audit key: its {checkpoint}",
                )
            ]
        if checkpoint.seq != expected_seq:
            gone = (
                f"checkpoint {expected_seq} was"
                if checkpoint.seq == expected_seq + 1
                else f"checkpoints {expected_seq} to {checkpoint.seq - 1} were"
            )
            return [Problem(start, deleted, f"{gone} deleted from {holder}")]
        if not signature_is_valid(checkpoint, public_key):
            return [
                Problem(
                    start,
                    BAD_SIGNATURE,
                    f"checkpoint {checkpoint.seq} (position {checkpoint.position}) "
                    "does not carry a valid signature by the audit key",
                )
            ]
        if checkpoint.previous_digest != previous_digest:
            return [
                Problem(
                    start,
                    ALTERED,
                    f"checkpoint {checkpoint.seq} does not follow checkpoint {checkpoint.seq - 1}",
                )
            ]
        if walk_problem is None or checkpoint.position < walk_problem.position:
            held = hashes_at_checkpoints.get(checkpoint.position)
            if held is None and walk_problem is None:
                if checkpoint.position > last_position:
                    return [
                        Problem(
                            last_position + 1,
                            MISSING,
                            f"{holder} ends at position {last_position} but checkpoint "
                            f"{checkpoint.seq} signed position {checkpoint.position}: "
                            "the tail was removed",
                        )
                    ]
                return [
                    Problem(
                        checkpoint.position,
                        MISSING,
                        f"checkpoint {checkpoint.seq} signed position {checkpoint.position}, "
                        f"which {holder} no longer holds",
                    )
                ]
            if held is not None and held != checkpoint.chain_hash:
                return [
                    Problem(
                        start,
                        ALTERED,
                        f"the chain between positions {start} and {checkpoint.position} was "
                        f"rewritten: checkpoint {checkpoint.seq} signed a different hash",
                    )
                ]
        previous_digest, previous_position = checkpoint.digest(), checkpoint.position
    return []


def _unreadable_witness(error: stored.Malformed, checkpoints: list[Checkpoint]) -> Problem:
    # The witness vouches for the newest checkpoint: that is what can no longer be confirmed.
    newest = max((c.position for c in checkpoints), default=START_OF_LOG)
    return Problem(newest, BAD_SIGNATURE, str(error))


def _check_snapshots(
    reader: LedgerReader, public_key: Ed25519PublicKey, upto: int
) -> list[Problem]:
    """Every snapshot must carry the audit key's signature; the earliest forged one is reported.

    Its position is that of the event at the snapshot's aggregate and version;
    a snapshot of a version no event has is reported after the end of the log.
    """
    first: Problem | None = None
    for snapshot in reader.snapshots():
        reason = why_untrusted(
            public_key,
            snapshot.originator_id,
            snapshot.originator_version,
            snapshot.topic,
            snapshot.state,
            snapshot.signature,
        )
        if reason is None:
            continue
        position = snapshot.position if snapshot.position is not None else upto + 1
        if first is None or position < first.position:
            first = Problem(position, FORGED_SNAPSHOT, _forged_snapshot_detail(snapshot, reason))
    return [first] if first is not None else []


def _forged_snapshot_detail(snapshot: StoredSnapshot, reason: str) -> str:
    try:
        aggregate = str(UUID(bytes=stored.aggregate_id(snapshot.originator_id)))
    except stored.Malformed:
        aggregate = f"({stored.describe(snapshot.originator_id)})"
    version = snapshot.originator_version
    shown = str(version) if type(version) is int else f"({stored.describe(version)})"
    where = "" if snapshot.position is not None else "; the log holds no event at that version"
    return (
        f"the snapshot of aggregate {aggregate} at version {shown} would be refused "
        f"on load: {reason}{where}"
    )


def _check_witness(
    witness: Checkpoint,
    checkpoints: list[Checkpoint],
    public_key: Ed25519PublicKey,
    walk: _Walk,
) -> list[Problem]:
    if not signature_is_valid(witness, public_key):
        return [
            Problem(
                witness.position,
                BAD_SIGNATURE,
                "the witness file's checkpoint is not signed by the audit key",
            )
        ]
    by_seq = {c.seq: c for c in checkpoints}
    stored = by_seq.get(witness.seq)
    if stored is None:
        newest = max(checkpoints, key=lambda c: c.seq, default=None)
        if walk.last_position < witness.position:
            # Events the witness saw signed are gone: the tail of the store was cut.
            position = walk.last_position + 1
        else:
            # The events are there but their newest checkpoints were removed.
            position = (newest.position if newest is not None else GENESIS_POSITION) + 1
        return [
            Problem(
                position,
                MISSING,
                f"the witness holds checkpoint {witness.seq} (position {witness.position}) but the "
                f"store's checkpoints end at {newest.seq if newest else 'none'}: "
                "the tail was removed",
            )
        ]
    if stored.signature != witness.signature:
        return [
            Problem(
                witness.position,
                ALTERED,
                f"checkpoint {witness.seq} in the store differs from the witness copy",
            )
        ]
    return []
