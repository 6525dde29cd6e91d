"""`strongroom audit query` and `strongroom audit saved …`: forensic SQL over the export.

Client commands: they talk to the server through the client SDK as the logged-in
officer (see api/cli_people.py), so every question asked is recorded with who asked.
Answers print as a table (a terminal) or tab-separated lines (a pipe), as CSV,
or as the API's JSON; whatever came from the store is printed through `safe()`.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli_people import logged_in
from api.cli_server import audit_cli
from api.console import AsJson, err, fail, fields, out, print_json, safe, table

saved_cli = typer.Typer(
    help="Saved forensic queries: create, list, show, run, update, delete (officers).",
    no_args_is_help=True,
)
audit_cli.add_typer(saved_cli, name="saved")

# As the server defines them (domain/saved_queries.py); the client imports no server side.
PARAMETER_TYPES = ("int", "text", "timestamp", "date")
RETURN_TYPES = ("table", "scalar", "series")


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        help="table (tab-separated into a pipe), csv (control characters escaped), "
        "or json (the API's answer, exact).",
    ),
]
Limit = Annotated[
    int | None, typer.Option(help="At most this many rows, 1 to 1,000,000 (default 10,000).")
]
Timeout = Annotated[
    float | None, typer.Option(help="Stop the query after this many seconds, 0.1 to 300 (30).")
]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", help="NAME=VALUE for $NAME; repeat for more.", show_default=False),
]
QueryName = Annotated[str, typer.Argument(help="The saved query's name.")]


# -- answers ------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """One value as text: nothing as empty, lists and structs as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def show_answer(answer: dict[str, Any], format: Format) -> None:
    """An answer on stdout in `format`; how many rows, as of which position, on stderr."""
    if format is Format.JSON:
        print_json(answer)
    elif format is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([safe(c, markup=False) for c in answer["columns"]])
        for row in answer["rows"]:
            writer.writerow([safe(_cell(v), markup=False) for v in row])
    else:
        table(answer["columns"], ([_cell(v) for v in row] for row in answer["rows"]))
    count, upto = answer["row_count"], answer["exported_upto"]
    summary = f"{count} row{'' if count == 1 else 's'}, as of log position {upto}"
    if answer["truncated"]:
        summary += "; cut at the row limit (raise --limit)"
    err.print(f"[dim]{safe(summary)}[/]", highlight=False)


def parameter_values(given: list[str] | None) -> dict[str, str]:
    """`--param NAME=VALUE` options as a mapping (the server types and checks the values)."""
    values: dict[str, str] = {}
    for item in given or []:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            fail(f"--param {item!r}: NAME=VALUE is expected", code=2)
        values[name.strip()] = value
    return values


def read_sql(source: str, what: str) -> str:
    """SQL from the text itself, or from stdin when it is `-`."""
    sql = sys.stdin.read() if source == "-" else source
    if not sql.strip():
        fail(f"{what}: no SQL given", code=2)
    return sql


@audit_cli.command("query")
def audit_query(
    sql: Annotated[
        str, typer.Argument(help='One SELECT over the forensic views; "-" reads it from stdin.')
    ],
    format: FormatOption = Format.TABLE,
    limit: Limit = None,
    timeout: Timeout = None,
    param: Params = None,
) -> None:
    """Ask the history a question in SQL (DuckDB, read-only), as of now; it is recorded.

    Views: events, people, teams, logins, denials, membership_changes, role_changes,
    permission_changes, alerts, ocsf (docs/forensics.md). Values for `$name` parameters
    are bound as text (cast them in the SQL), never pasted into it.
    """
    text = read_sql(sql, "query")
    values = parameter_values(param)
    with logged_in() as client:
        answer = client.query(text, parameters=values, row_limit=limit, time_limit=timeout)
    show_answer(answer, format)


# -- saved queries -----------------------------------------------------------------------


def parse_parameters(specs: list[str] | None, defaults: list[str] | None) -> list[dict[str, Any]]:
    """`--param name:type[:description]` and `--default name=value` as the API's parameters."""
    declared: list[dict[str, Any]] = []
    for given in specs or []:
        name, _, rest = given.partition(":")
        kind, _, description = rest.partition(":")
        if not name.strip() or kind not in PARAMETER_TYPES:
            fail(
                f"--param {given!r}: NAME:TYPE[:DESCRIPTION] is expected, "
                f"TYPE one of {', '.join(PARAMETER_TYPES)}",
                code=2,
            )
        declared.append({"name": name.strip(), "type": kind, "description": description})
    by_name = {p["name"]: p for p in declared}
    for name, value in parameter_values(defaults).items():
        if name not in by_name:
            fail(f"--default {name}: no --param {name} is declared", code=2)
        declared_as = by_name[name]
        whole = declared_as["type"] == "int" and re.fullmatch(r"-?[0-9]{1,19}", value.strip())
        declared_as["default"] = int(value) if whole else value
    return declared


def return_type_of(given: str | None) -> str | None:
    if given is not None and given not in RETURN_TYPES:
        fail(f"--returns {given!r}: one of {', '.join(RETURN_TYPES)}", code=2)
    return given


SqlFile = Annotated[
    Path | None,
    typer.Option("--sql-file", help='A file holding the SQL ("-": stdin).', show_default=False),
]
SqlText = Annotated[str | None, typer.Option("--sql", help="The SQL itself.", show_default=False)]
Description = Annotated[str | None, typer.Option(help="What it answers.", show_default=False)]
Tags = Annotated[
    list[str] | None,
    typer.Option("--tag", help="A tag to find it by; repeat for more.", show_default=False),
]
ParamSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="NAME:TYPE[:DESCRIPTION] for $NAME in the SQL; TYPE int, text, timestamp or date.",
        show_default=False,
    ),
]
Defaults = Annotated[
    list[str] | None,
    typer.Option("--default", help="NAME=VALUE: a parameter's default.", show_default=False),
]
Returns = Annotated[
    str | None,
    typer.Option(
        "--returns",
        help="table; scalar (one value); series (a label, then numbers: chart-ready).",
        show_default=False,
    ),
]


def sql_from(sql_file: Path | None, sql: str | None) -> str | None:
    if sql_file is not None and sql is not None:
        fail("give the SQL once: --sql-file or --sql", code=2)
    if sql_file is None:
        return sql
    if str(sql_file) == "-":
        return read_sql("-", "--sql-file")
    try:
        return sql_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"--sql-file {sql_file}: {error}", code=2)


def show_saved(query: dict[str, Any]) -> None:
    fields(
        {
            "name": query["name"],
            "description": query["description"],
            "returns": query["return_type"],
            "tags": query["tags"],
            "parameters": [_parameter_text(p) for p in query["parameters"]],
            "revision": query["revision"],
            "retired": query["retired"],
            "created": f"{query['created_at'][:19]} by {_who(query, 'created_by')}",
            "updated": f"{query['updated_at'][:19]} by {_who(query, 'updated_by')}",
        }
    )
    out.print()
    out.print(safe(query["sql"]), highlight=False)


def _parameter_text(parameter: dict[str, Any]) -> str:
    shown = f"{parameter['name']}:{parameter['type']}"
    if parameter.get("default") is not None:
        shown += f"={parameter['default']}"
    return shown


def _who(query: dict[str, Any], key: str) -> str:
    return str(query.get(f"{key}_email") or query[key])


@saved_cli.command("create")
def saved_create(
    name: QueryName,
    sql_file: SqlFile = None,
    sql: SqlText = None,
    description: Description = None,
    tag: Tags = None,
    param: ParamSpecs = None,
    default: Defaults = None,
    returns: Returns = None,
    as_json: AsJson = False,
) -> None:
    """Save a query under a unique name (its SQL is checked by the server)."""
    text = sql_from(sql_file, sql)
    if text is None:
        fail("the SQL is needed: --sql-file FILE (or -) or --sql TEXT", code=2)
    parameters = parse_parameters(param, default)
    with logged_in() as client:
        saved = client.create_saved_query(
            name,
            text,
            description=description or "",
            tags=tag or [],
            parameters=parameters,
            return_type=return_type_of(returns) or "table",
        )
    if as_json:
        print_json(saved)
    else:
        out.print(f"Saved {safe(saved['name'])} (revision {saved['revision']}).", highlight=False)


@saved_cli.command("list")
def saved_list(
    tag: Annotated[str | None, typer.Option(help="Only queries with this tag.")] = None,
    search: Annotated[
        str | None, typer.Option(help="Only queries mentioning this (name, description, SQL).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The saved queries in use."""
    with logged_in() as client:
        found = client.saved_queries(tag=tag, search=search)
    if as_json:
        print_json(found)
        return
    table(
        ("name", "returns", "parameters", "tags", "revision", "by", "description"),
        (
            (
                q["name"],
                q["return_type"],
                " ".join(_parameter_text(p) for p in q["parameters"]),
                ",".join(q["tags"]),
                q["revision"],
                _who(q, "updated_by"),
                (q["description"].splitlines() or [""])[0],
            )
            for q in found
        ),
    )


@saved_cli.command("show")
def saved_show(name: QueryName, as_json: AsJson = False) -> None:
    """One saved query: its definition, who made it, and its SQL."""
    with logged_in() as client:
        query = client.saved_query(name)
    if as_json:
        print_json(query)
    else:
        show_saved(query)


@saved_cli.command("run")
def saved_run(
    name: QueryName,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE; repeat for more.", show_default=False),
    ] = None,
    format: FormatOption = Format.TABLE,
    limit: Limit = None,
    timeout: Timeout = None,
) -> None:
    """Run a saved query with its parameters, as of now; the run is recorded."""
    values = parameter_values(param)
    with logged_in() as client:
        answer = client.run_saved_query(
            name, parameters=values, row_limit=limit, time_limit=timeout
        )
    show_answer(answer, format)


@saved_cli.command("update")
def saved_update(
    name: QueryName,
    sql_file: SqlFile = None,
    sql: SqlText = None,
    description: Description = None,
    tag: Tags = None,
    param: ParamSpecs = None,
    default: Defaults = None,
    returns: Returns = None,
    as_json: AsJson = False,
) -> None:
    """A new revision: what you give replaces that part (tags and parameters as a whole)."""
    text = sql_from(sql_file, sql)
    parameters = parse_parameters(param, default) if param else None
    if default and not param:
        fail("--default goes with the --param it is for", code=2)
    kind = return_type_of(returns)
    with logged_in() as client:
        current = client.saved_query(name)
        updated = client.update_saved_query(
            name,
            text if text is not None else current["sql"],
            description=description if description is not None else current["description"],
            tags=tag if tag else current["tags"],
            parameters=parameters if parameters is not None else current["parameters"],
            return_type=kind or current["return_type"],
        )
    if as_json:
        print_json(updated)
    else:
        out.print(
            f"Updated {safe(updated['name'])} (revision {updated['revision']}).", highlight=False
        )


@saved_cli.command("delete")
def saved_delete(name: QueryName) -> None:
    """Retire a saved query: it no longer runs, and stays in the history."""
    with logged_in() as client:
        client.retire_saved_query(name)
    out.print(f"Retired {safe(name)} (kept in the history).", highlight=False)
