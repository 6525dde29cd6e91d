"""The hot part of verifying an export: each row's digest and link, a batch at a time.

`walk_rows` checks consecutive rows against the chain format of
`adapters/ledger/chain.py` (the one the writer and the store verifier use) and
stops at the first row that does not chain on; it says why, and the verifier
(`audit_queries.export_verify`) works out what happened there.

Files whose positions do not overlap are independent stretches of the chain:
each one's rows chain onto its own first row, whose link the verifier checks
against the stretch before. On Linux, large exports are walked a stretch per
process (`summarise_in_workers`); anything a worker finds wrong is walked again
by the verifier itself, so the verdicts are the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from adapters.ledger.chain import EVENT_FORMAT, LINK_FORMAT
from audit_queries.export_reading import (
    READ_ERRORS,
    DataFile,
    cluster_batches,
    first_defect,
)

# Below this many rows, starting processes costs more than it saves.
PARALLEL_FROM_ROWS = 100_000
MAX_WORKERS = 8

# Why a walk stopped short of the end of its rows.
BROKEN_LINK = "broken link"  # prev_position is not the last position walked
CHANGED = "changed"  # the row does not hash to its chain hash
NOT_HEX = "not hex"  # the chain hash has characters that are not hex digits


class Walked(NamedTuple):
    walked: int  # rows that chain on
    last_position: int
    last_hash: bytes
    stopped: str | None  # why the row after them does not (None: all did)
    digest: bytes | None  # that row's event digest (for BROKEN_LINK and CHANGED)


def walk_rows(rows: pa.RecordBatch, last_position: int, last_hash: bytes) -> Walked:
    """Check that `rows` (in position order, free of defects) chain on from the given link."""
    if rows.num_rows == 0:
        return Walked(0, last_position, last_hash, None, None)
    # The usual case, quickly: every link names the row before it (checked for the
    # batch at once), and the links computed in a row equal the stored ones, all
    # compared at once. Only where that fails is the batch walked row by row.
    positions = rows.column("position")
    prevs = rows.column("prev_position")
    named_before = prevs[0].as_py() == last_position and (
        rows.num_rows == 1 or pc.all(pc.equal(prevs[1:], positions[:-1])).as_py()
    )
    if named_before:
        links = _links(rows, last_hash)
        try:
            stored = bytes.fromhex("".join(rows.column("chain_hash").to_pylist()))
        except ValueError:  # a chain hash of 64 characters, not all hex digits
            stored = b""
        if b"".join(links) == stored:
            return Walked(rows.num_rows, positions[-1].as_py(), links[-1], None, None)
    return _walk_row_by_row(rows, last_position, last_hash)


def _links(rows: pa.RecordBatch, last_hash: bytes) -> list[bytes]:
    """The chain hashes of `rows`, each computed from the one before, as the writer does."""
    # Aggregate ids repeat: each distinct one is decoded once.
    ids = rows.column("aggregate_id").dictionary_encode()
    id_bytes = [bytes.fromhex(text.replace("-", "")) for text in ids.dictionary.to_pylist()]
    # The hot loop: two hashes a row, locals only.
    encode = EVENT_FORMAT.encoder_for_ids_of(16)
    hash_link = LINK_FORMAT.hash
    links: list[bytes] = []
    append = links.append
    for position, prev, index, version, topic, payload in zip(
        rows.column("position").to_pylist(),
        rows.column("prev_position").to_pylist(),
        ids.indices.to_pylist(),
        rows.column("version").to_pylist(),
        rows.column("topic").to_pylist(),
        rows.column("payload").cast(pa.binary()).to_pylist(),
        strict=True,
    ):
        digest = sha256(encode(id_bytes[index], version, topic, payload)).digest()
        last_hash = hash_link(last_hash, position, prev, digest)
        append(last_hash)
    return links


def _walk_row_by_row(rows: pa.RecordBatch, last_position: int, last_hash: bytes) -> Walked:
    """As `walk_rows`, one row at a time: where a row does not chain on, and why."""
    ids = rows.column("aggregate_id").dictionary_encode()
    id_bytes = [bytes.fromhex(text.replace("-", "")) for text in ids.dictionary.to_pylist()]
    encode = EVENT_FORMAT.encoder_for_ids_of(16)
    hash_link = LINK_FORMAT.hash
    fromhex = bytes.fromhex
    count = 0
    try:
        for position, prev, index, version, topic, payload, text in zip(
            rows.column("position").to_pylist(),
            rows.column("prev_position").to_pylist(),
            ids.indices.to_pylist(),
            rows.column("version").to_pylist(),
            rows.column("topic").to_pylist(),
            rows.column("payload").cast(pa.binary()).to_pylist(),
            rows.column("chain_hash").to_pylist(),
            strict=True,
        ):
            digest = sha256(encode(id_bytes[index], version, topic, payload)).digest()
            if prev != last_position:
                return Walked(count, last_position, last_hash, BROKEN_LINK, digest)
            link = hash_link(last_hash, position, prev, digest)
            if link != fromhex(text):
                return Walked(count, last_position, last_hash, CHANGED, digest)
            last_position, last_hash = position, link
            count += 1
    except ValueError:  # fromhex: a chain hash of 64 characters, not all hex digits
        return Walked(count, last_position, last_hash, NOT_HEX, None)
    return Walked(count, last_position, last_hash, None, None)


def row_digest(rows: pa.RecordBatch, index: int) -> bytes:
    """The event digest of one row (defect-free): what its chain link was taken over."""
    return sha256(
        EVENT_FORMAT.encode(
            bytes.fromhex(rows.column("aggregate_id")[index].as_py().replace("-", "")),
            rows.column("version")[index].as_py(),
            rows.column("topic")[index].as_py(),
            rows.column("payload").cast(pa.binary())[index].as_py(),
        )
    ).digest()


@dataclass
class Tally:
    """What the walked rows add up to, besides their chain."""

    held: dict[int, bytes] = field(default_factory=dict)  # watched position -> chain hash
    unsigned: int = 0  # rows after the newest checkpoint
    first_unsigned: int | None = None

    def note(self, rows: pa.RecordBatch, count: int, watched: pa.Array, sealed_up_to: int) -> None:
        """Keep the chain hashes at `watched` positions; count the rows no checkpoint signs."""
        if count == 0:
            return
        positions = rows.column("position").slice(0, count)
        hashes = rows.column("chain_hash").slice(0, count)
        for index in pc.indices_nonzero(pc.is_in(positions, value_set=watched)).to_pylist():
            self.held[positions[index].as_py()] = bytes.fromhex(hashes[index].as_py())
        unsigned = pc.greater(positions, sealed_up_to)
        found = int(pc.sum(unsigned).as_py() or 0)
        if found:
            if self.first_unsigned is None:
                self.first_unsigned = positions[pc.index(unsigned, True).as_py()].as_py()
            self.unsigned += found


@dataclass
class Summary:
    """A stretch of the chain walked on its own, from its first row's stored link."""

    ok: bool  # every row chains on from the first, with no defect
    first: tuple[int, int, bytes, bytes] | None = None  # position, prev, digest, stored hash
    events: int = 0
    last_position: int = 0
    last_hash: bytes = b""
    tally: Tally = field(default_factory=Tally)
    copies: dict[int, int] = field(default_factory=dict)


def summarise(
    directory: Path, files: list[DataFile], watched: pa.Array, sealed_up_to: int
) -> Summary:
    """Walk one stretch; any doubt (a defect, a row that does not chain on) is not ok."""
    summary = Summary(ok=False)
    try:
        for batch in cluster_batches(directory, files, summary.copies):
            if first_defect(batch, files) is not None:
                return summary
            rows = batch
            if summary.first is None:
                if not batch.num_rows:
                    continue
                position = batch.column("position")[0].as_py()
                stored = bytes.fromhex(batch.column("chain_hash")[0].as_py())
                prev = batch.column("prev_position")[0].as_py()
                summary.first = (position, prev, row_digest(batch, 0), stored)
                summary.last_position, summary.last_hash = position, stored
                summary.events = 1
                summary.tally.note(batch, 1, watched, sealed_up_to)
                rows = batch.slice(1)
            walked = walk_rows(rows, summary.last_position, summary.last_hash)
            summary.tally.note(rows, walked.walked, watched, sealed_up_to)
            summary.events += walked.walked
            summary.last_position, summary.last_hash = walked.last_position, walked.last_hash
            if walked.stopped is not None:
                return summary
    except READ_ERRORS:
        return summary
    summary.ok = summary.first is not None
    return summary


def workers_for(rows: int, stretches: int, workers: int | None) -> int:
    """How many processes to walk with: 1 unless it pays (and fork is safe: Linux)."""
    if workers is None:
        if not sys.platform.startswith("linux") or rows < PARALLEL_FROM_ROWS:
            return 1
        workers = min(os.cpu_count() or 1, MAX_WORKERS)
    return max(1, min(workers, stretches))


# In a worker: what it walks, handed over when the pool forks it (nothing is pickled).
_SHARED: tuple[Path, list[list[DataFile]], pa.Array, int] | None = None


def _install(shared: tuple[Path, list[list[DataFile]], pa.Array, int]) -> None:
    global _SHARED
    _SHARED = shared


def _summarise_shared(index: int) -> Summary:
    assert _SHARED is not None
    directory, stretches, watched, sealed_up_to = _SHARED
    return summarise(directory, stretches[index], watched, sealed_up_to)


def summarise_in_workers(
    directory: Path,
    stretches: list[list[DataFile]],
    indices: list[int],
    watched: pa.Array,
    sealed_up_to: int,
    workers: int,
) -> Iterator[tuple[int, Summary | None]]:
    """Each stretch's summary (None if its worker failed), in order, `workers` at a time."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_install,
        initargs=((directory, stretches, watched, sealed_up_to),),
    )
    try:
        futures: dict[int, Future[Summary]] = {
            index: pool.submit(_summarise_shared, index) for index in indices
        }
        for index in indices:
            try:
                yield index, futures[index].result()
            except (BrokenProcessPool, OSError):
                yield index, None
    finally:
        # The verifier stops at the first problem: what is still queued is not needed.
        pool.shutdown(wait=True, cancel_futures=True)
