"""What people in Iran type, read once and the same way everywhere: digits, Jalali dates, national
codes of people, national IDs of legal entities, mobile numbers and names.

People type on Persian and Arabic keyboards, paste from documents full of invisible direction marks,
write dates in the Persian calendar and names with Arabic letters that look like the Persian ones.
Every page, CLI verb and import file reads such text through this module, so a value typed one way
on one page is never refused or stored differently on another. The exceptions' messages can be
shown to the person as they are (the web layer translates them).
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from operator import mul

import jdatetime

from levels.errors import LevelsError

PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
_TO_ASCII = str.maketrans(PERSIAN_DIGITS + ARABIC_INDIC_DIGITS, "0123456789" * 2)
_TO_PERSIAN = str.maketrans("0123456789", PERSIAN_DIGITS)

# Zero-width and bidi controls that Persian text editors insert around numbers (ZWSP, ZWNJ, ZWJ,
# LRM/RLM, embeddings and overrides, word joiner, isolates, ALM, BOM): a regex character class body.
_INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff"
_DASHES = "\u2010-\u2015\u2212"

# Separators people type or paste into numbers: spaces, dashes of every width, soft hyphens and the
# invisible marks above.
_IGNORED_IN_NUMBERS = re.compile(f"[\\s\\-{_DASHES}\u00ad{_INVISIBLE}]")


def to_ascii_digits(text: str) -> str:
    """`text` with Persian and Arabic-Indic digits replaced by ASCII ones; nothing else changes."""
    return text.translate(_TO_ASCII)


def to_persian_digits(text: str) -> str:
    """`text` with ASCII digits written as Persian ones, for numbers shown in Persian text."""
    return text.translate(_TO_PERSIAN)


def normalize_digits(text: str) -> str:
    """Persian and Arabic-Indic digits to ASCII, with spaces, dashes and invisible marks removed."""
    if text.isdigit() and text.isascii():
        return text  # the common case, and nothing to change (an import reads millions of these)
    return _IGNORED_IN_NUMBERS.sub("", to_ascii_digits(text))


# Names ---------------------------------------------------------------------------------------------

# Arabic keyboards (and many legacy systems) write yeh and kaf with the Arabic letters, which look
# alike but compare, sort and search differently: ي and ى become Persian ی, ك becomes Persian ک.
_PERSIAN_LETTERS = str.maketrans({"\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9"})
# ZWNJ (U+200C) is part of Persian spelling (علی‌اکبر) and stays; the other invisible marks do not.
_INVISIBLE_IN_NAMES = re.compile("[\u200b\u200d-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]")


# Names repeat (a few thousand given names cover a country): an import of millions meets each often.
@lru_cache(maxsize=16_384)
def normalize_name(text: str) -> str:
    """A person's name as stored: Persian ی and ک for their Arabic look-alikes, invisible direction
    marks removed (ZWNJ kept), runs of spaces made one and the ends trimmed."""
    return " ".join(_INVISIBLE_IN_NAMES.sub("", text.translate(_PERSIAN_LETTERS)).split())


# Dates ---------------------------------------------------------------------------------------------

# Jalali years are around 1300-1500 for living people, Gregorian ones 1890 and later.
_JALALI_BEFORE = 1700
_DATE_INVISIBLE = re.compile(f"[{_INVISIBLE}]")
_DATE_DASHES = re.compile(f"[{_DASHES}\u060d]")  # and the Arabic date separator
_DATE = re.compile(r"([0-9]{4})\s*[/.\-]\s*([0-9]{1,2})\s*[/.\-]\s*([0-9]{1,2})")
_COMPACT_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")


class InvalidDate(LevelsError, ValueError):
    """The text is not a day of the Persian or the Gregorian calendar."""


class MalformedDate(InvalidDate):
    """The text is not written year/month/day at all (rather than naming a day that does not exist)."""


def normalize_date_text(text: str) -> str:
    """`text` with ASCII digits, invisible marks removed, every dash written `-` and the ends trimmed:
    empty when nothing was typed."""
    if text.isascii():
        return text.strip()  # the digits, invisible marks and dashes changed below are all non-ASCII
    return _DATE_DASHES.sub("-", _DATE_INVISIBLE.sub("", to_ascii_digits(text))).strip()


# The same dates come again and again (birth dates in an import of millions, dates typed in forms);
# the text decides the result, so results are remembered (failures are not: they raise every time).
@lru_cache(maxsize=65_536)
def parse_calendar_date(text: str) -> date:
    """The Gregorian date written as `text`: year/month/day, Jalali when the year is below 1700.

    Accepts `/`, `-` or `.` between the parts, Persian or Arabic digits, invisible direction marks,
    or eight digits in a row. Raises `MalformedDate` for anything else and `InvalidDate` for a day
    its calendar does not have. Birth dates, the validity dates of mandates and registry files are
    all read here, so people and operators write dates the same way everywhere.
    """
    cleaned = normalize_date_text(text)
    if not cleaned:
        raise MalformedDate("Enter a date.")
    match = _DATE.fullmatch(cleaned) or _COMPACT_DATE.fullmatch(cleaned)
    if match is None:
        raise MalformedDate("Write the date as year/month/day, for example 1369/01/01 or 1990-03-21.")
    year, month, day = (int(part) for part in match.groups())
    if year < _JALALI_BEFORE:
        gregorian = _from_jalali(year, month, day)
        if gregorian is None:
            raise InvalidDate(f"There is no day {year}/{month:02}/{day:02} in the Persian calendar.")
        return gregorian
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidDate(f"There is no day {year}-{month:02}-{day:02} in the Gregorian calendar.") from None


def _from_jalali(year: int, month: int, day: int) -> date | None:
    """The Gregorian date of a Jalali one, or None if the Persian calendar has no such day."""
    try:
        gregorian: date = jdatetime.date(year, month, day).togregorian()
    except ValueError:
        return None
    return gregorian


def format_jalali(day: date) -> str:
    """`day` in the Persian calendar as year/month/day with ASCII digits, e.g. 1369/01/01."""
    text: str = jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")
    return text


# Mobile numbers ------------------------------------------------------------------------------------

_MOBILE = re.compile(r"(?:\+98|0098|98)0?(9[0-9]{9})|0?(9[0-9]{9})")


class InvalidMobile(LevelsError, ValueError):
    """The text is not an Iranian mobile number."""


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


# National codes of people (کد ملی): ten digits, the last a mod-11 check digit over the first nine --

_TEN_DIGITS = re.compile("[0-9]{10}")
_PADDABLE = re.compile("[0-9]{8,10}")


class InvalidNationalCode(LevelsError, ValueError):
    """The text is not a valid national code; the message can be shown to the person."""


_CODE_WEIGHTS = range(10, 1, -1)


# Each ASCII digit's byte is its value + 48, so the weighted sum of the bytes is 48 * sum(weights) too many.
_CODE_BYTES_EXCESS = 48 * sum(_CODE_WEIGHTS)


def _code_check_digit(prefix9: str) -> int:
    # Over the bytes rather than int() per digit: checked twice per row of a million-row import.
    remainder = (sum(map(mul, prefix9.encode(), _CODE_WEIGHTS)) - _CODE_BYTES_EXCESS) % 11
    return remainder if remainder < 2 else 11 - remainder


def is_valid_national_code(code: str) -> bool:
    """True if `code` is exactly ten ASCII digits, not all the same, with a correct check digit."""
    if not _TEN_DIGITS.fullmatch(code) or code.count(code[0]) == 10:
        return False
    return _code_check_digit(code[:9]) == int(code[9])


def parse_national_code(text: str) -> str:
    """The ten-digit national code typed as `text`; raise `InvalidNationalCode` if it is not one.

    Codes starting with zeros are often written without them (they were stored as numbers in many
    systems), so eight or nine digits are left-padded the way Iranian systems do.
    """
    digits = normalize_digits(text)
    if not digits:
        raise InvalidNationalCode("Enter your national code.")
    if not _PADDABLE.fullmatch(digits):
        raise InvalidNationalCode("A national code has 10 digits.")
    code = digits.zfill(10)
    if not is_valid_national_code(code):
        raise InvalidNationalCode("This is not a valid national code. Check the digits and try again.")
    return code


def make_national_code(prefix9: str) -> str:
    """`prefix9` followed by its check digit. Raises `InvalidNationalCode` if the result is never valid."""
    if not re.fullmatch("[0-9]{9}", prefix9):
        raise InvalidNationalCode("The prefix of a national code is 9 digits.")
    code = prefix9 + str(_code_check_digit(prefix9))
    if not is_valid_national_code(code):
        raise InvalidNationalCode("A national code cannot repeat one digit ten times.")
    return code


# National IDs of legal entities (شناسه ملی): eleven digits, the last a check digit over the first ten

_ELEVEN_DIGITS = re.compile("[0-9]{11}")
_ID_WEIGHTS = (29, 27, 23, 19, 17)


class InvalidNationalId(LevelsError, ValueError):
    """The text is not a valid legal-entity national ID; the message can be shown to the person."""


def _id_check_digit(first10: str) -> int:
    # The tenth digit plus two is added to every digit before weighting: the registry's own rule.
    offset = int(first10[9]) + 2
    remainder = sum((offset + int(d)) * _ID_WEIGHTS[i % 5] for i, d in enumerate(first10)) % 11
    return 0 if remainder == 10 else remainder


def _plausible_id(first10: str) -> bool:
    # Digits 4-9 are the entity's serial number, which is never zero: a placeholder like
    # 10300000000 would otherwise pass the check digit.
    return first10 != "0" * 10 and first10[3:9] != "000000"


def is_valid_national_id(text: str) -> bool:
    """True if `text` is exactly eleven ASCII digits with a nonzero serial and a correct check digit."""
    if not _ELEVEN_DIGITS.fullmatch(text) or not _plausible_id(text[:10]):
        return False
    return _id_check_digit(text[:10]) == int(text[10])


def parse_national_id(text: str) -> str:
    """The eleven-digit national ID typed as `text`; raise `InvalidNationalId` if it is not one.

    Typed the way national codes are (Persian digits, dashes, invisible marks), but never padded.
    """
    digits = normalize_digits(text)
    if not digits:
        raise InvalidNationalId("Enter the national ID of the legal entity.")
    if not _ELEVEN_DIGITS.fullmatch(digits):
        raise InvalidNationalId("A legal entity's national ID has 11 digits.")
    if not is_valid_national_id(digits):
        raise InvalidNationalId("This is not a valid national ID of a legal entity. Check the digits and try again.")
    return digits


def make_national_id(first10: str) -> str:
    """`first10` followed by its check digit, for tests and demonstration data.

    Raises `InvalidNationalId` if `first10` is not ten digits or the result could never be valid.
    """
    if not _TEN_DIGITS.fullmatch(first10):
        raise InvalidNationalId("The first part of a national ID is 10 digits.")
    if not _plausible_id(first10):
        raise InvalidNationalId("Digits 4 to 9 of a national ID (the serial number) cannot all be zero.")
    return first10 + str(_id_check_digit(first10))
