"""The fields of a companies-registry export, checked one at a time, and how problems are collected.

Shared by the CSV and JSON readers (`registry_csv`, `registry_json`), and by the CLI and the account
pages for the same fields typed by hand. Each check returns the canonical value or raises
`InvalidField` with a message naming the field.

Dates are year/month/day, Jalali when the year is below 1700 (1403/01/01) and Gregorian otherwise
(2024-03-20). A mandate starts at midnight in Tehran on its `valid_from` day and `valid_until` is
its last day: it ends at midnight in Tehran at the end of that day.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from legal_entities.days import mandate_end, mandate_start
from legal_entities.errors import EntitiesError
from legal_entities.models import ALL_POWERS, DELEGATE, EntityStatus, RegistryOfficer
from legal_entities.rules import MAX_POWER_LENGTH, MAX_ROLE_LENGTH, is_power, is_role
from levels.iranian_input import (
    InvalidDate,
    InvalidNationalCode,
    InvalidNationalId,
    normalize_digits,
    parse_calendar_date,
    parse_national_code,
    parse_national_id,
)

# Officers in these roles are registered as representing the company in full (acting for it and
# appointing others), so exports leave their powers empty rather than list every service. For any
# other role empty powers are refused rather than guessed: a guess could only grant too much.
REGISTRY_DEFAULT_POWERS: dict[str, frozenset[str]] = {
    role: frozenset({ALL_POWERS, DELEGATE}) for role in ("ceo", "managing_director", "chair", "signatory")
}

MAX_ERRORS = 100
MAX_NAME_LENGTH = 300
MAX_TYPE_LENGTH = 64
_POWER_SEPARATORS = re.compile(r"[\s;]+")
# Mandates outside these years are typing mistakes (and the year 9999 would overflow the end of its last day).
FIRST_YEAR, LAST_YEAR = 1900, 2999

_T = TypeVar("_T")


class RegistryFileError(EntitiesError, ValueError):
    """The file cannot be imported; `errors` lists (line, message) for every problem found, in order.

    `truncated` is true when reading stopped at a problem beyond the first `MAX_ERRORS`.
    """

    def __init__(self, errors: list[tuple[int, str]], *, truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        first = f"line {errors[0][0]}: {errors[0][1]}" if errors else "no errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}")


class TooManyErrors(EntitiesError):
    """Raised by `Errors.add` to stop reading once `MAX_ERRORS` problems are listed."""


class Errors:
    """Collects problems; stops the reading once there are too many to be worth listing."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        if len(self.items) >= MAX_ERRORS:
            raise TooManyErrors
        self.items.append((line, message))


class InvalidField(EntitiesError, ValueError):
    """One field's value is not acceptable; the message names the field."""


def parse_day(text: str) -> date:
    """A date as the registry file and the CLI accept it; raise `InvalidDate` with a message."""
    day = parse_calendar_date(text)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidDate(f"{day.isoformat()} is not a plausible date for a mandate.")
    return day


def parse_powers(value: object, field: str = "powers") -> frozenset[str]:
    """Powers written as one string separated by spaces or `;`, or (JSON) a list of strings."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        tokens = [t for t in _POWER_SEPARATORS.split(value.strip()) if t]
    elif isinstance(value, list):
        if not all(isinstance(t, str) for t in value):
            raise InvalidField(f"{field}: expected a list of strings")
        tokens = [t.strip() for t in value if t.strip()]
    else:
        raise InvalidField(f"{field}: expected a string or a list of strings")
    bad = [t for t in tokens if not is_power(t)]
    if bad:
        raise InvalidField(
            f"{field}: {bad[0]!r} is not a power (a service scope of at most {MAX_POWER_LENGTH} characters"
            f" without spaces, quotes or backslashes, {ALL_POWERS!r} or {DELEGATE!r})"
        )
    return frozenset(tokens)


def parse_role(text: str, field: str = "role") -> str:
    """A role as stored: a lowercase identifier (the registry's role codes are)."""
    role = text.strip()
    if not role:
        raise InvalidField(f"{field}: required")
    if not is_role(role):
        raise InvalidField(
            f"{field}: {role[:80]!r} is not a role: lowercase letters, digits and _, starting with a letter,"
            f" at most {MAX_ROLE_LENGTH} characters"
        )
    return role


def _text(value: object, field: str, *, required: bool = True) -> str:
    """A string field; numbers are accepted for codes (exports sometimes write them unquoted)."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        raise InvalidField(f"{field}: expected text, got {json_type(value)}")
    if required and not text:
        raise InvalidField(f"{field}: required")
    return text


def _national_id(value: object) -> str:
    try:
        return parse_national_id(_text(value, "national_id"))
    except InvalidNationalId as exc:
        raise InvalidField(f"national_id: {exc}") from None


def _national_code(value: object, field: str) -> str:
    try:
        return parse_national_code(_text(value, field))
    except InvalidNationalCode as exc:
        raise InvalidField(f"{field}: {exc}") from None


def _limited(value: object, field: str, limit: int) -> str:
    text = _text(value, field)
    if len(text) > limit:
        raise InvalidField(f"{field}: at most {limit} characters")
    return text


def _status(value: object) -> EntityStatus:
    text = _text(value, "status", required=False)
    if not text:
        return EntityStatus.ACTIVE
    try:
        return EntityStatus(text)
    except ValueError:
        allowed = ", ".join(s.value for s in EntityStatus)
        raise InvalidField(f"status: {text[:40]!r} is not one of {allowed}") from None


def _min_level(value: object) -> int | None:
    if isinstance(value, bool):
        raise InvalidField("min_level: expected 1, 2 or 3")
    text = "" if value is None else normalize_digits(str(value))
    if not text:
        return None
    if text not in ("1", "2", "3"):
        raise InvalidField("min_level: expected 1, 2 or 3")
    return int(text)


def _day(value: object, field: str) -> date | None:
    text = _text(value, field, required=False)
    if not text:
        return None
    try:
        return parse_day(text)
    except InvalidDate as exc:
        raise InvalidField(f"{field}: {exc}") from None


def collect(problems: list[str], check: Callable[[], _T]) -> _T | None:
    """The result of `check`, or None with its message added to `problems`: every field of a row is
    checked, so that one round of fixes is enough."""
    try:
        return check()
    except InvalidField as exc:
        problems.append(str(exc))
        return None


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


@dataclass(frozen=True, slots=True)
class Head:
    """The entity columns of a row, checked."""

    national_id: str
    name: str
    type: str
    status: EntityStatus
    min_level: int | None


def read_officer(
    national_code: object, role: object, powers: object, valid_from: object, valid_until: object,
    *, prefix: str, code_field: str,
) -> tuple[RegistryOfficer | None, list[str]]:
    """One officer, or None and every message about it. `prefix` names the officer in messages."""
    problems: list[str] = []
    code = collect(problems, lambda: _national_code(national_code, f"{prefix}{code_field}"))
    role_text = collect(problems, lambda: parse_role(_text(role, f"{prefix}role"), f"{prefix}role"))
    power_set = collect(problems, lambda: parse_powers(powers, f"{prefix}powers"))
    start = collect(problems, lambda: _day(valid_from, f"{prefix}valid_from"))
    end = collect(problems, lambda: _day(valid_until, f"{prefix}valid_until"))
    if role_text is not None and power_set is not None and not power_set:
        power_set = REGISTRY_DEFAULT_POWERS.get(role_text)
        if power_set is None:
            label = f"{prefix.rstrip('.')}: " if prefix else ""
            problems.append(f"{label}powers required for role {role_text}")
    if start is not None and end is not None and end < start:
        problems.append(f"{prefix}valid_until ({end.isoformat()}) is before valid_from ({start.isoformat()})")
    if problems or code is None or role_text is None or power_set is None:
        return None, problems
    officer = RegistryOfficer(
        national_code=code, role=role_text, powers=power_set,
        valid_from=mandate_start(start) if start else None, valid_until=mandate_end(end) if end else None,
    )
    return officer, []


def read_head(
    national_id: object, name: object, type_: object, status: object, min_level: object
) -> tuple[Head | None, list[str]]:
    """The entity's own fields, or None and every message about them."""
    problems: list[str] = []
    head = Head(
        national_id=collect(problems, lambda: _national_id(national_id)) or "",
        name=collect(problems, lambda: _limited(name, "name", MAX_NAME_LENGTH)) or "",
        type=collect(problems, lambda: _limited(type_, "type", MAX_TYPE_LENGTH)) or "",
        status=collect(problems, lambda: _status(status)) or EntityStatus.ACTIVE,
        min_level=collect(problems, lambda: _min_level(min_level)),
    )
    return (None, problems) if problems else (head, [])
