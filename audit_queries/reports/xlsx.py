"""A report as an XLSX workbook with native Excel charts (XlsxWriter).

The first sheet says what the report is (period, position, chain hash, who
took it) and lists the sheets; then one sheet per section: each chart's data
as a small table with the chart (a real Excel chart over those cells) beside
it, then the section's tables. Text is written as text, always: a name such
as "=HYPERLINK(...)" stays a name, never a formula or a link. Times are in UTC.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from audit_queries.reports.model import Cell, Chart, Report, Section, Table

CHART_TYPES: dict[str, dict[str, str]] = {
    "bar": {"type": "column"},
    "stacked": {"type": "column", "subtype": "stacked"},
    "line": {"type": "line"},
}
CHART_ROWS = 20  # the rows a chart covers
MAX_WIDTH = 60
SHEET_NAME = 31
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")


def render_xlsx(report: Report) -> bytes:
    """The report as an .xlsx file."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            # Text from the record is data: never a formula, a link or a number.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "remove_timezone": True,
        },
    )
    # A fixed creation time: the same report gives the same workbook metadata.
    workbook.set_properties(
        {"title": report.title, "author": "Strongroom", "created": _naive(report.generated_at)}
    )
    styles = _Styles(workbook)
    names = _SheetNames()
    about = workbook.add_worksheet(names.take("About"))
    sheets = [(section, names.take(section.title)) for section in report.sections]
    _about(about, report, styles, [name for _, name in sheets])
    for section, name in sheets:
        _section(workbook, workbook.add_worksheet(name), section, styles)
    workbook.close()
    return buffer.getvalue()


class _Styles:
    def __init__(self, workbook: Workbook) -> None:
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.heading = workbook.add_format({"bold": True, "font_size": 11})
        self.header = workbook.add_format({"bold": True, "bg_color": "#EEF2F6", "border": 1})
        self.note = workbook.add_format({"italic": True, "font_color": "#56616C"})
        self.moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.hours = workbook.add_format({"num_format": "0.00"})


class _SheetNames:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique ignoring case."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, title: str) -> str:
        base = _NOT_IN_SHEET_NAMES.sub(" ", title).strip("' ")[:SHEET_NAME] or "Sheet"
        name, n = base, 2
        while name.lower() in self.taken or name.lower() == "history":
            suffix = f" ({n})"
            name, n = base[: SHEET_NAME - len(suffix)] + suffix, n + 1
        self.taken.add(name.lower())
        return name


def _about(sheet: Worksheet, report: Report, styles: _Styles, names: list[str]) -> None:
    sheet.write_string(0, 0, report.title, styles.title)
    row = 2
    for name, value in report.about():
        sheet.write_string(row, 0, name)
        _write(sheet, row, 1, value, styles)
        row += 1
    row += 1
    sheet.write_string(row, 0, "sheets", styles.heading)
    for name in names:
        row += 1
        sheet.write_string(row, 0, name)
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 70)


def _section(workbook: Workbook, sheet: Worksheet, section: Section, styles: _Styles) -> None:
    sheet.write_string(0, 0, section.title, styles.title)
    row = 1
    if section.summary:
        sheet.write_string(row, 0, section.summary, styles.note)
        row += 1
    for sql in section.sql:
        sheet.write_string(row, 0, sql, styles.note)
        row += 1
    widths: dict[int, int] = {}
    for chart in section.charts:
        row = _chart(workbook, sheet, chart, row + 1, styles, widths)
    for table in section.tables:
        row = _table(sheet, table, row + 1, styles, widths)
    for column, width in widths.items():
        sheet.set_column(column, column, min(max(width + 2, 8), MAX_WIDTH))


def _chart(
    workbook: Workbook,
    sheet: Worksheet,
    chart: Chart,
    row: int,
    styles: _Styles,
    widths: dict[int, int],
) -> int:
    """The chart's data at `row`, and the chart over it to its right; the next free row."""
    sheet.write_string(row, 0, chart.title, styles.heading)
    header = row + 1
    data = Table(
        "chart",
        chart.title,
        ["category", *(s.name for s in chart.series)],
        [
            (category, *(_whole(s.values[i]) for s in chart.series))
            for i, category in enumerate(chart.categories)
        ],
    )
    _rows(sheet, data, header, styles, widths)
    last = header + max(len(chart.categories), 1)
    if chart.categories:
        excel = workbook.add_chart(CHART_TYPES[chart.kind])  # type: ignore[arg-type]
        name = sheet.get_name()
        for k in range(1, len(chart.series) + 1):
            excel.add_series(
                {
                    "name": [name, header, k],
                    "categories": [name, header + 1, 0, last, 0],
                    "values": [name, header + 1, k, last, k],
                }
            )
        excel.set_title({"name": chart.title})
        excel.set_y_axis({"name": chart.y_label, "min": 0})
        excel.set_legend({"position": "bottom"} if len(chart.series) > 1 else {"none": True})
        excel.set_size({"width": 720, "height": 360})
        sheet.insert_chart(row, len(chart.series) + 2, excel)
    return max(last + 2, row + CHART_ROWS)


def _table(
    sheet: Worksheet, table: Table, row: int, styles: _Styles, widths: dict[int, int]
) -> int:
    sheet.write_string(row, 0, table.title, styles.heading)
    row += 1
    if table.note:
        sheet.write_string(row, 0, table.note, styles.note)
        row += 1
    _rows(sheet, table, row, styles, widths)
    return row + len(table.rows) + 2


def _rows(
    sheet: Worksheet, table: Table, row: int, styles: _Styles, widths: dict[int, int]
) -> None:
    for column, name in enumerate(table.columns):
        sheet.write_string(row, column, name, styles.header)
        widths[column] = max(widths.get(column, 0), len(name))
    for offset, values in enumerate(table.rows, start=1):
        for column, value in enumerate(values):
            _write(sheet, row + offset, column, value, styles)
            widths[column] = max(widths.get(column, 0), _width(value))


def _write(sheet: Worksheet, row: int, column: int, value: Cell, styles: _Styles) -> None:
    if value is None:
        sheet.write_blank(row, column, None)
    elif isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, int | float):
        sheet.write_number(row, column, value, styles.hours if isinstance(value, float) else None)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, column, _naive(value), styles.moment)
    elif isinstance(value, date):
        sheet.write_datetime(row, column, value, styles.day)
    else:
        sheet.write_string(row, column, str(value))


def _whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _naive(moment: datetime) -> datetime:
    """Excel has no time zones: the UTC wall time."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _width(value: Any) -> int:
    if isinstance(value, datetime):
        return 19
    return len(str(value)) if value is not None else 0
