"""Counter offices and their operators: who may record an in-person verification (proofing tier P3)
for whom, and how many actions an operator may take in a day.

An office has a short code (e.g. "THR-012"), a Persian and an English name, a province and an active
flag; an operator is a person (by id) at one office. Every action an operator takes at the console
is stored (`OfficeStore.record`), which gives both the operator's own history and the durable count
behind the daily limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from levels.clock import Clock, utcnow
from levels.errors import LevelsError

Audit = Callable[[str, Mapping[str, object]], None]

# Offices count their day on Tehran's clock, as people at the counter do.
OFFICE_DAY_ZONE = ZoneInfo("Asia/Tehran")
CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{1,31}")
MAX_NAME = 200
# Iran's 31 provinces: an office's province is one of these (English name as stored, Persian shown).
PROVINCES = {
    "Alborz": "البرز", "Ardabil": "اردبیل", "Bushehr": "بوشهر", "Chaharmahal and Bakhtiari": "چهارمحال و بختیاری",
    "East Azerbaijan": "آذربایجان شرقی", "Fars": "فارس", "Gilan": "گیلان", "Golestan": "گلستان",
    "Hamadan": "همدان", "Hormozgan": "هرمزگان", "Ilam": "ایلام", "Isfahan": "اصفهان", "Kerman": "کرمان",
    "Kermanshah": "کرمانشاه", "Khuzestan": "خوزستان", "Kohgiluyeh and Boyer-Ahmad": "کهگیلویه و بویراحمد",
    "Kurdistan": "کردستان", "Lorestan": "لرستان", "Markazi": "مرکزی", "Mazandaran": "مازندران",
    "North Khorasan": "خراسان شمالی", "Qazvin": "قزوین", "Qom": "قم", "Razavi Khorasan": "خراسان رضوی",
    "Semnan": "سمنان", "Sistan and Baluchestan": "سیستان و بلوچستان", "South Khorasan": "خراسان جنوبی",
    "Tehran": "تهران", "West Azerbaijan": "آذربایجان غربی", "Yazd": "یزد", "Zanjan": "زنجان",
}


class OfficeError(LevelsError):
    """Base of the errors about offices and operators."""


class InvalidOffice(OfficeError, ValueError):
    """An office code, name or province that cannot be stored."""


class OfficeExists(OfficeError, ValueError):
    """An office with this code is already registered."""


class UnknownOffice(OfficeError, LookupError):
    """No office is registered under this code."""


class OperatorExists(OfficeError, ValueError):
    """This person is already an operator (at this or another office)."""


class UnknownOperator(OfficeError, LookupError):
    """This person is not an operator."""


class DailyLimitReached(OfficeError):
    """The operator has taken as many actions today as one operator may."""


@dataclass(frozen=True, slots=True)
class Office:
    code: str
    name_fa: str
    name_en: str
    province: str
    active: bool

    def name(self, locale: str) -> str:
        return self.name_fa if locale == "fa" else self.name_en


@dataclass(frozen=True, slots=True)
class Operator:
    person_id: str
    office_code: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class OfficeAction:
    at: datetime
    office_code: str
    operator_id: str
    action: str  # "lookup", "verified", "registered"
    person_id: str | None


class OfficeStore(Protocol):
    """Durable offices, operators and operator actions (`levels.offices_sql.SqlOfficeStore`)."""

    def add(self, office: Office) -> None:
        """Store a new office; raise `OfficeExists` if its code is taken."""
        ...

    def get(self, code: str) -> Office | None: ...

    def all(self) -> list[Office]:
        """Every office, by province then code."""
        ...

    def set_active(self, code: str, active: bool) -> None:
        """Raise `UnknownOffice` if there is no such office."""
        ...

    def add_operator(self, operator: Operator) -> None:
        """Raise `OperatorExists` if the person is an operator already, `UnknownOffice` if the office is gone."""
        ...

    def operator(self, person_id: str) -> Operator | None: ...

    def operators(self, office_code: str | None = None) -> list[Operator]: ...

    def remove_operator(self, person_id: str) -> bool:
        """Return False if the person was no operator."""
        ...

    def record(self, action: OfficeAction, *, limit: int, day_start: datetime) -> None:
        """Store `action` unless the operator already has `limit` actions since `day_start`
        (then raise `DailyLimitReached`); the count and the insert are one transaction."""
        ...

    def actions(self, operator_id: str, limit: int = 50) -> list[OfficeAction]:
        """The operator's actions, newest first."""
        ...


def office_day_start(moment: datetime) -> datetime:
    """The start of the office day (Tehran midnight) that `moment` falls in."""
    local = moment.astimezone(OFFICE_DAY_ZONE)
    return datetime.combine(local.date(), time(0), OFFICE_DAY_ZONE)


def _text(value: str, what: str, longest: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > longest:
        raise InvalidOffice(f"the {what} must be 1 to {longest} characters")
    return cleaned


def parse_province(text: str) -> str:
    """One of `PROVINCES`, by its English or Persian name (case and spacing forgiven)."""
    wanted = " ".join(text.split()).casefold()
    for english, persian in PROVINCES.items():
        if wanted in (english.casefold(), persian):
            return english
    raise InvalidOffice("the province must be one of Iran's provinces, e.g. Tehran or Isfahan")


def province_name(province: str, locale: str) -> str:
    return PROVINCES.get(province, province) if locale == "fa" else province


def parse_office_code(text: str) -> str:
    """An office code: 2–32 capital letters, digits and dashes (lower case is raised)."""
    code = text.strip().upper()
    if not CODE_PATTERN.fullmatch(code):
        raise InvalidOffice("an office code is 2 to 32 letters, digits and dashes, starting with a letter or digit")
    return code


class Offices:
    def __init__(self, store: OfficeStore, audit: Audit, *, daily_limit: int = 200, clock: Clock = utcnow) -> None:
        self._store = store
        self._audit = audit
        self._daily_limit = daily_limit
        self._clock = clock

    @property
    def daily_limit(self) -> int:
        return self._daily_limit

    def add(self, code: str, *, name_fa: str, name_en: str, province: str) -> Office:
        office = Office(parse_office_code(code), _text(name_fa, "Persian name", MAX_NAME),
                        _text(name_en, "English name", MAX_NAME), parse_province(province), True)
        self._store.add(office)
        self._audit("office.added", {"office": office.code, "province": office.province})
        return office

    def get(self, code: str) -> Office | None:
        try:
            return self._store.get(parse_office_code(code))
        except InvalidOffice:
            return None

    def all(self, *, active_only: bool = False) -> list[Office]:
        return [o for o in self._store.all() if o.active or not active_only]

    def set_active(self, code: str, active: bool) -> None:
        code = parse_office_code(code)
        self._store.set_active(code, active)
        self._audit("office.enabled" if active else "office.disabled", {"office": code})

    def add_operator(self, office_code: str, person_id: str) -> Operator:
        office = self._store.get(parse_office_code(office_code))
        if office is None:
            raise UnknownOffice(office_code)
        operator = Operator(person_id, office.code, self._clock())
        self._store.add_operator(operator)
        self._audit("office.operator_added", {"office": office.code, "operator": person_id})
        return operator

    def remove_operator(self, person_id: str) -> None:
        operator = self._store.operator(person_id)
        if operator is None or not self._store.remove_operator(person_id):
            raise UnknownOperator(person_id)
        self._audit("office.operator_removed", {"office": operator.office_code, "operator": person_id})

    def operators(self, office_code: str | None = None) -> list[Operator]:
        return self._store.operators(parse_office_code(office_code) if office_code else None)

    def desk(self, person_id: str) -> tuple[Operator, Office] | None:
        """The operator and their office, if the person is an operator of an active office."""
        operator = self._store.operator(person_id)
        office = self._store.get(operator.office_code) if operator is not None else None
        if operator is None or office is None or not office.active:
            return None
        return operator, office

    def operator_of(self, person_id: str) -> Operator | None:
        """The person's operator record, active office or not."""
        return self._store.operator(person_id)

    def check_allowance(self, operator: Operator) -> None:
        """Raise `DailyLimitReached` if the operator has no action left today (before doing the work)."""
        now = self._clock()
        done = [a for a in self._store.actions(operator.person_id, self._daily_limit)
                if a.at >= office_day_start(now)]
        if len(done) >= self._daily_limit:
            raise DailyLimitReached(operator.person_id)

    def record(self, operator: Operator, action: str, person_id: str | None) -> OfficeAction:
        """Count and store one action of `operator` (raising `DailyLimitReached` at the limit)."""
        now = self._clock()
        entry = OfficeAction(now, operator.office_code, operator.person_id, action, person_id)
        self._store.record(entry, limit=self._daily_limit, day_start=office_day_start(now))
        return entry

    def history(self, operator_id: str, limit: int = 50) -> list[OfficeAction]:
        return self._store.actions(operator_id, limit)

    def today(self, operator_id: str) -> int:
        start = office_day_start(self._clock())
        return sum(1 for a in self._store.actions(operator_id, self._daily_limit) if a.at >= start)

