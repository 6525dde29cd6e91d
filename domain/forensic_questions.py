"""The canned forensic questions officers ask (breach scope, lineage, …): each one recorded.

Asking the history about a person is itself a read of that person's record, so
who asked what, about whom, with which parameters, and how large the answer
was, is part of the record too. The answering (DuckDB over the export) is done
outside the domain; here are who may ask, and the event that says they did.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain import text
from domain.aggregate import AuditedAggregate
from domain.audit_access import AuditTrail
from domain.capability import Capability
from domain.errors import InvalidInput
from domain.users import User


class Question(StrEnum):
    BREACH_SCOPE = "breach-scope"
    LINEAGE = "lineage"
    TIMELINE = "timeline"
    WHO_HAD = "who-had"
    LOGINS = "logins"


class QuestionAction(StrEnum):
    """What a refusal records as the action: asking one of the questions."""

    ASK_BREACH_SCOPE = "ask-breach-scope"
    ASK_LINEAGE = "ask-lineage"
    ASK_TIMELINE = "ask-timeline"
    ASK_WHO_HAD = "ask-who-had"
    ASK_LOGINS = "ask-logins"


# The parameters a question is recorded with, each bounded before it is recorded.
PARAMETERS = frozenset(
    {
        "actor",
        "session",
        "ip",
        "cidr",
        "from",
        "to",
        "aggregate_id",
        "user",
        "role",
        "team",
        "permission",
        "at",
        "after",
        "limit",
    }
)
PARAMETER_LENGTH = 320
MAX_ROWS = 2**63 - 1


class ForensicQuestion(AuditedAggregate):
    """One question asked: which, with what, and how many rows the answer had.

    `user_id` and `team_id` name the person or team it was about, when it was
    about one, so the export files the question under them like any other read.
    """

    @event("Asked")
    def __init__(
        self,
        question: str,
        parameters: dict[str, str],
        rows: int,
        user_id: UUID | None,
        team_id: UUID | None,
    ) -> None:
        self.question = question
        self.parameters = dict(parameters)
        self.rows = rows
        self.user_id = user_id
        self.team_id = team_id


class ForensicQuestions(Capability):
    def officer(self, question: Question) -> User:
        """The acting user, if it holds the audit capability; a refusal is recorded."""
        actor = self.acting_user()
        self.authorise(actor, QuestionAction(f"ask-{question}"), AuditTrail())
        return actor

    def record(
        self,
        question: Question,
        parameters: Mapping[str, str],
        rows: int,
        *,
        user_id: UUID | None = None,
        team_id: UUID | None = None,
    ) -> UUID:
        """Record that the acting officer asked `question` (after `officer` let them)."""
        question = Question(question)
        unknown = sorted(set(parameters) - PARAMETERS)
        if unknown:
            raise InvalidInput("parameters", f"not a question's parameter: {unknown[0]}")
        checked = {
            name: text.checked(name, str(value), max_length=PARAMETER_LENGTH)
            for name, value in sorted(parameters.items())
        }
        if isinstance(rows, bool) or not 0 <= rows <= MAX_ROWS:
            raise InvalidInput("rows", "a count of rows")
        asked = ForensicQuestion(
            question=str(question),
            parameters=checked,
            rows=rows,
            user_id=user_id,
            team_id=team_id,
        )
        self.save(asked)
        return asked.id
