"""Keeps the hash chain and the checkpoints in step with every insert.

The same logic serves both stores: each dialect supplies its SQL (`LedgerSQL`)
and a cursor with `execute`, `executemany` and `fetchone` returning rows that
can be read by column name.  Everything here runs inside the transaction that
inserts the events, after the store has serialised writers (SQLite's write
lock, the EXCLUSIVE table lock on Postgres), so the head read here is the head.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import StoredEvent

from adapters.ledger import stored
from adapters.ledger.chain import (
    GENESIS_HASH,
    GENESIS_POSITION,
    Link,
    extend,
    originator_bytes,
)
from adapters.ledger.checkpoints import (
    GENESIS_DIGEST,
    Checkpoint,
    CheckpointSigner,
    Witness,
    stored_checkpoint,
)
from adapters.ledger.schema import CHECKPOINTS, LedgerTables


@dataclass(frozen=True)
class LedgerSQL:
    """The statements one store needs, in its own parameter style."""

    create: Sequence[str]
    select_head: str  # -> position, hash, sealed_position (newest checkpoint's position)
    insert_links: Callable[[Any, list[Link]], None]  # (cursor, links): the fastest bulk insert
    select_last_checkpoint: str  # -> the checkpoint columns
    insert_checkpoint: str  # (seq, position, chain_hash, previous_digest, sealed_at, key_id, sig)

    @classmethod
    def of(cls, tables: LedgerTables, insert_links: Callable[[Any, list[Link]], None]) -> LedgerSQL:
        """Everything from the shared table definitions, but the store's own bulk insert."""
        return cls(
            create=tables.create_chain_tables(),
            select_head=tables.select_head(),
            insert_links=insert_links,
            select_last_checkpoint=tables.select_last_checkpoint(),
            insert_checkpoint=tables.insert_checkpoint(),
        )


def chain_head(row: Any) -> tuple[int, bytes, int]:
    """The head link's position and hash, and the newest checkpoint's position.

    Whoever can write the database can put anything in these columns; the
    ledger must still record (a Hash alert is recorded through it), so a value
    it did not write is read as the start of a chain: the verifier names the
    altered row itself.
    """
    if row is None:
        return GENESIS_POSITION, GENESIS_HASH, 0
    position, chain_hash, sealed = row["position"], row["hash"], row["sealed_position"]
    if type(position) is not int or position < GENESIS_POSITION or type(chain_hash) is not bytes:
        return GENESIS_POSITION, GENESIS_HASH, 0
    if type(sealed) is not int or not 0 <= sealed <= position:
        sealed = 0  # sealing early is harmless; never sealing again is not
    return position, chain_hash, sealed


class LedgerWriter:
    """Appends chain links and seals checkpoints inside the caller's transaction."""

    def __init__(
        self,
        sql: LedgerSQL,
        *,
        signer: CheckpointSigner,
        checkpoint_every: int,
        clock: Callable[[], datetime],
        witness: Witness | None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.sql = sql
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.clock = clock
        self.witness = witness
        # A checkpoint sealed inside a transaction reaches the witness only after
        # that transaction commits; until then it waits here, per thread.
        self._pending = threading.local()
        # Called after every commit of new events in this process (projections wake).
        self.listeners: list[Callable[[], None]] = []

    def begin(self) -> None:
        """Forget anything pending from an earlier, failed attempt."""
        self._pending.checkpoint = None

    def append(
        self,
        cursor: Any,
        ids: Sequence[int],
        events: Sequence[StoredEvent],
        *,
        head_cursor: Any = None,
    ) -> None:
        """Chain `events`, which the store has just inserted at positions `ids`.

        `head_cursor`, when given, has already run `select_head` in this
        transaction (Postgres queues it in the insert's pipeline, saving a round trip).
        """
        if not events:
            return
        if len(ids) != len(events):
            raise RuntimeError(f"store returned {len(ids)} positions for {len(events)} events")
        if head_cursor is None:
            cursor.execute(self.sql.select_head)
            head_cursor = cursor
        prev_position, prev_hash, sealed = chain_head(head_cursor.fetchone())
        links = extend(
            prev_position,
            prev_hash,
            [
                (
                    position,
                    originator_bytes(event.originator_id),
                    event.originator_version,
                    event.topic,
                    event.state,
                )
                for position, event in zip(ids, events, strict=True)
            ],
        )
        self.sql.insert_links(cursor, links)
        newest_position, _, _, newest_hash = links[-1]
        if self._unsealed_count(sealed, prev_position, len(links)) >= self.checkpoint_every:
            self._seal(cursor, newest_position, newest_hash)

    def _unsealed_count(self, sealed: int, prev_position: int, added: int) -> int:
        # Positions may have gaps, so this over-counts at worst: a checkpoint a
        # little early is harmless, one missed is not.
        return (prev_position - sealed) + added

    def seal_head(self, cursor: Any) -> Checkpoint | None:
        """Seal the current head if events were added since the last checkpoint."""
        self.begin()
        cursor.execute(self.sql.select_head)
        position, chain_hash, sealed = chain_head(cursor.fetchone())
        if position == GENESIS_POSITION or sealed >= position:
            return None
        return self._seal(cursor, position, chain_hash)

    def _seal(self, cursor: Any, position: int, chain_hash: bytes) -> Checkpoint:
        cursor.execute(self.sql.select_last_checkpoint)
        seq, previous_digest = self._after_checkpoint(cursor.fetchone())
        checkpoint = self.signer.sign(
            seq=seq,
            position=position,
            chain_hash=chain_hash,
            previous_digest=previous_digest,
            sealed_at=self.clock(),
        )
        cursor.execute(
            self.sql.insert_checkpoint,
            (
                checkpoint.seq,
                checkpoint.position,
                checkpoint.chain_hash,
                checkpoint.previous_digest,
                checkpoint.sealed_at,
                checkpoint.key_id,
                checkpoint.signature,
            ),
        )
        self._pending.checkpoint = checkpoint
        return checkpoint

    def _after_checkpoint(self, row: Any) -> tuple[int, bytes]:
        """The next checkpoint's number and the digest it names, after the stored newest one."""
        if row is None:
            return 1, GENESIS_DIGEST
        try:
            last = stored_checkpoint(*(row[column.name] for column in CHECKPOINTS.columns))
        except stored.Malformed:
            # An altered checkpoint must not stop the ledger (see `chain_head`);
            # the verifier reports it.
            seq = row["seq"]
            return (seq + 1 if type(seq) is int else 1), GENESIS_DIGEST
        return last.seq + 1, last.digest()

    def committed(self) -> None:
        """The transaction committed: publish what it sealed, tell who listens."""
        checkpoint = getattr(self._pending, "checkpoint", None)
        self._pending.checkpoint = None
        if checkpoint is not None and self.witness is not None:
            self.witness.record(checkpoint)
        for listener in self.listeners:
            listener()
