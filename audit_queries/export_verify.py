"""Offline verification of a forensic export, with the audit public key alone.

An auditor's laptop has never seen the server: no database, no Strongroom home.
`verify_export` reads only the export directory and the public key it is given,
and checks over the exported rows what `audit verify` checks in the store:

- every Parquet file under DIR/day=*/, whether the manifest names it or not: a
  file it names that is gone is missing; one it does not name is either left
  over by an interrupted run (rows after the manifest's position, or exact
  copies of rows held elsewhere: a warning, the next export run removes it) or
  inserted;
- the rows in position order: each row's digest recomputed from its aggregate
  id, version, topic and payload, each link's prev_position and chain hash, with
  the chain format of `adapters/ledger/chain.py`, as the store verifier does;
- the signed checkpoints in DIR/_checkpoints/: their signatures by the given key,
  their own chain (no seq missing, each naming its predecessor's digest) and
  each one's chain hash against the exported row at its position, with the
  store verifier's own check (`audit_queries.verify.check_checkpoints`);
- the manifest's position and chain hash against the row at that position, and
  each row's day against the day folder it is filed in.

The first bad position is named with what happened there: altered, missing,
inserted, reordered, bad signature, checkpoint missing. Rows after the newest
checkpoint are an unsigned tail: their chain holds together but nothing signed
vouches for them, which is a warning, as in the store (an export brought up to
date between seals ends with one).

The export is treated as hostile, like the store: a wrong column type, a NULL,
a hash that is not hex, a corrupt Parquet file or a malformed checkpoint is a
finding with a position (or a file name), never a traceback. Reading is in
`export_reading`, the per-row hashing in `export_chain`; this module decides
what a problem is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.ledger import stored
from adapters.ledger.chain import GENESIS_HASH, GENESIS_POSITION, LINK_FORMAT
from adapters.ledger.checkpoints import Checkpoint, key_id_of, load_public_key
from audit_queries.export import MANIFEST
from audit_queries.export_chain import (
    BROKEN_LINK,
    CHANGED,
    Summary,
    Tally,
    row_digest,
    summarise_in_workers,
    walk_rows,
    workers_for,
)
from audit_queries.export_reading import (
    LARGEST,
    NEEDED,
    READ_ERRORS,
    DataFile,
    Entry,
    ManifestView,
    cluster_batches,
    day_of_folder,
    discover,
    first_defect,
    one_line,
    position_in_name,
    read_checkpoints,
    read_manifest,
    read_positions,
)
from audit_queries.verify import (
    ALTERED,
    BAD_SIGNATURE,
    INSERTED,
    MISSING,
    REORDERED,
    UNSIGNED_TAIL,
    Problem,
    check_checkpoints,
)

__all__ = [
    "ALTERED",
    "BAD_SIGNATURE",
    "CHECKPOINT_MISSING",
    "INSERTED",
    "LEFTOVER",
    "MISSING",
    "NEEDED",
    "REORDERED",
    "UNSIGNED_TAIL",
    "ExportReport",
    "Finding",
    "verify_export",
]

# Besides the store verifier's kinds: a signed checkpoint file removed from the
# export, and (a warning) a file an interrupted export run left behind.
CHECKPOINT_MISSING = "checkpoint missing"
LEFTOVER = "leftover file"

Progress = Callable[[int, int], None]  # (rows done, rows in all)


@dataclass(frozen=True)
class Finding:
    """What is wrong (or, in `ExportReport.warnings`, worth knowing), and where."""

    position: int | None  # None only when no position can be named: see `file`
    kind: str
    detail: str
    file: str | None = None  # relative to the export directory

    @property
    def where(self) -> str:
        if self.position is not None:
            return f"position {self.position}"
        return self.file or "the export"


@dataclass(frozen=True)
class ExportReport:
    events: int  # rows whose chain was checked
    files: int  # Parquet files read
    checkpoints: int
    last_position: int
    signed_up_to: int  # the newest signed checkpoint's position
    unsigned: int  # rows after it
    key_id: str  # the public key's id, as checkpoints name it
    problem: Finding | None
    warnings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_export(
    directory: Path,
    public_key: Ed25519PublicKey | Path | str,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ExportReport:
    """Check the export in `directory` with the audit public key alone; name the first bad position.

    `public_key` is the key or a PEM file (an unreadable file raises
    `adapters.ledger.checkpoints.AuditKeyError`); nothing but the directory is
    read. `workers`: processes to walk with (default: one per CPU on Linux, for
    large exports; 1: this process only). The verdict is the same either way.
    """
    key = (
        public_key
        if isinstance(public_key, Ed25519PublicKey)
        else load_public_key(Path(public_key))
    )
    return _Verification(Path(directory), key, progress, workers).run()


@dataclass
class _Cluster:
    """Files whose position ranges overlap: one stretch of the chain, walked in position order."""

    files: list[DataFile]
    entry_hash: bytes = GENESIS_HASH  # the chain hash before its first row

    @property
    def last(self) -> int:
        return max(f.last for f in self.files)


@dataclass
class _Walk:
    last_position: int = GENESIS_POSITION
    last_hash: bytes = GENESIS_HASH
    events: int = 0
    problem: Finding | None = None
    tally: Tally = field(default_factory=Tally)


class _Verification:
    def __init__(
        self,
        directory: Path,
        key: Ed25519PublicKey,
        progress: Progress | None,
        workers: int | None,
    ) -> None:
        self.directory = directory
        self.key = key
        self.key_id = key_id_of(key)
        self.progress = progress
        self.workers = workers
        self.findings: list[Finding] = []  # failures: the first position wins
        self.secondary: list[Finding] = []  # failures reported only if nothing else is
        self.warnings: list[Finding] = []
        self.files: list[DataFile] = []
        self.copies: dict[str, int] = {}  # rows of a file dropped as exact copies of others'
        self.walk = _Walk()
        self.total = 0

    def run(self) -> ExportReport:
        try:
            self.manifest = read_manifest(self.directory)
        except FileNotFoundError:
            return self._report(_NO_MANIFEST, [])
        except stored.Malformed as malformed:
            return self._report(Finding(None, ALTERED, f"{MANIFEST} {malformed}", MANIFEST), [])
        entries, checkpoint_leftovers = read_checkpoints(self.directory)
        checkpoints = [entry for entry in entries if isinstance(entry, Checkpoint)]
        signed = {c.position for c in checkpoints}
        self.sealed_up_to = max(signed, default=GENESIS_POSITION)
        self.watched = pa.array(sorted(signed | {self.manifest.position}), pa.int64())

        data, temporary = discover(self.directory)
        for relative in temporary + checkpoint_leftovers:
            self.warnings.append(
                Finding(
                    None,
                    LEFTOVER,
                    f"{relative} is a temporary file an interrupted export run left; it is "
                    "not part of the export (the next run removes it)",
                    relative,
                )
            )
        for relative in sorted(set(self.manifest.files) - set(data)):
            entry = self.manifest.files[relative]
            self.findings.append(
                Finding(
                    entry.first,
                    MISSING,
                    f"{relative}, which the manifest names (positions {entry.first} to "
                    f"{entry.last}, {entry.rows} rows), is gone",
                    relative,
                )
            )
        for relative in data:
            surveyed = self._survey(relative)
            if isinstance(surveyed, DataFile):
                self.files.append(surveyed)
            elif surveyed is not None:
                self.findings.append(surveyed)
        self.total = sum(f.rows for f in self.files)

        # A file that cannot be walked (gone, unreadable) is where the walk must stop:
        # past it, the chain would seem to skip, and the tail to be cut.
        barrier = min(
            (f for f in self.findings if f.position is not None),
            key=lambda f: f.position or 0,
            default=None,
        )
        self._walk_all(None if barrier is None else barrier.position)
        if self.walk.problem is not None:
            self.findings.append(self.walk.problem)
        elif barrier is None:
            self._check_against_manifest()
        self._check_checkpoints(entries, checkpoints, self.walk.problem or barrier)
        self._check_leftovers()
        problem = self._first_problem()
        tally = self.walk.tally
        if problem is None and tally.unsigned:
            self.warnings.append(
                Finding(
                    tally.first_unsigned,
                    UNSIGNED_TAIL,
                    f"{tally.unsigned} events after position {self.sealed_up_to} carry no "
                    "signed checkpoint: their chain holds together, but nothing signed "
                    "vouches for them",
                )
            )
        return self._report(problem, checkpoints)

    def _report(self, problem: Finding | None, checkpoints: list[Checkpoint]) -> ExportReport:
        return ExportReport(
            events=self.walk.events,
            files=len(self.files),
            checkpoints=len(checkpoints),
            last_position=self.walk.last_position,
            signed_up_to=max((c.position for c in checkpoints), default=GENESIS_POSITION),
            unsigned=self.walk.tally.unsigned,
            key_id=self.key_id,
            problem=problem,
            warnings=tuple(self.warnings),
        )

    def _first_problem(self) -> Finding | None:
        found = self.findings or self.secondary
        if not found:
            return None
        # Stable: of two findings at one position, the one recorded first is the clearer.
        return min(found, key=lambda f: -1 if f.position is None else f.position)

    # -- first: every file's positions, and whether it is Parquet with the chain's columns

    def _survey(self, relative: str) -> DataFile | Finding | None:
        entry = self.manifest.files.get(relative)
        hint = entry.first if entry is not None else position_in_name(relative)
        try:
            positions = read_positions(self.directory / relative)
        except stored.Malformed as wrong:
            return Finding(hint, ALTERED, f"{relative} {wrong}", relative)
        except READ_ERRORS as error:
            return Finding(
                hint, ALTERED, f"{relative} cannot be read as Parquet ({one_line(error)})", relative
            )
        if positions.null_count:
            # Where the row sits: after the row before it (files are written in order).
            index = pc.index(positions.is_null(), True).as_py()
            before = positions[index - 1].as_py() if index > 0 else None
            where = before + 1 if before is not None and before < LARGEST else hint
            return Finding(
                where,
                ALTERED,
                f"{relative} holds {positions.null_count} row(s) with no position (NULL)",
                relative,
            )
        if len(positions) == 0:
            if entry is None:
                self.warnings.append(
                    Finding(None, LEFTOVER, f"{relative} holds no rows; nothing reads it", relative)
                )
                return None
            return Finding(
                entry.first,
                MISSING,
                f"{relative} holds no rows; the manifest says it holds {entry.rows}",
                relative,
            )
        lowest = int(pc.min(positions).as_py())
        if lowest <= GENESIS_POSITION:
            return Finding(
                lowest,
                INSERTED,
                f"{relative} holds a row at position {lowest}, before the log's first "
                "position: the ledger never puts one there",
                relative,
            )
        day = day_of_folder(relative)
        if day is None:
            return Finding(
                lowest, ALTERED, f"{relative} is in a folder that names no day", relative
            )
        in_order = len(positions) < 2 or bool(
            pc.all(pc.greater(positions[1:], positions[:-1])).as_py()
        )
        return DataFile(relative, day, entry, positions, in_order)

    # -- then the chain, in position order

    def _clusters(self) -> list[_Cluster]:
        clusters: list[_Cluster] = []
        end = GENESIS_POSITION - 1
        for file in sorted(self.files, key=lambda f: (f.first, f.last)):
            if clusters and file.first <= end:
                clusters[-1].files.append(file)
            else:
                clusters.append(_Cluster([file]))
            end = max(end, file.last)
        return clusters

    def _walk_all(self, barrier: int | None) -> None:
        """Walk the rows in position order, up to the first problem (or to `barrier`)."""
        clusters = [c for c in self._clusters() if barrier is None or c.files[0].first < barrier]
        for cluster, summary in self._summaries(clusters, barrier):
            if summary is not None and self._continues(summary):
                self._take(cluster, summary)
                continue
            if not self._walk_cluster(cluster, barrier):
                return

    def _summaries(
        self, clusters: list[_Cluster], barrier: int | None
    ) -> Iterator[tuple[_Cluster, Summary | None]]:
        """Each cluster, with its summary if it was walked in another process (else None)."""
        # Only whole stretches before the barrier can be walked elsewhere.
        eligible = [i for i, c in enumerate(clusters) if barrier is None or c.last < barrier]
        walked_elsewhere = set(eligible)
        workers = workers_for(self.total, len(eligible), self.workers)
        summaries: Iterator[tuple[int, Summary | None]] = iter(())
        if workers > 1 and len(eligible) > 1:
            summaries = summarise_in_workers(
                self.directory,
                [c.files for c in clusters],
                eligible,
                self.watched,
                self.sealed_up_to,
                workers,
            )
        ready: dict[int, Summary | None] = {}
        try:
            for index, cluster in enumerate(clusters):
                while index in walked_elsewhere and index not in ready:
                    try:
                        done, summary = next(summaries)
                    except StopIteration:
                        break
                    except (OSError, BrokenExecutor):  # no processes here: walk it in this one
                        summaries = iter(())
                        break
                    ready[done] = summary
                yield cluster, ready.pop(index, None)
        finally:
            close = getattr(summaries, "close", None)
            if close is not None:
                close()

    def _continues(self, summary: Summary) -> bool:
        """A stretch walked elsewhere was all well, and its first row chains onto the walk."""
        if not summary.ok or summary.first is None:
            return False
        position, prev, digest, stored_hash = summary.first
        walk = self.walk
        return (
            prev == walk.last_position
            and LINK_FORMAT.hash(walk.last_hash, position, prev, digest) == stored_hash
        )

    def _take(self, cluster: _Cluster, summary: Summary) -> None:
        walk = self.walk
        walk.events += summary.events
        walk.last_position, walk.last_hash = summary.last_position, summary.last_hash
        walk.tally.held.update(summary.tally.held)
        if walk.tally.first_unsigned is None:
            walk.tally.first_unsigned = summary.tally.first_unsigned
        walk.tally.unsigned += summary.tally.unsigned
        for number, count in summary.copies.items():
            self.copies[cluster.files[number].relative] = count
        self._advanced()

    def _advanced(self) -> None:
        if self.progress is not None:
            self.progress(self.walk.events, self.total)

    def _walk_cluster(self, cluster: _Cluster, barrier: int | None) -> bool:
        """Walk one cluster here; False once a problem is found (the walk stops there)."""
        walk = self.walk
        cluster.entry_hash = walk.last_hash
        copies: dict[int, int] = {}
        try:
            for batch in cluster_batches(self.directory, cluster.files, copies):
                stop = -1
                if barrier is not None:
                    found = pc.index(pc.greater_equal(batch.column("position"), barrier), True)
                    stop = found.as_py()
                if not self._walk_batch(batch if stop < 0 else batch.slice(0, stop), cluster):
                    return False
                if stop >= 0:
                    return False
        except READ_ERRORS as error:
            walk.problem = Finding(
                walk.last_position + 1,
                ALTERED,
                f"{', '.join(f.relative for f in cluster.files)} cannot be read past "
                f"position {walk.last_position} ({one_line(error)})",
                cluster.files[0].relative,
            )
            return False
        finally:
            for number, count in copies.items():
                self.copies[cluster.files[number].relative] = count
        return True

    def _walk_batch(self, batch: pa.RecordBatch, cluster: _Cluster) -> bool:
        walk = self.walk
        defect = first_defect(batch, cluster.files)
        rows = batch if defect is None else batch.slice(0, defect[0])
        walked = walk_rows(rows, walk.last_position, walk.last_hash)
        walk.tally.note(rows, walked.walked, self.watched, self.sealed_up_to)
        walk.events += walked.walked
        walk.last_position, walk.last_hash = walked.last_position, walked.last_hash
        self._advanced()
        if walked.stopped is not None:
            index = walked.walked
            file = cluster.files[rows.column("_file")[index].as_py()].relative
            if walked.stopped == BROKEN_LINK:
                assert walked.digest is not None
                walk.problem = self._broken_link(rows, index, file, walked.digest)
            elif walked.stopped == CHANGED:
                assert walked.digest is not None
                walk.problem = self._changed(rows, index, file, cluster, walked.digest)
            else:
                value = stored.describe(rows.column("chain_hash")[index].as_py())
                walk.problem = Finding(
                    rows.column("position")[index].as_py(),
                    ALTERED,
                    f"{file}: the row's chain_hash holds {value}, not 64 hex digits",
                    file,
                )
        if walk.problem is None and defect is not None:
            index, detail = defect
            file = cluster.files[batch.column("_file")[index].as_py()].relative
            position = batch.column("position")[index].as_py()
            walk.problem = Finding(position, ALTERED, f"{file}: {detail}", file)
        return walk.problem is None

    # -- what happened where a row does not chain on (only ever run once)

    def _broken_link(self, rows: pa.RecordBatch, index: int, file: str, digest: bytes) -> Finding:
        """The link at this row does not name the walk's last position as its predecessor."""
        last_position, last_hash = self.walk.last_position, self.walk.last_hash
        position = rows.column("position")[index].as_py()
        prev = rows.column("prev_position")[index].as_py()
        if position == last_position:
            return Finding(
                position, INSERTED, f"position {position} is held by two different rows", file
            )
        stored_hash = bytes.fromhex(rows.column("chain_hash")[index].as_py())
        intact = LINK_FORMAT.hash(last_hash, position, last_position, digest) == stored_hash
        # A link that skips ahead: was the whole row, link and all, renumbered?
        ahead = not intact and prev > last_position
        recorded_at = self._where_recorded(prev, digest, stored_hash) if ahead else None
        if recorded_at is not None and recorded_at != position:
            return Finding(
                position,
                REORDERED,
                f"this position holds the event the chain recorded at position {recorded_at}",
                file,
            )
        if intact or not GENESIS_POSITION <= prev < position:
            # The link's hash still binds it to the walk's last position (or it names
            # a position no link can follow): only its prev_position was changed.
            return Finding(
                position,
                ALTERED,
                f"the chain link's prev_position was changed from {last_position} to {prev}",
                file,
            )
        if prev > last_position:
            if any(f.holds(prev) for f in self.files):
                return Finding(
                    position,
                    REORDERED,
                    f"this row's chain link follows position {prev}, which the export holds "
                    "after it: rows were moved",
                    file,
                )
            return Finding(
                prev,
                MISSING,
                f"the event at position {prev} is gone (the chain link at {position} follows it)",
                file,
            )
        # The link skips back over positions: the first of them was never chained.
        later = [p for p in (f.first_after(prev) for f in self.files) if p is not None]
        inserted = min(later, default=last_position)
        return Finding(
            inserted,
            INSERTED,
            f"position {inserted} is not part of the recorded chain: the link at {position} "
            f"follows position {prev}",
            file,
        )

    def _where_recorded(self, prev: int, digest: bytes, stored_hash: bytes) -> int | None:
        """The position after `prev` at which this row's own link (and event) would hold."""
        if prev < GENESIS_POSITION:
            return None
        before = GENESIS_HASH if prev == GENESIS_POSITION else self._stored_hash_at(prev)
        later = [p for p in (f.first_after(prev) for f in self.files) if p is not None]
        if before is None or not later:
            return None
        position = min(later)
        return position if LINK_FORMAT.hash(before, position, prev, digest) == stored_hash else None

    def _stored_hash_at(self, position: int) -> bytes | None:
        """The chain hash a file holds at `position` (the first such row), read from disk."""
        for file in self.files:
            if not file.holds(position):
                continue
            try:
                table = pq.read_table(
                    self.directory / file.relative, columns=["position", "chain_hash"]
                )
                held = table.filter(pc.equal(table.column("position"), position))
                return bytes.fromhex(held.column("chain_hash")[0].as_py())
            except (*READ_ERRORS, TypeError):
                return None
        return None

    def _changed(
        self, rows: pa.RecordBatch, index: int, file: str, cluster: _Cluster, digest: bytes
    ) -> Finding:
        """The row does not hash to its chain hash: its event, or the hash, was changed."""
        position = rows.column("position")[index].as_py()
        stored_hash = bytes.fromhex(rows.column("chain_hash")[index].as_py())
        recorded_at, next_chains = self._scan_for(cluster, digest, position, stored_hash)
        if recorded_at is not None:
            return Finding(
                position,
                REORDERED,
                f"this position holds the event the chain recorded at position {recorded_at}",
                file,
            )
        if next_chains is None and self.manifest.position == position:
            next_chains = self.manifest.chain_hash == stored_hash.hex()
        if next_chains:
            return Finding(
                position, ALTERED, "the event differs from what the chain recorded", file
            )
        return Finding(position, ALTERED, "the chain hash itself (or the event) was changed", file)

    def _scan_for(
        self, cluster: _Cluster, digest: bytes, position: int, stored_hash: bytes
    ) -> tuple[int | None, bool | None]:
        """Read the cluster again: where its chain recorded `digest`, and whether the row
        after `position` chains onto `stored_hash` (None if there is no row after it here)."""
        hash_link = LINK_FORMAT.hash
        before = cluster.entry_hash
        recorded_at: int | None = None
        next_chains: bool | None = None
        previous: int | None = None
        for batch in cluster_batches(self.directory, cluster.files, {}):
            defect = first_defect(batch, cluster.files)
            rows = batch if defect is None else batch.slice(0, defect[0])
            positions = rows.column("position").to_pylist()
            prevs = rows.column("prev_position").to_pylist()
            hashes = rows.column("chain_hash").to_pylist()
            for index, (q, prev, text) in enumerate(zip(positions, prevs, hashes, strict=True)):
                try:
                    held = bytes.fromhex(text)
                except ValueError:
                    return recorded_at, next_chains
                if previous == position and next_chains is None:
                    own = row_digest(rows, index)
                    next_chains = hash_link(stored_hash, q, position, own) == held
                if (
                    recorded_at is None
                    and q != position
                    and GENESIS_POSITION <= prev < q
                    and hash_link(before, q, prev, digest) == held
                ):
                    recorded_at = q
                if recorded_at is not None and next_chains is not None:
                    return recorded_at, next_chains
                before, previous = held, q
        return recorded_at, next_chains

    # -- after the walk

    def _check_against_manifest(self) -> None:
        manifest, walk = self.manifest, self.walk
        named = [f for f in self.files if f.entry is not None]
        beyond = [p for p in (f.first_after(manifest.position) for f in named) if p is not None]
        if beyond:
            first = min(beyond)
            self.findings.append(
                Finding(
                    first,
                    INSERTED,
                    f"the manifest ends the export at position {manifest.position}, but a file "
                    f"it names holds a row at {first}",
                )
            )
        if manifest.position > walk.last_position:
            self.findings.append(
                Finding(
                    walk.last_position + 1,
                    MISSING,
                    f"the manifest says the export reaches position {manifest.position}, but its "
                    f"rows end at {walk.last_position}: the tail was removed",
                )
            )
        elif manifest.position > GENESIS_POSITION:
            held = walk.tally.held.get(manifest.position)
            if held is None:
                self.findings.append(
                    Finding(
                        manifest.position,
                        MISSING,
                        f"the manifest ends the export at position {manifest.position}, "
                        "which no row holds",
                    )
                )
            elif held.hex() != manifest.chain_hash:
                self.findings.append(
                    Finding(
                        manifest.position,
                        ALTERED,
                        f"the manifest's chain hash for position {manifest.position} is not "
                        "the row's",
                        MANIFEST,
                    )
                )
        self._check_manifest_counts(manifest, named)

    def _check_manifest_counts(self, manifest: ManifestView, named: list[DataFile]) -> None:
        """What the manifest says of each file, and of the whole (reported only if nothing else)."""
        for file in named:
            assert file.entry is not None
            actual = Entry(file.first, file.last, file.rows)
            if actual != file.entry:
                self.secondary.append(
                    Finding(
                        min(actual.first, file.entry.first),
                        ALTERED,
                        f"{file.relative} holds positions {actual.first} to {actual.last} "
                        f"({actual.rows} rows); the manifest says {file.entry.first} to "
                        f"{file.entry.last} ({file.entry.rows} rows)",
                        file.relative,
                    )
                )
        exported = sum(
            f.count_upto(manifest.position) - self.copies.get(f.relative, 0) for f in self.files
        )
        if exported != manifest.events:
            self.secondary.append(
                Finding(
                    None,
                    ALTERED,
                    f"the manifest counts {manifest.events} events; its files hold {exported} "
                    f"up to position {manifest.position}",
                    MANIFEST,
                )
            )

    def _check_leftovers(self) -> None:
        """Files the manifest does not name: left by an interrupted run, or put there."""
        position = self.manifest.position
        for file in self.files:
            if file.entry is not None:
                continue
            copies = self.copies.get(file.relative, 0)
            inside = file.count_upto(position) - copies
            if inside > 0:
                self.secondary.append(
                    Finding(
                        file.first,
                        INSERTED,
                        f"{file.relative} holds {inside} row(s) up to position {position} "
                        "that the manifest does not name",
                        file.relative,
                    )
                )
                continue
            what = (
                f"repeats {copies} rows held in other files (an interrupted compaction)"
                if copies
                else f"holds {file.rows} rows after the manifest's position {position} "
                "(an interrupted export run)"
            )
            self.warnings.append(
                Finding(
                    None,
                    LEFTOVER,
                    f"{file.relative} is not named by the manifest: it {what}; the next export "
                    "run removes it. Tools that read every file would read it: read the files "
                    "the manifest names",
                    file.relative,
                )
            )

    def _check_checkpoints(
        self,
        entries: list[Checkpoint | stored.Malformed],
        checkpoints: list[Checkpoint],
        stopped: Finding | None,
    ) -> None:
        """The store verifier's checkpoint checks, against the rows walked before `stopped`."""
        start = GENESIS_POSITION + 1
        for checkpoint in checkpoints:
            if checkpoint.key_id != self.key_id:
                # The signature cannot hold either; say why, before the store verifier's words.
                self.findings.append(
                    Finding(
                        start,
                        BAD_SIGNATURE,
                        f"checkpoint {checkpoint.seq} names the audit key {checkpoint.key_id!r}, "
                        f"but the public key given is {self.key_id!r}: it is not the key "
                        "that signed this export",
                    )
                )
                break
            start = checkpoint.position + 1
        walk_problem = (
            Problem(stopped.position, stopped.kind, stopped.detail)
            if stopped is not None and stopped.position is not None
            else None
        )
        for problem in check_checkpoints(
            entries,
            self.key,
            walk_problem,
            self.walk.last_position,
            self.walk.tally.held,
            holder="the export",
            deleted=CHECKPOINT_MISSING,
        ):
            self.findings.append(Finding(problem.position, problem.kind, problem.detail))
        newest = max((c.seq for c in checkpoints), default=0)
        if self.manifest.checkpoint_seq > newest and len(checkpoints) == len(entries):
            after = max((c.position for c in checkpoints), default=GENESIS_POSITION)
            gone = (
                f"checkpoint {newest + 1} was"
                if self.manifest.checkpoint_seq == newest + 1
                else f"checkpoints {newest + 1} to {self.manifest.checkpoint_seq} were"
            )
            self.findings.append(
                Finding(
                    after + 1,
                    CHECKPOINT_MISSING,
                    f"the manifest records checkpoint {self.manifest.checkpoint_seq}, but the "
                    f"export's checkpoints end at {newest}: {gone} deleted from the export",
                )
            )


_NO_MANIFEST = Finding(
    None,
    MISSING,
    f"there is no {MANIFEST}: this is not a finished export (an interrupted first run "
    "leaves none; export again)",
    MANIFEST,
)
