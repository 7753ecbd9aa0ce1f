"""Sample registry data shared by the tests of the registry readers."""

from __future__ import annotations

import pytest

from legal_entities.registry_file import CSV_COLUMNS, RegistryFileError, parse_registry
from levels.iranian_input import make_national_code, make_national_id

ACME = make_national_id("1038028479")
BETA = make_national_id("1010000123")
CEO = make_national_code("001234567")
CLERK = make_national_code("123456789")
HEADER = ",".join(CSV_COLUMNS)
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def errors_of(text: str, fmt: str) -> list[tuple[int, str]]:
    with pytest.raises(RegistryFileError) as caught:
        parse_registry(text, fmt)
    return caught.value.errors


def has(errors: list[tuple[int, str]], line: int, fragment: str) -> bool:
    return any(n == line and fragment in message for n, message in errors)


def entity(**fields: object) -> dict[str, object]:
    return {
        "national_id": ACME,
        "name": "Acme",
        "type": "private_joint_stock",
        "status": "active",
        "officers": [{"national_code": CEO, "role": "ceo"}],
        **fields,
    }
