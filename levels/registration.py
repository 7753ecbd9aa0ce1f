"""What people type when they register, or what a legacy system exports: birth dates, mobile numbers,
new passwords and whole import rows, each checked and put in one canonical form.

Messages of the exceptions can be shown to the person (or the operator) as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

import jdatetime

from levels.errors import LevelsError
from levels.national_code import InvalidNationalCode, normalize_digits, parse_national_code

MAX_AGE_YEARS = 130
MIN_PASSWORD_LENGTH = 8
# Long enough for any passphrase; short enough that hashing it is never a denial of service.
MAX_PASSWORD_LENGTH = 1024
# Jalali years are around 1300-1500 for living people, Gregorian ones 1890 and later.
_JALALI_BEFORE = 1700
MAX_NAME_LENGTH = 100

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]")
_DASHES = re.compile("[\u2010-\u2015\u2212\u060d]")
_DATE = re.compile(r"([0-9]{4})\s*[/.\-]\s*([0-9]{1,2})\s*[/.\-]\s*([0-9]{1,2})")
_COMPACT_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_MOBILE = re.compile(r"(?:\+98|0098|98)0?(9[0-9]{9})|0?(9[0-9]{9})")


class InvalidDate(LevelsError, ValueError):
    """The text is not a day of the Persian or the Gregorian calendar."""


class MalformedDate(InvalidDate):
    """The text is not written year/month/day at all (rather than naming a day that does not exist)."""


class InvalidBirthdate(LevelsError, ValueError):
    """The text is not a plausible birth date."""


class InvalidMobile(LevelsError, ValueError):
    """The text is not an Iranian mobile number."""


class WeakPassword(LevelsError, ValueError):
    """The new password is too easy to guess (or too long to hash)."""


class InvalidImportRow(LevelsError, ValueError):
    """One row of an import file cannot be imported; the message says which field and why."""


def parse_calendar_date(text: str) -> date:
    """The Gregorian date written as `text`: year/month/day, Jalali when the year is below 1700.

    Accepts `/`, `-` or `.` between the parts, Persian or Arabic digits, invisible direction marks,
    or eight digits in a row. Raises `MalformedDate` for anything else and `InvalidDate` for a day
    its calendar does not have. Shared by birth dates and by the validity dates of mandates, so
    people and operators write dates the same way everywhere.
    """
    cleaned = _clean_date(text)
    if not cleaned:
        raise MalformedDate("Enter a date.")
    match = _DATE.fullmatch(cleaned) or _COMPACT_DATE.fullmatch(cleaned)
    if match is None:
        raise MalformedDate("Write the date as year/month/day, for example 1369/01/01 or 1990-03-21.")
    year, month, day = (int(part) for part in match.groups())
    if year < _JALALI_BEFORE:
        try:
            gregorian: date = jdatetime.date(year, month, day).togregorian()
        except ValueError:
            raise InvalidDate(f"There is no day {year}/{month:02}/{day:02} in the Persian calendar.") from None
        return gregorian
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidDate(f"There is no day {year}-{month:02}-{day:02} in the Gregorian calendar.") from None


def parse_birthdate(text: str, *, today: date | None = None) -> date:
    """The birth date written as `text`, read as `parse_calendar_date` does.

    Raises `InvalidBirthdate` for text that is not a date, dates that do not exist, lie after
    `today` (default: the system date) or more than 130 years before it.
    """
    # The messages below are translated for the registration pages, so they stay about birth dates.
    if not _clean_date(text):
        raise InvalidBirthdate("Enter your birth date.")
    try:
        born = parse_calendar_date(text)
    except MalformedDate:
        raise InvalidBirthdate("Write the birth date as year/month/day, for example 1369/01/01.") from None
    except InvalidDate as exc:
        raise InvalidBirthdate(str(exc)) from None
    today = today or date.today()
    if born > today:
        raise InvalidBirthdate("A birth date cannot be in the future.")
    if _years_between(born, today) > MAX_AGE_YEARS:
        raise InvalidBirthdate(f"A birth date more than {MAX_AGE_YEARS} years ago is not plausible.")
    return born


def _clean_date(text: str) -> str:
    return _DASHES.sub("-", _INVISIBLE.sub("", text.translate(_DIGITS))).strip()


def _years_between(earlier: date, later: date) -> int:
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


def normalize_mobile(text: str) -> str:
    """The Iranian mobile number written as `text`, in E.164 form (+989121234567).

    Accepts 09121234567, 9121234567, +989121234567, 00989121234567, 989121234567 and
    +98 (0)912..., with Persian digits, spaces, dashes or brackets. Landlines and foreign numbers
    raise `InvalidMobile`.
    """
    digits = normalize_digits(text).replace("(", "").replace(")", "")
    if not digits:
        raise InvalidMobile("Enter your mobile number.")
    match = _MOBILE.fullmatch(digits)
    if match is None:
        raise InvalidMobile("Enter an Iranian mobile number starting with 09, for example 09121234567.")
    return "+98" + (match.group(1) or match.group(2))


def check_new_password(password: str, *, national_code: str | None = None) -> None:
    """Raise `WeakPassword` unless `password` may be set as a new password.

    Only length, the person's own national code and a list of very common passwords are checked:
    composition rules (a digit, a capital...) make passwords harder to remember, not to guess.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if national_code and national_code in password.translate(_DIGITS):
        raise WeakPassword("Do not use your national code in your password.")
    if password.lower() in common_passwords():
        raise WeakPassword("This password is one of the most common ones. Choose another.")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of very common passwords, lowercase; read on first use."""
    text = resources.files("levels").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


# Import rows --------------------------------------------------------------------------------------

IMPORT_REQUIRED = ("national_code", "birth_date", "mobile", "proofing_tier")
IMPORT_OPTIONAL = ("given_name", "family_name")
_REQUIRED_SET = frozenset(IMPORT_REQUIRED)
_KNOWN_SET = frozenset(IMPORT_REQUIRED + IMPORT_OPTIONAL)
_SECRET_FIELD = re.compile("pass|pwd|hash|secret")


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One existing account to import. Empty optional fields are None: they never clear stored values."""

    national_code: str
    birthdate: date | None
    mobile: str | None
    proofing_tier: int
    given_name: str | None
    family_name: str | None


def is_secret_field(name: str) -> bool:
    """True for a column that looks like it holds a password or its hash: those are never imported."""
    return _SECRET_FIELD.search(name.lower()) is not None


def check_import_fields(names: list[str]) -> None:
    """Raise `InvalidImportRow` unless `names` are exactly the required import fields plus optional ones."""
    secret = [n for n in names if is_secret_field(n)]
    if secret:
        raise InvalidImportRow(
            f"column {secret[0]!r}: passwords are never imported. Remove the column; imported people"
            " set a password at their first sign-in with a one-time code sent to their mobile."
        )
    missing = [n for n in IMPORT_REQUIRED if n not in names]
    if missing:
        raise InvalidImportRow(f"missing column(s): {', '.join(missing)}")
    unknown = [n for n in names if n not in IMPORT_REQUIRED + IMPORT_OPTIONAL]
    if unknown:
        raise InvalidImportRow(
            f"unknown column(s): {', '.join(unknown)}; expected {', '.join(IMPORT_REQUIRED + IMPORT_OPTIONAL)}"
        )
    if len(set(names)) != len(names):
        raise InvalidImportRow("a column appears twice")


def parse_import_row(fields: Mapping[str, object], *, today: date) -> ImportRow:
    """The import row `fields` (strings from CSV, or JSON values), checked; raise `InvalidImportRow`."""
    if not _REQUIRED_SET <= fields.keys() <= _KNOWN_SET:
        check_import_fields(list(fields))
    try:
        code = parse_national_code(_text(fields, "national_code"))
    except InvalidNationalCode as exc:
        raise InvalidImportRow(f"national_code: {exc}") from None
    birth = _text(fields, "birth_date")
    try:
        birthdate = parse_birthdate(birth, today=today) if birth else None
    except InvalidBirthdate as exc:
        raise InvalidImportRow(f"birth_date: {exc}") from None
    mobile_text = _text(fields, "mobile")
    try:
        mobile = normalize_mobile(mobile_text) if mobile_text else None
    except InvalidMobile as exc:
        raise InvalidImportRow(f"mobile: {exc}") from None
    tier_text = normalize_digits(_text(fields, "proofing_tier")) or "1"
    if tier_text not in ("1", "2", "3"):
        raise InvalidImportRow("proofing_tier: must be 1, 2 or 3")
    names = [_text(fields, n) or None for n in IMPORT_OPTIONAL]
    if any(n is not None and len(n) > MAX_NAME_LENGTH for n in names):
        raise InvalidImportRow(f"names are at most {MAX_NAME_LENGTH} characters")
    return ImportRow(code, birthdate, mobile, int(tier_text), names[0], names[1])


def _text(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidImportRow(f"{name}: expected text, got {type(value).__name__}")
    return str(value).strip()
