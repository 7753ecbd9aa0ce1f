"""The JSON and JSON Lines reader of registry exports (`legal_entities.registry_json`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from legal_entities.days import last_day, mandate_end, mandate_start
from legal_entities.models import EntityStatus, RegistryEntity
from legal_entities.registry_file import parse_registry, read_registry_file
from tests.legal_entities.registry_samples import ACME, BETA, CEO, CLERK, PERSIAN, entity, errors_of, has


def json_errors(text: str, fmt: str = "json") -> list[tuple[int, str]]:
    return errors_of(text, fmt)


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




def test_the_wrapping_object_may_hold_other_members_around_the_list() -> None:
    text = json.dumps({"exported_at": "1404/01/01", "entities": [entity()], "count": {"entities": 1}}, indent=1)
    (acme,) = parse_registry(text, "json")
    assert acme.national_id == ACME and acme.line == 4
    twice = json.dumps({"entities": [entity()]})[:-1] + ', "entities": []}'
    assert json_errors(twice)[-1][1].startswith('not valid JSON: "entities" must be a list given once')
