"""A report in the format asked for: its bytes, media type and file name.

The bundle is what `strongroom audit report` writes into a directory: the HTML,
the workbook and every CSV, from one reading of the history, so the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit_queries.reports.csv import csv_files, render_csv_zip, zip_of
from audit_queries.reports.html import render_html
from audit_queries.reports.model import Report
from audit_queries.reports.xlsx import render_xlsx
from domain.reports import ReportFormat

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {
    ReportFormat.HTML: "text/html; charset=utf-8",
    ReportFormat.XLSX: XLSX_TYPE,
    ReportFormat.CSV_ZIP: "application/zip",
    ReportFormat.BUNDLE: "application/zip",
}
SUFFIXES = {
    ReportFormat.HTML: ".html",
    ReportFormat.XLSX: ".xlsx",
    ReportFormat.CSV_ZIP: "-csv.zip",
    ReportFormat.BUNDLE: ".zip",
}
# The names inside a bundle (and in the directory the CLI writes).
HTML_NAME = "report.html"
XLSX_NAME = "report.xlsx"


@dataclass(frozen=True)
class Rendered:
    content: bytes
    media_type: str
    filename: str


def render(report: Report, format: ReportFormat) -> Rendered:
    """`report` as `format`."""
    if format is ReportFormat.HTML:
        content = render_html(report)
    elif format is ReportFormat.XLSX:
        content = render_xlsx(report)
    elif format is ReportFormat.CSV_ZIP:
        content = render_csv_zip(report)
    else:
        content = zip_of(bundle_files(report), report.generated_at)
    return Rendered(content, MEDIA_TYPES[format], report.file_stem + SUFFIXES[format])


def bundle_files(report: Report) -> dict[str, bytes]:
    """report.html, report.xlsx and the CSV files, by name."""
    return {
        HTML_NAME: render_html(report),
        XLSX_NAME: render_xlsx(report),
        **csv_files(report),
    }
