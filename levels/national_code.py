"""Iranian national codes (کد ملی), read by `levels.iranian_input`; these names stay importable from here."""

from __future__ import annotations

from levels.iranian_input import (
    InvalidNationalCode,
    is_valid_national_code,
    make_national_code,
    normalize_digits,
    parse_national_code,
)

__all__ = [
    "InvalidNationalCode",
    "is_valid_national_code",
    "make_national_code",
    "normalize_digits",
    "parse_national_code",
]
