"""Admin CLI verbs for people: add, show, verify-in-person, and a bulk import of existing accounts.

`build_app` takes a context factory rather than a context, so `--help` and usage errors never open
the database; the `idp` CLI supplies the factory from its settings.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

import jdatetime
import typer
from sqlalchemy import Connection, Engine, RowMapping, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from idp.cli.output import EXIT_FAILED, EXIT_INVALID, database_error
from idp.cli.output import fail as _fail
from levels.clock import utcnow
from levels.national_code import InvalidNationalCode, parse_national_code
from levels.people import PersonExists, SqlPersonStore, UnknownPerson, new_person
from levels.proofing import InvalidDocument, ProofingRecordStore, ProofingService
from levels.registration import (
    ImportRow,
    InvalidBirthdate,
    InvalidImportRow,
    InvalidMobile,
    check_import_fields,
    is_secret_field,
    normalize_mobile,
    parse_birthdate,
    parse_import_row,
)
from levels.store_sql import PersonRow

# Exit codes: 1 for a failed operation (unknown or duplicate person, database, rows rejected by an
# import), 2 for invalid input.

# Rejected rows listed in `import --json` output; the rest are counted (and all go to stderr).
MAX_LISTED_ERRORS = 1000


@dataclass(frozen=True, slots=True)
class PeopleContext:
    people: SqlPersonStore
    proofing: ProofingService
    records: ProofingRecordStore
    # The import writes the people table in bulk, below the one-person-at-a-time store.
    engine: Engine
    audit: Callable[[str, Mapping[str, object]], None]
    clock: Callable[[], datetime] = utcnow


class ImportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CodeOpt = Annotated[str, typer.Option("--national-code", help="The person's national code.")]


def build_app(get_context: Callable[[], PeopleContext]) -> typer.Typer:
    """The `people` command group, operating on what `get_context()` returns."""
    app = typer.Typer(help="Manage people and their identity proofing.", no_args_is_help=True,
                      add_completion=False)

    @app.command()
    def add(
        national_code: CodeOpt,
        given_name: Annotated[str, typer.Option("--given-name")],
        family_name: Annotated[str, typer.Option("--family-name")],
        birthdate: Annotated[
            str | None, typer.Option("--birthdate", help="Jalali (1369/01/01) or Gregorian (1990-03-21).")
        ] = None,
        mobile: Annotated[str | None, typer.Option("--mobile", help="Not verified until an OTP proves it.")] = None,
        tier: Annotated[int, typer.Option("--tier", min=1, max=3, help="Identity proofing tier.")] = 1,
    ) -> None:
        """Add a person (without a password: they set one at first sign-in)."""
        with _errors():
            code = parse_national_code(national_code)
            born = parse_birthdate(birthdate) if birthdate else None
            line = normalize_mobile(mobile) if mobile else None
            ctx = get_context()
            person = new_person(code, given_name.strip(), family_name.strip(), birthdate=born, mobile=line,
                                proofing_tier=tier, now=ctx.clock())
            ctx.people.add(person)
            ctx.audit("person.created", {"person_id": person.id, "proofing_tier": tier})
        typer.echo(f"created person {person.id}")

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
            "birthdate_jalali": _jalali(person.birthdate) if person.birthdate else None,
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
        for key, value in view.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
            typer.echo(f"{key}: {'-' if value is None else value}")

    @app.command("verify-in-person")
    def verify_in_person(
        national_code: CodeOpt,
        operator: Annotated[str, typer.Option("--operator", help="The counter operator's id.")],
        document: Annotated[
            str, typer.Option("--document", help="Document checked, type:number (idcard, passport, birth_certificate).")
        ],
    ) -> None:
        """Record that an operator verified the person in person: proofing tier 3."""
        with _errors():
            ctx = get_context()
            person = ctx.proofing.verify_in_person(parse_national_code(national_code), operator, document)
        typer.echo(f"person {person.id} is now at proofing tier {person.proofing_tier}")

    @app.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                             help="CSV or JSON-lines file of existing accounts.")],
        fmt: Annotated[
            ImportFormat | None, typer.Option("--format", help="Default: jsonl for .jsonl/.ndjson, else csv.")
        ] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=10_000)] = 1000,
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
            records = _csv_records(text) if fmt is ImportFormat.csv else _jsonl_records(text)
            with _errors():
                first = next(records, None)
                ctx = get_context()
                importer = _Importer(ctx.engine, batch_size, ctx.clock())
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


# Reading import files ------------------------------------------------------------------------------

Record = tuple[int, Mapping[str, object] | InvalidImportRow]


def _csv_records(text: io.TextIOWrapper) -> Iterator[Record]:
    reader = csv.reader(text)
    header = [name.strip() for name in next(reader, [])]
    try:
        check_import_fields(header)
    except InvalidImportRow as exc:
        _fail(f"line 1: {exc}", EXIT_INVALID)
    for row in reader:
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            yield reader.line_num, InvalidImportRow(f"{len(row)} fields, the header has {len(header)}")
        else:
            yield reader.line_num, dict(zip(header, row, strict=True))


def _jsonl_records(text: io.TextIOWrapper) -> Iterator[Record]:
    first = True
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            yield number, InvalidImportRow("not valid JSON")
            continue
        if not isinstance(value, dict):
            yield number, InvalidImportRow("not a JSON object")
            continue
        # As for a CSV header: a file of accounts with passwords is refused before anything is written.
        if first and any(is_secret_field(key) for key in value):
            try:
                check_import_fields(list(value))
            except InvalidImportRow as exc:
                _fail(f"line {number}: {exc}", EXIT_INVALID)
        first = False
        yield number, value


# Writing batches -----------------------------------------------------------------------------------

_PEOPLE = cast(Table, PersonRow.__table__)
_EXISTING = select(
    _PEOPLE.c.id, _PEOPLE.c.national_code, _PEOPLE.c.given_name, _PEOPLE.c.family_name, _PEOPLE.c.birthdate,
    _PEOPLE.c.mobile, _PEOPLE.c.mobile_verified, _PEOPLE.c.proofing_tier,
).where(_PEOPLE.c.national_code.in_(bindparam("codes", expanding=True)))
_UPDATE = update(_PEOPLE).where(_PEOPLE.c.id == bindparam("b_id")).values(
    given_name=bindparam("b_given_name"), family_name=bindparam("b_family_name"),
    birthdate=bindparam("b_birthdate"), mobile=bindparam("b_mobile"),
    mobile_verified=bindparam("b_mobile_verified"), proofing_tier=bindparam("b_proofing_tier"),
)
_MERGED = ("given_name", "family_name", "birthdate", "mobile", "mobile_verified", "proofing_tier")


@dataclass(slots=True)
class _Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected}


class _Importer:
    """Collects valid rows into batches and writes each batch in one transaction."""

    def __init__(self, engine: Engine, batch_size: int, now: datetime) -> None:
        self._engine = engine
        self._batch_size = batch_size
        self._now = now
        self._today = now.date()
        self._pending: dict[str, tuple[int, ImportRow]] = {}
        self.counts = _Counts()
        self.flushed = False

    def feed(self, line: int, fields: Mapping[str, object] | InvalidImportRow) -> None:
        self.flushed = False
        try:
            if isinstance(fields, InvalidImportRow):
                raise fields
            row = parse_import_row(fields, today=self._today)
        except InvalidImportRow as exc:
            self._reject(line, str(exc))
            return
        # A national code seen again in this batch starts a new one, so later rows apply over
        # earlier ones exactly as they would across batches.
        if row.national_code in self._pending or len(self._pending) >= self._batch_size:
            self.flush()
        self._pending[row.national_code] = (line, row)

    def flush(self) -> None:
        if not self._pending:
            return
        # One retry: a person signing up between our select and insert makes the batch collide.
        for attempt in range(2):
            try:
                with self._engine.begin() as conn:
                    outcome = self._write(conn, self._pending)
                break
            except IntegrityError:
                if attempt:
                    raise
        created, updated, unchanged, rejected = outcome
        self.counts.created += created
        self.counts.updated += updated
        self.counts.unchanged += unchanged
        for line, message in rejected:
            self._reject(line, message)
        self._pending = {}
        self.flushed = True

    def _write(
        self, conn: Connection, pending: dict[str, tuple[int, ImportRow]]
    ) -> tuple[int, int, int, list[tuple[int, str]]]:
        existing = {r["national_code"]: r for r in conn.execute(_EXISTING, {"codes": list(pending)}).mappings()}
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        rejected: list[tuple[int, str]] = []
        unchanged = 0
        for code, (line, row) in pending.items():
            old = existing.get(code)
            if old is None:
                inserts.append(self._new(row))
                continue
            merged = _merge(old, row)
            if isinstance(merged, str):
                rejected.append((line, merged))
            elif merged is None:
                unchanged += 1
            else:
                updates.append({"b_id": old["id"], **{f"b_{k}": v for k, v in merged.items()}})
        if inserts:
            conn.execute(insert(_PEOPLE), inserts)
        if updates:
            conn.execute(_UPDATE, updates)
        return len(inserts), len(updates), unchanged, rejected

    def _new(self, row: ImportRow) -> dict[str, object]:
        person = new_person(row.national_code, row.given_name or "", row.family_name or "",
                            birthdate=row.birthdate, mobile=row.mobile, proofing_tier=row.proofing_tier,
                            now=self._now)
        return {
            "id": person.id, "national_code": person.national_code, "given_name": person.given_name,
            "family_name": person.family_name, "birthdate": person.birthdate, "mobile": person.mobile,
            "mobile_verified": False, "proofing_tier": person.proofing_tier, "status": person.status,
            "created_at": person.created_at.astimezone(UTC),
        }

    def _reject(self, line: int, message: str) -> None:
        self.counts.rejected += 1
        if len(self.counts.errors) < MAX_LISTED_ERRORS:
            self.counts.errors.append({"line": line, "error": message})
        typer.echo(f"line {line}: {message}", err=True)


def _merge(old: RowMapping, row: ImportRow) -> dict[str, object] | str | None:
    """The stored values after importing `row` over `old`: None if nothing changes, a message if the
    row conflicts. Empty fields keep stored values and the tier is never lowered; for people proven
    at P2 or above the birth date and names came from the registry or an operator, so they stay."""
    verified = old["proofing_tier"] >= 2
    if verified and row.birthdate and old["birthdate"] and row.birthdate != old["birthdate"]:
        return "birth_date differs from the identity-verified record; row not applied"
    mobile = row.mobile or old["mobile"]
    new = {
        "given_name": old["given_name"] if verified else row.given_name or old["given_name"],
        "family_name": old["family_name"] if verified else row.family_name or old["family_name"],
        "birthdate": row.birthdate or old["birthdate"],
        "mobile": mobile,
        # A different number has not been proven by a one-time code here.
        "mobile_verified": bool(old["mobile_verified"]) and mobile == old["mobile"],
        "proofing_tier": max(old["proofing_tier"], row.proofing_tier),
    }
    if all(new[k] == (bool(old[k]) if k == "mobile_verified" else old[k]) for k in _MERGED):
        return None
    return new


# Output and errors ---------------------------------------------------------------------------------


def _jalali(day: date) -> str:
    jalali: str = jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")
    return jalali


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

