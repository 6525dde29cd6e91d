"""`strongroom audit report monthly|custom` as an officer types them, against a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.settings import Settings
from tests.api.cli_runner import add_officer, ok, served, strongroom

OFFICER = "officer@enclave.edu"


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture
def officer_env(settings: Settings) -> Iterator[dict[str, str]]:
    with served(settings) as env:
        add_officer(env, OFFICER)
        yield env


def test_the_monthly_report_is_written_into_a_directory(
    officer_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "reports" / "november"
    month = this_month()
    printed = ok("audit", "report", "monthly", "--month", month, "--out", str(out), env=officer_env)
    files = sorted(path.name for path in out.iterdir())
    assert {"report.html", "report.xlsx", "about.csv", "denials-per-reason.csv"} <= set(files)
    csvs = [name for name in files if name.endswith(".csv")]
    assert printed.startswith(f"Wrote the {month} report (the log up to position ")
    assert printed.rstrip().endswith(f"report.html, report.xlsx, {len(csvs)} CSV files.")
    page = (out / "report.html").read_text()
    assert OFFICER in page and "root@enclave.edu" in page and "<script" not in page
    assert not [name for name in files if name.startswith(".")]  # no partial file left
    # For scripts: JSON naming the files; one format alone: that one file.
    answer = json.loads(
        ok(
            "audit",
            "report",
            "monthly",
            "--month",
            month,
            "--out",
            str(out),
            "--json",
            env=officer_env,
        )
    )
    assert answer["directory"] == str(out) and "report.xlsx" in answer["files"]
    assert answer["position"] > 0
    single = tmp_path / "single"
    ok(
        "audit",
        "report",
        "monthly",
        "--month",
        month,
        "--out",
        str(single),
        "--format",
        "xlsx",
        env=officer_env,
    )
    assert [p.name for p in single.iterdir()] == [f"strongroom-monthly-{month}.xlsx"]


def test_errors_are_one_line_with_the_right_exit_code(
    officer_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for args, code, says in [
        (["--month", "2026-13"], 2, "--month: a month as YYYY-MM"),
        (["--month", this_month(), "--format", "pdf"], 2, "--format: one of bundle"),
        (["--month", "2999-01"], 1, "422: month: 2999-01 has not begun"),
    ]:
        done = strongroom("audit", "report", "monthly", *args, "--out", str(out), env=officer_env)
        assert done.returncode == code, done.stderr
        assert says in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
    # Someone without the audit capability is refused by the server (and it is recorded there).
    ok("login", "--email", "root@enclave.edu", env=officer_env)
    done = strongroom(
        "audit", "report", "monthly", "--month", this_month(), "--out", str(out), env=officer_env
    )
    assert done.returncode == 1
    assert "403: report-monthly: only compliance officers" in done.stderr


def test_a_custom_report_from_a_toml_definition(
    officer_env: dict[str, str], tmp_path: Path
) -> None:
    definition = tmp_path / "logins.toml"
    definition.write_text(
        """
title = "Logins by outcome"

[[queries]]
title = "Logins per person"
sql = '''SELECT email, count(*) AS logins FROM logins
         WHERE outcome = $outcome GROUP BY email ORDER BY email'''
chart = { kind = "bar", x = "email", y = ["logins"] }
"""
    )
    out = tmp_path / "custom"
    printed = ok(
        "audit",
        "report",
        "custom",
        "--definition",
        str(definition),
        "--param",
        "outcome=allowed",
        "--out",
        str(out),
        env=officer_env,
    )
    assert printed.startswith("Wrote the report 'Logins by outcome'")
    answer = (out / "q1-logins-per-person-answer.csv").read_text().splitlines()
    assert answer[0] == "email,logins"
    assert {line.split(",")[0] for line in answer[1:]} == {"root@enclave.edu", OFFICER}
    # A parameter not given; a definition that is not TOML.
    done = strongroom(
        "audit",
        "report",
        "custom",
        "--definition",
        str(definition),
        "--out",
        str(out),
        env=officer_env,
    )
    assert done.returncode == 1 and "422: parameters.outcome" in done.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("title = \n")
    done = strongroom(
        "audit",
        "report",
        "custom",
        "--definition",
        str(broken),
        "--out",
        str(out),
        env=officer_env,
    )
    assert done.returncode == 2 and "is not TOML" in done.stderr
