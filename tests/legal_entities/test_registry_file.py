from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from legal_entities.days import last_day, mandate_end, mandate_start
from legal_entities.models import ALL_POWERS, DELEGATE, EntityStatus, RegistryEntity
from legal_entities.national_id import make_national_id
from legal_entities.registry_file import (
    CSV_COLUMNS,
    MAX_ERRORS,
    REGISTRY_DEFAULT_POWERS,
    RegistryFileError,
    RegistryFormat,
    format_for,
    parse_registry,
    read_registry_file,
)
from levels.national_code import make_national_code

ACME = make_national_id("1038028479")
BETA = make_national_id("1010000123")
CEO = make_national_code("001234567")
CLERK = make_national_code("123456789")
HEADER = ",".join(CSV_COLUMNS)
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def csv_errors(text: str) -> list[tuple[int, str]]:
    with pytest.raises(RegistryFileError) as caught:
        parse_registry(text, "csv")
    return caught.value.errors


def json_errors(text: str, fmt: str = "json") -> list[tuple[int, str]]:
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


# CSV -----------------------------------------------------------------------------------------------


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


def test_errors_are_capped() -> None:
    rows = "".join(f"{ACME},Acme,t,active,,{CEO},bad-role,,,\n" for _ in range(MAX_ERRORS + 20))
    with pytest.raises(RegistryFileError) as caught:
        parse_registry(f"{HEADER}\n{rows}", "csv")
    assert len(caught.value.errors) == MAX_ERRORS and caught.value.truncated


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(b'[\n{"name": "\xff"}]')
    with pytest.raises(RegistryFileError) as caught:
        read_registry_file(path)
    assert caught.value.errors == [(2, "the file is not UTF-8 text")]


# JSON ----------------------------------------------------------------------------------------------


def test_json_array_with_officers(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(
        json.dumps(
            [
                entity(
                    min_level=2,
                    officers=[
                        {"national_code": CEO, "role": "ceo", "valid_from": "1403/01/01", "valid_until": "2026-03-20"},
                        {"national_code": CLERK, "role": "accountant", "powers": ["tax.file", "vat.read"]},
                        {"national_code": CLERK, "role": "customs_agent", "powers": "customs.declare; customs.pay"},
                    ],
                ),
                {"national_id": BETA, "name": "Beta", "type": "llc", "status": "dissolved", "officers": []},
            ],
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    acme, beta = read_registry_file(path)
    assert acme.min_level == 2 and acme.line == 2
    assert [(o.role, o.powers) for o in acme.officers] == [
        ("ceo", frozenset({"*", "delegate"})),
        ("accountant", frozenset({"tax.file", "vat.read"})),
        ("customs_agent", frozenset({"customs.declare", "customs.pay"})),
    ]
    assert acme.officers[0].valid_from == mandate_start(date(2024, 3, 20))
    assert acme.officers[0].valid_until == mandate_end(date(2026, 3, 20))
    assert (beta.status, beta.officers, beta.min_level) == (EntityStatus.DISSOLVED, (), None)
    assert beta.line > acme.line


def test_json_object_with_entities_and_persian_digits() -> None:
    text = json.dumps(
        {
            "exported_at": "1404/01/01",
            "entities": [
                entity(
                    national_id=ACME.translate(PERSIAN),
                    min_level="۲",
                    officers=[{"national_code": CEO.translate(PERSIAN), "role": "ceo", "valid_until": "۱۴۰۴/۱۲/۲۹"}],
                ),
            ],
        },
        ensure_ascii=False,
    )
    (acme,) = parse_registry(text, "json")
    assert (acme.national_id, acme.min_level, acme.officers[0].national_code) == (ACME, 2, CEO)
    assert last_day(acme.officers[0].valid_until) == date(2026, 3, 20)


def json_lines(*entities: object) -> str:
    """A pretty-printed JSON array with each entity's first line known: entity i starts on line 2 + 3*i."""
    return "[\n" + ",\n".join(json.dumps(e, indent=None) + "\n  \n" for e in entities) + "]\n"


def test_json_errors_report_the_line_where_the_entity_starts() -> None:
    text = json_lines(
        entity(),
        entity(national_id=BETA, status="gone", officers=[{"national_code": CEO, "role": "Boss"}]),
        entity(national_id=ACME),
        entity(
            national_id=BETA,
            name="Beta 2",
            officers=[
                {"national_code": CEO, "role": "ceo"},
                {"national_code": CEO, "role": "ceo", "powers": ["x"]},
                {"national_code": CLERK, "role": "clerk"},
            ],
        ),
    )
    errors = json_errors(text)
    assert errors == [
        (5, "status: 'gone' is not one of active, suspended, dissolved"),
        (
            5,
            "officers[0].role: 'Boss' is not a role: lowercase letters, digits and _, starting with a letter,"
            " at most 64 characters",
        ),
        (8, f"national_id {ACME} is also on line 2"),
        (11, f"officers[1]: officer {CEO} is listed as ceo twice"),
        (11, "officers[2]: powers required for role clerk"),
    ]


def test_a_duplicate_national_id_after_an_invalid_first_is_still_reported_once() -> None:
    errors = json_errors(json_lines(entity(national_id=BETA, name=""), entity(national_id=BETA)))
    assert errors == [(2, "name: required")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({**entity(), "officer": []}, "unknown key(s): officer"),
        ({k: v for k, v in entity().items() if k != "officers"}, "officers: required (an empty list"),
        (entity(officers={"national_code": CEO}), "officers: expected a list"),
        (entity(officers=["x"]), "officers[0]: expected an object"),
        (
            entity(officers=[{"national_code": CEO, "role": "ceo", "valid_till": "2026-01-01"}]),
            "officers[0]: unknown key(s): valid_till",
        ),
        (entity(officers=[{"national_code": CEO, "role": "ceo", "powers": [1]}]), "expected a list of strings"),
        (entity(officers=[{"national_code": True, "role": "ceo"}]), "national_code: expected text, got true/false"),
        (entity(name=["Acme"]), "name: expected text, got a list"),
        (entity(min_level=1.5), "min_level: expected 1, 2 or 3"),
        (entity(min_level=True), "min_level: expected 1, 2 or 3"),
        ("Acme", "expected an entity object, got text"),
        (None, "expected an entity object, got null"),
    ],
)
def test_json_shape_errors(value: object, message: str) -> None:
    errors = json_errors(json_lines(entity(national_id=BETA), value))
    assert has(errors, 5, message), errors


def test_json_unquoted_numbers_are_read_as_codes() -> None:
    (acme,) = parse_registry(
        json.dumps(
            [entity(national_id=int(ACME), min_level=3, officers=[{"national_code": int(CLERK), "role": "ceo"}])]
        ),
        "json",
    )
    assert (acme.national_id, acme.min_level, acme.officers[0].national_code) == (ACME, 3, CLERK)


def test_json_key_given_twice_is_an_error() -> None:
    text = (
        f'[\n{{"national_id": "{ACME}", "name": "A", "type": "t",\n "officers": [{{"national_code": "{CEO}", '
        '"role": "ceo"}], "officers": []}]'
    )
    assert json_errors(text) == [(2, "key 'officers' given twice")]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('[\n{"national_id": "1"},\n{"name" "x"}\n]', 3, "not valid JSON: Expecting ':' delimiter"),
        ('[\n{"national_id": "1"}\n{"name": "x"}\n]', 3, "not valid JSON: expected ',' or ']'"),
        ('{"entities": {}}', 1, '"entities" must be a list'),
        ('{"companies": []}', 1, 'expected a list of entities or an object with "entities"'),
        ("", 1, 'expected a list of entities or an object with "entities"'),
        ("[]\n[]", 2, "expected the end of the file"),
    ],
)
def test_json_syntax_errors_report_their_line(text: str, line: int, fragment: str) -> None:
    errors = json_errors(text)
    assert errors[-1][0] == line and fragment in errors[-1][1], errors


def test_an_empty_json_list_is_an_error() -> None:
    assert json_errors("[]") == [(1, "the file lists no entities")]


# JSON Lines ----------------------------------------------------------------------------------------


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "registry.jsonl"
    path.write_text(json.dumps(entity()) + "\n\n" + json.dumps(entity(national_id=BETA, officers=[])) + "\n")
    acme, beta = read_registry_file(path)
    assert (acme.line, beta.line) == (1, 3)
    assert isinstance(acme, RegistryEntity) and acme.officers[0].powers == frozenset({"*", "delegate"})


def test_json_lines_errors_by_line() -> None:
    text = "\n".join([json.dumps(entity()), "{not json", json.dumps(entity(type="")), json.dumps(entity())])
    assert json_errors(text, "jsonl") == [
        (2, "not valid JSON: Expecting property name enclosed in double quotes (column 2)"),
        (3, "type: required"),
        (4, f"national_id {ACME} is also on line 1"),
    ]


def test_format_follows_the_extension_unless_given(tmp_path: Path) -> None:
    assert [format_for(n) for n in ("a.csv", "a.JSON", "a.jsonl", "a.ndjson", "a.txt")] == [
        RegistryFormat.csv,
        RegistryFormat.json,
        RegistryFormat.jsonl,
        RegistryFormat.jsonl,
        RegistryFormat.csv,
    ]
    path = tmp_path / "export.txt"
    path.write_text(json.dumps([entity()]))
    (acme,) = read_registry_file(path, "json")
    assert acme.national_id == ACME
