"""`idp clients services add|list|remove`: a client's service catalogue (scopes with the level and
authentication age they need). `idp.cli.clients` mounts the app from `build_services_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

import typer

from clients.services import Service, ServiceCatalogue
from idp.cli.client_options import ClientIdArg, errors
from idp.cli.output import EXIT_FAILED, EXIT_INVALID, JsonFlag, command_group, fail, print_json, print_list
from idp.cli.remote import AdminApi, ServerOpt, segment

ScopeArg = Annotated[str, typer.Option("--scope", metavar="TEXT", help="The service's scope, e.g. tax.file.")]


def build_services_app(get_services: Callable[[], ServiceCatalogue],
                       get_remote: Callable[[str], AdminApi] | None = None) -> typer.Typer:
    """The `clients services` command group, operating on the catalogue `get_services()` returns;
    with `get_remote`, each command takes `--server URL` to work through that provider's admin API."""
    app = command_group(help="Manage a client's services.")

    def remote(server: str) -> AdminApi:
        if get_remote is None:
            fail("--server is not available here", EXIT_INVALID)
        return get_remote(server)

    @app.command()
    def add(
        client_id: ClientIdArg,
        scope: ScopeArg,
        min_level: Annotated[int, typer.Option("--min-level", metavar="N", help="Minimum assurance level (1-3).")],
        max_age: Annotated[
            int | None,
            typer.Option("--max-age", metavar="N",
                         help="Maximum authentication age in seconds (default: the level's own)."),
        ] = None,
        profile: Annotated[
            str | None,
            typer.Option("--profile", metavar="TEXT", help="Only clients held to this profile may request it: fapi2."),
        ] = None,
        name_fa: Annotated[
            str | None, typer.Option("--name-fa", metavar="TEXT",
                                     help="Its name on Persian pages, e.g. «تسلیم اظهارنامه مالیاتی».")
        ] = None,
        name_en: Annotated[
            str | None, typer.Option("--name-en", metavar="TEXT",
                                     help="Its name on English pages, e.g. \"File a tax return\".")
        ] = None,
        server: ServerOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Add a service, or change it if the client already has one with this scope.

        The scope is also registered with the client, so it may request it.
        """
        if server is not None:
            view = remote(server).call("PUT", f"/clients/{segment(client_id)}/services/{segment(scope)}", {
                "min_level": min_level, "max_auth_age": max_age, "profile": profile, "name_fa": name_fa,
                "name_en": name_en})
            service = Service(**view)
        else:
            with errors():
                service = get_services().add(Service(client_id, scope, min_level, max_age, profile, name_fa, name_en))
        if as_json:
            print_json(service_dict(service))
            return
        age = "the level's maximum authentication age"
        if service.max_auth_age is not None:
            age = f"authentication at most {service.max_auth_age} s old"
        only = f", and a client held to the {service.profile} profile" if service.profile else ""
        named = f" ({service.display_name('en')})" if service.name_fa or service.name_en else ""
        typer.echo(f"Client {client_id}: service {service.scope}{named} needs level {service.min_level}, {age}{only}.")

    @app.command("list")
    def list_(client_id: ClientIdArg, server: ServerOpt = None, as_json: JsonFlag = False) -> None:
        """List a client's services."""
        if server is not None:
            services = [Service(**v) for v in remote(server).call("GET", f"/clients/{segment(client_id)}/services")]
        else:
            with errors():
                services = get_services().services_for(client_id)
        print_list(
            services, as_json=as_json, to_json=service_dict, empty=f"Client {client_id} has no services.",
            header=("SCOPE", "MIN_LEVEL", "MAX_AUTH_AGE", "PROFILE", "NAME_EN", "NAME_FA"),
            row=lambda s: (s.scope, str(s.min_level), str(s.max_auth_age) if s.max_auth_age is not None else "-",
                           s.profile or "-", s.name_en or "-", s.name_fa or "-"),
        )

    @app.command()
    def remove(client_id: ClientIdArg, scope: ScopeArg, server: ServerOpt = None, as_json: JsonFlag = False) -> None:
        """Remove a service. Its scope stays registered with the client."""
        if server is not None:
            removed = bool(remote(server).call(
                "DELETE", f"/clients/{segment(client_id)}/services/{segment(scope)}")["removed"])
        else:
            with errors():
                removed = get_services().remove(client_id, scope)
        if not removed:
            fail(f"client {client_id!r} has no service {scope!r}", EXIT_FAILED)
        if as_json:
            print_json({"client_id": client_id, "scope": scope, "removed": True})
        else:
            typer.echo(f"Removed service {scope} of client {client_id}.")

    return app


def service_dict(service: Service) -> dict[str, object]:
    return asdict(service)
