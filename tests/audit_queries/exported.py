"""Reading and recording for the export tests: what an export holds, and stories to export."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from audit_queries.columns import SCHEMA
from audit_queries.export import Manifest
from domain.application import Strongroom
from tests.notes import Note


def rows_of(directory: Path) -> pa.Table:
    """Every row of the files the manifest names, in position order (as a reader sees it)."""
    manifest = Manifest.load(directory)
    tables = [pq.read_table(directory / f.path, schema=SCHEMA) for f in manifest.files]
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables).sort_by("position")


def parquet_files(directory: Path) -> set[str]:
    """Every Parquet file under the day folders, named by the manifest or not."""
    return {p.relative_to(directory).as_posix() for p in directory.glob("day=*/*.parquet")}


def temporary_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob(".tmp-*")]


def write_notes(app: Strongroom, notes: int, lines: int) -> None:
    """`notes` notes of `lines` lines each, one save a note (many events cheaply)."""
    for n in range(notes):
        note = Note(f"note {n}")
        for i in range(lines):
            note.write(f"line {i}")
        app.save(note)


def events_between(app: Strongroom, after: int, upto: int) -> int:
    """How many events the log holds in positions (after, upto]: Postgres' may have gaps."""
    return len(app.recorder.select_notifications(start=after + 1, limit=upto - after, stop=upto))
