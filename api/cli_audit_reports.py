"""`strongroom audit report monthly|custom`: compliance reports, written into a directory.

Client commands: they talk to the server through the client SDK as the logged-in
officer (see api/cli_people.py), so every report taken is recorded with who took
it. By default the server sends the bundle (the HTML, the workbook and every
CSV, from one reading of the history, so they agree), and the files are written
into `--out`: report.html, report.xlsx, about.csv and one CSV per table.
Input is checked here first (a one-line error, exit 2, nothing sent).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli_people import logged_in
from api.cli_server import audit_cli
from api.console import AsJson, fail, out, print_json, progress_bar, safe

report_cli = typer.Typer(
    help="Compliance reports: the monthly report, and custom reports from SQL and saved queries.",
    no_args_is_help=True,
)
audit_cli.add_typer(report_cli, name="report")

FORMATS = ("bundle", "html", "xlsx", "csv-zip")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_PARAMETER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
_WHOLE = re.compile(r"^-?[0-9]{1,18}$")
# What a bundle may hold: plain file names, nothing that could climb out of --out.
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
MAX_DEFINITION_BYTES = 1024 * 1024

Out = Annotated[
    Path, typer.Option("--out", help="The directory to write the report into (created if missing).")
]
Format = Annotated[
    str,
    typer.Option(
        help="bundle: report.html, report.xlsx and the CSVs; or one of html, xlsx, csv-zip."
    ),
]


@report_cli.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM, in UTC (e.g. 2026-11).")],
    out_dir: Out,
    format: Format = "bundle",
    position: Annotated[
        int | None,
        typer.Option(min=1, help="Read the log only up to this position (the same figures again)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The monthly compliance report: activity, denials, alerts, changes, logins by network."""
    if not _MONTH.match(month.strip()):
        fail(f"--month: a month as YYYY-MM (e.g. 2026-11), got {month!r}", code=2)
    checked_format(format)
    directory = checked_directory(out_dir)
    with progress_bar(f"taking the {month.strip()} report") as bar, logged_in() as client:
        bar.total(1)
        answer = client.monthly_report(month.strip(), format=format, position=position)
        written = write(directory, answer, format, bar)
    done(f"the {month.strip()} report", directory, written, answer["position"], as_json)


@report_cli.command("custom")
def report_custom(
    definition: Annotated[
        Path,
        typer.Option(help="The report definition, TOML (.toml) or JSON (.json)."),
    ],
    out_dir: Out,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="NAME=VALUE for the queries' $NAME (repeatable; digits: a number)."
        ),
    ] = None,
    format: Format = "bundle",
    as_json: AsJson = False,
) -> None:
    """A custom report: each query (SQL or a saved query) a section with its table and chart."""
    checked_format(format)
    body = load_definition(definition)
    parameters = checked_parameters(param or [])
    directory = checked_directory(out_dir)
    title = str(body.get("title", "custom"))
    with progress_bar(f"taking the report {title}") as bar, logged_in() as client:
        bar.total(1)
        answer = client.custom_report(body, parameters=parameters, format=format)
        written = write(directory, answer, format, bar)
    done(f"the report {title!r}", directory, written, answer["position"], as_json)


def checked_format(format: str) -> None:
    if format not in FORMATS:
        fail(f"--format: one of {', '.join(FORMATS)}, got {format!r}", code=2)


def checked_directory(directory: Path) -> Path:
    if directory.exists() and not directory.is_dir():
        fail(f"--out: {directory} exists and is not a directory", code=2)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"--out: cannot create {directory}: {error.strerror or error}", code=2)
    return directory


def load_definition(path: Path) -> dict[str, Any]:
    """A report definition from a TOML or JSON file; else a one-line error and exit 2."""
    import json
    import tomllib

    try:
        raw = path.read_bytes()
    except OSError as error:
        fail(f"--definition: cannot read {path}: {error.strerror or error}", code=2)
    if len(raw) > MAX_DEFINITION_BYTES:
        fail(f"--definition: {path} is larger than {MAX_DEFINITION_BYTES} bytes", code=2)
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        fail(f"--definition: {path} is not {kind}: {str(error).splitlines()[0]}", code=2)
    if not isinstance(data, dict):
        fail(f"--definition: {path} must hold a table (title, queries, parameters)", code=2)
    return data


def checked_parameters(given: list[str]) -> dict[str, str | int]:
    """NAME=VALUE pairs; whole numbers become numbers, anything else stays text."""
    parameters: dict[str, str | int] = {}
    for item in given:
        found = _PARAMETER.match(item)
        if found is None:
            fail(
                f"--param: NAME=VALUE with NAME a letter or _ then letters, digits, _: {item!r}", 2
            )
        name, value = found[1], found[2]
        parameters[name] = int(value) if _WHOLE.match(value) else value
    return parameters


def write(directory: Path, answer: dict[str, Any], format: str, bar: Any) -> list[str]:
    """The file(s) the server sent, into `directory` (a bundle unpacked); their names."""
    import io
    import zipfile

    if format == "bundle":
        try:
            archive = zipfile.ZipFile(io.BytesIO(answer["content"]))
            files = {name: archive.read(name) for name in archive.namelist()}
        except (zipfile.BadZipFile, KeyError) as error:
            fail(f"the server sent an unreadable bundle: {error}")
    else:
        files = {answer["filename"] or f"report.{format}": answer["content"]}
    bar.total(1 + len(files))
    bar.advance_to(1)
    for done_count, (name, content) in enumerate(files.items(), start=2):
        if not _FILE_NAME.match(name) or name in (".", ".."):
            fail(f"the server sent a file with an unexpected name: {name!r}")
        write_atomically(directory / name, content)
        bar.advance_to(done_count)
    return list(files)


def write_atomically(path: Path, content: bytes) -> None:
    """Write under a temporary name and rename: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        fail(f"--out: cannot write {path}: {error.strerror or error}", code=2)


def done(what: str, directory: Path, files: list[str], position: int, as_json: bool) -> None:
    if as_json:
        print_json({"directory": str(directory), "position": position, "files": files})
        return
    csvs = [name for name in files if name.endswith(".csv")]
    others = [name for name in files if not name.endswith(".csv")]
    listed = ", ".join(others + ([f"{len(csvs)} CSV files"] if csvs else []))
    out.print(
        f"Wrote {safe(what)} (the log up to position {position}) to {safe(str(directory))}: "
        f"{safe(listed)}.",
        highlight=False,
    )
