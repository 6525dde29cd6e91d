"""`audit verify --export` names the first bad position of an export, with the public key alone.

The story: an officer records 45 events, one per save; the ledger seals a
checkpoint every 10 events (at 10, 20, 30, 40) and, as `audit export` does, the
head (45) before the export. The export is taken in five runs, so five files
hold positions 1-10, 11-20, 21-30, 31-40 and 41-45. Then someone with the export
in hand changes it — rewriting Parquet files with pyarrow, removing files,
editing JSON — and an auditor verifies it with nothing but the directory and
the audit public key.

The export is hostile input: whatever a file holds, the answer is a verdict
with a position (or a file name), never a traceback.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.ledger.chain import event_digest, link_hash
from adapters.settings import Settings
from audit_queries.columns import SCHEMA
from audit_queries.export import Manifest, export
from audit_queries.export_verify import (
    ALTERED,
    BAD_SIGNATURE,
    CHECKPOINT_MISSING,
    INSERTED,
    LEFTOVER,
    MISSING,
    NEEDED,
    REORDERED,
    UNSIGNED_TAIL,
    ExportReport,
    verify_export,
)
from domain.envelope import AuditContext, acting_as
from tests.notes import Note
from tests.stores import store_settings

EVENTS = 45
CLOCK = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OFFICER = AuditContext("u-ada", "admin", "s-1", "r-1", "10.1.2.3")


@dataclass(frozen=True)
class Exported:
    sealed: Path  # the head sealed before exporting, as `audit export` does
    unsealed: Path  # exported between seals: 41-45 await the next checkpoint
    public_key: Path


def record_and_export(home: Path, kind: str, out: Path) -> Exported:
    with store_settings(kind, home, checkpoint_every=10) as settings:
        system = open_system(settings, clock=ManualClock(CLOCK))
        try:
            with acting_as(OFFICER):
                notes = [Note(f"note {i}") for i in range(5)]
                for note in notes:
                    system.app.save(note)
                for i in range(EVENTS - len(notes)):
                    note = notes[i % len(notes)]
                    note.write(f"line {i}")
                    system.app.save(note)
            for upto in (10, 20, 30, 40, 45):
                export(system.ledger, out / "unsealed", upto=upto)
            system.ledger.seal()
            for upto in (10, 20, 30, 40, 45):
                export(system.ledger, out / "sealed", upto=upto)
        finally:
            system.app.close()
        public_key = out / "audit-public.pem"
        shutil.copy(settings.public_key_path, public_key)
    return Exported(out / "sealed", out / "unsealed", public_key)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Exported]]:
    """Each store kind recorded and exported once for the module, on first use."""
    with ExitStack():
        made: dict[str, Exported] = {}

        def exported(kind: str) -> Exported:
            if kind not in made:
                made[kind] = record_and_export(
                    tmp_path_factory.mktemp(f"{kind}-home"),
                    kind,
                    tmp_path_factory.mktemp(f"{kind}-export"),
                )
            return made[kind]

        yield exported


@pytest.fixture
def original(store_kind: str, exports: Callable[[str], Exported]) -> Exported:
    return exports(store_kind)


@pytest.fixture
def fuzzed(exports: Callable[[str], Exported]) -> Exported:
    """For fuzzing the files: they are the same whichever store they were exported from."""
    return exports("sqlite")


@pytest.fixture
def export_dir(original: Exported, tmp_path: Path) -> Path:
    """A copy of the sealed export, for this test to spoil."""
    return Path(shutil.copytree(original.sealed, tmp_path / "export"))


# -- spoiling an export ------------------------------------------------------------


def file_holding(directory: Path, position: int) -> Path:
    (found,) = [f for f in Manifest.load(directory).files if f.first <= position <= f.last]
    return directory / found.path


def rewrite(path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    rows = pq.read_table(path).to_pylist()
    pq.write_table(pa.Table.from_pylist(change(rows), schema=SCHEMA), path, compression="zstd")


def at(rows: list[dict[str, Any]], position: int) -> dict[str, Any]:
    (row,) = [r for r in rows if r["position"] == position]
    return row


def set_value(directory: Path, position: int, column: str, value: object) -> None:
    def change(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        at(rows, position)[column] = value
        return rows

    rewrite(file_holding(directory, position), change)


def all_rows(directory: Path) -> dict[int, dict[str, Any]]:
    return {
        row["position"]: row
        for f in Manifest.load(directory).files
        for row in pq.read_table(directory / f.path).to_pylist()
    }


def digest_of(row: dict[str, Any]) -> bytes:
    return event_digest(
        UUID(row["aggregate_id"]).bytes, row["version"], row["topic"], row["payload"].encode()
    )


def forged_after(directory: Path, position: int) -> dict[str, Any]:
    """A forged row that chains correctly onto the row at `position` (the format is public)."""
    before = all_rows(directory)[position]
    row = dict(before)
    row.update(
        position=position + 1,
        prev_position=position,
        payload='{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-01T09:00:00+00:00"},'
        '"line":"nothing to see"}',
    )
    row["chain_hash"] = link_hash(
        bytes.fromhex(before["chain_hash"]), position + 1, position, digest_of(row)
    ).hex()
    return row


def assert_fails_at(directory: Path, key: Path, position: int, kind: str) -> ExportReport:
    report = verify_export(directory, key, workers=1)
    assert report.problem is not None, "the change went unnoticed"
    assert (report.problem.position, report.problem.kind) == (position, kind), report.problem
    # Walked a file per process, the verdict is the same.
    assert verify_export(directory, key, workers=2) == report
    return report


# -- a clean export ----------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_an_untouched_export_verifies(original: Exported, workers: int) -> None:
    report = verify_export(original.sealed, original.public_key, workers=workers)
    assert report.problem is None
    assert report.warnings == ()
    assert (report.events, report.files, report.checkpoints) == (EVENTS, 5, 5)
    assert (report.last_position, report.signed_up_to, report.unsigned) == (45, 45, 0)


def test_an_export_taken_between_seals_has_an_unsigned_tail(original: Exported) -> None:
    report = verify_export(original.unsealed, original.public_key)
    assert report.problem is None
    assert (report.checkpoints, report.signed_up_to, report.unsigned) == (4, 40, 5)
    (tail,) = report.warnings
    assert (tail.position, tail.kind) == (41, UNSIGNED_TAIL)


def test_another_key_is_a_bad_signature(original: Exported, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    from adapters.ledger.checkpoints import public_key_pem

    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    report = assert_fails_at(original.sealed, other, 1, BAD_SIGNATURE)
    assert report.problem is not None and "not the key that signed" in report.problem.detail


def test_an_empty_export_verifies(original: Exported, tmp_path: Path) -> None:
    Manifest().save(tmp_path)
    report = verify_export(tmp_path, original.public_key)
    assert report.problem is None and report.events == 0


def test_a_directory_without_a_manifest_is_not_an_export(
    original: Exported, tmp_path: Path
) -> None:
    report = verify_export(tmp_path, original.public_key)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.file) == (MISSING, "_manifest.json")


# -- rows changed, removed, added, moved ---------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", '{"line":"nothing to see"}'),
        ("version", 99),
        ("topic", "tests.notes:Note.Deleted"),
        ("aggregate_id", "00000000-0000-0000-0000-00000000f0f0"),
        ("chain_hash", "ab" * 32),
    ],
)
def test_a_row_changed(original: Exported, export_dir: Path, column: str, value: object) -> None:
    set_value(export_dir, 15, column, value)
    assert_fails_at(export_dir, original.public_key, 15, ALTERED)


def test_a_row_deleted(original: Exported, export_dir: Path) -> None:
    rewrite(file_holding(export_dir, 15), lambda rows: [r for r in rows if r["position"] != 15])
    assert_fails_at(export_dir, original.public_key, 15, MISSING)


def test_a_forged_row_inserted_at_a_position_in_use(original: Exported, export_dir: Path) -> None:
    forged = forged_after(export_dir, 15)  # a well-formed link after 15, at 16
    rewrite(file_holding(export_dir, 16), lambda rows: [*rows, forged])
    assert_fails_at(export_dir, original.public_key, 16, INSERTED)


def test_a_forged_row_inserted_and_the_rest_moved_up(original: Exported, export_dir: Path) -> None:
    forged = forged_after(export_dir, 15)
    for exported in Manifest.load(export_dir).files:

        def shift(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for row in rows:
                if row["position"] >= 16:
                    row["position"] += 1
            return rows

        rewrite(export_dir / exported.path, shift)
    rewrite(file_holding(export_dir, 15), lambda rows: [*rows, forged])
    assert_fails_at(export_dir, original.public_key, 16, INSERTED)


EVENT_COLUMNS = [n for n in SCHEMA.names if n not in ("position", "prev_position", "chain_hash")]


def test_two_rows_swapped(original: Exported, export_dir: Path) -> None:
    # The events trade places; the chain's columns stay where they were.
    def swap(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        a, b = at(rows, 12), at(rows, 17)
        for name in EVENT_COLUMNS:
            a[name], b[name] = b[name], a[name]
        return rows

    rewrite(file_holding(export_dir, 12), swap)
    report = assert_fails_at(export_dir, original.public_key, 12, REORDERED)
    assert report.problem is not None and "position 17" in report.problem.detail


def test_two_whole_rows_renumbered(original: Exported, export_dir: Path) -> None:
    def renumber(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        a, b = at(rows, 12), at(rows, 17)
        a["position"], b["position"] = 17, 12
        return rows

    rewrite(file_holding(export_dir, 12), renumber)
    assert_fails_at(export_dir, original.public_key, 12, REORDERED)


def test_a_rewritten_chain_is_caught_by_the_checkpoint(
    original: Exported, export_dir: Path
) -> None:
    # A careful attacker changes an event and recomputes every link after it (and
    # the manifest): the chain holds together again, but checkpoint 2 signed the old hash.
    rows = all_rows(export_dir)
    rows[15]["payload"] = '{"line":"nothing to see"}'
    for position in range(15, EVENTS + 1):
        row = rows[position]
        row["chain_hash"] = link_hash(
            bytes.fromhex(rows[position - 1]["chain_hash"]), position, position - 1, digest_of(row)
        ).hex()
    for exported in Manifest.load(export_dir).files:
        held = [rows[p] for p in range(exported.first, exported.last + 1)]
        table = pa.Table.from_pylist(held, schema=SCHEMA)
        pq.write_table(table, export_dir / exported.path, compression="zstd")
    manifest = json.loads((export_dir / "_manifest.json").read_text())
    manifest["chain_hash"] = rows[EVENTS]["chain_hash"]
    (export_dir / "_manifest.json").write_text(json.dumps(manifest))
    report = assert_fails_at(export_dir, original.public_key, 11, ALTERED)
    assert report.problem is not None and "rewritten" in report.problem.detail


def test_a_row_filed_under_another_day(original: Exported, export_dir: Path) -> None:
    # Moved with the manifest edited to match: the day a query sees would be wrong.
    manifest = json.loads((export_dir / "_manifest.json").read_text())
    entry = manifest["files"][1]
    moved = entry["path"].replace("day=2026-03-01", "day=2026-03-02")
    (export_dir / moved).parent.mkdir()
    (export_dir / entry["path"]).rename(export_dir / moved)
    entry["path"] = moved
    (export_dir / "_manifest.json").write_text(json.dumps(manifest))
    report = assert_fails_at(export_dir, original.public_key, 11, ALTERED)
    assert report.problem is not None and "day of the folder" in report.problem.detail


# -- files removed, added, left over -------------------------------------------------


def test_a_whole_file_removed(original: Exported, export_dir: Path) -> None:
    file_holding(export_dir, 15).unlink()
    assert_fails_at(export_dir, original.public_key, 11, MISSING)


def test_the_last_file_removed_and_the_manifest_left(original: Exported, export_dir: Path) -> None:
    file_holding(export_dir, 45).unlink()
    assert_fails_at(export_dir, original.public_key, 41, MISSING)


def test_the_tail_cut_with_the_manifest_edited(original: Exported, export_dir: Path) -> None:
    # The last file and its mention are gone; checkpoint 5 still signs position 45.
    hash_at_40 = all_rows(export_dir)[40]["chain_hash"]
    file_holding(export_dir, 45).unlink()
    manifest = json.loads((export_dir / "_manifest.json").read_text())
    manifest["files"] = manifest["files"][:-1]
    manifest.update(position=40, events=40, chain_hash=hash_at_40)
    (export_dir / "_manifest.json").write_text(json.dumps(manifest))
    assert_fails_at(export_dir, original.public_key, 41, MISSING)


def test_the_manifest_names_another_chain_hash(original: Exported, export_dir: Path) -> None:
    manifest = json.loads((export_dir / "_manifest.json").read_text())
    manifest["chain_hash"] = "ab" * 32
    (export_dir / "_manifest.json").write_text(json.dumps(manifest))
    assert_fails_at(export_dir, original.public_key, 45, ALTERED)


def test_a_file_the_manifest_does_not_name_with_forged_rows(
    original: Exported, export_dir: Path
) -> None:
    # Readers that take every file would see it: verification reads every file too.
    forged = forged_after(export_dir, 15)
    table = pa.Table.from_pylist([forged], schema=SCHEMA)
    pq.write_table(table, file_holding(export_dir, 15).parent / "events-extra.parquet")
    assert_fails_at(export_dir, original.public_key, 16, INSERTED)


@pytest.mark.parametrize("workers", [1, 2])
def test_what_interrupted_runs_leave_is_a_warning(
    original: Exported, export_dir: Path, workers: int
) -> None:
    day = file_holding(export_dir, 15).parent
    # An interrupted compaction: a merged copy of rows held in named files...
    merged = pa.concat_tables([pq.read_table(file_holding(export_dir, p)) for p in (5, 15)])
    pq.write_table(merged, day / "events-00000000000000000001-00000000000000000020.parquet")
    # ...an interrupted run: a next segment written, not yet recorded...
    pq.write_table(
        pa.Table.from_pylist([forged_after(export_dir, 45)], schema=SCHEMA),
        day / "events-00000000000000000046-00000000000000000046.parquet",
    )
    # ...and temporary files.
    (day / ".tmp-events-00000000000000000047-00000000000000000050.parquet").write_bytes(b"")
    (export_dir / "_checkpoints" / ".tmp-000000000006.json").write_text("{")
    report = verify_export(export_dir, original.public_key, workers=workers)
    assert report.problem is None, report.problem
    kinds = sorted((w.kind, w.file or "") for w in report.warnings)
    assert [k for k, _ in kinds].count(LEFTOVER) == 4
    assert any(w.kind == UNSIGNED_TAIL and w.position == 46 for w in report.warnings)


# -- checkpoints ---------------------------------------------------------------------


def checkpoint_file(directory: Path, seq: int) -> Path:
    return directory / "_checkpoints" / f"{seq:012d}.json"


def test_a_checkpoint_file_removed(original: Exported, export_dir: Path) -> None:
    checkpoint_file(export_dir, 2).unlink()
    assert_fails_at(export_dir, original.public_key, 11, CHECKPOINT_MISSING)


def test_the_newest_checkpoint_file_removed(original: Exported, export_dir: Path) -> None:
    checkpoint_file(export_dir, 5).unlink()
    assert_fails_at(export_dir, original.public_key, 41, CHECKPOINT_MISSING)


def test_a_checkpoint_altered(original: Exported, export_dir: Path) -> None:
    path = checkpoint_file(export_dir, 3)
    data = json.loads(path.read_text())
    data["chain_hash"] = "00" * 32
    path.write_text(json.dumps(data))
    assert_fails_at(export_dir, original.public_key, 21, BAD_SIGNATURE)


# -- hostile values: whatever a file holds, a verdict --------------------------------

HYPOTHESIS = examples(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "position": st.integers(-(2**63), 2**63 - 1),
    "prev_position": st.integers(-(2**63), 2**63 - 1),
    "version": st.integers(-(2**63), 2**63 - 1),
    "recorded_at": st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    "aggregate_id": TEXT | st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()),
    "topic": TEXT,
    "payload": TEXT,
    "chain_hash": TEXT | st.binary(min_size=32, max_size=32).map(bytes.hex),
    "actor_id": TEXT,
    "user_id": TEXT,
}


def replaced(table: pa.Table, column: str, index: int, value: object) -> pa.Table:
    """`table` with one value replaced; the column keeps its type, as a forger's rewrite would."""
    values = table.column(column).to_pylist()
    values[index] = value
    field = table.schema.field(column)
    return table.set_column(
        table.schema.get_field_index(column),
        field.with_nullable(True),
        pa.array(values, field.type),
    )


@HYPOTHESIS
@given(
    data=st.data(),
    column=st.sampled_from(sorted(VALUES)),
    position=st.integers(1, EVENTS),
    null=st.booleans(),
)
def test_any_value_in_any_column_is_a_verdict(
    fuzzed: Exported, data: st.DataObject, column: str, position: int, null: bool
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(shutil.copytree(fuzzed.sealed, Path(scratch) / "export"))
        path = file_holding(directory, position)
        table = pq.read_table(path)
        index = table.column("position").to_pylist().index(position)
        before = table.column(column)[index].as_py()
        value = None if null else data.draw(VALUES[column], label="value")
        pq.write_table(replaced(table, column, index, value), path)
        report = verify_export(directory, fuzzed.public_key)
    if value == before or column not in NEEDED:
        return  # not a column the chain (or the day folder) covers
    if column == "recorded_at" and value is not None and value.date() == before.date():
        return  # the time within the day is the payload's: queries read it from there
    assert report.problem is not None, f"{column} = {value!r} went unnoticed"
    if column not in ("position", "prev_position") or value is None:
        assert report.problem.position == position, report.problem


@HYPOTHESIS
@given(
    column=st.sampled_from(NEEDED),
    kind=st.sampled_from([pa.string(), pa.int64(), pa.float64(), pa.binary(), pa.int32()]),
)
def test_a_column_of_another_type_is_a_verdict(
    fuzzed: Exported, column: str, kind: pa.DataType
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(shutil.copytree(fuzzed.sealed, Path(scratch) / "export"))
        path = file_holding(directory, 15)
        table = pq.read_table(path)
        values = table.column(column).to_pylist()
        converted = [_convert(v, kind) for v in values]
        index = table.schema.get_field_index(column)
        pq.write_table(table.set_column(index, column, pa.array(converted, kind)), path)
        report = verify_export(directory, fuzzed.public_key)
    if kind == SCHEMA.field(column).type:
        return
    assert report.problem is not None
    assert (report.problem.position, report.problem.kind) == (11, ALTERED), report.problem
    assert column in report.problem.detail


def _convert(value: object, kind: pa.DataType) -> object:
    if pa.types.is_string(kind):
        return str(value)
    if pa.types.is_binary(kind):
        return str(value).encode()
    if isinstance(value, datetime):
        value = int(value.timestamp())
    if isinstance(value, str):
        value = len(value)
    assert isinstance(value, int)
    return float(value) if pa.types.is_floating(kind) else value % 2**31


@HYPOTHESIS
@given(cut=st.integers(0, 10_000), flips=st.lists(st.integers(0, 10_000), max_size=4))
def test_a_damaged_parquet_file_is_a_verdict(fuzzed: Exported, cut: int, flips: list[int]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(shutil.copytree(fuzzed.sealed, Path(scratch) / "export"))
        path = file_holding(directory, 15)
        data = bytearray(path.read_bytes())
        for flip in flips:
            data[flip % len(data)] ^= 0xFF
        truncated = cut % (len(data) + 1) < len(data)
        path.write_bytes(bytes(data[: cut % (len(data) + 1)]))
        report = verify_export(directory, fuzzed.public_key)
    if truncated:  # the footer is gone: nothing of the file can be read
        assert report.problem is not None
        assert (report.problem.position, report.problem.kind) == (11, ALTERED), report.problem


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@HYPOTHESIS
@given(
    field=st.sampled_from(
        ["seq", "position", "chain_hash", "previous_digest", "sealed_at", "key_id", "signature"]
    ),
    value=JSON,
    seq=st.integers(1, 5),
)
def test_a_malformed_checkpoint_file_is_a_verdict(
    fuzzed: Exported, field: str, value: object, seq: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(shutil.copytree(fuzzed.sealed, Path(scratch) / "export"))
        path = checkpoint_file(directory, seq)
        data = json.loads(path.read_text())
        unchanged = data[field] == value and type(data[field]) is type(value)
        data[field] = value
        path.write_text(json.dumps(data))
        report = verify_export(directory, fuzzed.public_key)
    if not unchanged:
        assert report.problem is not None, f"checkpoint {seq} {field} = {value!r} went unnoticed"


@HYPOTHESIS
@given(text=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_a_checkpoint_file_holding_anything_is_a_verdict(fuzzed: Exported, text: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(shutil.copytree(fuzzed.sealed, Path(scratch) / "export"))
        checkpoint_file(directory, 3).write_bytes(text)
        report = verify_export(directory, fuzzed.public_key)
    assert report.problem is not None
    assert (report.problem.position, report.problem.kind) == (21, BAD_SIGNATURE)


@HYPOTHESIS
@given(
    field=st.sampled_from(
        ["format", "position", "chain_hash", "events", "checkpoint_seq", "files"]
    ),
    value=JSON,
)
def test_a_malformed_manifest_is_a_verdict(fuzzed: Exported, field: str, value: object) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(shutil.copytree(fuzzed.sealed, Path(scratch) / "export"))
        path = directory / "_manifest.json"
        data = json.loads(path.read_text())
        unchanged = data[field] == value and type(data[field]) is type(value)
        data[field] = value
        path.write_text(json.dumps(data))
        report = verify_export(directory, fuzzed.public_key)
    if not unchanged:
        assert report.problem is not None, f"manifest {field} = {value!r} went unnoticed"


def test_a_manifest_naming_files_outside_the_export_is_refused(
    original: Exported, export_dir: Path
) -> None:
    manifest = json.loads((export_dir / "_manifest.json").read_text())
    manifest["files"][0]["path"] = "../../etc/passwd"
    (export_dir / "_manifest.json").write_text(json.dumps(manifest))
    report = verify_export(export_dir, original.public_key)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.file) == (ALTERED, "_manifest.json")


def test_progress_counts_every_row(original: Exported) -> None:
    seen: list[tuple[int, int]] = []
    verify_export(original.sealed, original.public_key, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (EVENTS, EVENTS)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_day_boundary_inside_a_segment(settings: Settings, tmp_path: Path) -> None:
    # A segment spanning midnight is written as one file per day, and verifies as one chain.
    clock = ManualClock(CLOCK.replace(hour=23, minute=59))
    system = open_system(settings, clock=clock)
    try:
        with acting_as(OFFICER):
            note = Note("midnight")
            system.app.save(note)
            for i in range(12):
                clock.advance(timedelta(seconds=15))
                note.write(f"line {i}")
                system.app.save(note)
        system.ledger.seal()
        run = export(system.ledger, tmp_path / "export")
    finally:
        system.app.close()
    assert {f.path.partition("/")[0] for f in run.manifest.files} == {
        "day=2026-03-01",
        "day=2026-03-02",
    }
    report = verify_export(tmp_path / "export", settings.public_key_path)
    assert report.problem is None and report.events == 13
