"""Forensic queries: every question asked of the history is itself recorded.

Compliance officers (the audit capability) ask the exported history questions
in SQL: ad hoc, or by running a saved query (domain/saved_queries.py) with
typed parameters. Each attempt that passes the bounds is one `QueryRun` event,
however it ends:

- *answered*: the row count, whether the answer was cut at the row limit, and
  the export position the answer includes;
- *failed*: bad SQL, a bad parameter value, an answer that does not fit a saved
  query's return type (the one-line reason);
- *stopped*: at its time limit;
- *refused*: the asker is not an officer, or the SQL reaches for something it
  may not (a write, ATTACH, COPY, a file outside the export, an extension).
  A refusal is recorded as a `DeniedAttempt` as well, in the same transaction,
  so it is in the `denials` view and the refusals list like every other refusal;
  the `QueryRun` beside it keeps what was asked.

What was asked is the SQL text, or the saved query's name, revision and
parameters (the revision's SQL is in the saved query's history). Input over the
bounds (SQL over 100,000 characters, control characters, limits out of range)
is refused with InvalidInput before anything is recorded: an event is forever.

The domain runs no SQL: the caller passes a `QueryEngine`, the port
(audit_queries/query_engine.py is the DuckDB one, over the server's export).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn, Protocol
from uuid import UUID

from eventsourcing.domain import event

from domain import text
from domain.access import decide
from domain.aggregate import AuditedAggregate
from domain.audit_access import AuditTrail
from domain.capability import Capability
from domain.errors import Conflict, DomainError, InvalidInput, NotFound
from domain.saved_queries import (
    CATALOGUE_ID,
    INT_RANGE,
    MAX_PARAMETERS,
    Definition,
    ReturnType,
    SavedQuery,
    SavedQueryCatalogue,
    SavedQueryExists,
    SavedQueryNotFound,
    SavedQueryRetired,
    Search,
    Value,
    checked_name,
    checked_sql,
    checked_value,
)
from domain.users import User

# The limits of one run (audit_queries/forensic_db.py holds the same numbers).
DEFAULT_ROW_LIMIT = 10_000
MAX_ROW_LIMIT = 1_000_000
DEFAULT_TIME_LIMIT = 30.0
MIN_TIME_LIMIT = 0.1
MAX_TIME_LIMIT = 300.0
# A recorded reason is one line of at most this many characters.
REASON_LENGTH = 500

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class ForensicAction(StrEnum):
    RUN_QUERY = "run-query"
    RUN_SAVED_QUERY = "run-saved-query"
    READ_SAVED_QUERIES = "read-saved-queries"
    SAVE_QUERY = "save-query"
    UPDATE_SAVED_QUERY = "update-saved-query"
    RETIRE_SAVED_QUERY = "retire-saved-query"


class RunOutcome(StrEnum):
    ANSWERED = "answered"
    FAILED = "failed"
    STOPPED = "stopped"
    REFUSED = "refused"


class BadQuery(InvalidInput):
    """The SQL (or a value for it) cannot run: a syntax or binder error, a bad value (422)."""


class QueryTimedOut(DomainError):
    """The query was stopped at its time limit (the API answers 408)."""


class AnswerMisfits(Conflict):
    """A saved query's answer does not fit its return type (409: its definition is wrong)."""


# -- the port ---------------------------------------------------------------------------


class SqlRefused(Exception):
    """From the engine: this SQL may not run here (not a read, or outside the export)."""


class SqlFailed(Exception):
    """From the engine: this SQL cannot run (syntax, binding, a value), or failed running."""


class SqlStopped(Exception):
    """From the engine: the query was stopped at its time limit."""


@dataclass(frozen=True)
class EngineAnswer:
    """An answer as the engine gives it: JSON-safe values, and the export position it includes."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    exported_upto: int


class SqlChecker(Protocol):
    def check(self, sql: str) -> frozenset[str]:
        """The named parameters `sql` uses; SqlRefused or SqlFailed if it could never run."""
        ...


class QueryEngine(SqlChecker, Protocol):
    def run(
        self,
        sql: str,
        parameters: Mapping[str, object],
        *,
        row_limit: int,
        time_limit: float,
    ) -> EngineAnswer:
        """Run one read over the whole history recorded so far; SqlRefused/Failed/Stopped."""
        ...


# -- what is recorded -------------------------------------------------------------------


class QueryRun(AuditedAggregate):
    """One attempt to run a forensic query, and how it ended. Each is its own aggregate."""

    @event("Recorded")
    def __init__(
        self,
        *,
        sql: str | None,
        saved_query: str | None,
        revision: int | None,
        parameters: dict[str, Value],
        row_limit: int,
        time_limit: float,
        outcome: str,
        row_count: int,
        truncated: bool,
        reason: str | None,
        exported_upto: int | None,
    ) -> None:
        self.sql = sql
        self.saved_query = saved_query
        self.revision = revision
        self.parameters = parameters
        self.row_limit = row_limit
        self.time_limit = time_limit
        self.outcome = outcome
        self.row_count = row_count
        self.truncated = truncated
        self.reason = reason
        self.exported_upto = exported_upto


@dataclass(frozen=True)
class Limits:
    row_limit: int = DEFAULT_ROW_LIMIT
    time_limit: float = DEFAULT_TIME_LIMIT

    def checked(self) -> Limits:
        row_limit, time_limit = self.row_limit, self.time_limit
        if isinstance(row_limit, bool) or not isinstance(row_limit, int):
            raise InvalidInput("row_limit", "a whole number is expected")
        if not 1 <= row_limit <= MAX_ROW_LIMIT:
            raise InvalidInput("row_limit", f"from 1 to {MAX_ROW_LIMIT}")
        if isinstance(time_limit, bool) or not isinstance(time_limit, int | float):
            raise InvalidInput("time_limit", "a number of seconds is expected")
        if not (math.isfinite(time_limit) and MIN_TIME_LIMIT <= time_limit <= MAX_TIME_LIMIT):
            raise InvalidInput(
                "time_limit", f"from {MIN_TIME_LIMIT:g} to {MAX_TIME_LIMIT:g} seconds"
            )
        return Limits(row_limit, float(time_limit))


@dataclass(frozen=True)
class QueryAnswer:
    run_id: UUID  # the QueryRun that records it
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    exported_upto: int

    @property
    def row_count(self) -> int:
        return len(self.rows)


@dataclass
class _Attempt:
    """What was asked, before we know how it ends."""

    action: ForensicAction
    target: str | None
    limits: Limits
    sql: str | None = None
    saved_query: str | None = None
    revision: int | None = None
    parameters: dict[str, Value] = field(default_factory=dict)

    def ended(
        self,
        outcome: RunOutcome,
        *,
        reason: str | None = None,
        row_count: int = 0,
        truncated: bool = False,
        exported_upto: int | None = None,
    ) -> QueryRun:
        return QueryRun(
            sql=self.sql,
            saved_query=self.saved_query,
            revision=self.revision,
            parameters=self.parameters,
            row_limit=self.limits.row_limit,
            time_limit=self.limits.time_limit,
            outcome=str(outcome),
            row_count=row_count,
            truncated=truncated,
            reason=reason,
            exported_upto=exported_upto,
        )


def one_line(reason: object) -> str:
    """An engine's message as one recordable line: the first line, bounded, controls escaped.

    Messages can quote stored data (a value that failed to convert), which may
    hold characters that are refused everywhere else.
    """
    first = (str(reason).strip().splitlines() or [""])[0]
    shown = "".join(
        f"\\u{ord(c):04x}" if text.unsafe_character(c) is not None else c for c in first
    )
    if len(shown) > REASON_LENGTH:
        shown = shown[: REASON_LENGTH - 1] + "…"
    return shown or "no reason given"


def checked_parameters(given: Mapping[str, Value] | None) -> dict[str, Value]:
    """Ad hoc values for `$name` parameters: bounded JSON scalars under identifier names."""
    given = dict(given or {})
    if len(given) > MAX_PARAMETERS:
        raise InvalidInput("parameters", f"at most {MAX_PARAMETERS} parameters")
    for name, value in given.items():
        if not _IDENTIFIER.fullmatch(name):
            raise InvalidInput(
                "parameters", f"{name[:70]!r} is not a parameter name (letters, digits, _)"
            )
        where = f"parameters.{name}"
        if isinstance(value, str):
            checked_value(where, value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(where, "a finite number is expected")
        elif isinstance(value, int) and not isinstance(value, bool) and not _in_bigint(value):
            raise InvalidInput(where, "a 64-bit whole number is expected")
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInput(where, "text, a number, true, false or null")
    return given


# -- the use cases ----------------------------------------------------------------------


class ForensicQueries(Capability):
    """Officers' SQL over the history, and the saved queries; everything recorded."""

    # -- running ------------------------------------------------------------------------

    def run_sql(
        self,
        sql: str,
        engine: QueryEngine,
        *,
        parameters: Mapping[str, Value] | None = None,
        limits: Limits = Limits(),
    ) -> QueryAnswer:
        """Run ad hoc SQL (officers only); the attempt is recorded however it ends."""
        attempt = _Attempt(
            ForensicAction.RUN_QUERY,
            None,
            limits.checked(),
            sql=checked_sql(sql),
            parameters=checked_parameters(parameters),
        )
        self._admit(attempt)
        return self._run(attempt, attempt.sql or "", attempt.parameters, engine)

    def run_saved(
        self,
        name: str,
        engine: QueryEngine,
        *,
        parameters: Mapping[str, Value] | None = None,
        limits: Limits = Limits(),
    ) -> QueryAnswer:
        """Run a saved query by name with typed parameters; the attempt is recorded."""
        name = checked_name(name)
        attempt = _Attempt(
            ForensicAction.RUN_SAVED_QUERY,
            f"saved-query:{name}",
            limits.checked(),
            saved_query=name,
            parameters=checked_parameters(parameters),
        )
        self._admit(attempt)
        try:
            query = self._active(name)
            attempt.revision = query.revision
            values = query.values(attempt.parameters)
        except (NotFound, SavedQueryRetired, InvalidInput) as error:
            self.save(attempt.ended(RunOutcome.FAILED, reason=one_line(error)))
            raise
        return self._run(attempt, query.sql, values, engine, ReturnType(query.return_type))

    def _admit(self, attempt: _Attempt) -> User:
        """The acting officer; anyone else is refused, the attempt recorded with the refusal."""
        actor = self.acting_user()
        resource = AuditTrail()
        decision = decide(actor.subject(), attempt.action, resource)
        if not decision:
            self._refuse(attempt, decision.reason)
        return actor

    def _refuse(self, attempt: _Attempt, reason: str) -> NoReturn:
        run = attempt.ended(RunOutcome.REFUSED, reason=reason)
        self.refuse(str(attempt.action), attempt.target, reason, run)

    def _run(
        self,
        attempt: _Attempt,
        sql: str,
        values: Mapping[str, object],
        engine: QueryEngine,
        return_type: ReturnType = ReturnType.TABLE,
    ) -> QueryAnswer:
        limits = attempt.limits
        try:
            answer = engine.run(
                sql, values, row_limit=limits.row_limit, time_limit=limits.time_limit
            )
        except SqlRefused as refused:
            self._refuse(attempt, one_line(refused))
        except SqlStopped as stopped:
            reason = one_line(stopped)
            self.save(attempt.ended(RunOutcome.STOPPED, reason=reason))
            raise QueryTimedOut(reason) from None
        except SqlFailed as failed:
            reason = one_line(failed)
            self.save(attempt.ended(RunOutcome.FAILED, reason=reason))
            raise BadQuery("sql", reason) from None
        misfit = return_type.problem(answer.columns, answer.rows)
        if misfit is not None:
            reason = one_line(f"the answer does not fit the return type: {misfit}")
            self.save(attempt.ended(RunOutcome.FAILED, reason=reason))
            raise AnswerMisfits(reason)
        run = attempt.ended(
            RunOutcome.ANSWERED,
            row_count=len(answer.rows),
            truncated=answer.truncated,
            exported_upto=answer.exported_upto,
        )
        # Recorded before the answer is handed over: no record, no answer.
        self.save(run)
        return QueryAnswer(
            run.id, answer.columns, answer.rows, answer.truncated, answer.exported_upto
        )

    # -- saved queries ------------------------------------------------------------------

    def saved_queries(
        self, *, tag: str | None = None, search: str | None = None
    ) -> list[SavedQuery]:
        """The saved queries in use, in the order they were first saved, filtered."""
        filters = Search.of(tag, search)
        self.officer(ForensicAction.READ_SAVED_QUERIES)
        catalogue = self.find(SavedQueryCatalogue, CATALOGUE_ID)
        found = []
        for name in catalogue.names if catalogue is not None else []:
            query = self.find(SavedQuery, SavedQuery.create_id(name))
            if query is None or query.retired:
                continue
            if query.matches(tag=filters.tag, search=filters.text):
                found.append(query)
        return found

    def saved_query(self, name: str) -> SavedQuery:
        """One saved query, retired or not (a retired one says so)."""
        name = checked_name(name)
        self.officer(ForensicAction.READ_SAVED_QUERIES)
        return self._named(name)

    def save_query(self, name: str, definition: Definition, checker: SqlChecker) -> SavedQuery:
        """A new saved query (or a retired name defined again), its SQL checked first."""
        name, definition = checked_name(name), definition.checked()
        actor = self.officer(ForensicAction.SAVE_QUERY)
        _check_sql(definition, checker)
        query = self.find(SavedQuery, SavedQuery.create_id(name))
        if query is not None and not query.retired:
            raise SavedQueryExists(f"a saved query named {name} exists: update or retire it")
        if query is not None:
            query.restore(**definition.recorded(), by=str(actor.id))
            self.save(query)
            return query
        catalogue = self.find(SavedQueryCatalogue, CATALOGUE_ID) or SavedQueryCatalogue()
        catalogue.list_name(name)
        query = SavedQuery(name=name, **definition.recorded(), by=str(actor.id))
        self.save(query, catalogue)
        return query

    def update_query(self, name: str, definition: Definition, checker: SqlChecker) -> SavedQuery:
        """A new revision of a saved query in use."""
        name, definition = checked_name(name), definition.checked()
        actor = self.officer(ForensicAction.UPDATE_SAVED_QUERY)
        query = self._active(name)
        _check_sql(definition, checker)
        query.update(**definition.recorded(), by=str(actor.id))
        self.save(query)
        return query

    def retire_query(self, name: str) -> None:
        """Retire a saved query: it no longer runs or changes, and stays in the history."""
        name = checked_name(name)
        actor = self.officer(ForensicAction.RETIRE_SAVED_QUERY)
        query = self._active(name)
        query.retire(by=str(actor.id))
        self.save(query)

    def email_of(self, user_id: str) -> str | None:
        """Who someone is, for officers reading who defined a query."""
        try:
            user = self.find(User, UUID(user_id))
        except ValueError:
            return None
        return None if user is None else user.email

    def officer(self, action: ForensicAction) -> User:
        """The acting user, if it holds the audit capability; a refusal is recorded."""
        actor = self.acting_user()
        self.authorise(actor, action, AuditTrail())
        return actor

    def _named(self, name: str) -> SavedQuery:
        query = self.find(SavedQuery, SavedQuery.create_id(name))
        if query is None:
            raise SavedQueryNotFound(f"no saved query named {name}")
        return query

    def _active(self, name: str) -> SavedQuery:
        query = self._named(name)
        if query.retired:
            raise SavedQueryRetired(f"the saved query {name} was retired")
        return query


def _check_sql(definition: Definition, checker: SqlChecker) -> None:
    """The SQL could run here, and its `$name`s are the declared parameters."""
    try:
        used = checker.check(definition.sql)
    except (SqlRefused, SqlFailed) as error:
        raise InvalidInput("sql", one_line(error)) from None
    definition.matches(used)


def _in_bigint(value: int) -> bool:
    low, high = INT_RANGE
    return low <= value <= high
