"""Admin CLI verbs for legal entities: import the companies registry, list, show, grant and revoke
mandates, set an entity's status or minimum level.

`build_app` takes a factory rather than a service, so `--help` and usage errors never open the
database; the `idp` CLI supplies the factory from its settings. Dates are shown and read as days on
Tehran's clock, the way the registry and the people at the counter write them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from idp.cli.output import EXIT_FAILED, EXIT_INVALID, JsonFlag, command_group, database_error, print_fields
from idp.cli.output import fail as _fail
from idp.cli.output import print_json as _print_json
from idp.cli.output import print_table as _print_table
from legal_entities.days import TEHRAN, first_day, last_day, mandate_end, mandate_start
from legal_entities.errors import InvalidRegistryRecord, UnknownEntity, UnknownRepresentation
from legal_entities.models import Entity, EntityStatus, ImportReport, Representation
from legal_entities.registry_file import (
    InvalidField,
    RegistryFileError,
    RegistryFormat,
    parse_day,
    parse_powers,
    parse_role,
    read_registry_file,
)
from legal_entities.rules import DelegationRefused
from legal_entities.service import LegalEntities
from levels.iranian_input import (
    InvalidDate,
    InvalidNationalCode,
    InvalidNationalId,
    parse_national_code,
    parse_national_id,
)

# Exit codes: 1 for a failed operation (unknown entity or representation, refused delegation, a file
# with errors, database), 2 for invalid input.

CLI_ACTOR = "cli"

NationalIdArg = Annotated[str, typer.Argument(metavar="NATIONAL_ID", help="The entity's 11-digit national ID.")]
OperatorOpt = Annotated[
    str | None, typer.Option("--operator", metavar="TEXT",
                             help="Who makes the change, for the audit log (default: cli).")
]
DATE_HELP = "Jalali (1404/01/01) or Gregorian (2025-03-21), a day in Tehran."


def build_app(get_entities: Callable[[], LegalEntities]) -> typer.Typer:
    """The `entities` command group, operating on the service `get_entities()` returns."""
    app = command_group(help="Manage legal entities and the mandates of the people who act for them.")

    @app.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, metavar="FILE",
                                             help="The companies registry's export.")],
        fmt: Annotated[
            RegistryFormat | None,
            typer.Option("--format", metavar="TEXT",
                         help="Default: json for .json, jsonl for .jsonl/.ndjson, else csv."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Import a companies-registry export: all of it, or nothing if any row is wrong.

        Each listed entity gets exactly the registry officers the file lists: officers no longer
        listed lose their registry mandates (and what they delegated). Entities not in the file are
        left as they are. Running the same file again changes nothing.

        CSV header: national_id,name,type,status,min_level,officer_national_code,role,powers,valid_from,valid_until
        (one row per officer). JSON: a list of entities (or {"entities": [...]}), each with its
        "officers"; JSON lines: one entity per line.
        """
        try:
            records = read_registry_file(file, fmt)
        except RegistryFileError as exc:
            count = f"more than {len(exc.errors)}" if exc.truncated else str(len(exc.errors))
            _fail(f"{count} problem(s) in {file.name}; nothing was imported", EXIT_FAILED,
                  problems=[{"line": line, "message": message} for line, message in exc.errors])
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}", EXIT_FAILED)
        with _errors():
            try:
                report = get_entities().import_registry(records, actor=CLI_ACTOR)
            except InvalidRegistryRecord as exc:
                # The service's own checks, after the file's: reported the same way, as a bad file.
                _fail(f"{file.name} cannot be imported; nothing was imported", EXIT_FAILED,
                      problems=[{"line": exc.line, "message": exc.reason}])
        if as_json:
            _print_json(report_dict(report))
            return
        typer.echo(
            f"Entities: {report.entities_created} created, {report.entities_updated} updated,"
            f" {report.entities_unchanged} unchanged."
        )
        typer.echo(
            f"Representations: {report.representations_added} added, {report.representations_ended} ended,"
            f" {report.representations_unchanged} unchanged."
        )
        for change in report.changes or ():
            typer.echo(f"  {change}")
        for line in report.skipped or ():
            typer.echo(f"  {line}")

    @app.command("list")
    def list_(
        status: Annotated[EntityStatus | None, typer.Option("--status", metavar="TEXT",
                                                            help="Only entities with this status.")] = None,
        limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, max=10_000)] = 100,
        offset: Annotated[int, typer.Option("--offset", metavar="N", min=0)] = 0,
        as_json: JsonFlag = False,
    ) -> None:
        """List entities, by name."""
        with _errors():
            entities = get_entities().entities(status=status, limit=limit, offset=offset)
        if as_json:
            _print_json([entity_dict(e) for e in entities])
            return
        if not entities:
            typer.echo("No entities.")
            return
        rows = [(e.national_id, e.name, e.type, e.status.value, str(e.min_level)) for e in entities]
        _print_table(("NATIONAL_ID", "NAME", "TYPE", "STATUS", "MIN_LEVEL"), rows)
        if len(entities) == limit:
            typer.echo(f"(first {limit} from {offset}; use --offset {offset + limit} for more)")

    @app.command()
    def show(
        national_id: NationalIdArg,
        all_: Annotated[bool, typer.Option("--all", help="Include ended and revoked representations.")] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Show an entity and the representations of the people who act for it."""
        with _errors():
            service = get_entities()
            entity = _entity(service, parse_national_id(national_id))
            representations = service.representations(entity.id, include_ended=all_)
        if as_json:
            _print_json({"entity": entity_dict(entity),
                         "representations": [representation_dict(r) for r in representations]})
            return
        print_fields(entity_dict(entity))
        typer.echo("")
        if not representations:
            typer.echo("No representations." if all_ else "No representations in force (--all shows ended ones).")
            return
        rows = [
            (r.id, r.national_code, r.role, " ".join(sorted(r.powers)), first_day(r.valid_from).isoformat(),
             last_day(r.valid_until).isoformat() if r.valid_until else "-", r.source.value, r.granted_by or "-",
             _day_of(r.revoked_at) if r.revoked_at else "-")
            for r in representations
        ]
        _print_table(("ID", "NATIONAL_CODE", "ROLE", "POWERS", "FROM", "UNTIL", "SOURCE", "GRANTED_BY", "REVOKED"),
                     rows)

    @app.command()
    def grant(
        national_id: NationalIdArg,
        national_code: Annotated[str, typer.Option("--national-code", metavar="TEXT",
                                                   help="The representative's national code.")],
        role: Annotated[str, typer.Option("--role", metavar="TEXT", help="e.g. signatory, accountant, employee.")],
        powers: Annotated[
            str, typer.Option("--powers", metavar="TEXT",
                              help='Services, separated by spaces or ";": "tax.file customs.declare".')
        ],
        from_: Annotated[str | None, typer.Option("--from", metavar="TEXT",
                                                  help=f"First day. {DATE_HELP} Default: now.")] = None,
        until: Annotated[
            str | None, typer.Option("--until", metavar="TEXT",
                                     help=f"Last day, included. {DATE_HELP} Default: until revoked.")
        ] = None,
        operator: Annotated[
            str | None, typer.Option("--operator", metavar="TEXT",
                                     help="Grant as this operator, on documents shown at a counter.")
        ] = None,
        by: Annotated[
            str | None,
            typer.Option("--by", metavar="TEXT",
                         help="Delegate on behalf of this representative (national code); their rules apply."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Grant a mandate: by an operator (--operator), or as a delegation by a representative (--by)."""
        if (operator is None) == (by is None):
            _fail("give exactly one of --operator or --by", EXIT_INVALID)
        with _errors():
            entity_nid = parse_national_id(national_id)
            code = parse_national_code(national_code)
            checked_role = parse_role(role, "--role")
            power_set = parse_powers(powers, "--powers")
            if not power_set:
                raise InvalidField("--powers: give at least one power")
            valid_from = mandate_start(parse_day(from_)) if from_ else None
            valid_until = mandate_end(parse_day(until)) if until else None
            service = get_entities()
            if by is not None:
                rep = service.delegate(entity_nid, by=parse_national_code(by), to=code, role=checked_role,
                                       powers=power_set, valid_until=valid_until, valid_from=valid_from)
            else:
                rep = service.grant(entity_nid, code, role=checked_role, powers=power_set, valid_until=valid_until,
                                    valid_from=valid_from, operator=str(operator))
        if as_json:
            _print_json(representation_dict(rep))
            return
        until_text = f"through {last_day(rep.valid_until).isoformat()}" if rep.valid_until else "until revoked"
        typer.echo(f"Granted representation {rep.id}: {rep.national_code} as {rep.role} of {entity_nid},"
                   f" {' '.join(sorted(rep.powers))}, {until_text}.")

    @app.command()
    def revoke(
        representation_id: Annotated[
            str, typer.Argument(metavar="REPRESENTATION_ID", help="The representation's id (see show).")],
        reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT", help="Why, for the audit log.")] = None,
        operator: OperatorOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Revoke a representation at once, and every delegation that derives from it."""
        with _errors():
            service = get_entities()
            mandate = service.mandate(representation_id)
            if mandate is None:
                raise UnknownRepresentation(representation_id)
            revoked_at = mandate.representation.revoked_at
            ids = [] if revoked_at else service.revoke(
                representation_id, actor=operator or CLI_ACTOR, reason=reason or "revoked by an operator"
            )
        if as_json:
            _print_json({"id": representation_id, "revoked": ids, "already_revoked": revoked_at is not None})
            return
        if revoked_at is not None:
            typer.echo(f"Representation {representation_id} was already revoked on {_day_of(revoked_at)}.")
            return
        if not ids:
            typer.echo(f"Representation {representation_id} was already revoked.")
            return
        typer.echo(f"Revoked {len(ids)} representation(s):")
        for revoked in ids:
            note = "" if revoked == representation_id else " (delegated from it)"
            typer.echo(f"  {revoked}{note}")

    @app.command("set-status")
    def set_status(
        national_id: NationalIdArg,
        status: Annotated[EntityStatus, typer.Argument(metavar="STATUS", help="active, suspended or dissolved.")],
        operator: OperatorOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Set an entity's status: no one acts for a suspended or dissolved entity."""
        with _errors():
            entity = get_entities().set_status(parse_national_id(national_id), status, actor=operator or CLI_ACTOR)
        if as_json:
            _print_json(entity_dict(entity))
        else:
            typer.echo(f"Entity {entity.national_id} ({entity.name}) is now {entity.status.value}.")

    @app.command("set-level")
    def set_level(
        national_id: NationalIdArg,
        level: Annotated[int, typer.Argument(min=1, max=3, metavar="LEVEL", help="1, 2 or 3.")],
        operator: OperatorOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Set the assurance level a person needs to act for the entity."""
        with _errors():
            entity = get_entities().set_min_level(parse_national_id(national_id), level, actor=operator or CLI_ACTOR)
        if as_json:
            _print_json(entity_dict(entity))
        else:
            typer.echo(f"Entity {entity.national_id} ({entity.name}) now needs level {entity.min_level}.")

    return app


def _entity(service: LegalEntities, national_id: str) -> Entity:
    entity = service.entity(national_id)
    if entity is None:
        raise UnknownEntity(national_id)
    return entity


def entity_dict(entity: Entity) -> dict[str, object]:
    return {
        "id": entity.id,
        "national_id": entity.national_id,
        "name": entity.name,
        "type": entity.type,
        "status": entity.status.value,
        "min_level": entity.min_level,
        "created_at": entity.created_at.isoformat(),
        "updated_at": entity.updated_at.isoformat(),
    }


def representation_dict(rep: Representation) -> dict[str, object]:
    """A JSON-ready view: `valid_from`/`valid_until` as the first and last day (Tehran), and the exact
    moments as `valid_from_at`/`valid_until_at`."""
    return {
        "id": rep.id,
        "entity_id": rep.entity_id,
        "national_code": rep.national_code,
        "role": rep.role,
        "powers": sorted(rep.powers),
        "valid_from": first_day(rep.valid_from).isoformat(),
        "valid_until": last_day(rep.valid_until).isoformat() if rep.valid_until else None,
        "valid_from_at": rep.valid_from.isoformat(),
        "valid_until_at": rep.valid_until.isoformat() if rep.valid_until else None,
        "source": rep.source.value,
        "granted_by": rep.granted_by,
        "parent_id": rep.parent_id,
        "created_at": rep.created_at.isoformat(),
        "revoked_at": rep.revoked_at.isoformat() if rep.revoked_at else None,
    }


def report_dict(report: ImportReport) -> dict[str, object]:
    return {**asdict(report), "changes": list(report.changes or ()), "skipped": list(report.skipped or ())}


def _day_of(moment: datetime) -> str:
    return moment.astimezone(TEHRAN).date().isoformat()


@contextmanager
def _errors() -> Iterator[None]:
    """Turn domain and database errors into one line on stderr and an exit code."""
    try:
        yield
    except DelegationRefused as exc:
        _fail(f"delegation refused: {exc.reason}", EXIT_FAILED)
    except UnknownEntity as exc:
        _fail(f"no legal entity with national ID {exc.args[0] if exc.args else ''}".rstrip(), EXIT_FAILED)
    except UnknownRepresentation as exc:
        _fail(f"no representation {exc.args[0] if exc.args else ''}".rstrip(), EXIT_FAILED)
    except InvalidNationalId as exc:
        _fail(f"national ID: {exc}", EXIT_INVALID)
    except InvalidNationalCode as exc:
        _fail(f"national code: {exc}", EXIT_INVALID)
    except InvalidDate as exc:
        _fail(f"date: {exc}", EXIT_INVALID)
    except ValueError as exc:
        _fail(str(exc), EXIT_INVALID)
    except SQLAlchemyError as exc:
        database_error(exc)



