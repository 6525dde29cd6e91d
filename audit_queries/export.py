"""The forensic export: the notification log as zstd Parquet, Hive-partitioned by day.

    DIR/_manifest.json                             what is exported, up to where
    DIR/day=2026-11-27/events-<first>-<last>.parquet
    DIR/_checkpoints/<seq>.json                    the ledger's signed checkpoints

Incremental and resumable: the manifest records the last exported position and
its chain hash, and a run adds only what came after. Pages are read in one
thread, turned into export rows in DuckDB a batch at a time in another, and
written (with the checkpoints they reach) in a third. Every file is written under
a temporary name, fsynced and renamed, and the manifest last, the same way; a
run killed part-way leaves files the manifest does not name, which the next run
removes before it starts (and which `forensic_db` never reads: it reads the files
the manifest names). Runs on one directory take turns (a lock file).

Names beside the day folders start with `_` or `.`, which Parquet readers (pyarrow,
pandas, Spark) pass over: DIR itself reads as one dataset.

Rows keep the stored event exactly (topic and payload) with its chain link, so
`audit_queries.export_verify` can check an export with the audit public key alone.

Files are zstd Parquet with a page index and small data pages (`write_events`):
a question that needs a few rows' payloads (found by position) reads the pages
holding them, not every payload of the day.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.ledger.chain import GENESIS_HASH, event_digest, link_hash
from adapters.ledger.checkpoints import Checkpoint
from adapters.ledger.port import Ledger
from audit_queries import columns
from audit_queries.columns import COLUMN_NAMES, FORMAT, SCHEMA
from audit_queries.durable import fsync_directory, publish, temporary_name, write_atomically

MANIFEST = "_manifest.json"
CHECKPOINTS_DIR = "_checkpoints"
LOCK = ".export.lock"
PAGE = 10_000
# Rows turned into export rows by one DuckDB statement: its fixed cost (binding the
# statement, starting the pipeline) is paid per batch, not per page.
TRANSFORM_ROWS = 50_000
# Rows per segment: a segment is written (one file per day it spans) and recorded
# in the manifest while the next is read and turned, so a long first export
# resumes from its last segment after a crash.
SEGMENT_ROWS = 100_000
# Columns whose values repeat (types, ids, roles, addresses) are dictionary-encoded;
# these are unique to each row, and a dictionary of them would be built and thrown away.
_UNIQUE_COLUMNS = frozenset(
    ["position", "prev_position", "recorded_at", "request_id", "payload", "chain_hash"]
)
# Small data pages and a page index: a lookup by position reads a few pages of a
# column, not the whole column of the file.
DATA_PAGE_BYTES = 16 * 1024
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
    with _locked(directory), _transform() as transform:
        manifest = Manifest.load(directory)
        _check_same_store(ledger, manifest)
        _remove_unrecorded(directory, manifest)
        head = ledger.head() if upto is None else min(upto, ledger.head())
        before, start = manifest.events, manifest.position
        batch = _Batch(transform, min(TRANSFORM_ROWS, segment_rows), segment_rows)
        checked = False
        with _Writer(ledger, directory, manifest) as writer:
            for page_end, page in _pages(ledger, start, head):
                if page.num_rows and not checked:
                    _check_continues(manifest, page.slice(0, 1).to_pylist()[0])
                    checked = True
                segment = batch.add(page, last=page_end >= head)
                if segment:
                    writer.write(segment)
                if progress is not None:
                    progress(page_end - start, head - start)
        _export_checkpoints(ledger, directory, manifest)
        manifest.save(directory)
        _compact(directory, manifest)
        return ExportRun(manifest, start, manifest.events - before, writer.files)


class _Batch:
    """Pages read since the last transform, and rows turned since the last segment."""

    def __init__(self, transform: _PageTransform, transform_rows: int, segment_rows: int) -> None:
        self.transform = transform
        self.transform_rows, self.segment_rows = transform_rows, segment_rows
        self.pages: list[pa.Table] = []
        self.read = 0
        self.turned: list[pa.Table] = []
        self.rows = 0

    def add(self, page: pa.Table, *, last: bool) -> list[pa.Table]:
        """Add a page; the segment to write when one is complete (or this is the last page)."""
        if page.num_rows:
            self.pages.append(page)
            self.read += page.num_rows
        if self.pages and (self.read >= self.transform_rows or last):
            table = self.transform(pa.concat_tables(self.pages))
            self.turned.append(table)
            self.rows += table.num_rows
            self.pages, self.read = [], 0
        if self.turned and (self.rows >= self.segment_rows or last):
            segment, self.turned, self.rows = self.turned, [], 0
            return segment
        return []


class _Writer:
    """Segments written in a thread of their own, in order, each with the checkpoints it
    reaches: Parquet encoding, zstd and fsync release the GIL, so writing overlaps the
    reading and turning of the next segment. The manifest records a segment once its
    files are whole; the first failure is raised in the exporting thread."""

    def __init__(self, ledger: Ledger, directory: Path, manifest: Manifest) -> None:
        self.ledger, self.directory, self.manifest = ledger, directory, manifest
        self.files = 0
        self.failure: BaseException | None = None
        self.segments: queue.Queue[list[pa.Table] | None] = queue.Queue(maxsize=2)
        self.thread = threading.Thread(target=self._run, name="export-write", daemon=True)

    def __enter__(self) -> _Writer:
        self.thread.start()
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.segments.put(None)
        self.thread.join()
        if self.failure is not None and error is None:
            raise self.failure

    def write(self, segment: list[pa.Table]) -> None:
        if self.failure is not None:
            raise self.failure
        self.segments.put(segment)

    def _run(self) -> None:
        while (segment := self.segments.get()) is not None:
            if self.failure is not None:
                continue  # not written: the exporting thread raises the failure
            try:
                self.files += _write_segment(self.directory, self.manifest, segment)
                _export_checkpoints(self.ledger, self.directory, self.manifest)
                self.manifest.save(self.directory)
            except BaseException as error:  # raised in the exporting thread
                self.failure = error


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
        temporary = temporary_name(path)
        write_events(table, temporary)
        publish(temporary, path)
        old = {p.path for p in parts}
        kept = [f for f in manifest.files if f.path not in old]
        manifest.files = sorted([*kept, merged], key=lambda f: f.first)
        manifest.save(directory)
        old.discard(merged.path)
        for relative in old:
            (directory / relative).unlink(missing_ok=True)


def _pages(ledger: Ledger, after: int, head: int) -> Iterator[tuple[int, pa.Table]]:
    """Pages of chained events up to `head`; the next page is read while this one is turned."""
    pages: queue.Queue[tuple[int, pa.Table] | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def read() -> None:
        try:
            low = after
            while low < head and not stop.is_set():
                high = min(low + PAGE, head)
                pages.put((high, ledger.read_chained_table(low, high)))
                low = high
            pages.put(None)
        except BaseException as error:  # raised in the consumer
            pages.put(error)

    reader = threading.Thread(target=read, name="export-read", daemon=True)
    reader.start()
    try:
        while (page := pages.get()) is not None:
            if isinstance(page, BaseException):
                raise page
            yield page
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            with contextlib.suppress(queue.Empty):
                pages.get_nowait()
            reader.join(timeout=0.05)


def _check_same_store(ledger: Ledger, manifest: Manifest) -> None:
    """The store still holds the link the export ends with; else it is another store, or cut."""
    if manifest.position == 0:
        return
    page = ledger.read_chained_table(manifest.position - 1, manifest.position)
    held = page["hash"][0].as_py() if page.num_rows else None
    if held is None or held.hex() != manifest.chain_hash:
        raise ExportProblem(
            f"the store's chain does not continue this export: it holds "
            f"{'no event' if held is None else 'another event'} at position {manifest.position}, "
            "where the export ends: run `strongroom audit verify`, and export to a new directory"
        )


def _check_continues(manifest: Manifest, first: dict[str, Any]) -> None:
    """The store's chain must go on from where the export stopped; else stop, loudly."""
    position = first["position"]
    expected = link_hash(
        bytes.fromhex(manifest.chain_hash),
        position,
        manifest.position,
        event_digest(
            UUID(first["originator_id"]).bytes,
            first["originator_version"],
            first["topic"],
            first["state"].encode(),
        ),
    )
    if first["prev_position"] != manifest.position or expected != first["hash"]:
        raise ExportProblem(
            f"the store's chain does not continue this export at position {position} "
            f"(exported up to {manifest.position}): run `strongroom audit verify`, "
            "and export to a new directory"
        )


class _PageTransform:
    """Stored rows to export rows, a batch at a time, in DuckDB (see audit_queries/columns.py)."""

    def __init__(self, sql: str) -> None:
        self.connection = duckdb.connect(
            ":memory:",
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
        )
        self.connection.execute("SET TimeZone = 'UTC'")
        self.sql = sql

    def __call__(self, page: pa.Table) -> pa.Table:
        try:
            self.connection.register("page", page)
            table = self.connection.sql(self.sql).to_arrow_table()
        except duckdb.Error as error:
            first, last = page["position"][0].as_py(), page["position"][-1].as_py()
            raise ExportProblem(
                f"positions {first} to {last}: a stored event is not what the application "
                f"writes ({str(error).splitlines()[0]}); run `strongroom audit verify`"
            ) from error
        finally:
            self.connection.unregister("page")
        missing = table.filter(pc.is_null(table["recorded_at"]))
        if missing.num_rows:
            raise ExportProblem(
                f"position {missing['position'][0]}: the stored event has no time; "
                "run `strongroom audit verify`"
            )
        return table


# Transforms left by earlier runs in this process, for the next: a server brings its export
# up to date before every question, and opening DuckDB and preparing the statement each
# run cost more than turning the few events recorded since.
_idle_transforms: list[_PageTransform] = []
_idle_lock = threading.Lock()
MAX_IDLE_TRANSFORMS = 2


@contextmanager
def _transform() -> Iterator[_PageTransform]:
    sql = page_sql()  # a capability registered since the last run may have changed it
    with _idle_lock:
        found = next((t for t in _idle_transforms if t.sql == sql), None)
        if found is not None:
            _idle_transforms.remove(found)
    transform = found if found is not None else _PageTransform(sql)
    try:
        yield transform
    except BaseException:
        transform.connection.close()
        raise
    with _idle_lock:
        if len(_idle_transforms) < MAX_IDLE_TRANSFORMS:
            _idle_transforms.append(transform)
            return
    transform.connection.close()


def page_sql() -> str:
    """The one statement that turns a page of stored rows into export rows, with their day."""
    extracted = columns.column_expressions()
    expressions = {
        "position": "position",
        "prev_position": "prev_position",
        "recorded_at": f"CAST({columns.shared(columns.RECORDED_AT)} AS TIMESTAMPTZ)",
        "event_type": "event_type",
        "aggregate_type": "aggregate_type",
        "aggregate_id": "aggregate_id",
        "version": "version",
        "topic": "topic",
        "payload": "payload",
        "chain_hash": "lower(hex(hash))",
        **{name: columns.envelope_at(name) for name in columns.ENVELOPE_COLUMNS},
        **extracted,
    }
    selected = ", ".join(f"{expressions[name]} AS {name}" for name in COLUMN_NAMES)
    paths = "[" + ", ".join(f"'{path}'" for path in columns.SHARED_PATHS) + "]"
    return f"""SELECT {selected}, strftime(recorded_at, '%Y-%m-%d') AS day FROM (
            SELECT *, json_extract_string(payload, {paths}) AS fields FROM (
                SELECT position, prev_position, originator_version AS version, topic, hash,
                    state AS payload,
                    CAST(CAST(originator_id AS UUID) AS VARCHAR) AS aggregate_id,
                    split_part(topic, ':', 2) AS event_type,
                    split_part(split_part(topic, ':', 2), '.', 1) AS aggregate_type
                FROM page))
        ORDER BY position"""


def write_events(table: pa.Table, path: Path) -> None:
    """One export file, as every export file is written (segments, and merged days)."""
    pq.write_table(
        table,
        path,
        compression="zstd",
        use_dictionary=[name for name in table.column_names if name not in _UNIQUE_COLUMNS],
        write_page_index=True,
        data_page_size=DATA_PAGE_BYTES,
    )


def _write_segment(directory: Path, manifest: Manifest, tables: list[pa.Table]) -> int:
    """Write one file per day, then record them and the new position in the manifest."""
    segment = pa.concat_tables(tables)
    written = []
    for of_day in _by_day(segment):
        day = of_day["day"][0].as_py()
        table = of_day.drop_columns(["day"]).cast(SCHEMA)
        first, last = table["position"][0].as_py(), table["position"][-1].as_py()
        relative = f"day={day}/events-{first:020d}-{last:020d}.parquet"
        path = directory / relative
        path.parent.mkdir(exist_ok=True)
        temporary = temporary_name(path)
        write_events(table, temporary)
        publish(temporary, path)
        written.append(ExportedFile(relative, first, last, table.num_rows))
    manifest.files.extend(written)
    manifest.position = segment["position"][-1].as_py()
    manifest.chain_hash = segment["chain_hash"][-1].as_py()
    manifest.events += segment.num_rows
    return len(written)


def _by_day(segment: pa.Table) -> Iterator[pa.Table]:
    """The segment cut where the day changes (rows are in position order).

    A day can come back after another (clocks of two servers), so the same day may
    give two slices: each is its own file.
    """
    days = segment["day"].combine_chunks()
    changes = pc.indices_nonzero(pc.not_equal(days[1:], days[:-1])).to_pylist()
    start = 0
    for change in changes:
        yield segment.slice(start, change + 1 - start)
        start = change + 1
    yield segment.slice(start)


def _export_checkpoints(ledger: Ledger, directory: Path, manifest: Manifest) -> None:
    """The checkpoints that sign exported positions, one signed JSON file each."""
    folder = directory / CHECKPOINTS_DIR
    folder.mkdir(exist_ok=True)
    for checkpoint in ledger.read_checkpoints(manifest.checkpoint_seq):
        if checkpoint.position > manifest.position:
            break
        write_atomically(
            folder / checkpoint_file_name(checkpoint.seq), checkpoint_json(checkpoint), sync=False
        )
        manifest.checkpoint_seq = checkpoint.seq
    fsync_directory(folder)  # once for all of them, before the manifest names them


def checkpoint_file_name(seq: int) -> str:
    return f"{seq:012d}.json"


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
    for path in [*directory.glob(".tmp-*"), *directory.glob(f"{CHECKPOINTS_DIR}/.tmp-*")]:
        path.unlink()


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
