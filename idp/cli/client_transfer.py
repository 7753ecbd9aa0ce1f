"""`idp clients export`, `idp clients import` and `idp clients set-secret`: moving clients between
environments, and a portal that moves here keeping the secret it already has
(`clients.transfer`, `ClientRegistry.set_secret`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml

from clients.registry import ClientRegistry
from clients.services import ServiceCatalogue
from clients.transfer import InvalidDocument, export_clients, import_clients, read_document
from idp.cli.client_options import ClientIdArg, errors
from idp.cli.output import EXIT_FAILED, EXIT_INVALID, JsonFlag, fail, print_json


class DocumentFormat(StrEnum):
    json = "json"
    yaml = "yaml"


def add_transfer_commands(app: typer.Typer, get_registry: Callable[[], ClientRegistry],
                          get_services: Callable[[], ServiceCatalogue]) -> None:
    """Add `export`, `import` and `set-secret` to the `clients` group `app`."""

    @app.command("export")
    def export(
        client_ids: Annotated[list[str] | None, typer.Argument(
            metavar="[CLIENT_ID]...", help="The clients to export (default: every client).")] = None,
        fmt: Annotated[DocumentFormat, typer.Option("--format", help="json or yaml.")] = DocumentFormat.json,
        with_secret_hashes: Annotated[bool, typer.Option(
            "--with-secret-hashes", help="Carry the secrets' hashes, so the clients keep their secrets.")] = False,
        output: Annotated[Path | None, typer.Option(
            "--output", "-o", metavar="FILE", help="Write here instead of to standard output.")] = None,
    ) -> None:
        """Write clients and their services as a document `import` reads back."""
        with errors():
            document = export_clients(get_registry(), get_services(), client_ids or (),
                                      with_secret_hashes=with_secret_hashes)
        text = (json.dumps(document, indent=2, ensure_ascii=False) + "\n" if fmt is DocumentFormat.json
                else yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        if output is None:
            typer.echo(text, nl=False)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILED)
        typer.echo(f"Exported {len(document['clients'])} client(s) to {output}.", err=True)  # type: ignore[arg-type]

    @app.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(metavar="FILE", help="A document from `idp clients export` (JSON or "
                                                                  "YAML); - reads standard input.")],
        replace: Annotated[bool, typer.Option(
            "--replace", help="Replace clients that exist already (default: refuse, and import nothing).")] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Register the clients of a document with their services, all of them or none."""
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}", EXIT_INVALID)
        try:
            document = yaml.safe_load(text)  # YAML reads JSON too
        except yaml.YAMLError as exc:
            fail(f"{file} is neither JSON nor YAML: {str(exc).splitlines()[0]}", EXIT_INVALID)
        with errors():
            try:
                bundles = read_document(document)
                report = import_clients(get_registry(), get_services(), bundles, replace_existing=replace)
            except InvalidDocument as exc:
                fail(f"nothing was imported: {exc}", EXIT_INVALID)
        if as_json:
            print_json(report)
            return
        typer.echo(f"Imported {len(report['created'])} new and {len(report['replaced'])} replaced client(s)"
                   + (f": {', '.join(report['created'] + report['replaced'])}." if bundles else "."))

    @app.command("set-secret")
    def set_secret(client_id: ClientIdArg, as_json: JsonFlag = False) -> None:
        """Give a client the secret it already has elsewhere, read from standard input (never from the
        command line, which other users and the shell history can see)."""
        if sys.stdin.isatty():
            secret = typer.prompt("Client secret", hide_input=True)
        else:
            secret = sys.stdin.readline().rstrip("\r\n")
        with errors():
            get_registry().set_secret(client_id, secret)
        if as_json:
            print_json({"client_id": client_id, "secret_set": True})
        else:
            typer.echo(f"Client {client_id} now accepts the secret it was given; only its hash is stored.")
