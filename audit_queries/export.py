"""The forensic export: the notification log as zstd Parquet, Hive-partitioned by day.

    DIR/manifest.json                              what is exported, up to where
    DIR/day=2026-11-27/events-<first>-<last>.parquet
    DIR/checkpoints/<seq>.json                     the ledger's signed checkpoints

Incremental and resumable: the manifest records the last exported position and
its chain hash, and a run adds only what came after. Every file is written under
a temporary name, fsynced and renamed, and the manifest last, the same way; a
run killed part-way leaves files the manifest does not name, which the next run
removes before it starts (and which `forensic_db` never reads: it reads the files
the manifest names). Runs on one directory take turns (a lock file).

Rows keep the stored event exactly (topic and payload) with its chain link, so
`audit_queries.export_verify` can check an export with the audit public key alone.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from adapters.ledger.chain import GENESIS_HASH, event_digest, link_hash
from adapters.ledger.checkpoints import Checkpoint
from adapters.ledger.port import ChainedEvent, Ledger
from audit_queries import columns
from audit_queries.columns import COLUMN_NAMES, FORMAT, SCHEMA

MANIFEST = "manifest.json"
CHECKPOINTS_DIR = "checkpoints"
LOCK = ".export.lock"
PAGE = 10_000
# Rows per segment: a segment is written (one file per day it spans) and recorded
# in the manifest before the next is read, so a long first export resumes from
# its last segment after a crash.
SEGMENT_ROWS = 500_000
# Each run adds a file per day it touches, and queries bring the export up to
# date before they run: a day with more files than this is merged into one.
MAX_FILES_PER_DAY = 32

Progress = Callable[[int, int], None]  # (events done, events to do)


class ExportProblem(Exception):
    """The export cannot continue; the message says why and what to do."""


@dataclass
class ExportedFile:
    path: str  # relative to the export directory
    first: int
    last: int
    rows: int


@dataclass
class Manifest:
    format: str = FORMAT
    position: int = 0  # the last exported position (0: nothing yet)
    chain_hash: str = GENESIS_HASH.hex()  # its chain hash
    events: int = 0
    checkpoint_seq: int = 0  # the newest checkpoint exported
    files: list[ExportedFile] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ExportProblem(
                    f"{path}: not a Strongroom export ({data.get('format')!r}); "
                    "export to an empty directory"
                )
            data["files"] = [ExportedFile(**f) for f in data.get("files", [])]
            return cls(**data)
        except (ValueError, TypeError, AttributeError) as error:
            raise ExportProblem(f"{path}: unreadable manifest ({error})") from error

    def save(self, directory: Path) -> None:
        write_atomically(directory / MANIFEST, json.dumps(asdict(self), indent=1).encode())

    def file_paths(self, directory: Path) -> list[Path]:
        return [directory / f.path for f in self.files]


@dataclass(frozen=True)
class ExportRun:
    manifest: Manifest
    start: int  # the position exported before this run
    added: int  # events exported by this run
    files: int  # files written by this run


def export(
    ledger: Ledger,
    directory: Path,
    *,
    upto: int | None = None,
    progress: Progress | None = None,
    segment_rows: int = SEGMENT_ROWS,
) -> ExportRun:
    """Bring the export in `directory` up to the ledger's head (or `upto`)."""
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        manifest = Manifest.load(directory)
        _remove_unrecorded(directory, manifest)
        head = ledger.head() if upto is None else min(upto, ledger.head())
        before, files, start = manifest.events, 0, manifest.position
        segment = _Segment()
        after, checked = start, False
        while after < head:
            page_end = min(after + PAGE, head)
            events = ledger.read_chained(after, page_end)
            if events and not checked:
                _check_continues(manifest, events[0])
                checked = True
            for event in events:
                segment.add(event)
            after = page_end
            if segment.rows >= segment_rows:
                files += segment.write(directory, manifest)
            if progress is not None:
                progress(after - start, head - start)
        files += segment.write(directory, manifest)
        _export_checkpoints(ledger, directory, manifest)
        manifest.save(directory)
        _compact(directory, manifest)
        return ExportRun(manifest, start, manifest.events - before, files)


def _compact(directory: Path, manifest: Manifest) -> None:
    """Merge each day that has too many files into one; the manifest switches in one write.

    The merged file is written before the manifest names it, and the old files
    are removed after: a crash in between leaves files the manifest does not
    name, which the next run removes.
    """
    by_day: dict[str, list[ExportedFile]] = {}
    for exported in manifest.files:
        by_day.setdefault(exported.path.partition("/")[0], []).append(exported)
    for day, parts in by_day.items():
        if len(parts) <= MAX_FILES_PER_DAY:
            continue
        merged = ExportedFile(
            f"{day}/events-{parts[0].first:020d}-{parts[-1].last:020d}.parquet",
            parts[0].first,
            parts[-1].last,
            sum(p.rows for p in parts),
        )
        table = pa.concat_tables([pq.read_table(directory / p.path, schema=SCHEMA) for p in parts])
        path = directory / merged.path
        temporary = path.with_name(f".tmp-{path.name}")
        pq.write_table(table, temporary, compression="zstd")
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync_directory(path.parent)
        old = {p.path for p in parts}
        kept = [f for f in manifest.files if f.path not in old]
        manifest.files = sorted([*kept, merged], key=lambda f: f.first)
        manifest.save(directory)
        old.discard(merged.path)
        for relative in old:
            (directory / relative).unlink(missing_ok=True)


def _check_continues(manifest: Manifest, first: ChainedEvent) -> None:
    """The store's chain must go on from where the export stopped; else stop, loudly."""
    expected = link_hash(
        bytes.fromhex(manifest.chain_hash),
        first.position,
        manifest.position,
        event_digest(first.originator_id.bytes, first.originator_version, first.topic, first.state),
    )
    if first.prev_position != manifest.position or expected != first.chain_hash:
        raise ExportProblem(
            f"the store's chain does not continue this export at position {first.position} "
            f"(exported up to {manifest.position}): run `strongroom audit verify`, "
            "and export to a new directory"
        )


class _Segment:
    """Rows read since the last write, by day."""

    def __init__(self) -> None:
        self.by_day: dict[str, dict[str, list[Any]]] = {}
        self.rows = 0
        self.last_position = 0
        self.last_hash = b""
        self._names: dict[str, tuple[str, str]] = {}

    def add(self, event: ChainedEvent) -> None:
        topic = event.topic
        names = self._names.get(topic)
        if names is None:
            names = self._names[topic] = columns.event_names(topic)
        event_type, aggregate_type = names
        try:
            text = event.state.decode()
            payload = json.loads(text)
            recorded_at = datetime.fromisoformat(payload["timestamp"]["_data_"]).astimezone(UTC)
        except (ValueError, KeyError, TypeError) as error:
            raise ExportProblem(
                f"position {event.position}: the stored event is not what the application "
                f"writes ({error}); run `strongroom audit verify`"
            ) from error
        aggregate_id = str(event.originator_id)
        row = columns.new_row()
        columns.fill(topic, aggregate_type, aggregate_id, payload, row)
        row.update(
            position=event.position,
            prev_position=event.prev_position,
            recorded_at=recorded_at,
            event_type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            version=event.originator_version,
            topic=topic,
            payload=text,
            chain_hash=event.chain_hash.hex(),
        )
        for name in columns.ENVELOPE_COLUMNS:
            value = payload.get(name)
            row[name] = value if isinstance(value, str) else None
        day = recorded_at.date().isoformat()
        table = self.by_day.get(day)
        if table is None:
            table = self.by_day[day] = {name: [] for name in COLUMN_NAMES}
        for name in COLUMN_NAMES:
            table[name].append(row[name])
        self.rows += 1
        self.last_position, self.last_hash = event.position, event.chain_hash

    def write(self, directory: Path, manifest: Manifest) -> int:
        """Write one file per day, then record them and the new position in the manifest."""
        if not self.rows:
            return 0
        written = []
        for day, table in sorted(self.by_day.items()):
            first, last = table["position"][0], table["position"][-1]
            relative = f"day={day}/events-{first:020d}-{last:020d}.parquet"
            path = directory / relative
            path.parent.mkdir(exist_ok=True)
            temporary = path.with_name(f".tmp-{path.name}")
            pq.write_table(
                pa.Table.from_pydict(table, schema=SCHEMA), temporary, compression="zstd"
            )
            _fsync(temporary)
            os.replace(temporary, path)
            _fsync_directory(path.parent)
            written.append(ExportedFile(relative, first, last, len(table["position"])))
        manifest.files.extend(written)
        manifest.position = self.last_position
        manifest.chain_hash = self.last_hash.hex()
        manifest.events += self.rows
        manifest.save(directory)
        self.__init__()  # type: ignore[misc]
        return len(written)


def _export_checkpoints(ledger: Ledger, directory: Path, manifest: Manifest) -> None:
    """The checkpoints that sign exported positions, one signed JSON file each."""
    folder = directory / CHECKPOINTS_DIR
    folder.mkdir(exist_ok=True)
    for checkpoint in ledger.read_checkpoints(manifest.checkpoint_seq):
        if checkpoint.position > manifest.position:
            break
        write_atomically(folder / checkpoint_file_name(checkpoint), checkpoint_json(checkpoint))
        manifest.checkpoint_seq = checkpoint.seq


def checkpoint_file_name(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.seq:012d}.json"


def checkpoint_json(checkpoint: Checkpoint) -> bytes:
    return json.dumps(checkpoint.to_json(), indent=1).encode()


def _remove_unrecorded(directory: Path, manifest: Manifest) -> None:
    """Files a killed run wrote after its last manifest: they are written again."""
    recorded = {f.path for f in manifest.files}
    for path in directory.glob("day=*/*"):
        relative = path.relative_to(directory).as_posix()
        unrecorded = path.suffix == ".parquet" or path.name.startswith(".tmp-")
        if unrecorded and relative not in recorded:
            path.unlink()
    for path in directory.glob(".tmp-*"):
        path.unlink()


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".tmp-{path.name}")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
