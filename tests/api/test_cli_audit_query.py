"""`strongroom audit query` and `strongroom audit saved …` as an officer types them.

The installed command in a subprocess, against a live server on each store, logged
in as a compliance officer (tests/api/cli_runner.py: served, add_officer).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings
from tests.api.cli_runner import STRONGROOM, add_officer, ok, served, strongroom


@pytest.fixture
def officer_env(settings: Settings) -> Iterator[dict[str, str]]:
    with served(settings) as env:
        add_officer(env)
        yield env


def one_error_line(args: tuple[str, ...], env: dict[str, str], code: int = 1) -> str:
    """Run a command that must fail: its one line on stderr."""
    result = strongroom(*args, env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


EMAILS = "SELECT email FROM people ORDER BY email"


def test_questions_from_the_shell_in_each_format(officer_env: dict[str, str]) -> None:
    env = officer_env
    people = ["officer@enclave.edu", "root@enclave.edu"]

    as_csv = list(csv.reader(io.StringIO(ok("audit", "query", EMAILS, "--format", "csv", env=env))))
    assert as_csv == [["email"], *([e] for e in people)]

    answer = json.loads(ok("audit", "query", EMAILS, "--format", "json", env=env))
    assert answer["rows"] == [[e] for e in people]
    assert answer["exported_upto"] > 0 and answer["truncated"] is False

    # Into a pipe, the table is tab-separated lines under a header; the count on stderr.
    result = strongroom("audit", "query", "SELECT email, 1 AS n FROM people ORDER BY 1", env=env)
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["email\tn", *(f"{e}\t1" for e in people)]
    assert "2 rows, as of log position" in result.stderr

    # The SQL from stdin, and a value for a parameter: bound, never pasted in.
    sql = "SELECT count(*) AS n\nFROM people\nWHERE email = $email"
    result = subprocess.run(
        [STRONGROOM, "audit", "query", "-", "--format", "json", "--param", "email=x' OR 1=1 --"],
        input=sql,
        env=officer_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == [[0]]

    # The row limit, said on stderr.
    cut = strongroom("audit", "query", "SELECT * FROM range(10)", "--limit", "3", env=officer_env)
    assert cut.stdout.splitlines() == ["range", "0", "1", "2"]
    assert "cut at the row limit (raise --limit)" in cut.stderr

    # Text from the store never drives the terminal: escapes are shown, not obeyed.
    hostile = "SELECT chr(27) || '[2J' || chr(10) || 'x' AS screen"
    for form in ("table", "csv"):
        shown = ok("audit", "query", hostile, "--format", form, env=officer_env)
        assert "\x1b" not in shown and "\\x1b[2J\\x0ax" in shown
    exact = json.loads(ok("audit", "query", hostile, "--format", "json", env=officer_env))
    assert exact["rows"] == [["\x1b[2J\nx"]]


def test_refused_failed_and_stopped_queries_are_one_line_non_zero_and_recorded(
    officer_env: dict[str, str],
) -> None:
    env = officer_env
    line = one_error_line(("audit", "query", "SELEC 1"), env)
    assert line.startswith("error: 422: sql: Parser Error: syntax error")
    line = one_error_line(("audit", "query", "COPY people TO '/tmp/people.csv'"), env)
    assert line == "error: 403: run-query: only SELECT may run here, not COPY"
    line = one_error_line(("audit", "query", "SELECT * FROM read_csv('/etc/passwd')"), env)
    assert line.startswith("error: 403: run-query: Permission Error: Cannot access file")
    runaway = ("audit", "query", "SELECT count(*) FROM range(10000000000000)", "--timeout", "0.2")
    assert one_error_line(runaway, env) == "error: 408: stopped at the time limit of 0.2 s"
    line = one_error_line(("audit", "query", "SELECT 1", "--limit", "0"), env)
    assert line.startswith("error: 422: row_limit:")
    line = one_error_line(("audit", "query", "SELECT 1", "--param", "novalue"), env, code=2)
    assert line == "error: --param 'novalue': NAME=VALUE is expected"

    # Every one of them is on the record, with who asked.
    runs = json.loads(
        ok(
            "audit",
            "query",
            "SELECT actor_email, payload->>'$.outcome' AS outcome FROM events "
            "WHERE event_type = 'QueryRun.Recorded' ORDER BY position",
            "--format",
            "json",
            env=env,
        )
    )
    assert runs["rows"] == [
        ["officer@enclave.edu", outcome] for outcome in ("failed", "refused", "refused", "stopped")
    ]

    # Someone without the audit capability is refused.
    ok("login", "--email", "root@enclave.edu", env=officer_env)  # a super-admin, not an officer
    line = one_error_line(("audit", "query", "SELECT 1"), officer_env)
    assert line.startswith("error: 403: run-query: only compliance officers")
    line = one_error_line(("audit", "saved", "list"), officer_env)
    assert line.startswith("error: 403: read-saved-queries:")


def test_saved_queries_from_the_shell(officer_env: dict[str, str], tmp_path: Path) -> None:
    env = officer_env
    sql_file = tmp_path / "like.sql"
    sql_file.write_text("SELECT email FROM people\nWHERE email LIKE $pattern\nORDER BY email\n")
    made = ok(
        "audit",
        "saved",
        "create",
        "people-like",
        "--sql-file",
        str(sql_file),
        "--description",
        "People by an email pattern.",
        "--tag",
        "directory",
        "--tag",
        "people",
        "--param",
        "pattern:text:a LIKE pattern",
        "--default",
        "pattern=%",
        env=env,
    )
    assert made.strip() == "Saved people-like (revision 1)."
    ok(
        "audit",
        "saved",
        "create",
        "recent-events",
        "--sql",
        "SELECT count(*) FROM events WHERE position > $after",
        "--param",
        "after:int",
        "--default",
        "after=0",
        "--returns",
        "scalar",
        "--tag",
        "activity",
        env=env,
    )
    taken = one_error_line(("audit", "saved", "create", "people-like", "--sql", "SELECT 1"), env)
    assert taken.startswith("error: 409: a saved query named people-like exists")

    listing = ok("audit", "saved", "list", env=env).splitlines()
    assert listing[0].split("\t") == [
        "name",
        "returns",
        "parameters",
        "tags",
        "revision",
        "by",
        "description",
    ]
    assert [row.split("\t")[0] for row in listing[1:]] == ["people-like", "recent-events"]
    assert listing[1].split("\t")[2:6] == [
        "pattern:text=%",
        "directory,people",
        "1",
        "officer@enclave.edu",
    ]
    by_tag = ok("audit", "saved", "list", "--tag", "activity", "--json", env=env)
    assert [q["name"] for q in json.loads(by_tag)] == ["recent-events"]
    by_text = ok("audit", "saved", "list", "--search", "LIKE", "--json", env=env)
    assert [q["name"] for q in json.loads(by_text)] == ["people-like"]

    shown = ok("audit", "saved", "show", "people-like", env=env)
    assert "People by an email pattern." in shown and "WHERE email LIKE $pattern" in shown
    assert json.loads(ok("audit", "saved", "show", "recent-events", "--json", env=env))[
        "parameters"
    ] == [{"name": "after", "type": "int", "description": "", "default": 0}]

    ran = ok("audit", "saved", "run", "people-like", "--param", "pattern=root%", env=env)
    assert ran.splitlines() == ["email", "root@enclave.edu"]
    bad = one_error_line(("audit", "saved", "run", "recent-events", "--param", "after=x"), env)
    assert bad == "error: 422: parameters.after: a whole number is expected"

    updated = ok("audit", "saved", "update", "people-like", "--description", "Changed.", env=env)
    assert updated.strip() == "Updated people-like (revision 2)."
    again = json.loads(ok("audit", "saved", "show", "people-like", "--json", env=env))
    assert (again["description"], again["tags"], again["sql"]) == (
        "Changed.",
        ["directory", "people"],
        sql_file.read_text().strip(),
    )

    assert "Retired people-like" in ok("audit", "saved", "delete", "people-like", env=env)
    retired = one_error_line(("audit", "saved", "run", "people-like"), env)
    assert retired == "error: 409: the saved query people-like was retired"
    names = [q["name"] for q in json.loads(ok("audit", "saved", "list", "--json", env=env))]
    assert names == ["recent-events"]
