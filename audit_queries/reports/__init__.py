"""Compliance reports over the export: the monthly report and custom reports.

model.py     what a report is: sections of tables and charts
sections.py  the section registry and the reader the sections' SQL runs through
monthly.py   the monthly report's sections (one calendar month in UTC)
custom.py    reports from SQL or saved queries, with parameters
svg.py       charts as inline SVG (no script, nothing fetched)
html.py      one self-contained HTML file
xlsx.py      a workbook with native Excel charts
csv.py       one CSV per table
formats.py   a report in the format asked for, with its media type and file name
"""
