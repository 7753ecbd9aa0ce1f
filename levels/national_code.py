"""Iranian national codes (کد ملی): ten digits, the last a mod-11 check digit over the first nine.

People type them on Persian and Arabic keyboards, with separators and invisible direction marks
pasted from other documents, so input is normalized before it is checked.
"""

from __future__ import annotations

import re

from levels.errors import LevelsError

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")

# Separators people type or paste: dashes of every width, and the zero-width and bidi controls that
# Persian text editors insert around numbers (ZWNJ, LRM/RLM, ALM, embeddings, isolates, BOM).
_IGNORED = re.compile(
    "[\\s\\-\u2010-\u2015\u2212\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]"
)

_TEN_DIGITS = re.compile("[0-9]{10}")
_PADDABLE = re.compile("[0-9]{8,10}")


class InvalidNationalCode(LevelsError, ValueError):
    """The text is not a valid national code; the message can be shown to the person."""


def normalize_digits(text: str) -> str:
    """Persian and Arabic-Indic digits to ASCII, with spaces, dashes and invisible marks removed."""
    return _IGNORED.sub("", text.translate(_DIGITS))


def _check_digit(prefix9: str) -> int:
    remainder = sum(int(d) * w for d, w in zip(prefix9, range(10, 1, -1), strict=True)) % 11
    return remainder if remainder < 2 else 11 - remainder


def is_valid_national_code(code: str) -> bool:
    """True if `code` is exactly ten ASCII digits, not all the same, with a correct check digit."""
    if not _TEN_DIGITS.fullmatch(code) or len(set(code)) == 1:
        return False
    return _check_digit(code[:9]) == int(code[9])


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
    code = prefix9 + str(_check_digit(prefix9))
    if not is_valid_national_code(code):
        raise InvalidNationalCode("A national code cannot repeat one digit ten times.")
    return code
