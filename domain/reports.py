"""Compliance reports: who took which report, of which period, up to which position.

A report is a read of the whole history, so taking one is part of the record,
as an export is (`domain/exports.py`): the officer (in the envelope), which
report (the monthly one and its month, or a custom one with its queries and
parameters), the format, and the export position it includes with that
position's chain hash, so the figures can be tied to a verified export and
produced again (`position` on the monthly report).

Only compliance officers (the audit capability) take reports; a refusal is
recorded before `Forbidden`. Inputs are checked here, before anything is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain import clock
from domain.aggregate import AuditedAggregate
from domain.audit_access import AuditTrail
from domain.capability import Capability
from domain.errors import InvalidInput
from domain.users import User


class ReportAction(StrEnum):
    MONTHLY = "report-monthly"
    CUSTOM = "report-custom"


class ReportFormat(StrEnum):
    """What a report is delivered as."""

    HTML = "html"  # one self-contained file: inline CSS and SVG charts, nothing fetched
    XLSX = "xlsx"  # a workbook with native Excel charts
    CSV_ZIP = "csv-zip"  # one CSV per table, zipped
    BUNDLE = "bundle"  # a zip of all three, from one reading of the history


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR = 1970


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC: [start, end)."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        if self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, self.month + 1, 1, tzinfo=UTC)

    @classmethod
    def of(cls, moment: datetime) -> Month:
        moment = moment.astimezone(UTC)
        return cls(moment.year, moment.month)


def checked_month(text: str, now: datetime) -> Month:
    """ "YYYY-MM" as a month that has begun by `now` (a month still to come has no history)."""
    found = _MONTH.match(text.strip())
    if found is None:
        raise InvalidInput("month", f"a month as YYYY-MM (e.g. 2026-11), got {text[:20]!r}")
    year, number = int(found[1]), int(found[2])
    if not 1 <= number <= 12:
        raise InvalidInput("month", f"there is no month {number:02d}: 01 to 12")
    if year < FIRST_YEAR:
        raise InvalidInput("month", f"from {FIRST_YEAR}-01 on")
    month = Month(year, number)
    current = Month.of(now)
    if month > current:
        raise InvalidInput("month", f"{month} has not begun (it is {current} now)")
    return month


def checked_position(position: int | None, head: int) -> int:
    """What a report reads up to: `position` if given (not past the head), else the head."""
    if position is None:
        return head
    if isinstance(position, bool) or not 1 <= position <= head:
        raise InvalidInput("position", f"a log position from 1 to the head ({head})")
    return position


class ComplianceReport(AuditedAggregate):
    """One report taken: what it covers and the position of the history it includes."""

    @event("Generated")
    def __init__(
        self,
        kind: str,
        name: str,
        format: str,
        position: int,
        chain_hash: str,
        period_start: datetime | None,
        period_end: datetime | None,
        queries: list[dict[str, Any]],
        parameters: dict[str, Any],
        rows: int,
    ) -> None:
        """`name` is the month ("2026-11") or the custom report's title; `queries` (custom
        reports) hold each query's title, its saved name or SQL text, and its row count."""
        self.kind = kind
        self.name = name
        self.format = format
        self.position = position
        self.chain_hash = chain_hash
        self.period_start = period_start
        self.period_end = period_end
        self.queries = queries
        self.parameters = parameters
        self.rows = rows


class Reports(Capability):
    """Officers take reports; each one taken is recorded before it is handed over."""

    def officer(self, action: ReportAction) -> User:
        """The acting user, if it holds the audit capability; a refusal is recorded."""
        actor = self.acting_user()
        self.authorise(actor, action, AuditTrail())
        return actor

    def month(self, text: str) -> Month:
        """The month asked for, checked against the clock."""
        return checked_month(text, clock.now())

    def record(
        self,
        *,
        kind: str,
        name: str,
        format: ReportFormat,
        position: int,
        chain_hash: str,
        month: Month | None = None,
        queries: list[dict[str, Any]] | None = None,
        parameters: dict[str, Any] | None = None,
        rows: int = 0,
    ) -> UUID:
        """Record that the acting officer took this report (before it is handed over)."""
        report = ComplianceReport(
            kind=kind,
            name=name,
            format=str(format),
            position=position,
            chain_hash=chain_hash,
            period_start=month.start if month else None,
            period_end=month.end if month else None,
            queries=list(queries or []),
            parameters=dict(parameters or {}),
            rows=rows,
        )
        self.save(report)
        return report.id
