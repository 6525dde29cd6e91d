"""The `strongroom` command line."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.bootstrap import bootstrap
from adapters.ledger.checkpoints import (
    AuditKeyError,
    create_signing_key,
    key_id_of,
    load_public_key,
    public_key_pem,
)
from adapters.settings import Settings, SettingsError, SqliteStore
from api import cli_people as people
from api.console import err, fail, out
from api.demo import ADMIN_EMAIL, DEMO_PASSPHRASE, load_demo
from audit_queries.verify import verify_store
from client.keys import KeyFileError, UserKeys
from client.session_file import default_key_file
from domain.envelope import AuditContext, acting_as
from domain.errors import InvalidInput
from domain.identity import Registration
from domain.installation import AlreadyInitialised
from domain.users import EmailTaken
from projections.alert_rules import RulesFileError
from projections.catalogue import open_runner

cli = typer.Typer(
    help="Strongroom: the management and audit backend of a research-data enclave.",
    no_args_is_help=True,
    add_completion=False,
)
audit_cli = typer.Typer(help="Verify, seal and publish the tamper-evident audit ledger.")
cli.command()(people.login)
cli.command()(people.logout)
cli.add_typer(people.user_cli, name="user")
cli.add_typer(people.team_cli, name="team")
cli.add_typer(people.profile_cli, name="profile")
cli.add_typer(people.alerts_cli, name="alerts")
cli.command()(people.dashboard)
cli.add_typer(audit_cli, name="audit")
projections_cli = typer.Typer(help="Show and rebuild the read models.", no_args_is_help=True)
cli.add_typer(projections_cli, name="projections")


@contextmanager
def explained_errors() -> Iterator[None]:
    """Turn configuration and store failures into one line and a non-zero exit."""
    try:
        yield
    except (SettingsError, AuditKeyError) as error:
        fail(str(error), code=2)
    except AlreadyInitialised as error:
        fail(str(error), code=1)
    except RulesFileError as error:
        fail(f"alert rules refused: {error}", code=2)
    except (KeyFileError, InvalidInput, EmailTaken) as error:
        fail(str(error), code=2)
    except (PersistenceError, psycopg.Error, sqlite3.Error) as error:
        fail(f"the event store is unavailable: {one_line(error)}", code=2)


def one_line(error: Exception) -> str:
    words = " ".join(str(error).split())
    return (words[:300] + "…") if len(words) > 300 else words or type(error).__name__


def load_settings() -> Settings:
    with explained_errors():
        return Settings.from_env()


@cli.command()
def init(
    admin_email: Annotated[
        str | None, typer.Option(help="The first super-admin's email (required on a new store).")
    ] = None,
    admin_name: Annotated[
        str, typer.Option(help="The first super-admin's name.")
    ] = "Administrator",
    key_file: Annotated[
        Path | None, typer.Option(help="Where to write the super-admin's key file.")
    ] = None,
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Succeed quietly when already initialised.")
    ] = False,
) -> None:
    """Create the store, the audit key and the first super-admin."""
    settings = load_settings()
    with explained_errors():
        if settings.signing_key_path.exists():
            public_key = load_public_key(settings.public_key_path)
        else:
            public_key = create_signing_key(settings.signing_key_path, settings.public_key_path)
        app = bootstrap(settings)
        try:
            if if_needed and app.is_initialised():
                return
            if app.is_initialised():
                raise AlreadyInitialised("this store is already initialised")
            if not admin_email:
                fail("a new store needs its first super-admin: pass --admin-email", code=2)
            # The super-admin's keys are made and kept here; only public keys go in.
            admin_keys = UserKeys.generate()
            admin_key_file = key_file or default_key_file(settings.home, admin_email)
            admin_keys.save(admin_key_file, people.passphrase(confirm=True))
            with acting_as(AuditContext.system("bootstrap")):
                app.initialise(
                    audit_key_id=key_id_of(public_key),
                    audit_public_key=public_key_pem(public_key),
                    store_kind=settings.store.kind,
                )
                app.bootstrap_super_admin(
                    Registration(**admin_keys.registration(admin_email, admin_name))
                )
            app.recorder.seal()  # type: ignore[attr-defined]
        finally:
            app.close()
    out.print(f"Initialised {settings.store.describe()}")
    out.print(f"  home:            {settings.home}")
    out.print(f"  audit key id:    {key_id_of(public_key)}")
    out.print(f"  super-admin:     {admin_email} (key file {admin_key_file})")
    out.print(f"  audit key file:  {settings.signing_key_path} (keep it safe; never in the store)")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API (default 127.0.0.1:8000)."""
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    with explained_errors():
        if not settings.signing_key_path.exists():
            fail(
                f"no audit signing key at {settings.signing_key_path}: run `strongroom init`",
                code=2,
            )
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@cli.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Load the demo organisation into a fresh store and serve it."""
    settings = load_settings()
    if isinstance(settings.store, SqliteStore) and Path(settings.store.path).exists():
        fail(
            f"{settings.store.path} already exists; the demo needs a fresh STRONGROOM_HOME "
            "(`make demo` uses ./.demo and starts it afresh)",
            code=2,
        )
    os.environ.setdefault(people.PASSPHRASE_VARIABLE, DEMO_PASSPHRASE)
    init(admin_email=ADMIN_EMAIL, admin_name="Ada Admin", key_file=None, if_needed=False)
    with explained_errors():
        app = bootstrap(settings)
        try:
            org = load_demo(app, settings.home)
            app.recorder.seal()  # type: ignore[attr-defined]
        finally:
            app.close()
    out.print(f"Demo organisation: {len(org.ids)} people in {len(org.teams)} teams.")
    out.print(f"Log in: strongroom login --email {ADMIN_EMAIL}  (passphrase: {DEMO_PASSPHRASE})")
    serve(host=host, port=port)


@audit_cli.command("verify")
def audit_verify(
    public_key: Annotated[
        Path | None,
        typer.Option(help="Public key to check signatures with (default: the home's)."),
    ] = None,
    alert: Annotated[
        bool, typer.Option(help="On failure, raise a critical Hash alert for the officers.")
    ] = True,
) -> None:
    """Check chain and checkpoints; exit 1 at the first bad position."""
    settings = load_settings()
    with (
        explained_errors(),
        Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress,
    ):
        task = progress.add_task("verify", total=None)
        report = verify_store(
            settings,
            public_key=public_key,
            on_bound=lambda total: progress.update(task, total=total),
            progress=lambda done: progress.update(task, completed=done),
        )
    if report.problem is not None:
        problem = report.problem
        out.print(
            f"FAILED at position {problem.position}: {problem.kind}: {problem.detail}",
            highlight=False,
        )
        if alert:
            raise_hash_alert(settings, problem.position, problem.kind, problem.detail)
        raise typer.Exit(1)
    out.print(
        f"OK: {report.events} events up to position {report.last_position}, "
        f"{report.checkpoints} signed checkpoints"
        + (
            f"; {report.unsigned} newest events await the next checkpoint"
            if report.unsigned
            else ""
        ),
        highlight=False,
    )


def raise_hash_alert(settings: Settings, position: int, kind: str, detail: str) -> None:
    """Tell the compliance officers, through the store itself, if it still takes writes."""
    try:
        app = bootstrap(settings)
        try:
            app.raise_integrity_alert(position, kind, detail)
        finally:
            app.close()
    except Exception as error:  # the store may be too damaged to record: say so, still exit 1
        err.print(f"could not raise the Hash alert: {one_line(error)}", highlight=False)
    else:
        err.print("A critical Hash alert was raised for the compliance officers.")


@audit_cli.command("seal")
def audit_seal() -> None:
    """Sign a checkpoint over the head of the ledger now."""
    settings = load_settings()
    with explained_errors():
        app = bootstrap(settings)
        try:
            checkpoint = app.recorder.seal()  # type: ignore[attr-defined]
        finally:
            app.close()
    if checkpoint is None:
        out.print("Nothing to seal: the head is already signed.")
    else:
        out.print(f"Sealed checkpoint {checkpoint.seq} at position {checkpoint.position}.")


@audit_cli.command("public-key")
def audit_public_key() -> None:
    """Print the public key that verifies checkpoints (PEM)."""
    settings = load_settings()
    with explained_errors():
        load_public_key(settings.public_key_path)
    sys.stdout.write(settings.public_key_path.read_text())


def main() -> None:
    cli()


@projections_cli.command("status")
def projections_status() -> None:
    """Each read model's position in the log, and how far behind it is."""
    settings = load_settings()
    with explained_errors():
        app = bootstrap(settings)
        try:
            runner = open_runner(settings.projections_url, app)
            head = app.recorder.max_notification_id() or 0
            table = Table("projection", "position", "lag")
            for projection in runner.projections:
                position = runner.position(projection.name)
                table.add_row(projection.name, str(position), str(head - position))
            out.print(table)
        finally:
            app.close()


@projections_cli.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help="The projection to rebuild (see `status`).")],
) -> None:
    """Empty one read model and replay the whole log into it."""
    settings = load_settings()
    with explained_errors():
        app = bootstrap(settings)
        try:
            runner = open_runner(settings.projections_url, app)
            try:
                runner.projection(name)
            except KeyError as error:
                fail(str(error.args[0]), code=2)
            head = app.recorder.max_notification_id() or 0
            with Progress(
                TextColumn(f"rebuilding {name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                disable=not err.is_terminal,
            ) as progress:
                task = progress.add_task("rebuild", total=head)
                covered = runner.rebuild(
                    name, progress=lambda done: progress.update(task, completed=done)
                )
        finally:
            app.close()
    out.print(f"Rebuilt {name} from {covered} events.")
