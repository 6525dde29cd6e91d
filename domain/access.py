"""Who may do what to which resource: one decision function, deny by default.

`decide(actor, action, resource)` is the only place an access decision is made.
It applies what holds for every action (an inactive account and an escrow user
can do nothing), then hands over to the rule registered for the *kind* of
resource. Each capability defines its resources and their rule in its own rule
module (`identity_access`, `audit_access`; projects, the vault, VMs and escrow
later) and registers it with `@rule_for(ResourceKind)`: a resource nobody wrote
a rule for is denied. Every refusal carries a reason, and is recorded by
`Capability.authorise` before `Forbidden` is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TypeVar
from uuid import UUID


class _ValueEnum(Enum):
    """Prints as its value. Not a `str` subclass on purpose: JSON would then
    encode it as a plain string and a snapshot would restore it as one."""

    def __str__(self) -> str:
        return str(self.value)


class Role(_ValueEnum):
    SUPER_ADMIN = "super-admin"
    ADMIN = "admin"
    SUB_ADMIN = "sub-admin"
    USER = "user"
    ESCROW = "escrow"


class Permission(_ValueEnum):
    VIEW = "view"
    DOWNLOAD = "download"
    TAG_PROJECTS = "tag-projects"
    CREATE_VMS = "create-vms"
    AUDIT = "audit"  # compliance officer: dashboard, alerts, forensic queries; no user data


DEFAULT_PERMISSIONS = frozenset({Permission.VIEW, Permission.DOWNLOAD})
ADMIN_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.SUB_ADMIN})


@dataclass(frozen=True)
class Subject:
    """What the rules need to know about a person, as actor or as target."""

    id: UUID
    role: Role
    active: bool
    teams: frozenset[UUID] = frozenset()
    sub_admin_of: frozenset[UUID] = frozenset()
    # Removed from its last team: only a super-admin may change its role now.
    released: bool = False
    permissions: frozenset[Permission] = field(default=DEFAULT_PERMISSIONS)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def allow(reason: str) -> Decision:
    return Decision(True, reason)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


class Resource:
    """What an action is done to. Each rule module defines its kinds (frozen dataclasses)."""

    def describe(self) -> str | None:
        """How a refusal names the target in the record (an id, an email, `team:<id>`)."""
        return None


R = TypeVar("R", bound=Resource)
Rule = Callable[[Subject, StrEnum, R], Decision]
_RULES: dict[type[Resource], Rule[Resource]] = {}


def rule_for(kind: type[R]) -> Callable[[Rule[R]], Rule[R]]:
    """Register the rule that decides actions on resources of `kind` (one per kind)."""

    def register(rule: Rule[R]) -> Rule[R]:
        if kind in _RULES:
            raise RuntimeError(f"a rule for {kind.__name__} is already registered")
        _RULES[kind] = rule  # type: ignore[assignment]
        return rule

    return register


def decide(actor: Subject, action: StrEnum, resource: Resource) -> Decision:
    """May `actor` do `action` to `resource`?  Anything no rule allows is denied."""
    if not actor.active:
        return deny("the acting account is not active")
    if actor.role is Role.ESCROW:
        return deny("escrow users cannot use normal functions")
    rule = _RULES.get(type(resource))
    if rule is None:
        return deny(f"no rule covers {action} on a {type(resource).__name__}")
    return rule(actor, action, resource)


def permitted(subject: Subject, permission: Permission) -> bool:
    """Whether `subject` may use `permission` now (deny by default)."""
    if not subject.active or subject.role is Role.ESCROW:
        return False
    return permission in subject.permissions
