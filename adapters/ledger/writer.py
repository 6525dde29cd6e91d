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

from adapters.ledger.chain import (
    GENESIS_HASH,
    GENESIS_POSITION,
    Link,
    extend,
    originator_bytes,
)
from adapters.ledger.checkpoints import GENESIS_DIGEST, Checkpoint, CheckpointSigner, Witness


@dataclass(frozen=True)
class LedgerSQL:
    """The statements one store needs, in its own parameter style."""

    create: Sequence[str]
    select_head: str  # -> position, hash, sealed_position (newest checkpoint's position)
    insert_links: Callable[[Any, list[Link]], None]  # (cursor, links): the fastest bulk insert
    select_last_checkpoint: str  # -> the checkpoint columns
    insert_checkpoint: str  # (seq, position, chain_hash, previous_digest, sealed_at, key_id, sig)


def chain_table(events_table: str) -> str:
    return f"{events_table}_chain"


def checkpoint_table(events_table: str) -> str:
    return f"{events_table}_checkpoints"


CHECKPOINT_COLUMNS = "seq, position, chain_hash, previous_digest, sealed_at, key_id, signature"


def checkpoint_from_row(row: Any) -> Checkpoint:
    return Checkpoint(
        seq=row["seq"],
        position=row["position"],
        chain_hash=bytes(row["chain_hash"]),
        previous_digest=bytes(row["previous_digest"]),
        sealed_at=row["sealed_at"],
        key_id=row["key_id"],
        signature=bytes(row["signature"]),
    )


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
        head = head_cursor.fetchone()
        if head is None:
            prev_position, prev_hash, sealed = GENESIS_POSITION, GENESIS_HASH, 0
        else:
            prev_position, prev_hash = head["position"], bytes(head["hash"])
            sealed = head["sealed_position"] or 0
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
        head = cursor.fetchone()
        if head is None or (head["sealed_position"] or 0) >= head["position"]:
            return None
        return self._seal(cursor, head["position"], bytes(head["hash"]))

    def _seal(self, cursor: Any, position: int, chain_hash: bytes) -> Checkpoint:
        cursor.execute(self.sql.select_last_checkpoint)
        row = cursor.fetchone()
        last = checkpoint_from_row(row) if row is not None else None
        checkpoint = self.signer.sign(
            seq=last.seq + 1 if last else 1,
            position=position,
            chain_hash=chain_hash,
            previous_digest=last.digest() if last else GENESIS_DIGEST,
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

    def committed(self) -> None:
        """The transaction committed: publish what it sealed, tell who listens."""
        checkpoint = getattr(self._pending, "checkpoint", None)
        self._pending.checkpoint = None
        if checkpoint is not None and self.witness is not None:
            self.witness.record(checkpoint)
        for listener in self.listeners:
            listener()
