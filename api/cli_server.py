"""`strongroom init|serve|demo|audit|projections`: the commands that open the store themselves.

Everything heavy (the event store, SQLAlchemy, the web server) is imported
inside the command that needs it, so the client commands start fast.
Each command builds the system with `adapters.bootstrap.bootstrap`, the same
way the server does.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.console import err, fail, out, progress_bar
from api.passphrase import PASSPHRASE_VARIABLE, passphrase

if TYPE_CHECKING:
    from adapters.bootstrap import System
    from adapters.settings import Settings

audit_cli = typer.Typer(
    help="Verify, seal and publish the tamper-evident audit ledger.", no_args_is_help=True
)
projections_cli = typer.Typer(help="Show and rebuild the read models.", no_args_is_help=True)


@contextmanager
def explained_errors() -> Iterator[None]:
    """Turn configuration and store failures into one line and a non-zero exit."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as error:
        code, message = _explain(error)
        if code is None:
            raise
        fail(message, code=code)


def _explain(error: Exception) -> tuple[int | None, str]:
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError

    from adapters.ledger.checkpoints import AuditKeyError
    from adapters.settings import SettingsError
    from client.keys import KeyFileError
    from domain.errors import Conflict, InvalidInput
    from domain.installation import AlreadyInitialised
    from projections.alert_rules import RulesFileError

    if isinstance(error, SettingsError | AuditKeyError):
        return 2, str(error)
    if isinstance(error, AlreadyInitialised):
        return 1, str(error)
    if isinstance(error, RulesFileError):
        return 2, f"alert rules refused: {error}"
    if isinstance(error, KeyFileError | InvalidInput | Conflict):
        return 2, str(error)
    if isinstance(error, PersistenceError | psycopg.Error | sqlite3.Error):
        return 2, f"the event store is unavailable: {one_line(error)}"
    return None, ""


def one_line(error: Exception) -> str:
    words = " ".join(str(error).split())
    return (words[:300] + "…") if len(words) > 300 else words or type(error).__name__


def load_settings() -> Settings:
    from adapters.settings import Settings

    with explained_errors():
        return Settings.from_env()


@contextmanager
def opened(settings: Settings) -> Iterator[System]:
    from adapters.bootstrap import bootstrap

    with explained_errors(), bootstrap(settings) as system:
        yield system


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
    from adapters.ledger.checkpoints import (
        create_signing_key,
        key_id_of,
        load_public_key,
        public_key_pem,
    )
    from client.keys import UserKeys
    from client.session_file import default_key_file
    from domain.envelope import AuditContext, acting_as
    from domain.identity import Registration
    from domain.installation import AlreadyInitialised, Setup

    settings = load_settings()
    with explained_errors():
        if settings.signing_key_path.exists():
            public_key = load_public_key(settings.public_key_path)
        else:
            public_key = create_signing_key(settings.signing_key_path, settings.public_key_path)
    with opened(settings) as system:
        setup = Setup(system.app)
        if if_needed and setup.is_initialised():
            return
        if setup.is_initialised():
            raise AlreadyInitialised("this store is already initialised")
        if not admin_email:
            fail("a new store needs its first super-admin: pass --admin-email", code=2)
        # The super-admin's keys are made and kept here; only public keys go in.
        admin_keys = UserKeys.generate()
        admin_key_file = key_file or default_key_file(settings.home, admin_email)
        admin_keys.save(admin_key_file, passphrase(confirm=True))
        with acting_as(AuditContext.system("bootstrap")):
            setup.initialise(
                audit_key_id=key_id_of(public_key),
                audit_public_key=public_key_pem(public_key),
                store_kind=settings.store.kind,
                first_super_admin=Registration(**admin_keys.registration(admin_email, admin_name)),
            )
        system.ledger.seal()
    out.print(f"Initialised {settings.store.describe()}")
    out.print(f"  home:            {settings.home}")
    out.print(f"  audit key id:    {key_id_of(public_key)}")
    out.print(f"  super-admin:     {admin_email} (key file {admin_key_file})")
    out.print(f"  audit key file:  {settings.signing_key_path} (keep it safe; never in the store)")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API and the dashboard (default 127.0.0.1:8000)."""
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


def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Load the demo organisation into a fresh store and serve it."""
    from adapters.settings import SqliteStore
    from api.demo import ADMIN_EMAIL, DEMO_PASSPHRASE, load_demo

    settings = load_settings()
    if isinstance(settings.store, SqliteStore) and Path(settings.store.path).exists():
        fail(
            f"{settings.store.path} already exists; the demo needs a fresh STRONGROOM_HOME "
            "(`make demo` uses ./.demo and starts it afresh)",
            code=2,
        )
    os.environ.setdefault(PASSPHRASE_VARIABLE, DEMO_PASSPHRASE)
    init(admin_email=ADMIN_EMAIL, admin_name="Ada Admin", key_file=None, if_needed=False)
    with opened(settings) as system:
        org = load_demo(system.app, settings.home)
        system.ledger.seal()
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
    from audit_queries.verify import verify_store

    settings = load_settings()
    with explained_errors(), progress_bar("verifying") as bar:
        report = verify_store(
            settings,
            public_key=public_key,
            on_bound=bar.total,
            progress=bar.advance_to,
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
    from adapters.bootstrap import bootstrap
    from domain.alerts import Alerts

    try:
        with bootstrap(settings) as system:
            Alerts(system.app).raise_integrity_alert(position, kind, detail)
    except Exception as error:  # the store may be too damaged to record: say so, still exit 1
        err.print(f"could not raise the Hash alert: {one_line(error)}", highlight=False)
    else:
        err.print("A critical Hash alert was raised for the compliance officers.")


@audit_cli.command("seal")
def audit_seal() -> None:
    """Sign a checkpoint over the head of the ledger now."""
    with opened(load_settings()) as system:
        checkpoint = system.ledger.seal()
    if checkpoint is None:
        out.print("Nothing to seal: the head is already signed.")
    else:
        out.print(f"Sealed checkpoint {checkpoint.seq} at position {checkpoint.position}.")


@audit_cli.command("public-key")
def audit_public_key() -> None:
    """Print the public key that verifies checkpoints (PEM)."""
    from adapters.ledger.checkpoints import load_public_key

    settings = load_settings()
    with explained_errors():
        load_public_key(settings.public_key_path)
    sys.stdout.write(settings.public_key_path.read_text())


@projections_cli.command("status")
def projections_status() -> None:
    """Each read model's position in the log, how far behind it is, and whether it stalled."""
    from rich.table import Table

    with opened(load_settings()) as system:
        table = Table("projection", "position", "lag", "state")
        for status in system.projections.status():
            state = status.state
            if status.stall is not None:
                state += f" at {status.stall.position}: {status.stall.reason}"
            table.add_row(status.name, str(status.position), str(status.lag), state)
        out.print(table)


@projections_cli.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help="The projection to rebuild (see `status`).")],
) -> None:
    """Empty one read model and replay the whole log into it (with the configured rules)."""
    from projections.runner import ProjectionStalled

    with opened(load_settings()) as system:
        runner = system.projections
        try:
            runner.projection(name)
        except KeyError as error:
            fail(str(error.args[0]), code=2)
        with progress_bar(f"rebuilding {name}") as bar:
            bar.total(system.ledger.head())
            try:
                covered = runner.rebuild(name, progress=bar.advance_to)
            except ProjectionStalled as stalled:
                fail(str(stalled), code=1)
    out.print(f"Rebuilt {name} from {covered} events.")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
