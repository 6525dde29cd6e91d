"""Saved forensic queries: named, described, tagged, typed parameters, a return type.

A saved query is one aggregate per name (its id is derived from the name, as
`TeamName`'s is), so the name is unique without asking a read model, and its
whole life is one history: created, each update a new revision, retired (kept,
never erased), and perhaps defined again under the same name later. Every
saved query's name is also listed in one small `SavedQueryCatalogue`, so they
can be listed without a read model; it changes only when a new name is first used.

Everything here is checked before it is recorded (an event is forever); the SQL
itself is checked by the caller's `SqlChecker` (see domain/forensic_queries.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain import text
from domain.aggregate import AuditedAggregate
from domain.errors import Conflict, InvalidInput, NotFound

# The bounds the API documents for a saved query.
NAME_LENGTH = 64
DESCRIPTION_LENGTH = 2000
MAX_TAGS = 16
TAG_LENGTH = 32
MAX_PARAMETERS = 20
PARAMETER_NAME_LENGTH = 63
PARAMETER_DESCRIPTION_LENGTH = 500
# One SQL text (ad hoc or saved): the whole text is recorded, so it is bounded.
SQL_LENGTH = 100_000
# One parameter's value, as given (text parameters and ad hoc values).
VALUE_LENGTH = 10_000
SEARCH_LENGTH = 200
INT_RANGE = (-(2**63), 2**63 - 1)  # DuckDB's BIGINT

# A name is used in URLs and on command lines: lower case, digits, '.', '_' and '-'.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_TAG = re.compile(r"[a-z0-9][a-z0-9_-]*")
# DuckDB's named parameters ($name) are case-insensitive: names are lower case here.
_PARAMETER = re.compile(r"[a-z_][a-z0-9_]*")
_WHOLE = re.compile(r"-?[0-9]{1,19}")


class SavedQueryNotFound(NotFound):
    """No saved query with that name."""


class SavedQueryExists(Conflict):
    """A saved query with that name is in use (retire it first, or update it)."""


class SavedQueryRetired(Conflict):
    """The saved query was retired: it is kept in the history, but no longer runs or changes."""


class ParameterType(StrEnum):
    INT = "int"  # a whole number (64-bit)
    TEXT = "text"
    TIMESTAMP = "timestamp"  # ISO 8601; without an offset it is taken as UTC
    DATE = "date"  # YYYY-MM-DD


class ReturnType(StrEnum):
    """What a saved query promises to answer; each run is held to it."""

    TABLE = "table"  # any columns, any rows
    SCALAR = "scalar"  # one column and at most one row: a count, a name
    SERIES = "series"  # chart-ready: a label column (a time, day or text), then number columns

    def problem(self, columns: list[str], rows: list[list[Any]]) -> str | None:
        """Why an answer does not fit this return type, if it does not."""
        if self is ReturnType.SCALAR and (len(columns) != 1 or len(rows) > 1):
            return f"a scalar is one column and at most one row, not {len(columns)} × {len(rows)}"
        if self is ReturnType.SERIES:
            if len(columns) < 2:
                return "a series is a label column followed by one or more number columns"
            for row in rows:
                for name, value in zip(columns[1:], row[1:], strict=True):
                    if value is not None and (
                        isinstance(value, bool) or not isinstance(value, int | float)
                    ):
                        return f"a series has numbers after its label; {name} holds {value!r}"
        return None


Value = str | int | float | bool | None


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: bound as DuckDB's `$name`, never written into the SQL."""

    name: str
    type: ParameterType
    description: str = ""
    default: Value = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": str(self.type),
            "description": self.description,
            "default": self.default,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Parameter:
        return cls(data["name"], ParameterType(data["type"]), data["description"], data["default"])

    def checked(self, where: str) -> Parameter:
        name = self.name.strip()
        if not (len(name) <= PARAMETER_NAME_LENGTH and _PARAMETER.fullmatch(name)):
            raise InvalidInput(
                f"{where}.name",
                f"a lower-case identifier (a-z, 0-9, _; not starting with a digit), "
                f"at most {PARAMETER_NAME_LENGTH} characters",
            )
        try:
            kind = ParameterType(self.type)
        except ValueError:
            raise InvalidInput(
                f"{where}.type", f"one of {', '.join(t.value for t in ParameterType)}"
            ) from None
        description = text.checked(
            f"{where}.description",
            self.description,
            max_length=PARAMETER_DESCRIPTION_LENGTH,
            required=False,
        )
        spec = Parameter(name, kind, description, self.default)
        if self.default is not None:
            spec.value(self.default, field=f"{where}.default")
        return spec

    def value(self, given: Value, *, field: str | None = None) -> int | str | datetime | date:
        """`given` as this parameter's type; InvalidInput naming the field otherwise."""
        where = field or f"parameters.{self.name}"
        if self.type is ParameterType.INT:
            return _whole_number(where, given)
        if not isinstance(given, str):
            raise InvalidInput(where, f"a {self.type} is expected, as text")
        if self.type is ParameterType.TEXT:
            return checked_value(where, given)
        if self.type is ParameterType.TIMESTAMP:
            try:
                moment = datetime.fromisoformat(given.strip())
            except ValueError:
                raise InvalidInput(where, "an ISO 8601 time is expected") from None
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        try:
            return date.fromisoformat(given.strip())
        except ValueError:
            raise InvalidInput(where, "a date (YYYY-MM-DD) is expected") from None


def _whole_number(where: str, given: Value) -> int:
    if isinstance(given, str) and _WHOLE.fullmatch(given.strip()):
        given = int(given.strip())
    if isinstance(given, bool) or not isinstance(given, int):
        raise InvalidInput(where, "a whole number is expected")
    low, high = INT_RANGE
    if not low <= given <= high:
        raise InvalidInput(where, f"a whole number from {low} to {high} is expected")
    return given


def checked_value(where: str, given: str) -> str:
    """Text given as a value: kept exactly (not stripped), bounded, nothing that could deceive."""
    if len(given) > VALUE_LENGTH:
        raise InvalidInput(where, f"at most {VALUE_LENGTH} characters, got {len(given)}")
    bad = text.unsafe_character(given, multiline=True)
    if bad is not None:
        raise InvalidInput(
            where, f"control and bidirectional-override characters are refused (U+{ord(bad):04X})"
        )
    return given


def checked_sql(sql: str, *, where: str = "sql") -> str:
    """SQL that may be recorded: at most SQL_LENGTH characters, newlines and tabs allowed.

    A Windows line end (CR LF) becomes LF; any other control or bidirectional
    character is refused, as for every other text (domain/text.py).
    """
    return text.checked(
        where, sql.replace("\r\n", "\n"), max_length=SQL_LENGTH, required=True, multiline=True
    )


def checked_name(name: str, where: str = "name") -> str:
    """A saved query's name, in lower case."""
    lowered = name.strip().lower()
    if not (len(lowered) <= NAME_LENGTH and _NAME.fullmatch(lowered)):
        raise InvalidInput(
            where,
            f"1 to {NAME_LENGTH} of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
        )
    return lowered


def checked_tag(tag: str, where: str = "tag") -> str:
    lowered = tag.strip().lower()
    if not (len(lowered) <= TAG_LENGTH and _TAG.fullmatch(lowered)):
        raise InvalidInput(
            where, f"1 to {TAG_LENGTH} of a-z, 0-9, '_' and '-', starting with a letter or digit"
        )
    return lowered


@dataclass(frozen=True)
class Definition:
    """What a saved query is, apart from its name: as given, then `checked()`."""

    sql: str
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    return_type: str = ReturnType.TABLE

    def checked(self) -> Definition:
        """Every bound and format, before anything is recorded (InvalidInput naming the field)."""
        if len(self.tags) > MAX_TAGS:
            raise InvalidInput("tags", f"at most {MAX_TAGS} tags")
        tags = tuple(dict.fromkeys(checked_tag(t, f"tags.{i}") for i, t in enumerate(self.tags)))
        if len(self.parameters) > MAX_PARAMETERS:
            raise InvalidInput("parameters", f"at most {MAX_PARAMETERS} parameters")
        parameters = tuple(p.checked(f"parameters.{i}") for i, p in enumerate(self.parameters))
        names = [p.name for p in parameters]
        for name in names:
            if names.count(name) > 1:
                raise InvalidInput("parameters", f"{name} is declared more than once")
        try:
            return_type = ReturnType(self.return_type)
        except ValueError:
            raise InvalidInput(
                "return_type", f"one of {', '.join(t.value for t in ReturnType)}"
            ) from None
        return Definition(
            sql=checked_sql(self.sql),
            description=text.checked(
                "description",
                self.description,
                max_length=DESCRIPTION_LENGTH,
                required=False,
                multiline=True,
            ),
            tags=tags,
            parameters=parameters,
            return_type=return_type,
        )

    def matches(self, used: frozenset[str]) -> None:
        """The SQL's `$name`s are exactly the declared parameters (InvalidInput otherwise)."""
        if any(name.isdigit() for name in used):
            raise InvalidInput("sql", "a saved query takes named parameters ($name), not ? or $1")
        declared = {p.name for p in self.parameters}
        used = frozenset(name.lower() for name in used)
        undeclared, unused = sorted(used - declared), sorted(declared - used)
        if undeclared:
            raise InvalidInput(
                "parameters", f"the SQL uses ${undeclared[0]}, which is not declared"
            )
        if unused:
            raise InvalidInput(
                "parameters", f"{unused[0]} is declared but the SQL does not use ${unused[0]}"
            )

    def recorded(self) -> dict[str, Any]:
        """The definition as event arguments: plain JSON values."""
        return {
            "sql": self.sql,
            "description": self.description,
            "tags": list(self.tags),
            "parameters": [p.as_dict() for p in self.parameters],
            "return_type": str(self.return_type),
        }


class SavedQuery(AuditedAggregate):
    """A saved query, under its name for good: revisions, retirement, definition again."""

    missing = SavedQueryNotFound

    @staticmethod
    def create_id(name: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:saved-query:{name}")

    @event("Created")
    def __init__(
        self,
        name: str,
        sql: str,
        description: str,
        tags: list[str],
        parameters: list[dict[str, Any]],
        return_type: str,
        by: str,
    ) -> None:
        """`by` is who defined it (their user id), kept in the state for listing."""
        self.name = name
        self.created_by = by
        self.revision = 0
        self.retired = False
        self._define(sql, description, tags, parameters, return_type, by)

    @event("Updated")
    def update(
        self,
        sql: str,
        description: str,
        tags: list[str],
        parameters: list[dict[str, Any]],
        return_type: str,
        by: str,
    ) -> None:
        self._define(sql, description, tags, parameters, return_type, by)

    @event("Retired")
    def retire(self, by: str) -> None:
        self.retired = True
        self.updated_by = by

    @event("Restored")
    def restore(
        self,
        sql: str,
        description: str,
        tags: list[str],
        parameters: list[dict[str, Any]],
        return_type: str,
        by: str,
    ) -> None:
        """Defined again under a retired name: a new revision of the same history."""
        self.retired = False
        self._define(sql, description, tags, parameters, return_type, by)

    def _define(
        self,
        sql: str,
        description: str,
        tags: list[str],
        parameters: list[dict[str, Any]],
        return_type: str,
        by: str,
    ) -> None:
        self.sql = sql
        self.description = description
        self.tags = list(tags)
        self.parameter_specs = [dict(p) for p in parameters]
        self.return_type = return_type
        self.updated_by = by
        self.revision += 1

    @property
    def parameters(self) -> list[Parameter]:
        return [Parameter.from_dict(p) for p in self.parameter_specs]

    def values(self, given: Mapping[str, Value]) -> dict[str, int | str | datetime | date]:
        """The given values, typed, with defaults filled in (InvalidInput naming the field)."""
        specs = {p.name: p for p in self.parameters}
        for name in given:
            if name.lower() not in specs:
                takes = ", ".join(specs) or "none"
                raise InvalidInput(f"parameters.{name}", f"not a parameter (it takes: {takes})")
        lowered = {name.lower(): value for name, value in given.items()}
        values: dict[str, int | str | datetime | date] = {}
        for name, spec in specs.items():
            if name in lowered and lowered[name] is not None:
                values[name] = spec.value(lowered[name])
            elif spec.default is not None:
                values[name] = spec.value(spec.default)
            else:
                raise InvalidInput(f"parameters.{name}", f"required ({spec.type})")
        return values

    def matches(self, *, tag: str | None, search: str | None) -> bool:
        """Whether it has `tag` and mentions `search` (name, description, tags or SQL)."""
        if tag is not None and tag not in self.tags:
            return False
        if search:
            haystack = "\n".join([self.name, self.description, *self.tags, self.sql]).casefold()
            return search.casefold() in haystack
        return True


CATALOGUE_ID = uuid5(NAMESPACE_URL, "strongroom:saved-queries")


class SavedQueryCatalogue(AuditedAggregate):
    """Every name ever used for a saved query, in order: what listing reads."""

    @staticmethod
    def create_id() -> UUID:  # type: ignore[override]
        return CATALOGUE_ID

    @event("Started")
    def __init__(self) -> None:
        self.names: list[str] = []

    @event("Listed")
    def list_name(self, name: str) -> None:
        self.names.append(name)


@dataclass(frozen=True)
class Search:
    """A listing's filters, checked: a tag, and text to look for."""

    tag: str | None = None
    text: str | None = None

    @classmethod
    def of(cls, tag: str | None, search: str | None) -> Search:
        found = text.checked("search", search or "", max_length=SEARCH_LENGTH, required=False)
        return cls(tag=checked_tag(tag) if tag else None, text=found or None)
