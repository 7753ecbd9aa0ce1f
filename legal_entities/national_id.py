"""National IDs of legal entities (شناسه ملی): eleven digits, the last a mod-11 check digit over the first ten.

Operators and registry exports type them the way national codes are typed (Persian digits, dashes,
invisible direction marks), so input is normalized with the same rules before it is checked.
"""

from __future__ import annotations

import re

from legal_entities.errors import EntitiesError
from levels.national_code import normalize_digits

_ELEVEN_DIGITS = re.compile("[0-9]{11}")
_TEN_DIGITS = re.compile("[0-9]{10}")
_WEIGHTS = (29, 27, 23, 19, 17)


class InvalidNationalId(EntitiesError, ValueError):
    """The text is not a valid legal-entity national ID; the message can be shown to the person."""


def _check_digit(first10: str) -> int:
    # The tenth digit plus two is added to every digit before weighting: the registry's own rule.
    offset = int(first10[9]) + 2
    remainder = sum((offset + int(d)) * _WEIGHTS[i % 5] for i, d in enumerate(first10)) % 11
    return 0 if remainder == 10 else remainder


def _plausible(first10: str) -> bool:
    # Digits 4-9 are the entity's serial number, which is never zero: a placeholder like
    # 10300000000 would otherwise pass the check digit.
    return first10 != "0" * 10 and first10[3:9] != "000000"


def is_valid_national_id(text: str) -> bool:
    """True if `text` is exactly eleven ASCII digits with a nonzero serial and a correct check digit."""
    if not _ELEVEN_DIGITS.fullmatch(text) or not _plausible(text[:10]):
        return False
    return _check_digit(text[:10]) == int(text[10])


def parse_national_id(text: str) -> str:
    """The eleven-digit national ID typed as `text`; raise `InvalidNationalId` if it is not one."""
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
    if not _plausible(first10):
        raise InvalidNationalId("Digits 4 to 9 of a national ID (the serial number) cannot all be zero.")
    return first10 + str(_check_digit(first10))
