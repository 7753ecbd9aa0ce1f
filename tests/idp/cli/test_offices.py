from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from idp.cli.offices import OfficesContext, build_app
from levels.iranian_input import make_national_code, to_persian_digits
from levels.offices import Offices
from levels.offices_sql import SqlOfficeStore
from levels.people import SqlPersonStore, new_person

CLERK = make_national_code("123456789")


@pytest.fixture
def app(sqlite_engine: Engine, record_audit: Callable[[str, Mapping[str, object]], None]) -> typer.Typer:
    people = SqlPersonStore(sqlite_engine)
    people.add(new_person(CLERK, "Sara", "Ahmadi", now=datetime.now(UTC)))
    return build_app(lambda: OfficesContext(Offices(SqlOfficeStore(sqlite_engine), record_audit), people))


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_an_office_is_added_listed_and_disabled(app, audit):
    added = run(app, "add", "thr-012", "--name-fa", "دفتر ۱۲", "--name-en", "Office 12", "--province", "Tehran")
    assert added.exit_code == 0, added.output
    listed = run(app, "list", "--json")
    assert json.loads(listed.stdout) == [{"code": "THR-012", "name_fa": "دفتر ۱۲", "name_en": "Office 12",
                                          "province": "Tehran", "active": True}]
    assert run(app, "disable", "THR-012").exit_code == 0
    assert "no" in run(app, "list").stdout.splitlines()[1].split()
    assert [k for k, _ in audit] == ["office.added", "office.disabled"]


def test_a_duplicate_office_fails_and_a_bad_code_is_invalid(app):
    run(app, "add", "THR-1", "--name-fa", "الف", "--name-en", "A", "--province", "Tehran")
    again = run(app, "add", "THR-1", "--name-fa", "الف", "--name-en", "A", "--province", "Tehran")
    assert again.exit_code == 1 and "already exists" in again.stderr
    bad = run(app, "add", "a b", "--name-fa", "الف", "--name-en", "A", "--province", "Tehran")
    assert bad.exit_code == 2 and "office code" in bad.stderr
    assert run(app, "disable", "NOPE").exit_code == 1


def test_operators_are_added_by_national_code_listed_and_removed(app, audit):
    run(app, "add", "THR-1", "--name-fa", "الف", "--name-en", "A", "--province", "Tehran")
    # Persian digits are accepted, as typed at a Persian keyboard.
    added = run(app, "operators", "add", "--office", "thr-1", "--national-code", to_persian_digits(CLERK))
    assert added.exit_code == 0, added.output
    listed = json.loads(run(app, "operators", "list", "--json").stdout)
    assert [(o["office"], o["national_code"]) for o in listed] == [("THR-1", CLERK)]
    assert run(app, "operators", "add", "--office", "THR-1", "--national-code", CLERK).exit_code == 1
    assert run(app, "operators", "remove", "--national-code", CLERK).exit_code == 0
    assert run(app, "operators", "list").stdout.strip() == "no operators"
    assert run(app, "operators", "remove", "--national-code", CLERK).exit_code == 1
    assert "office.operator_removed" in [k for k, _ in audit]


def test_operator_refusals(app):
    run(app, "add", "THR-1", "--name-fa", "الف", "--name-en", "A", "--province", "Tehran")
    assert run(app, "operators", "add", "--office", "THR-1", "--national-code", "12345").exit_code == 2
    unknown = run(app, "operators", "add", "--office", "THR-1", "--national-code", make_national_code("987654321"))
    assert unknown.exit_code == 1 and "no person" in unknown.stderr
    assert run(app, "operators", "add", "--office", "NOPE", "--national-code", CLERK).exit_code == 1
