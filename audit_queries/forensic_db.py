"""DuckDB over the export: the views, locked down, with a time and a row limit.

Officers' SQL runs here, so the connection is built to hold nothing back but
the export: an in-memory database with only views; after they are created,
file access is limited to the export directory and the configuration locked,
extensions can be neither installed nor loaded, and only one SELECT statement
runs at a time. A runaway query is interrupted at its time limit; answers are
cut at the row limit (and say so).

`shared(directory)` lends a cursor of one long-lived database per export
directory instead of building one per question: its views are bound once, the
Parquet footers stay cached, and when the export has grown only the base view is
pointed at the new list of files (while no question is using it; otherwise the
new version gets a database of its own and the old one closes when its last
question ends). Each question sees one fixed version of the export throughout.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from audit_queries.columns import SCHEMA
from audit_queries.export import Manifest
from audit_queries.views import BASE, VIEWS

DEFAULT_TIME_LIMIT = 30.0
DEFAULT_ROW_LIMIT = 10_000
MAX_ROW_LIMIT = 1_000_000
MAX_TIME_LIMIT = 300.0
MAX_SQL_LENGTH = 100_000
_EXPLAIN_OPTIONS = {"ANALYZE", "ANALYSE"}
# Statement kinds an officer's SQL may be: reading only.
READING = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


class QueryRefused(Exception):
    """The SQL may not run here (not one SELECT, or reaching outside the export)."""


class QueryFailed(Exception):
    """The SQL ran and failed: a syntax or binder error, or the time limit."""


class QueryStopped(QueryFailed):
    """The SQL ran into its time limit and was interrupted."""


@dataclass(frozen=True)
class Answer:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than the limit


def connect(
    directory: Path,
    *,
    for_sql: str | None = None,
    memory_limit: str = "1GB",
    threads: int = 2,
) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection with the forensic views over the export in `directory`.

    Lazy views (`ocsf`) are created only when `for_sql` names them.
    """
    manifest = Manifest.load(directory)
    files = [str(path) for path in manifest.file_paths(directory)]
    connection = _open(directory, files, for_sql, memory_limit=memory_limit, threads=threads)
    _MEMOS[connection] = {POSITION: manifest.position}
    return connection


def _open(
    directory: Path,
    files: list[str],
    for_sql: str | None,
    *,
    memory_limit: str = "1GB",
    threads: int = 2,
    cache_footers: bool = False,
) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "memory_limit": memory_limit,
        "threads": threads,
    }
    connection = duckdb.connect(":memory:", config=config)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        if cache_footers:
            # Export files never change once written (a merge writes a new name): a database
            # that lives across questions keeps their footers instead of reading them per query.
            connection.execute("SET parquet_metadata_cache = true")
        if files:
            connection.execute(_base_view(files))
        else:
            # An empty export has the same columns, and no rows.
            connection.register("_empty", SCHEMA.empty_table())
            connection.execute(f"CREATE VIEW {BASE} AS SELECT *, NULL::DATE AS day FROM _empty")
        for view in VIEWS:
            if view.wanted_by(for_sql):
                connection.execute(f"CREATE VIEW {view.name} AS {view.select()}")
        # From here on nothing outside the export can be read or written, and
        # the settings that say so cannot be changed back.
        connection.execute(f"SET allowed_directories = [{_quote(str(directory.resolve()) + '/')}]")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
    except BaseException:
        connection.close()
        raise
    return connection


def _base_view(files: list[str]) -> str:
    # Matching columns by name costs every view a read of every file's footer;
    # only needed when a capability has added a column since older files were written.
    by_name = "true" if not _same_columns(files) else "false"
    return (
        f"CREATE OR REPLACE VIEW {BASE} AS SELECT * FROM read_parquet("
        f"{_list_literal(files)}, hive_partitioning = true, union_by_name = {by_name})"
    )


# -- one database per export directory, lent out a cursor at a time -------------------

# The memo's entry for the manifest's position when the connection's views were bound.
POSITION = "exported_upto"
# Idle databases kept for directories not asked about lately (each holds only views).
MAX_IDLE_DATABASES = 4


@dataclass(eq=False)
class _Database:
    """A long-lived database over one version of an export, and who is using it."""

    connection: duckdb.DuckDBPyConnection
    version: tuple[object, ...]  # the manifest's position, chain hash and files
    options: tuple[str, int]
    users: int = 0
    retired: bool = False  # a newer version has its own database: close when unused
    lazy: set[str] = field(default_factory=set)  # lazy views created so far
    memo: dict[str, Any] = field(default_factory=dict)  # per version: see `memo`


_databases: OrderedDict[Path, _Database] = OrderedDict()
_databases_lock = threading.Lock()
# A lent cursor's version memo; a connection of its own (`connect`) has its own.
_MEMOS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def shared(
    directory: Path,
    *,
    for_sql: str | None = None,
    memory_limit: str = "1GB",
    threads: int = 2,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """As `connect`, a cursor of the directory's long-lived database, at the export's
    current version; it is closed on leaving (the database stays for the next question)."""
    manifest = Manifest.load(directory)
    files = [str(path) for path in manifest.file_paths(directory)]
    version = (manifest.position, manifest.chain_hash, tuple(files))
    options = (memory_limit, threads)
    key = directory.resolve()
    with _databases_lock:
        database = _database_for(key, directory, files, version, options, for_sql)
        database.users += 1
        try:
            cursor = database.connection.cursor()
        except BaseException:
            _release(database)
            raise
        _MEMOS[cursor] = database.memo
    try:
        yield cursor
    finally:
        cursor.close()
        with _databases_lock:
            _release(database)


def _database_for(
    key: Path,
    directory: Path,
    files: list[str],
    version: tuple[object, ...],
    options: tuple[str, int],
    for_sql: str | None,
) -> _Database:
    database = _databases.get(key)
    if database is not None and database.options != options:
        _retire(key)
        database = None
    if database is not None and database.version != version:
        if database.users == 0 and files and database.version[2]:
            # Only the base view names files: point it at the new list; the other views
            # are bound again by name when next queried.
            database.connection.execute(_base_view(files))
            database.version, database.memo = version, {POSITION: manifest_position(version)}
        else:
            _retire(key)
            database = None
    if database is None:
        memory_limit, threads = options
        connection = _open(
            directory,
            files,
            None,
            memory_limit=memory_limit,
            threads=threads,
            cache_footers=True,
        )
        database = _Database(
            connection, version, options, memo={POSITION: manifest_position(version)}
        )
        _databases[key] = database
        _close_idle()
    _databases.move_to_end(key)
    for view in VIEWS:
        if view.lazy and view.name not in database.lazy and view.wanted_by(for_sql):
            database.connection.execute(f"CREATE VIEW {view.name} AS {view.select()}")
            database.lazy.add(view.name)
    return database


def _retire(key: Path) -> None:
    database = _databases.pop(key)
    database.retired = True
    if database.users == 0:
        database.connection.close()


def _release(database: _Database) -> None:
    database.users -= 1
    if database.retired and database.users == 0:
        database.connection.close()


def _close_idle() -> None:
    idle = [key for key, database in _databases.items() if database.users == 0]
    for key in idle[: max(0, len(idle) - MAX_IDLE_DATABASES)]:
        _retire(key)


def manifest_position(version: tuple[object, ...]) -> int:
    position = version[0]
    assert isinstance(position, int)
    return position


def exported_upto(connection: duckdb.DuckDBPyConnection) -> int:
    """The last position the connection's views include: the manifest's, as it was opened."""
    known = memo(connection).get(POSITION)
    if isinstance(known, int):
        return known
    found = connection.execute(f"SELECT max(position) FROM {BASE}").fetchall()
    return int(found[0][0] or 0)


def memo(connection: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What may be remembered about this connection's version of the export (it never
    changes under a connection): shared by every cursor lent at that version."""
    found = _MEMOS.get(connection)
    if found is None:
        found = _MEMOS[connection] = {}
    return found


def run(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    parameters: Sequence[object] | dict[str, object] | None = None,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> Answer:
    """Run one reading statement; `QueryRefused` or `QueryFailed` with a one-line reason."""
    check(sql)
    timer = threading.Timer(time_limit, connection.interrupt)
    timer.start()
    try:
        result = connection.execute(sql, parameters)
        names = [d[0] for d in result.description or []]
        rows = result.fetchmany(row_limit + 1)
    except duckdb.InterruptException as error:
        raise QueryStopped(f"stopped at the time limit of {time_limit:g} s") from error
    except duckdb.PermissionException as error:
        raise QueryRefused(_first_line(error)) from error
    except duckdb.Error as error:
        if not timer.is_alive():
            raise QueryStopped(f"stopped at the time limit of {time_limit:g} s") from error
        raise QueryFailed(_first_line(error)) from error
    finally:
        timer.cancel()
    return Answer(names, rows[:row_limit], len(rows) > row_limit)


def check(sql: str) -> None:
    """Refuse anything but exactly one reading statement, before it runs."""
    if len(sql) > MAX_SQL_LENGTH:
        raise QueryRefused(f"the query is longer than {MAX_SQL_LENGTH} characters")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryFailed(_first_line(error)) from error
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time (found {len(statements)})")
    kind = statements[0].type
    if kind not in READING:
        name = str(kind).rpartition(".")[2]
        raise QueryRefused(f"only SELECT may run here, not {name}")
    if kind == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs what it explains: `EXPLAIN ANALYZE COPY … TO` writes.
        _explains_a_select(sql)


def _explains_a_select(sql: str) -> None:
    """An EXPLAIN may only explain a SELECT: `EXPLAIN [ANALYZE | (options)] SELECT …`."""
    tokens = [
        (offset, kind) for offset, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment
    ]
    ends = [offset for offset, _ in tokens[1:]] + [len(sql)]
    words = [sql[offset:end].strip() for (offset, _), end in zip(tokens, ends, strict=True)]
    at = 1  # after EXPLAIN
    if at < len(words) and words[at].upper() in _EXPLAIN_OPTIONS:
        at += 1
    elif at < len(words) and words[at].startswith("("):
        while at < len(words) and ")" not in words[at]:
            at += 1
        at += 1
    explained = sql[tokens[at][0] :] if at < len(tokens) else ""
    try:
        statements = duckdb.extract_statements(explained)
    except duckdb.Error:
        statements = []
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise QueryRefused("EXPLAIN may only explain a SELECT")


# Export files never change once written (a merge writes a new name): their columns
# are read from the footer once per process.
_COLUMNS: dict[str, tuple[str, ...]] = {}


def _same_columns(files: list[str]) -> bool:
    seen = set()
    for path in files:
        columns = _COLUMNS.get(path)
        if columns is None:
            columns = _COLUMNS[path] = tuple(pq.read_schema(path).names)
        seen.add(columns)
    return len(seen) <= 1


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list_literal(items: list[str]) -> str:
    return "[" + ", ".join(_quote(item) for item in items) + "]"
