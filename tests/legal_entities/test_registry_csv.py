"""The CSV reader of registry exports (`legal_entities.registry_csv`), through `parse_registry`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from legal_entities.days import last_day, mandate_start
from legal_entities.models import ALL_POWERS, DELEGATE, EntityStatus
from legal_entities.registry_file import REGISTRY_DEFAULT_POWERS, parse_registry, read_registry_file
from tests.legal_entities.registry_samples import ACME, BETA, CEO, CLERK, HEADER, PERSIAN, errors_of, has


def csv_errors(text: str) -> list[tuple[int, str]]:
    return errors_of(text, "csv")


def test_csv_one_row_per_officer_with_defaults_for_the_ceo() -> None:
    text = (
        f"{HEADER}\n"
        f"{ACME},Acme,private_joint_stock,active,2,{CEO},ceo,,2024-03-20,2026-03-20\n"
        f"{ACME},Acme,private_joint_stock,active,2,{CLERK},accountant,tax.file;customs.declare  vat.read,,\n"
        f"{BETA},Beta,llc,,,,,,,\n"
    )
    acme, beta = parse_registry(text, "csv")
    assert (acme.national_id, acme.name, acme.type, acme.status, acme.min_level, acme.line) == (
        ACME,
        "Acme",
        "private_joint_stock",
        EntityStatus.ACTIVE,
        2,
        2,
    )
    ceo, clerk = acme.officers
    assert (ceo.national_code, ceo.role, ceo.powers) == (CEO, "ceo", frozenset({ALL_POWERS, DELEGATE}))
    assert ceo.valid_from == datetime(2024, 3, 19, 20, 30, tzinfo=UTC)  # midnight in Tehran
    assert ceo.valid_until == datetime(2026, 3, 20, 20, 30, tzinfo=UTC)  # the end of the last day
    assert (clerk.role, clerk.powers) == ("accountant", frozenset({"tax.file", "customs.declare", "vat.read"}))
    assert clerk.valid_from is None and clerk.valid_until is None
    # An entity with no officers; empty status means active and empty min_level keeps the stored one.
    assert (beta.status, beta.min_level, beta.officers, beta.line) == (EntityStatus.ACTIVE, None, (), 4)


@pytest.mark.parametrize("role", sorted(REGISTRY_DEFAULT_POWERS))
def test_chief_roles_default_to_all_powers_and_delegation(role: str) -> None:
    (acme,) = parse_registry(f"{HEADER}\n{ACME},Acme,t,active,,{CEO},{role},,,\n", "csv")
    assert acme.officers[0].powers == frozenset({"*", "delegate"})


def test_explicit_powers_of_a_ceo_are_kept() -> None:
    (acme,) = parse_registry(f"{HEADER}\n{ACME},Acme,t,active,,{CEO},ceo,tax.file,,\n", "csv")
    assert acme.officers[0].powers == frozenset({"tax.file"})


def test_persian_digits_and_jalali_dates() -> None:
    row = f"{ACME.translate(PERSIAN)},شرکت آلفا,سهامی خاص,active,۳,{CEO.translate(PERSIAN)},ceo,,۱۴۰۳/۰۱/۰۱,1404/12/29"
    (acme,) = parse_registry(f"{HEADER}\n{row}\n", "csv")
    assert (acme.national_id, acme.name, acme.min_level) == (ACME, "شرکت آلفا", 3)
    officer = acme.officers[0]
    assert officer.national_code == CEO
    assert officer.valid_from == mandate_start(date(2024, 3, 20))  # 1403/01/01
    assert last_day(officer.valid_until) == date(2026, 3, 20)  # 1404/12/29, inclusive


def test_columns_in_any_order_and_optional_ones_left_out(tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    # A spreadsheet's byte-order mark, CRLF line ends and a quoted name with a comma.
    path.write_bytes(
        f'\ufeffrole,officer_national_code,type,name,national_id\r\nceo,{CEO},llc,"Acme, Ltd",{ACME}\r\n'.encode()
    )
    (acme,) = read_registry_file(path)
    assert (acme.name, acme.status, acme.officers[0].role) == ("Acme, Ltd", EntityStatus.ACTIVE, "ceo")


def test_a_quoted_newline_reports_the_line_where_the_row_starts() -> None:
    errors = csv_errors(f'{HEADER}\n{ACME},"Acme\nLtd",t,active,,{CEO},ceo,,,\n{ACME},Acme,t,bogus,,{CLERK},ceo,,,\n')
    assert has(errors, 4, "status: 'bogus'")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"10380284791,Acme,t,active,,{CEO},ceo,,,", "national_id: This is not a valid national ID"),
        (f"123,Acme,t,active,,{CEO},ceo,,,", "national_id: A legal entity's national ID has 11 digits"),
        (f",Acme,t,active,,{CEO},ceo,,,", "national_id: required"),
        (f"{ACME},,t,active,,{CEO},ceo,,,", "name: required"),
        (f"{ACME},{'x' * 301},t,active,,{CEO},ceo,,,", "name: at most 300 characters"),
        (f"{ACME},Acme,,active,,{CEO},ceo,,,", "type: required"),
        (f"{ACME},Acme,{'t' * 65},active,,{CEO},ceo,,,", "type: at most 64 characters"),
        (f"{ACME},Acme,t,closed,,{CEO},ceo,,,", "status: 'closed' is not one of active, suspended, dissolved"),
        (f"{ACME},Acme,t,active,4,{CEO},ceo,,,", "min_level: expected 1, 2 or 3"),
        (f"{ACME},Acme,t,active,,0012345678,ceo,,,", "officer_national_code: This is not a valid national code"),
        (f"{ACME},Acme,t,active,,,ceo,,,", "officer_national_code: required"),
        (f"{ACME},Acme,t,active,,{CEO},,tax.file,,", "role: required"),
        (f"{ACME},Acme,t,active,,{CEO},CEO,,,", "role: 'CEO' is not a role"),
        (f"{ACME},Acme,t,active,,{CEO},chief-executive,,,", "is not a role"),
        (f"{ACME},Acme,t,active,,{CEO},{'r' * 65},,,", "is not a role"),
        (f"{ACME},Acme,t,active,,{CEO},accountant,,,", "powers required for role accountant"),
        (f'{ACME},Acme,t,active,,{CEO},accountant,"tax.file ""x""",,', "powers: '\"x\"' is not a power"),
        (f"{ACME},Acme,t,active,,{CEO},accountant,{'p' * 129},,", "is not a power"),
        (f"{ACME},Acme,t,active,,{CEO},ceo,,1402/12/30,", "valid_from: There is no day 1402/12/30 in the Persian"),
        (f"{ACME},Acme,t,active,,{CEO},ceo,,,2025-02-29", "valid_until: There is no day 2025-02-29 in the Gregorian"),
        (f"{ACME},Acme,t,active,,{CEO},ceo,,,next year", "valid_until: Write the date as year/month/day"),
        (f"{ACME},Acme,t,active,,{CEO},ceo,,,9999-12-31", "valid_until: 9999-12-31 is not a plausible date"),
        (f"{ACME},Acme,t,active,,{CEO},ceo,,2025-06-01,2025-05-31", "valid_until (2025-05-31) is before valid_from"),
        (f"{ACME},Acme,t,active,,{CEO},ceo,,", "9 fields, the header has 10"),
    ],
)
def test_csv_row_errors_name_the_field_and_the_line(row: str, message: str) -> None:
    good = f"{BETA},Beta,llc,active,,{CLERK},ceo,,,"
    errors = csv_errors(f"{HEADER}\n{good}\n\n{row}\n")
    assert has(errors, 4, message), errors
    assert all(line == 4 for line, _ in errors)


def test_a_one_day_mandate_is_valid() -> None:
    (acme,) = parse_registry(f"{HEADER}\n{ACME},Acme,t,active,,{CEO},ceo,,2025-06-01,2025-06-01\n", "csv")
    officer = acme.officers[0]
    assert officer.valid_until is not None and officer.valid_from is not None
    assert (officer.valid_until - officer.valid_from).days == 1


def test_every_error_of_the_file_is_reported_not_only_the_first() -> None:
    errors = csv_errors(
        f"{HEADER}\n"
        f"{ACME},Acme,t,active,,{CEO},ceo,,,\n"
        f"{ACME},Acme Ltd,llc,active,,{CLERK},accountant,tax.file,,\n"  # entity columns disagree
        f"{ACME},Acme,t,active,,{CEO},ceo,tax.file,,\n"  # the same officer and role twice
        f"{BETA},,t,frozen,,{CEO},ceo,,,\n"  # two bad fields in one row
    )
    assert errors == [
        (3, f"name, type differ from line 2 for entity {ACME}"),
        (4, f"officer {CEO} is listed as ceo twice for entity {ACME} (also line 2)"),
        (5, "name: required"),
        (5, "status: 'frozen' is not one of active, suspended, dissolved"),
    ]


def test_the_same_person_may_hold_two_roles() -> None:
    (acme,) = parse_registry(
        f"{HEADER}\n{ACME},Acme,t,active,,{CEO},ceo,,,\n{ACME},Acme,t,active,,{CEO},chair,,,\n", "csv"
    )
    assert sorted(o.role for o in acme.officers) == ["ceo", "chair"]


def test_rows_with_and_without_officers_for_one_entity_conflict() -> None:
    errors = csv_errors(f"{HEADER}\n{ACME},Acme,t,active,,,,,,\n{ACME},Acme,t,active,,{CEO},ceo,,,\n")
    assert has(errors, 3, "was listed without officers on line 2")
    errors = csv_errors(f"{HEADER}\n{ACME},Acme,t,active,,{CEO},ceo,,,\n{ACME},Acme,t,active,,,,,,\n")
    assert has(errors, 3, "a row without an officer")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("national_id,name,type,status", "missing column(s): officer_national_code, role"),
        (HEADER + ",password", "unknown column(s): 'password'"),
        (HEADER + ",role", "column(s) given twice: role"),
    ],
)
def test_bad_headers_are_reported_on_line_1(header: str, message: str) -> None:
    errors = csv_errors(f"{header}\n{ACME},Acme,t,active\n")
    assert has(errors, 1, message)


@pytest.mark.parametrize("text", ["", f"{HEADER}\n", f"{HEADER}\n\n\n"])
def test_an_empty_file_is_an_error(text: str) -> None:
    assert csv_errors(text) == [(1, "the file lists no entities")]


