"""Checks of what the service is asked to store: roles, powers, actors, times and registry records.

Each raises the package's own error with a message an operator can act on; the rules of acting and
delegating are `legal_entities.rules`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from legal_entities.errors import InvalidRegistryRecord, InvalidRepresentation
from legal_entities.models import EntityStatus, RegistryEntity
from legal_entities.rules import MAX_ROLE_LENGTH, invalid_powers, is_role
from levels.iranian_input import is_valid_national_code, is_valid_national_id

MIN_LEVELS = range(1, 4)
MAX_NAME = 300
MAX_TYPE = 64
MAX_ACTOR = 64
MAX_REASON = 200


def check_role(role: object) -> None:
    if not is_role(role):
        raise InvalidRepresentation(
            f"A role is a lowercase code such as ceo, signatory or employee, of at most {MAX_ROLE_LENGTH} characters.")


def check_powers(powers: Iterable[str]) -> frozenset[str]:
    """The powers as a set; raise `InvalidRepresentation` unless there is at least one and all are valid."""
    if isinstance(powers, str):
        raise InvalidRepresentation("powers must be a collection of powers, not one string.")
    power_set = frozenset(powers)
    if not power_set:
        raise InvalidRepresentation("Give at least one power.")
    bad = invalid_powers(power_set)
    if bad:
        raise InvalidRepresentation(f"These are not valid powers: {', '.join(bad)}.")
    return power_set


def check_actor(actor: object, what: str = "actor") -> None:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > MAX_ACTOR:
        raise InvalidRepresentation(f"The {what} must be named, in at most {MAX_ACTOR} characters.")


def check_reason(reason: object) -> None:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidRepresentation(f"Give the reason, in at most {MAX_REASON} characters.")


def check_min_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or level not in MIN_LEVELS:
        raise ValueError(f"The minimum level must be 1, 2 or 3, not {level!r}.")
    return level


def utc(moment: datetime, what: str) -> datetime:
    """`moment` in UTC, as every time is stored; raise `InvalidRepresentation` for a naive one."""
    if moment.tzinfo is None:
        raise InvalidRepresentation(f"{what} must be time-zone aware")
    return moment.astimezone(UTC)


def checked_records(records: Sequence[RegistryEntity]) -> Sequence[RegistryEntity]:
    """`records`; raise `InvalidRegistryRecord` for the first one that cannot be stored as it is."""
    seen: dict[str, int] = {}
    for record in records:
        line, nid = record.line, record.national_id
        if not isinstance(nid, str) or not is_valid_national_id(nid):
            raise InvalidRegistryRecord(line, f"{nid!r} is not a valid national ID of a legal entity")
        if nid in seen:
            raise InvalidRegistryRecord(line, f"national ID {nid} is listed twice (first on line {seen[nid]})")
        seen[nid] = line
        if not isinstance(record.name, str) or not record.name.strip() or len(record.name) > MAX_NAME:
            raise InvalidRegistryRecord(line, f"the name must be given, in at most {MAX_NAME} characters")
        if not isinstance(record.type, str) or not record.type.strip() or len(record.type) > MAX_TYPE:
            raise InvalidRegistryRecord(line, f"the type must be given, in at most {MAX_TYPE} characters")
        if not isinstance(record.status, EntityStatus):
            raise InvalidRegistryRecord(line, f"{record.status!r} is not a status of an entity")
        level = record.min_level
        if level is not None and (isinstance(level, bool) or not isinstance(level, int) or level not in MIN_LEVELS):
            raise InvalidRegistryRecord(line, f"the minimum level must be 1, 2 or 3, not {level!r}")
        officers: set[tuple[str, str]] = set()
        for officer in record.officers:
            who = f"officer {officer.national_code!r} ({officer.role!r})"
            if not isinstance(officer.national_code, str) or not is_valid_national_code(officer.national_code):
                raise InvalidRegistryRecord(line, f"{who}: not a valid national code")
            try:
                check_role(officer.role)
                check_powers(officer.powers)
            except InvalidRepresentation as exc:
                raise InvalidRegistryRecord(line, f"{who}: {exc}") from None
            if (officer.national_code, officer.role) in officers:
                raise InvalidRegistryRecord(line, f"{who} is listed twice")
            officers.add((officer.national_code, officer.role))
            for moment in (officer.valid_from, officer.valid_until):
                if moment is not None and moment.tzinfo is None:
                    raise InvalidRegistryRecord(line, f"{who}: times must be time-zone aware")
            start, end = officer.valid_from, officer.valid_until
            if start is not None and end is not None and end <= start:
                raise InvalidRegistryRecord(line, f"{who}: the mandate ends before it starts")
    return records
