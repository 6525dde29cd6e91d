"""The alert rules' thresholds and hours: defaults, overridden by a TOML file.

A file that cannot be used is refused at start, naming the line and the reason
(`STRONGROOM_ALERT_RULES`). Every section and key is optional; unknown ones are
errors, so a typo never silently disables a rule.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.alerts import SEVERITIES
from domain.certifications import MAX_LIFESPAN_DAYS


class RulesFileError(ValueError):
    """The rules file is unusable; the message names the file, the line and why."""


@dataclass(frozen=True)
class Rule:
    enabled: bool = True
    severity: str = "info"


@dataclass(frozen=True)
class DeniedBurst(Rule):
    count: int = 5
    minutes: int = 10


@dataclass(frozen=True)
class OutsideHours(Rule):
    start: time = time(7, 0)
    end: time = time(19, 0)
    timezone: str = "UTC"


@dataclass(frozen=True)
class IpChange(Rule):
    prefix: int = 16  # logins from different /16 networks count as another location


@dataclass(frozen=True)
class CertificationExpiring(Rule):
    days: int = 30  # raised once per certification, when its expiry is this close


@dataclass(frozen=True)
class AlertRules:
    user_added: Rule = field(default_factory=lambda: Rule(severity="info"))
    state_changed: Rule = field(default_factory=lambda: Rule(severity="low"))
    role_changed: Rule = field(default_factory=lambda: Rule(severity="medium"))
    user_locked: Rule = field(default_factory=lambda: Rule(severity="high"))
    ip_change: IpChange = field(default_factory=lambda: IpChange(severity="medium"))
    denied_burst: DeniedBurst = field(default_factory=lambda: DeniedBurst(severity="high"))
    outside_hours: OutsideHours = field(default_factory=lambda: OutsideHours(severity="low"))
    # A copy of the history left the store (`strongroom audit export`).
    history_exported: Rule = field(default_factory=lambda: Rule(severity="medium"))
    certification_expiring: CertificationExpiring = field(
        default_factory=lambda: CertificationExpiring(severity="low")
    )
    certification_expired: Rule = field(default_factory=lambda: Rule(severity="medium"))
    member_non_compliant: Rule = field(default_factory=lambda: Rule(severity="high"))
    project_parked: Rule = field(default_factory=lambda: Rule(severity="medium"))
    project_unparked: Rule = field(default_factory=lambda: Rule(severity="low"))

    @classmethod
    def load(cls, path: Path | None) -> AlertRules:
        """The defaults, with whatever `path` overrides; refuses a bad file."""
        if path is None:
            return cls()
        try:
            text = path.read_text()
        except OSError as error:
            raise RulesFileError(f"{path}: cannot read it ({error.strerror})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise RulesFileError(f"{path}: {error}") from None
        rules = cls()
        for section, values in data.items():
            line = _line_of(text, section)
            if section not in {f.name for f in fields(cls)}:
                known = ", ".join(f.name for f in fields(cls))
                raise RulesFileError(
                    f"{path}, line {line}: unknown rule [{section}] (known: {known})"
                )
            if not isinstance(values, dict):
                raise RulesFileError(f"{path}, line {line}: [{section}] must be a table")
            current = getattr(rules, section)
            overridden = _override(path, text, section, current, values)
            rules = replace(rules, **{section: overridden})  # type: ignore[arg-type]
        return rules


def _override(path: Path, text: str, section: str, current: Rule, values: dict[str, Any]) -> Rule:
    known = {f.name: f for f in fields(current)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        line = _line_of(text, section, key)
        where = f"{path}, line {line}: [{section}] {key}"
        if key not in known:
            raise RulesFileError(f"{where}: unknown setting (known: {', '.join(known)})")
        problem = _problem(key, getattr(current, key), value)
        if problem:
            raise RulesFileError(f"{where}: {problem}")
        changes[key] = value
    updated = replace(current, **changes)
    if isinstance(updated, IpChange) and not 1 <= updated.prefix <= 32:
        raise RulesFileError(
            f"{path}, line {_line_of(text, section, 'prefix')}: "
            f"[{section}] prefix must be between 1 and 32"
        )
    if isinstance(updated, CertificationExpiring) and updated.days > MAX_LIFESPAN_DAYS:
        raise RulesFileError(
            f"{path}, line {_line_of(text, section, 'days')}: "
            f"[{section}] days must be at most {MAX_LIFESPAN_DAYS} (no certification lasts longer)"
        )
    return updated


def _problem(key: str, default: Any, value: Any) -> str | None:
    """What is wrong with `value` for a setting whose default is `default`, if anything."""
    if key == "severity":
        return None if value in SEVERITIES else f"must be one of {', '.join(SEVERITIES)}"
    if key == "timezone":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown time zone {value!r}"
        return None
    if isinstance(default, time):
        return None if isinstance(value, time) else "a time of day is expected, e.g. 07:30:00"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false is expected"
    if isinstance(default, int) and (
        isinstance(value, bool) or not isinstance(value, int) or value < 1
    ):
        return "a whole number of at least 1 is expected"
    return None


def _line_of(text: str, section: str, key: str | None = None) -> int:
    """The line where `[section]` (or `key` inside it) is written; 1 when not found."""
    lines = text.splitlines()
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]")
    for number, line in enumerate(lines, start=1):
        if header.match(line):
            if key is None:
                return number
            setting = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for offset, inner in enumerate(lines[number:], start=number + 1):
                if inner.lstrip().startswith("["):
                    break
                if setting.match(inner):
                    return offset
            return number
    return 1
