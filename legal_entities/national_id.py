"""National IDs of legal entities (شناسه ملی), read by `levels.iranian_input` with the other Iranian
input (digits, national codes, dates); these names stay importable from here."""

from __future__ import annotations

from levels.iranian_input import InvalidNationalId, is_valid_national_id, make_national_id, parse_national_id

__all__ = ["InvalidNationalId", "is_valid_national_id", "make_national_id", "parse_national_id"]
