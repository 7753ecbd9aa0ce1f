"""What people type when they register: birth dates, mobile numbers and new passwords, each checked
and put in one canonical form (digits, calendars and mobile numbers are read by `levels.iranian_input`).

Messages of the exceptions can be shown to the person as they are.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from importlib import resources

from levels.errors import LevelsError
from levels.iranian_input import (
    InvalidDate,
    MalformedDate,
    normalize_date_text,
    parse_calendar_date,
    to_ascii_digits,
)

MAX_AGE_YEARS = 130
MIN_PASSWORD_LENGTH = 8
# Long enough for any passphrase; short enough that hashing it is never a denial of service.
MAX_PASSWORD_LENGTH = 1024


class InvalidBirthdate(LevelsError, ValueError):
    """The text is not a plausible birth date."""


class WeakPassword(LevelsError, ValueError):
    """The new password is too easy to guess (or too long to hash)."""


def parse_birthdate(text: str, *, today: date | None = None) -> date:
    """The birth date written as `text`, read as `parse_calendar_date` does.

    Raises `InvalidBirthdate` for text that is not a date, dates that do not exist, lie after
    `today` (default: the system date) or more than 130 years before it.
    """
    # The messages below are translated for the registration pages, so they stay about birth dates.
    if not normalize_date_text(text):
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


def _years_between(earlier: date, later: date) -> int:
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


def check_new_password(password: str, *, national_code: str | None = None) -> None:
    """Raise `WeakPassword` unless `password` may be set as a new password.

    Only length, the person's own national code and a list of very common passwords are checked:
    composition rules (a digit, a capital...) make passwords harder to remember, not to guess.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if national_code and national_code in to_ascii_digits(password):
        raise WeakPassword("Do not use your national code in your password.")
    if password.lower() in common_passwords():
        raise WeakPassword("This password is one of the most common ones. Choose another.")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of very common passwords, lowercase; read on first use."""
    text = resources.files("levels").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))
