"""Admin CLI verbs for counter offices and their operators: add, list, disable/enable, remove an
office's operators, add and list operators.

`build_app` takes a context factory rather than a context, so `--help` and usage errors never open
the database; the `idp` CLI supplies the factory from its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import typer

from idp.cli.output import EXIT_FAILED, EXIT_INVALID, Errors, JsonFlag, command_group, print_list, utc_time
from idp.cli.output import fail as _fail
from levels.iranian_input import InvalidNationalCode, parse_national_code
from levels.offices import (
    InvalidOffice,
    OfficeExists,
    Offices,
    Operator,
    OperatorExists,
    UnknownOffice,
    UnknownOperator,
)
from levels.people import PersonStore

# Exit codes: 1 for a failed operation (unknown or duplicate office or operator, database), 2 for invalid input.
_errors = Errors(
    (InvalidOffice, str, EXIT_INVALID),
    (InvalidNationalCode, lambda _: "invalid national code", EXIT_INVALID),
    (OfficeExists, lambda exc: f"office {exc} already exists", EXIT_FAILED),
    (UnknownOffice, lambda exc: f"no office {exc}", EXIT_FAILED),
    (OperatorExists, lambda _: "this person is already an operator", EXIT_FAILED),
    (UnknownOperator, lambda _: "this person is not an operator", EXIT_FAILED),
)


@dataclass(frozen=True, slots=True)
class OfficesContext:
    offices: Offices
    people: PersonStore


CodeArg = Annotated[str, typer.Argument(metavar="CODE", help="The office code, e.g. THR-012.")]
NationalCodeOpt = Annotated[str, typer.Option("--national-code", metavar="TEXT", help="The operator's national code.")]


def build_app(get_context: Callable[[], OfficesContext]) -> typer.Typer:
    """The `offices` command group, operating on what `get_context()` returns."""
    app = command_group(help="Manage counter offices and their operators.")
    operators_app = command_group(help="The people who work the console at an office.")
    app.add_typer(operators_app, name="operators")

    @app.command()
    def add(
        code: CodeArg,
        name_fa: Annotated[str, typer.Option("--name-fa", metavar="TEXT", help="The office's name in Persian.")],
        name_en: Annotated[str, typer.Option("--name-en", metavar="TEXT", help="The office's name in English.")],
        province: Annotated[str, typer.Option("--province", metavar="TEXT", help="The province the office is in.")],
    ) -> None:
        """Register a counter office (active)."""
        with _errors():
            office = get_context().offices.add(code, name_fa=name_fa, name_en=name_en, province=province)
        typer.echo(f"added office {office.code}")

    @app.command("list")
    def list_(as_json: JsonFlag = False) -> None:
        """Every office, by province."""
        with _errors():
            offices = get_context().offices.all()
        print_list(offices, as_json=as_json, empty="no offices",
                   to_json=lambda o: {"code": o.code, "name_fa": o.name_fa, "name_en": o.name_en,
                                      "province": o.province, "active": o.active},
                   header=("CODE", "PROVINCE", "ACTIVE", "NAME"),
                   row=lambda o: (o.code, o.province, "yes" if o.active else "no", o.name_en))

    @app.command()
    def disable(code: CodeArg) -> None:
        """Stop an office: its operators can no longer use the console and it leaves the public list."""
        with _errors():
            get_context().offices.set_active(code, False)
        typer.echo(f"disabled office {code.upper()}")

    @app.command()
    def enable(code: CodeArg) -> None:
        """Open a disabled office again."""
        with _errors():
            get_context().offices.set_active(code, True)
        typer.echo(f"enabled office {code.upper()}")

    @operators_app.command("add")
    def add_operator(
        office: Annotated[str, typer.Option("--office", metavar="TEXT", help="The office code.")],
        national_code: NationalCodeOpt,
    ) -> None:
        """Make a person an operator at an office (one office per operator)."""
        with _errors():
            code = parse_national_code(national_code)
            ctx = get_context()
            person = ctx.people.get_by_national_code(code)
            if person is None:
                _fail("no person with this national code", EXIT_FAILED)
            ctx.offices.add_operator(office, person.id)
        typer.echo(f"added operator at {office.upper()}")

    @operators_app.command("list")
    def list_operators(
        office: Annotated[str | None, typer.Option("--office", metavar="TEXT",
                                                   help="Only this office's operators.")] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Operators with their national codes and offices."""
        with _errors():
            ctx = get_context()
            operators = ctx.offices.operators(office)
            codes = {op.person_id: _code_of(ctx.people, op) for op in operators}
        print_list(operators, as_json=as_json, empty="no operators",
                   to_json=lambda op: {"office": op.office_code, "national_code": codes[op.person_id],
                                       "added_at": op.added_at.isoformat()},
                   header=("OFFICE", "NATIONAL CODE", "ADDED"),
                   row=lambda op: (op.office_code, codes[op.person_id], utc_time(op.added_at)))

    @operators_app.command("remove")
    def remove_operator(national_code: NationalCodeOpt) -> None:
        """Take a person's operator role away (their history stays)."""
        with _errors():
            code = parse_national_code(national_code)
            ctx = get_context()
            person = ctx.people.get_by_national_code(code)
            if person is None:
                _fail("no person with this national code", EXIT_FAILED)
            ctx.offices.remove_operator(person.id)
        typer.echo("removed operator")

    return app


def _code_of(people: PersonStore, operator: Operator) -> str:
    person = people.get(operator.person_id)
    return person.national_code if person is not None else "-"
