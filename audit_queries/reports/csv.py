"""A report as CSV: one file per table, and about.csv saying what the report is.

Files are named `<section>-<table>.csv` (`denials-per-reason.csv`), UTF-8,
with a header row; times are ISO 8601 in UTC, empty cells are empty. Text that
a spreadsheet would run as a formula (starting with = + - @, a tab or a
carriage return) is written with a leading apostrophe, as OWASP advises for
CSV: opened in Excel it is shown, not run. The XLSX and HTML hold such text
unchanged; tools reading the CSV see the apostrophe.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

from audit_queries.reports.model import Cell, Report, slug

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_files(report: Report) -> dict[str, bytes]:
    """File name → content, about.csv first, then each table in report order."""
    files = {"about.csv": _csv(["field", "value"], report.about())}
    for section in report.sections:
        for table in section.tables:
            name = f"{slug(section.key)}-{slug(table.key)}.csv"
            files[name] = _csv(table.columns, table.rows)
    return files


def render_csv_zip(report: Report) -> bytes:
    """Every CSV file of the report in one zip."""
    return zip_of(csv_files(report), report.generated_at)


def zip_of(files: dict[str, bytes], moment: datetime) -> bytes:
    """A zip of `files`, each stamped with `moment` (the same report gives the same zip)."""
    stamp = moment.astimezone(UTC).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def _csv(columns: list[str], rows: list[tuple[Cell, ...]] | list[tuple[str, Cell]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_value(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")


def _value(cell: Cell) -> str | int | float:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, int | float):
        return cell
    if isinstance(cell, datetime):
        moment = cell.astimezone(UTC) if cell.tzinfo else cell
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(cell, date):
        return cell.isoformat()
    text = str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
