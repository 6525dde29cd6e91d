"""The `strongroom` command line.

Client commands (login, user, team, profile, alerts, dashboard, compliance,
project) talk HTTP through the client SDK; the commands that open the store
themselves (init, serve, demo, audit, projections) import the server side only
when they run.
So `strongroom --help` and every client command start without it.
"""

from __future__ import annotations

import sys

import typer

from api import (  # noqa: F401  (each registers its commands under `strongroom audit`)
    cli_audit_history,
    cli_audit_query,
    cli_audit_questions,
    cli_audit_reports,
    cli_audit_tokens,
)
from api import cli_compliance as compliance
from api import cli_people as people
from api import cli_server as server

cli = typer.Typer(
    help="Strongroom: the management and audit backend of a research-data enclave.",
    no_args_is_help=True,
    add_completion=False,
)
cli.command()(server.init)
cli.command()(server.serve)
cli.command()(server.demo)
cli.add_typer(server.audit_cli, name="audit")
cli.add_typer(server.projections_cli, name="projections")
cli.command()(people.login)
cli.command()(people.logout)
cli.add_typer(people.user_cli, name="user")
cli.add_typer(people.team_cli, name="team")
cli.add_typer(people.profile_cli, name="profile")
cli.add_typer(people.alerts_cli, name="alerts")
cli.add_typer(compliance.compliance_cli, name="compliance")
cli.add_typer(compliance.project_cli, name="project")
cli.command()(people.dashboard)


def main() -> None:
    # httpx imports its own command-line client (click, pygments, rich.syntax: ~30 ms of
    # a short command) whenever those happen to be installed (encode/httpx#3547); no
    # strongroom command runs it. Marked absent, httpx falls back to its stub for it.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    cli()
