"""An export's files, read as hostile input: the manifest, the checkpoint files, the Parquet.

`audit_queries.export_verify` checks an export it did not write and cannot
trust. Everything here accepts exactly what `audit_queries.export` writes and
raises `stored.Malformed` (or one of `READ_ERRORS`, for Parquet) for anything
else; the verifier turns that into a finding. Details describe a hostile value
by its type and size only (`adapters.ledger.stored.describe`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.ledger import stored
from adapters.ledger.checkpoints import Checkpoint
from audit_queries.columns import FORMAT, SCHEMA
from audit_queries.export import CHECKPOINTS_DIR, MANIFEST

# The columns the chain is checked over, and the time that says which day folder a row is in.
NEEDED = [
    "position",
    "prev_position",
    "recorded_at",
    "aggregate_id",
    "version",
    "topic",
    "payload",
    "chain_hash",
]
BATCH_ROWS = 65_536
# A checkpoint file is a few hundred bytes; a manifest names every file.
MAX_CHECKPOINT_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
LARGEST = 2**63 - 1  # positions are int64
TEMPORARY = ".tmp-"  # how the exporter names a file it is still writing
UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# What pyarrow raises for a file that is not the Parquet it claims to be.
READ_ERRORS = (OSError, ValueError, NotImplementedError, IndexError, pa.ArrowException)

_DAY_FOLDER = re.compile(r"day=(.*)")
_FILE_NAME = re.compile(r"events-(\d{1,20})-(\d{1,20})\.parquet")
_CHECKPOINT_NAME = re.compile(r"(\d{12})\.json")


# -- the manifest -----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A file as the manifest names it."""

    first: int
    last: int
    rows: int


@dataclass(frozen=True)
class ManifestView:
    position: int
    chain_hash: str
    events: int
    checkpoint_seq: int
    files: dict[str, Entry]  # by path, relative to the export directory


def read_manifest(directory: Path) -> ManifestView:
    """The manifest in the exact form the exporter writes; `FileNotFoundError` if there is none."""
    path = directory / MANIFEST
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise stored.Malformed("is larger than any manifest the exporter writes")
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError) as error:
        raise stored.Malformed(f"is not JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise stored.Malformed("holds no JSON object")
    if data.get("format") != FORMAT:
        raise stored.Malformed(f"does not say format {FORMAT!r}")
    listed = data.get("files")
    if not isinstance(listed, list):
        raise stored.Malformed(f"files holds {stored.describe(listed)}, not a list")
    files: dict[str, Entry] = {}
    for item in listed:
        if not isinstance(item, dict):
            raise stored.Malformed("names a file with no JSON object")
        relative = stored.text(item.get("path"), "a file's path")
        folder, _, name = relative.partition("/")
        if not (_DAY_FOLDER.fullmatch(folder) and name and "/" not in name) or ".." in relative:
            raise stored.Malformed("names a file outside the export's day folders")
        files[relative] = Entry(
            number(item.get("first"), "a file's first"),
            number(item.get("last"), "a file's last"),
            number(item.get("rows"), "a file's rows"),
        )
    return ManifestView(
        position=number(data.get("position"), "position"),
        chain_hash=hex_text(data.get("chain_hash"), "chain_hash"),
        events=number(data.get("events"), "events"),
        checkpoint_seq=number(data.get("checkpoint_seq"), "checkpoint_seq"),
        files=files,
    )


def number(value: object, name: str) -> int:
    """A position, sequence number or count: an integer in 0..2**63-1."""
    found = stored.integer(value, name)
    if not 0 <= found <= LARGEST:
        raise stored.Malformed(f"{name} holds {found}, which no position or count can be")
    return found


def hex_text(value: object, name: str, length: int = 32) -> str:
    """`length` bytes as lower-case hex digits."""
    text = stored.text(value, name)
    if not re.fullmatch(f"[0-9a-f]{{{2 * length}}}", text):
        raise stored.Malformed(
            f"{name} holds {stored.describe(value)}, not {2 * length} hex digits"
        )
    return text


# -- the checkpoints --------------------------------------------------------------


def read_checkpoints(directory: Path) -> tuple[list[Checkpoint | stored.Malformed], list[str]]:
    """The checkpoint files in order of their names, each one a checkpoint or why it is not.

    Also the temporary files an interrupted run left beside them.
    """
    folder = directory / CHECKPOINTS_DIR
    entries: list[Checkpoint | stored.Malformed] = []
    leftovers: list[str] = []
    if not folder.is_dir():
        return entries, leftovers
    for path in sorted(folder.iterdir()):
        relative = f"{CHECKPOINTS_DIR}/{path.name}"
        if path.name.startswith(TEMPORARY):
            leftovers.append(relative)
        elif path.suffix == ".json":
            try:
                entries.append(_checkpoint_file(path, relative))
            except stored.Malformed as malformed:
                entries.append(malformed)
    return entries, leftovers


def _checkpoint_file(path: Path, relative: str) -> Checkpoint:
    named = _CHECKPOINT_NAME.fullmatch(path.name)
    if named is None:
        raise stored.Malformed(f"file {relative} is not named <seq>.json")
    try:
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise stored.Malformed(f"file {relative} is larger than any checkpoint")
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        raise stored.Malformed(f"file {relative} is not JSON ({type(error).__name__})") from None
    try:
        if not isinstance(data, dict):
            raise stored.Malformed("holds no JSON object")
        checkpoint = Checkpoint(
            seq=number(data.get("seq"), "seq"),
            position=number(data.get("position"), "position"),
            chain_hash=bytes.fromhex(hex_text(data.get("chain_hash"), "chain_hash")),
            previous_digest=bytes.fromhex(hex_text(data.get("previous_digest"), "previous_digest")),
            sealed_at=stored.text(data.get("sealed_at"), "sealed_at"),
            key_id=stored.text(data.get("key_id"), "key_id"),
            signature=bytes.fromhex(hex_text(data.get("signature"), "signature", 64)),
        )
    except stored.Malformed as malformed:
        raise stored.Malformed(f"file {relative} {malformed}") from None
    if checkpoint.seq != int(named.group(1)):
        raise stored.Malformed(f"file {relative} holds checkpoint {checkpoint.seq}")
    return checkpoint


# -- the data files ---------------------------------------------------------------


@dataclass
class DataFile:
    """A Parquet file under a day folder, with every row's position (read first, on its own)."""

    relative: str
    day: date  # its folder's
    entry: Entry | None  # as the manifest names it; None: the manifest does not
    positions: pa.Array  # int64, no NULLs, all >= 1
    in_order: bool  # strictly increasing: read as a stream

    @property
    def rows(self) -> int:
        return len(self.positions)

    @property
    def first(self) -> int:
        return int(pc.min(self.positions).as_py())

    @property
    def last(self) -> int:
        return int(pc.max(self.positions).as_py())

    def first_after(self, position: int) -> int | None:
        later = pc.filter(self.positions, pc.greater(self.positions, position))
        return None if len(later) == 0 else int(pc.min(later).as_py())

    def count_upto(self, position: int) -> int:
        return int(pc.sum(pc.less_equal(self.positions, position)).as_py() or 0)

    def holds(self, position: int) -> bool:
        return bool(pc.any(pc.equal(self.positions, position)).as_py())


def discover(directory: Path) -> tuple[list[str], list[str]]:
    """The Parquet files under DIR/day=*/, and the temporary files of interrupted runs."""
    data: list[str] = []
    temporary: list[str] = []
    if not directory.is_dir():
        return data, temporary
    for folder in sorted(directory.iterdir()):
        if not (folder.is_dir() and _DAY_FOLDER.fullmatch(folder.name)):
            continue
        for path in sorted(folder.iterdir()):
            relative = f"{folder.name}/{path.name}"
            if path.name.startswith(TEMPORARY):
                temporary.append(relative)
            elif path.suffix == ".parquet":
                data.append(relative)
    return data, temporary


def position_in_name(relative: str) -> int | None:
    """The first position a file's name says it holds (events-<first>-<last>.parquet)."""
    named = _FILE_NAME.fullmatch(relative.rpartition("/")[2])
    return int(named.group(1)) if named else None


def day_of_folder(relative: str) -> date | None:
    try:
        return date.fromisoformat(relative.partition("/")[0].removeprefix("day="))
    except ValueError:
        return None


def wrong_columns(schema: pa.Schema) -> str | None:
    """What is wrong with a file's columns for checking the chain, if anything."""
    for name in NEEDED:
        expected = SCHEMA.field(name).type
        index = schema.get_field_index(name)
        if index < 0:
            return f"has no column {name}"
        actual = schema.field(index).type
        if actual != expected:
            return f"has column {name} as {actual}, not {expected}"
    return None


def read_positions(path: Path) -> pa.Array:
    """Every row's position; raises one of READ_ERRORS (or says which columns are wrong)."""
    parquet = pq.ParquetFile(path)
    wrong = wrong_columns(parquet.schema_arrow)
    if wrong is not None:
        raise stored.Malformed(wrong)
    return parquet.read(columns=["position"]).column(0).combine_chunks()


def cluster_batches(
    directory: Path, files: list[DataFile], copies: dict[int, int]
) -> Iterator[pa.RecordBatch]:
    """The rows of files whose positions overlap, in position order, as batches of NEEDED.

    Each batch has a `_file` column: the row's file, an index into `files`. Rows
    repeated exactly in a file the manifest does not name (an interrupted
    compaction) are dropped and counted in `copies` (by file index).
    """
    if len(files) == 1 and files[0].in_order:
        # The usual case: one file, written in position order: read as a stream.
        parquet = pq.ParquetFile(directory / files[0].relative)
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=NEEDED):
            yield pa.RecordBatch.from_arrays(
                [*(batch.column(n) for n in NEEDED), pa.array([0] * len(batch), pa.int32())],
                names=[*NEEDED, "_file"],
            )
        return
    tables = []
    for number, file in enumerate(files):
        table = pq.read_table(directory / file.relative, columns=NEEDED)
        columns = {name: table.column(name) for name in NEEDED}
        columns["_file"] = pa.array([number] * table.num_rows, pa.int32())
        columns["_named"] = pa.array([file.entry is not None] * table.num_rows, pa.bool_())
        tables.append(pa.table(columns))
    # Of two rows at one position, the one in a file the manifest names comes first.
    table = pa.concat_tables(tables).sort_by([("position", "ascending"), ("_named", "descending")])
    table = _drop_copies(table, copies)
    yield from table.drop_columns(["_named"]).to_batches(max_chunksize=BATCH_ROWS)


def _drop_copies(table: pa.Table, copies: dict[int, int]) -> pa.Table:
    positions = table.column("position")
    if len(positions) < 2:
        return table
    repeated = pc.equal(positions[1:], positions[:-1])
    if not pc.any(repeated).as_py():
        return table
    keep = [True] * table.num_rows
    columns = [table.column(name) for name in NEEDED]
    files = table.column("_file")
    named = table.column("_named")
    for index in pc.indices_nonzero(repeated).to_pylist():
        later = index + 1
        if not named[later].as_py() and all(c[index] == c[later] for c in columns):
            keep[later] = False
            number = files[later].as_py()
            copies[number] = copies.get(number, 0) + 1
    return table.filter(pa.array(keep))


def first_defect(batch: pa.RecordBatch, files: list[DataFile]) -> tuple[int, str] | None:
    """The first row of the batch holding a value the exporter never writes, and what it is.

    Checked per column, not per row. Each check runs only on the rows before the
    earliest defect found so far, so text is known to be UTF-8 before a pattern is
    matched against it. Hex digits are checked as each row's hash is decoded.
    """
    limit, detail = batch.num_rows, ""

    def first(mask: pa.Array) -> int | None:
        index = pc.index(mask, True).as_py()
        return None if index < 0 else int(index)

    for name in NEEDED[1:]:
        column = batch.column(name).slice(0, limit)
        index = first(column.is_null()) if column.null_count else None
        if index is not None:
            limit, detail = index, f"the row's {name} is NULL"
    for name in ("aggregate_id", "topic", "payload", "chain_hash"):
        column = batch.column(name).slice(0, limit)
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            limit = _first_not_utf8(column)
            detail = f"the row's {name} holds text that is not UTF-8"
    if limit:
        # An id respelt (upper case, no dashes) hashes the same but hides the event from
        # queries by id: only the canonical form is accepted, as the store verifier does.
        column = batch.column("aggregate_id").slice(0, limit)
        distinct = column.dictionary_encode().dictionary  # ids repeat: each matched once
        canonical = pc.match_substring_regex(distinct, UUID_TEXT)
        if not pc.all(canonical).as_py():
            index = first(pc.invert(pc.is_in(column, value_set=pc.filter(distinct, canonical))))
            if index is not None:
                value = stored.describe(column[index].as_py())
                limit, detail = index, f"the row's aggregate_id holds {value}, not a UUID"
    if limit:
        column = batch.column("chain_hash").slice(0, limit)
        wrong = pc.or_(
            pc.not_equal(pc.binary_length(column), 64),
            pc.not_equal(pc.ascii_lower(column), column),
        )
        index = first(wrong)
        if index is not None:
            value = stored.describe(column[index].as_py())
            limit, detail = index, f"the row's chain_hash holds {value}, not 64 hex digits"
    if limit:
        recorded = pc.cast(batch.column("recorded_at").slice(0, limit), pa.date32())
        if len(files) == 1:
            folders: pa.Array | pa.Scalar = pa.scalar(files[0].day, pa.date32())
        else:
            numbers = batch.column("_file").slice(0, limit).to_pylist()
            folders = pa.array([files[n].day for n in numbers], pa.date32())
        index = first(pc.not_equal(recorded, folders))
        if index is not None:
            limit, detail = (
                index,
                (
                    f"the row was recorded on {recorded[index].as_py()}, not on the day of the "
                    "folder it is filed in"
                ),
            )
    return None if limit == batch.num_rows else (limit, detail)


def _first_not_utf8(column: pa.Array) -> int:
    for index, value in enumerate(column.cast(pa.binary()).to_pylist()):
        if value is None:
            continue
        try:
            value.decode()
        except UnicodeDecodeError:
            return index
    return 0


def one_line(error: BaseException) -> str:
    words = " ".join(str(error).split())
    return (words[:200] + "…") if len(words) > 200 else words or type(error).__name__
