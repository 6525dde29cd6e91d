"""A report as ONE self-contained HTML file: inline CSS, inline SVG charts, no script.

It opens from a USB stick on a machine with no network, and it asks for
nothing: no script, no stylesheet, font or image to fetch, and a
Content-Security-Policy that forbids loading anything should a later change
slip. Links are only to the report's own sections (`#activity`). Every value
from the record is escaped (and control or bidi characters shown as escapes).
"""

from __future__ import annotations

from datetime import date
from html import escape

from audit_queries.reports import svg
from audit_queries.reports.model import Cell, Report, Section, Table, text_of, visible

# Nothing may be loaded from anywhere; only the inline style applies.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d2329; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #2f6690; padding-bottom: .2rem;
  margin-top: 2.2rem; }
h3 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: 13px; }
th, td { border: 1px solid #d5dbe1; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.t { white-space: nowrap; }
.wide { overflow-x: auto; }
table.about td:first-child { color: #56616c; }
.note, .summary { color: #56616c; }
.hash { font-family: ui-monospace, monospace; word-break: break-all; }
pre { background: #f5f7f9; padding: .6rem; overflow-x: auto; font-size: 12px; }
nav ol { columns: 2; }
svg.chart { display: block; margin: .6rem 0; max-width: 100%; height: auto; }
svg .grid { stroke: #e3e7eb; } svg .axis { stroke: #56616c; }
svg text { font: 11px system-ui, sans-serif; fill: #39434d; }
svg .chart-title { font-size: 13px; font-weight: 600; }
svg .empty { font-size: 13px; fill: #8a949e; }
@media print { nav { display: none; } h2 { break-before: page; } }
"""


def render_html(report: Report) -> bytes:
    """The report as one HTML document, UTF-8."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(report.title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<header><h1>{_e(report.title)}</h1>",
        _about(report),
        "</header>",
        _contents(report),
        "<main>",
        *(_section(section) for section in report.sections),
        "</main></body></html>",
    ]
    return "\n".join(parts).encode("utf-8")


def _about(report: Report) -> str:
    rows = []
    for name, value in report.about():
        css = ' class="hash"' if name.startswith("chain hash") else ""
        rows.append(f"<tr><td>{_e(name)}</td><td{css}>{_e(text_of(value))}</td></tr>")
    return f'<table class="about">{"".join(rows)}</table>'


def _contents(report: Report) -> str:
    items = "".join(
        f'<li><a href="#{_e(section.key)}">{_e(section.title)}</a></li>'
        for section in report.sections
    )
    return f"<nav><h2>Contents</h2><ol>{items}</ol></nav>"


def _section(section: Section) -> str:
    parts = [f'<section id="{_e(section.key)}"><h2>{_e(section.title)}</h2>']
    if section.summary:
        parts.append(f'<p class="summary">{_e(section.summary)}</p>')
    for sql in section.sql:
        parts.append(f"<pre>{_e(sql)}</pre>")
    parts += [svg.render(chart) for chart in section.charts]
    parts += [_table(table) for table in section.tables]
    parts.append("</section>")
    return "".join(parts)


def _table(table: Table) -> str:
    head = "".join(f"<th>{_e(column)}</th>" for column in table.columns)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in table.rows)
    if not table.rows:
        body = f'<tr><td colspan="{max(len(table.columns), 1)}" class="note">none</td></tr>'
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (
        f"<h3>{_e(table.title)}</h3>{note}"
        f'<div class="wide"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _cell(value: Cell) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    css = ' class="n"' if numeric else ' class="t"' if isinstance(value, date) else ""
    return f"<td{css}>{_e(text_of(value, empty='—'))}</td>"


def _e(text: str) -> str:
    return escape(visible(text), quote=True)
