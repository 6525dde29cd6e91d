"""The `strongroom` command line."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.bootstrap import bootstrap
from adapters.ledger.checkpoints import (
    AuditKeyError,
    create_signing_key,
    key_id_of,
    load_public_key,
    public_key_pem,
)
from adapters.settings import Settings, SettingsError, SqliteStore
from audit_queries.verify import verify_store
from domain.envelope import AuditContext, acting_as
from domain.installation import AlreadyInitialised

cli = typer.Typer(
    help="Strongroom: the management and audit backend of a research-data enclave.",
    no_args_is_help=True,
    add_completion=False,
)
audit_cli = typer.Typer(help="Verify, seal and publish the tamper-evident audit ledger.")
cli.add_typer(audit_cli, name="audit")

# soft_wrap: messages stay on one line whatever the terminal width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def explained_errors() -> Iterator[None]:
    """Turn configuration and store failures into one line and a non-zero exit."""
    try:
        yield
    except (SettingsError, AuditKeyError) as error:
        fail(str(error))
    except AlreadyInitialised as error:
        fail(str(error), code=1)
    except (PersistenceError, psycopg.Error, sqlite3.Error) as error:
        fail(f"the event store is unavailable: {one_line(error)}")


def one_line(error: Exception) -> str:
    words = " ".join(str(error).split())
    return (words[:300] + "…") if len(words) > 300 else words or type(error).__name__


def load_settings() -> Settings:
    with explained_errors():
        return Settings.from_env()


@cli.command()
def init(
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Succeed quietly when already initialised.")
    ] = False,
) -> None:
    """Create the store and the audit key; record the installation."""
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
            with acting_as(AuditContext.system("bootstrap")):
                app.initialise(
                    audit_key_id=key_id_of(public_key),
                    audit_public_key=public_key_pem(public_key),
                    store_kind=settings.store.kind,
                )
            app.recorder.seal()  # type: ignore[attr-defined]
        finally:
            app.close()
    out.print(f"Initialised {settings.store.describe()}")
    out.print(f"  home:            {settings.home}")
    out.print(f"  audit key id:    {key_id_of(public_key)}")
    out.print(
        f"  audit signing key (keep it safe, never in the database): {settings.signing_key_path}"
    )


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
            fail(f"no audit signing key at {settings.signing_key_path}: run `strongroom init`")
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
            "(`make demo` uses ./.demo and starts it afresh)"
        )
    init(if_needed=False)
    serve(host=host, port=port)


@audit_cli.command("verify")
def audit_verify(
    public_key: Annotated[
        Path | None,
        typer.Option(help="Public key to check signatures with (default: the home's)."),
    ] = None,
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
