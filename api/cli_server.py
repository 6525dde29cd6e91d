"""`strongroom init|serve|demo|audit|projections`: the commands that open the store themselves.

Everything heavy (the event store, SQLAlchemy, the web server) is imported
inside the command that needs it, so the client commands start fast.
Each command builds the system with `adapters.bootstrap.bootstrap`, the same
way the server does.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.console import AsJson, err, fail, out, print_json, progress_bar, safe, table
from api.passphrase import passphrase

if TYPE_CHECKING:
    from adapters.bootstrap import System
    from adapters.settings import Settings
    from audit_queries.export import ExportRun

audit_cli = typer.Typer(
    help="The audit ledger and its forensics: verify, seal, export, query, questions, reports.",
    no_args_is_help=True,
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

    log_in_one_line()
    with explained_errors(), bootstrap(settings) as system:
        yield system


def log_in_one_line() -> None:
    """Warnings from the system reach an officer's terminal as lines, never tracebacks."""
    import logging

    class OneLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            # Messages may quote the store (a stall's reason): never raw to the terminal.
            return f"{record.levelname.lower()}: {safe(record.getMessage(), markup=False)}"

    handler = logging.StreamHandler()
    handler.setFormatter(OneLine())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


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
    """Create the store, the audit key and the first super-admin, all or nothing.

    The super-admin's key file is protected by a passphrase, asked for on the
    terminal or read from STRONGROOM_PASSPHRASE (set it where there is no terminal).

    If init fails, it leaves nothing behind: no key file, no audit key, no installation.
    """
    initialise(
        load_settings(),
        admin_email=admin_email,
        admin_name=admin_name,
        key_file=key_file,
        if_needed=if_needed,
        secret=lambda: passphrase(confirm=True),
    )


def initialise(
    settings: Settings,
    *,
    admin_email: str | None,
    admin_name: str,
    key_file: Path | None,
    if_needed: bool,
    secret: Callable[[], str],
) -> None:
    """What `init` does; the demo calls it with the demo's passphrase."""
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

    if admin_email is not None:
        admin_email, admin_name = checked_admin(admin_email, admin_name)
    created: list[Path] = []  # removed again unless the installation is recorded
    recorded = False
    try:
        with explained_errors():
            if settings.signing_key_path.exists():
                public_key = load_public_key(settings.public_key_path)
            else:
                public_key = create_signing_key(settings.signing_key_path, settings.public_key_path)
                created += [settings.signing_key_path, settings.public_key_path]
        with opened(settings) as system:
            setup = Setup(system.app)
            if setup.is_initialised():
                if created:
                    # A new key would sign checkpoints the installation's key cannot verify.
                    fail(
                        f"this store is initialised, but its audit key is not in {settings.home}: "
                        f"restore {settings.signing_key_path.name} and "
                        f"{settings.public_key_path.name} to {settings.audit_dir}",
                        code=2,
                    )
                if if_needed:
                    return
                raise AlreadyInitialised("this store is already initialised")
            if not admin_email:
                fail("a new store needs its first super-admin: pass --admin-email", code=2)
            admin_key_file = key_file or default_key_file(settings.home, admin_email)
            chosen = secret()
            # The super-admin's keys are made and kept here; only public keys go in.
            admin_keys = UserKeys.generate()
            admin_keys.save(admin_key_file, chosen)
            created.append(admin_key_file)
            with acting_as(AuditContext.system("bootstrap")):
                # The installation and its first super-admin, in one save.
                setup.initialise(
                    audit_key_id=key_id_of(public_key),
                    audit_public_key=public_key_pem(public_key),
                    store_kind=settings.store.kind,
                    first_super_admin=Registration(
                        **admin_keys.registration(admin_email, admin_name)
                    ),
                )
            recorded = True  # from here on the keys belong to a recorded installation
            system.ledger.seal()
    finally:
        if not recorded:
            for path in created:
                path.unlink(missing_ok=True)
    out.print(f"Initialised {safe(settings.store.describe())}")
    out.print(f"  home:            {safe(settings.home)}")
    out.print(f"  audit key id:    {safe(key_id_of(public_key))}")
    out.print(f"  super-admin:     {safe(admin_email)} (key file {safe(admin_key_file)})")
    out.print(
        f"  audit key file:  {safe(settings.signing_key_path)} (keep it safe; never in the store)"
    )


def checked_admin(email: str, name: str) -> tuple[str, str]:
    """The first super-admin's email and name, checked before anything is created (or exit 2)."""
    from domain import text
    from domain.errors import InvalidInput

    # The pattern registration itself applies, so the two cannot drift apart.
    from domain.identity import _EMAIL as EMAIL_PATTERN

    try:
        email = text.checked("email", email, max_length=text.EMAIL_LENGTH)
        name = text.checked("name", name, max_length=text.NAME_LENGTH)
        if not EMAIL_PATTERN.match(email):
            raise InvalidInput("email", "not an email address")
    except InvalidInput as refused:
        fail(f"--admin-{refused.field}: {refused.reason}", code=2)
    return email, name


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
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level="info",
            # The client address in the record is decided by our middleware, from
            # STRONGROOM_TRUSTED_PROXIES; uvicorn would believe X-Forwarded-For from
            # any local process.
            proxy_headers=False,
            # Every request that changes or is refused anything is in the audit log,
            # with its request id and the client address decided above; uvicorn's
            # access line would name only the peer (the proxy), and cost ~0.2 ms.
            access_log=False,
        )


def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Load the demo organisation into a fresh store and serve it.

    Every demo account's key file is under the home, with the passphrase `demo`
    (README.md lists the accounts). `make demo` runs it on a fresh ./.demo home.
    """
    from adapters.settings import SqliteStore
    from api.demo import ADMIN_EMAIL, DEMO_PASSPHRASE, load_demo

    settings = load_settings()
    # Before the work, not after it: the store is built only to be served here.
    if not port_is_free(host, port):
        fail(f"{host}:{port} is already in use: stop what listens there, or pass --port", code=2)
    if isinstance(settings.store, SqliteStore) and Path(settings.store.path).exists():
        fail(
            f"{settings.store.path} already exists; the demo needs a fresh STRONGROOM_HOME "
            "(`make demo` uses ./.demo and starts it afresh)",
            code=2,
        )
    initialise(
        settings,
        admin_email=ADMIN_EMAIL,
        admin_name="Ada Admin",
        key_file=None,
        if_needed=False,
        secret=lambda: DEMO_PASSPHRASE,
    )
    with opened(settings) as system, progress_bar("loading the demo organisation"):
        org = load_demo(system.app, settings.home)
        system.ledger.seal()
    out.print(f"Demo organisation: {len(org.ids)} people in {len(org.teams)} teams.")
    out.print(f"Log in from another shell (every demo passphrase is {DEMO_PASSPHRASE!r}):")
    for line in login_hint(settings.home, host, port, ADMIN_EMAIL):
        out.print(f"  {safe(line)}", highlight=False)
    serve(host=host, port=port)


def login_hint(home: Path, host: str, port: int, email: str) -> list[str]:
    """Shell lines that log in to a server from a new shell: the home it needs, then login."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere; loopback is one of them
    server = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return [
        f"export STRONGROOM_HOME={shlex.quote(str(home))}",
        f"{this_command()} login --email {shlex.quote(email)} --server {shlex.quote(server)}",
    ]


def this_command() -> str:
    """How a new shell runs this same `strongroom`: by name if PATH finds it, else by path."""
    me = Path(sys.argv[0]).resolve()
    found = shutil.which("strongroom")
    if found is not None and Path(found).resolve() == me:
        return "strongroom"
    return shlex.quote(str(me))


@audit_cli.command("verify")
def audit_verify(
    public_key: Annotated[
        Path | None,
        typer.Option(help="Public key to check signatures with (default: the home's)."),
    ] = None,
    alert: Annotated[
        bool, typer.Option(help="On failure, raise a critical Hash alert for the officers.")
    ] = True,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Verify this export directory offline instead of the store: no database, "
            "no Strongroom home; needs --public-key.",
        ),
    ] = None,
) -> None:
    """Check chain and checkpoints; exit 1 at the first bad position."""
    if export is not None:
        verify_export_offline(export, public_key)
        return
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
        # The detail quotes the store, which verification treats as hostile.
        out.print(
            f"FAILED at position {problem.position}: {safe(problem.kind)}: {safe(problem.detail)}",
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


def verify_export_offline(directory: Path, public_key: Path | None) -> None:
    """`audit verify --export DIR`: the export and the key only (an auditor's laptop).

    Reads no settings and opens no store, so it raises no alert: there may be
    no Strongroom home here at all.
    """
    from audit_queries.export_verify import verify_export

    if public_key is None:
        fail(
            "--export needs --public-key FILE: the audit public key the export was signed with "
            "(`strongroom audit public-key` prints it on the server)",
            code=2,
        )
    if not directory.is_dir():
        fail(f"{directory} is not a directory", code=2)
    try:
        with explained_errors(), progress_bar("verifying the export") as bar:
            report = verify_export(
                directory, public_key, progress=lambda done, total: _advance(bar, done, total)
            )
    except OSError as error:  # the directory itself cannot be listed: not a verdict
        fail(f"cannot read the export: {one_line(error)}", code=2)
    if report.problem is not None:
        problem = report.problem
        # The detail quotes the export, which verification treats as hostile.
        out.print(
            f"FAILED at {safe(problem.where)}: {safe(problem.kind)}: {safe(problem.detail)}",
            highlight=False,
        )
        raise typer.Exit(1)
    for warning in report.warnings:
        err.print(
            f"warning at {safe(warning.where)}: {safe(warning.kind)}: {safe(warning.detail)}",
            highlight=False,
        )
    files = f"{report.files} file" + ("s" if report.files != 1 else "")
    signed = f"{report.checkpoints} checkpoint" + ("s" if report.checkpoints != 1 else "")
    out.print(
        f"OK: {report.events} events up to position {report.last_position} in {files}, "
        f"{signed} signed by key {report.key_id}"
        + (
            f"; {report.unsigned} events after position {report.signed_up_to} carry no "
            "signed checkpoint"
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
        err.print(f"could not raise the Hash alert: {safe(one_line(error))}", highlight=False)
    else:
        err.print("A critical Hash alert was raised for the compliance officers.")


@audit_cli.command("export")
def audit_export(
    to: Annotated[Path, typer.Option("--to", help="The export directory (created if missing).")],
    format: Annotated[
        str, typer.Option(help="parquet: the events; ocsf: the OCSF view of them.")
    ] = "parquet",
    ocsf_as: Annotated[str, typer.Option(help="With --format ocsf: parquet or jsonl.")] = "parquet",
) -> None:
    """Export the history to Parquet by day, adding only what is new since the last run."""
    from audit_queries.export import ExportProblem, export

    if format not in ("parquet", "ocsf") or ocsf_as not in ("parquet", "jsonl"):
        fail("--format is parquet or ocsf; --ocsf-as is parquet or jsonl", code=2)
    settings = load_settings()
    with opened(settings) as system:
        # Sign the head first, so everything exported is covered by a checkpoint.
        system.ledger.seal()
        try:
            with progress_bar("exporting") as bar:
                run = export(
                    system.ledger, to, progress=lambda done, total: _advance(bar, done, total)
                )
            written = ""
            if format == "ocsf":
                written = f"; {write_ocsf(to, ocsf_as)} OCSF rows in {safe(str(to / '_ocsf'))}"
        except (ExportProblem, OSError) as error:
            fail(f"export failed: {one_line(error)}")
        if run.added:
            record_export(system, to, format, run)
    out.print(
        f"Exported {run.added} new events ({run.files} files) to {safe(str(to))}; "
        f"{run.manifest.events} events up to position {run.manifest.position}{written}.",
        highlight=False,
    )


def _advance(bar: Any, done: int, total: int) -> None:
    bar.total(total)
    bar.advance_to(done)


def write_ocsf(to: Path, fmt: str) -> int:
    """The OCSF view of the whole export, under DIR/_ocsf/."""
    from audit_queries import forensic_db
    from audit_queries.ocsf import write_ocsf as write

    connection = forensic_db.connect(to, for_sql="ocsf")
    try:
        return write(connection, to / "_ocsf", fmt)  # type: ignore[arg-type]
    finally:
        connection.close()


def record_export(system: System, to: Path, format: str, run: ExportRun) -> None:
    """The copy is part of the record: who took which positions, to where."""
    from uuid import uuid4

    from domain.envelope import AuditContext, acting_as
    from domain.exports import ForensicExport

    context = AuditContext("system:export", "system", None, uuid4().hex, None)
    with acting_as(context):
        system.app.save(
            ForensicExport(
                destination=str(to.resolve()),
                format=format,
                from_position=run.start,
                to_position=run.manifest.position,
                events=run.added,
            )
        )


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
def projections_status(as_json: AsJson = False) -> None:
    """Each read model's position in the log, how far behind it is, and whether it stalled."""
    from api.routes.health import projection_states

    with opened(load_settings()) as system:
        # What /healthz reports for each projection, so --json has the API's shape.
        states = [state.model_dump(mode="json") for state in projection_states(system)]
    if as_json:
        print_json(states)
        return
    table(
        ("projection", "position", "lag", "state"),
        (
            (
                p["name"],
                p["position"],
                p["lag"],
                p["state"]
                + (f" at {p['stall']['position']}: {p['stall']['reason']}" if p["stall"] else ""),
            )
            for p in states
        ),
    )


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
    out.print(f"Rebuilt {safe(name)} from {covered} events.")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
