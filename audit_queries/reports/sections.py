"""The monthly report's section registry, and the reader its SQL runs through.

Each section is a function `(reader, scope) -> Section`, registered in the order
the report shows it:

    @monthly_section("compliance", "Compliance", requires=("certifications",))
    def _compliance(reader: Reader, scope: Scope) -> Section: ...

`requires` names the views a section reads beyond the core ones: a section
whose views do not exist (its capability has not landed) is left out rather
than failing. Capabilities register theirs that way, with the views they add to
audit_queries/views.py:

- compliance (audit_queries/reports/compliance.py: `certifications`,
  `project_membership`);
- data movement by project, files and bytes in and out (the vault issue:
  `file_access`), to come.

Section SQL is ours, but it still runs through `forensic_db.run`: the same
locked-down connection, one SELECT, a time limit, and a row limit whose
overflow the report says rather than hides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from audit_queries import forensic_db
from audit_queries.reports.model import Cell, Section, Table

SECTION_TIME_LIMIT = 120.0
# Rows a listing may hold; a month with more says so and points to the view.
LIST_ROWS = 10_000


@dataclass(frozen=True)
class Scope:
    """What a monthly report covers: [start, end) in UTC, up to log position `upto`."""

    start: datetime
    end: datetime
    upto: int

    def parameters(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "upto": self.upto}


def in_period(alias: str) -> str:
    """SQL: the row `alias` is in the report's month and log (`$start`, `$end`, `$upto`)."""
    return (
        f"{alias}.recorded_at >= $start AND {alias}.recorded_at < $end "
        f"AND {alias}.position <= $upto"
    )


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def table(
        self, key: str, title: str, note: str = "", *, columns: list[str] | None = None
    ) -> Table:
        """These rows as a report table (under other column names if given)."""
        rows: list[tuple[Cell, ...]] = [tuple(row) for row in self.rows]
        if self.truncated:
            note = (note + " " if note else "") + (
                f"Only the first {len(rows)} rows are shown: query the views for the rest."
            )
        return Table(key, title, columns or self.columns, rows, note, self.truncated)


class Reader:
    """Runs a section's SQL with the named parameters it uses, from those it is given."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self._views: set[str] | None = None

    def rows(
        self, sql: str, parameters: dict[str, object] | None = None, *, limit: int = LIST_ROWS
    ) -> Rows:
        given = parameters or {}
        used = {name: given[name] for name in named_parameters(sql) if name in given}
        answer = forensic_db.run(
            self.connection,
            sql,
            used or None,
            time_limit=SECTION_TIME_LIMIT,
            row_limit=limit,
        )
        return Rows(answer.columns, answer.rows, answer.truncated)

    def value(self, sql: str, parameters: dict[str, object] | None = None) -> Any:
        found = self.rows(sql, parameters, limit=1).rows
        return found[0][0] if found else None

    def views(self) -> set[str]:
        if self._views is None:
            found = self.rows(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal", limit=100_000
            )
            self._views = {row[0] for row in found.rows}
        return self._views


def named_parameters(sql: str) -> set[str]:
    """The `$name` parameters a statement uses (DuckDB refuses ones it does not use)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise forensic_db.QueryFailed(str(error).splitlines()[0]) from error
    return {str(name) for statement in statements for name in statement.named_parameters}


SectionBuilder = Callable[[Reader, Scope], Section]


@dataclass(frozen=True)
class SectionSpec:
    key: str
    title: str
    build: SectionBuilder
    requires: tuple[str, ...] = ()


MONTHLY_SECTIONS: list[SectionSpec] = []


def monthly_section(
    key: str, title: str, *, requires: tuple[str, ...] = ()
) -> Callable[[SectionBuilder], SectionBuilder]:
    """Register a section of the monthly report (shown in registration order)."""

    def register(build: SectionBuilder) -> SectionBuilder:
        if any(spec.key == key for spec in MONTHLY_SECTIONS):
            raise RuntimeError(f"a monthly report section {key!r} is already registered")
        MONTHLY_SECTIONS.append(SectionSpec(key, title, build, requires))
        return build

    return register


def available(reader: Reader) -> list[SectionSpec]:
    """The registered sections whose views exist in this export."""
    views = reader.views()
    return [spec for spec in MONTHLY_SECTIONS if set(spec.requires) <= views]
