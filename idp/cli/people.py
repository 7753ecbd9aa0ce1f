"""Admin CLI verbs for people: add, show, verify-in-person, and a bulk import of existing accounts.

`build_app` takes a context factory rather than a context, so `--help` and usage errors never open
the database; the `idp` CLI supplies the factory from its settings.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from idp.cli.output import EXIT_FAILED, EXIT_INVALID, JsonFlag, command_group, database_error, print_fields, print_json
from idp.cli.output import fail as _fail
from levels.clock import utcnow
from levels.iranian_input import (
    InvalidMobile,
    InvalidNationalCode,
    format_jalali,
    normalize_mobile,
    parse_national_code,
)
from levels.people import PersonExists, SqlPersonStore, UnknownPerson, new_person
from levels.people_import import PeopleImporter, PeopleImportStore, csv_records, jsonl_records
from levels.proofing import InvalidDocument, ProofingRecordStore, ProofingService
from levels.registration import InvalidBirthdate, parse_birthdate

# Exit codes: 1 for a failed operation (unknown or duplicate person, database, rows rejected by an
# import), 2 for invalid input.


@dataclass(frozen=True, slots=True)
class PeopleContext:
    people: SqlPersonStore
    proofing: ProofingService
    records: ProofingRecordStore
    imports: PeopleImportStore
    audit: Callable[[str, Mapping[str, object]], None]
    clock: Callable[[], datetime] = utcnow


class ImportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


CodeOpt = Annotated[str, typer.Option("--national-code", metavar="TEXT", help="The person's national code.")]


def build_app(get_context: Callable[[], PeopleContext]) -> typer.Typer:
    """The `people` command group, operating on what `get_context()` returns."""
    app = command_group(help="Manage people and their identity proofing.")

    @app.command()
    def add(
        national_code: CodeOpt,
        given_name: Annotated[str, typer.Option("--given-name", metavar="TEXT")],
        family_name: Annotated[str, typer.Option("--family-name", metavar="TEXT")],
        birthdate: Annotated[
            str | None, typer.Option("--birthdate", metavar="TEXT",
                                     help="Jalali (1369/01/01) or Gregorian (1990-03-21).")
        ] = None,
        mobile: Annotated[str | None, typer.Option("--mobile", metavar="TEXT",
                                                   help="Not verified until an OTP proves it.")] = None,
        tier: Annotated[int, typer.Option("--tier", metavar="N", min=1, max=3, help="Identity proofing tier.")] = 1,
        as_json: JsonFlag = False,
    ) -> None:
        """Add a person (without a password: they set one at first sign-in)."""
        with _errors():
            code = parse_national_code(national_code)
            born = parse_birthdate(birthdate) if birthdate else None
            line = normalize_mobile(mobile) if mobile else None
            ctx = get_context()
            person = new_person(code, given_name, family_name, birthdate=born, mobile=line,
                                proofing_tier=tier, now=ctx.clock())
            ctx.people.add(person)
            ctx.audit("person.created", {"person_id": person.id, "proofing_tier": tier})
        if as_json:
            print_json({"id": person.id, "national_code": person.national_code, "proofing_tier": person.proofing_tier})
        else:
            typer.echo(f"created person {person.id}")
            # An operator-made person has no password: say how they get one.
            how = (f"idp people activate --national-code {code} texts them a code to choose one at /activate"
                   if line else "add a mobile number, or they visit a counter office, to send them an activation code")
            typer.echo(f"They have no password yet: {how}.")

    @app.command()
    def show(national_code: CodeOpt, as_json: JsonFlag = False) -> None:
        """Show a person, whether they have a password (never its hash) and their latest proofing."""
        with _errors():
            ctx = get_context()
            person = ctx.people.get_by_national_code(parse_national_code(national_code))
            if person is None:
                _fail("no person with this national code", EXIT_FAILED)
            record = ctx.records.latest(person.id)
            has_password = ctx.people.password_hash(person.id) is not None
        view: dict[str, object] = {
            "id": person.id,
            "national_code": person.national_code,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "birthdate": person.birthdate.isoformat() if person.birthdate else None,
            "birthdate_jalali": format_jalali(person.birthdate) if person.birthdate else None,
            "mobile": person.mobile,
            "mobile_verified": person.mobile_verified,
            "proofing_tier": person.proofing_tier,
            "status": person.status,
            "created_at": person.created_at.isoformat(),
            "has_password": has_password,
            "proofing": None if record is None else {
                "tier": record.tier,
                "method": record.method,
                "trust_framework": record.trust_framework,
                "verified_at": record.verified_at.isoformat(),
                "operator": record.operator,
            },
        }
        if as_json:
            typer.echo(json.dumps(view, indent=2, ensure_ascii=False))
            return
        print_fields(view)

    @app.command("verify-in-person")
    def verify_in_person(
        national_code: CodeOpt,
        operator: Annotated[str, typer.Option("--operator", metavar="TEXT", help="The counter operator's id.")],
        document: Annotated[
            str, typer.Option("--document", metavar="TEXT",
                              help="Document checked, type:number (idcard, passport, birth_certificate).")
        ],
        as_json: JsonFlag = False,
    ) -> None:
        """Record that an operator verified the person in person: proofing tier 3."""
        with _errors():
            ctx = get_context()
            person = ctx.proofing.verify_in_person(parse_national_code(national_code), operator, document)
        if as_json:
            print_json({"id": person.id, "proofing_tier": person.proofing_tier})
        else:
            typer.echo(f"person {person.id} is now at proofing tier {person.proofing_tier}")

    @app.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, metavar="FILE",
                                             help="CSV or JSON-lines file of existing accounts.")],
        fmt: Annotated[
            ImportFormat | None, typer.Option("--format", metavar="TEXT",
                                              help="Default: jsonl for .jsonl/.ndjson, else csv.")
        ] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", metavar="N", min=1, max=10_000)] = 1000,
        as_json: JsonFlag = False,
    ) -> None:
        """Import existing accounts; running it again only applies what changed.

        CSV header: national_code,birth_date,mobile,proofing_tier[,given_name,family_name]; JSON lines: same keys.

        Passwords are never imported: people set one at first sign-in with a code sent to their mobile.

        Bad rows are reported by line number and skipped; the exit code is then 1.
        """
        fmt = fmt or (ImportFormat.jsonl if file.suffix.lower() in (".jsonl", ".ndjson") else ImportFormat.csv)
        with file.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            records = csv_records(text) if fmt is ImportFormat.csv else jsonl_records(text)
            with _errors():
                # The header (or a first object with a password) is checked before the database is opened.
                first = next(records, None)
                ctx = get_context()
                importer = PeopleImporter(ctx.imports, batch_size=batch_size, now=ctx.clock(), on_reject=_rejected)
                size = file.stat().st_size
                with typer.progressbar(length=size, label="Importing", file=sys.stderr) as bar:
                    if first is not None:
                        importer.feed(*first)
                    for line, fields in records:
                        importer.feed(line, fields)
                        if importer.flushed:
                            bar.update(raw.tell() - bar.pos)
                    importer.flush()
                    bar.update(size - bar.pos)
                counts = importer.counts
                ctx.audit("people.imported", {"file": file.name, **counts.totals()})
        if as_json:
            typer.echo(json.dumps({**counts.totals(), "errors": counts.errors,
                                   "errors_truncated": counts.rejected > len(counts.errors)}, indent=2))
        else:
            typer.echo(", ".join(f"{k} {v}" for k, v in counts.totals().items()))
        if counts.rejected:
            raise typer.Exit(EXIT_FAILED)

    return app


# Output and errors ---------------------------------------------------------------------------------


def _rejected(line: int, message: str) -> None:
    typer.echo(f"line {line}: {message}", err=True)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn domain and database errors into one line on stderr and an exit code."""
    try:
        yield
    except (InvalidNationalCode, InvalidBirthdate, InvalidMobile, InvalidDocument) as exc:
        _fail(str(exc), EXIT_INVALID)
    except PersonExists:
        _fail("a person with this national code already exists", EXIT_FAILED)
    except UnknownPerson:
        _fail("no person with this national code", EXIT_FAILED)
    except ValueError as exc:
        _fail(str(exc), EXIT_INVALID)
    except SQLAlchemyError as exc:
        database_error(exc)

