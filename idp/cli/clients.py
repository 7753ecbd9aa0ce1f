"""Admin CLI verbs for the client registry: create, list, show, update, rotate-secret, enable,
disable, delete; export, import and set-secret come from `idp.cli.client_transfer`;
`services add|list|remove` for a client's service catalogue is mounted from `idp.cli.client_services`,
`exchange allow|list|revoke` for token exchange from `idp.cli.client_exchange`.

`build_app` takes factories rather than a registry and a catalogue, so `--help` and usage errors
never open the database; the `idp` CLI supplies the factories from its settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any

import typer

from clients.exchange import ExchangePermissions
from clients.models import SECRET_AUTH_METHODS, Client, plain_fields
from clients.registry import ClientRegistry
from clients.scopes import check_known_scopes
from clients.services import ServiceCatalogue
from clients.store import UnknownClient
from idp.cli.client_exchange import build_exchange_app
from idp.cli.client_options import CLEARABLE, NO_FIELDS, ClientFields, ClientIdArg, client_fields, errors
from idp.cli.client_services import build_services_app
from idp.cli.client_transfer import add_transfer_commands
from idp.cli.output import (
    EXIT_FAILED,
    EXIT_INVALID,
    JsonFlag,
    command_group,
    fail,
    print_fields,
    print_json,
    print_list,
)
from idp.cli.remote import AdminApi, ServerOpt, segment

NewScopeOpt = Annotated[
    list[str] | None,
    typer.Option("--new-scope", metavar="TEXT", help="Repeatable: define a scope no client has yet, and give it."),
]
SECRET_NOTE = "Store this secret now: it is shown only once and cannot be shown again."


def build_app(
    get_registry: Callable[[], ClientRegistry],
    get_services: Callable[[], ServiceCatalogue] | None = None,
    get_exchanges: Callable[[], ExchangePermissions] | None = None,
    get_remote: Callable[[str], AdminApi] | None = None,
) -> typer.Typer:
    """The `clients` command group, operating on the registry `get_registry()` returns.

    With `get_services`, it also has the `services` group on the catalogue that factory returns;
    with `get_exchanges`, the `exchange` group on those exchange permissions; with `get_remote`,
    `list`, `show`, `create`, `update`, `rotate-secret`, `disable`, `enable` and `delete` take
    `--server URL` to work through that provider's admin API.
    """

    def remote(server: str) -> AdminApi:
        if get_remote is None:
            fail("--server is not available here", EXIT_INVALID)
        return get_remote(server)

    app = command_group(help="Manage OAuth/OIDC clients.")
    if get_services is not None:
        app.add_typer(
            build_services_app(get_services, get_remote), name="services",
            help="A client's services: scopes with the level and authentication age they need.",
        )
    if get_services is not None:
        add_transfer_commands(app, get_registry, get_services)
    if get_exchanges is not None:
        app.add_typer(
            build_exchange_app(get_exchanges), name="exchange",
            help="Token exchange (RFC 8693): which client may call which client's services for a person.",
        )

    @app.command()
    @client_fields
    def create(
        name: Annotated[str, typer.Option("--name", metavar="TEXT", help="Display name shown to people.")],
        client_id: Annotated[
            str | None, typer.Option("--client-id", metavar="TEXT", help="Chosen client_id (generated if omitted).")
        ] = None,
        fields: ClientFields = NO_FIELDS,
        new_scope: NewScopeOpt = None,
        server: ServerOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Register a client. Its secret, if it has one, is printed once."""
        given: dict[str, object] = {"name": name}
        if client_id is not None:
            given["client_id"] = client_id
        given.update(fields)
        if server is not None:
            body = {k: list(v) if isinstance(v, tuple) else v for k, v in given.items()}
            created = remote(server).call("POST", "/clients", {**body, "new_scopes": list(new_scope or ())})
            view, secret = created["client"], created.get("client_secret")
        else:
            with errors():
                registry = get_registry()
                check_client_scopes(registry, given, new_scope)
                client, secret = registry.create(**given)  # type: ignore[arg-type]
            view = client_dict(client)
        if as_json:
            print_json({"client": view, "client_secret": secret, **({"note": SECRET_NOTE} if secret else {})})
            return
        typer.echo(f"Created client {view['client_id']}.")
        _print_view(view)
        if secret is not None:
            _print_secret(secret)

    @app.command("list")
    def list_(server: ServerOpt = None, as_json: JsonFlag = False) -> None:
        """List every client."""
        if server is not None:
            views = remote(server).call("GET", "/clients")
        else:
            with errors():
                views = [client_dict(c) for c in get_registry().list()]
        print_list(
            views, as_json=as_json, to_json=lambda v: v, empty="No clients.",
            header=("CLIENT_ID", "NAME", "AUTH", "GRANTS", "LEVEL", "ENABLED"),
            row=lambda v: (v["client_id"], v["name"], v["token_endpoint_auth_method"], ",".join(v["grant_types"]),
                           str(v["min_level"]), "yes" if v["enabled"] else "no"),
        )

    @app.command()
    def show(client_id: ClientIdArg, server: ServerOpt = None, as_json: JsonFlag = False) -> None:
        """Show one client (never its secret)."""
        if server is not None:
            view = remote(server).call("GET", f"/clients/{segment(client_id)}")
        else:
            with errors():
                client = get_registry().get(client_id)
                if client is None:
                    raise UnknownClient(client_id)
            view = client_dict(client)
        if as_json:
            print_json(view)
        else:
            _print_view(view)

    @app.command()
    @client_fields
    def update(
        client_id: ClientIdArg,
        name: Annotated[str | None, typer.Option("--name", metavar="TEXT",
                                                 help="Display name shown to people.")] = None,
        fields: ClientFields = NO_FIELDS,
        clear: Annotated[
            list[str] | None,
            typer.Option("--clear", metavar="TEXT", help=f"Repeatable: empty a field ({', '.join(CLEARABLE)})."),
        ] = None,
        new_scope: NewScopeOpt = None,
        server: ServerOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Change a client. A repeatable option given replaces the whole list."""
        changes: dict[str, object] = {}
        for spelling in clear or ():
            if spelling not in CLEARABLE:
                fail(f"--clear: {spelling!r} is not one of {', '.join(CLEARABLE)}", EXIT_INVALID)
            field, empty = CLEARABLE[spelling]
            changes[field] = empty
        if name is not None:
            changes["name"] = name
        changes.update(fields)
        if not changes and not new_scope:
            fail("nothing to change: give at least one option (see --help)", EXIT_INVALID)
        if server is not None:
            body = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
            view = remote(server).call("PATCH", f"/clients/{segment(client_id)}",
                                       {**body, "new_scopes": list(new_scope or ())})
        else:
            with errors():
                registry = get_registry()
                if new_scope and "scopes" not in changes:
                    changes["scopes"] = registry.existing(client_id).scopes  # the new ones are added to these
                check_client_scopes(registry, changes, new_scope)
                view = client_dict(registry.update(client_id, **changes))
        if as_json:
            print_json(view)
            return
        typer.echo(f"Updated client {view['client_id']}.")
        _print_view(view)
        if view["token_endpoint_auth_method"] in SECRET_AUTH_METHODS and not view["has_secret"]:
            typer.echo(f"Note: this client has no secret yet; run rotate-secret {view['client_id']}.")

    @app.command("rotate-secret")
    def rotate_secret(
        client_id: ClientIdArg,
        grace: Annotated[float | None, typer.Option(
            "--grace", metavar="HOURS", min=0, help="Keep the old secret working this long (default: it stops now; "
                                                    "at most 720).")] = None,
        server: ServerOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Issue a new secret; the old one stops working at once, or after --grace hours."""
        if server is not None:
            secret = remote(server).call("POST", f"/clients/{segment(client_id)}/rotate-secret",
                                         {"grace_hours": grace})["client_secret"]
        else:
            with errors():
                secret = get_registry().rotate_secret(client_id, timedelta(hours=grace) if grace else None)
        if as_json:
            print_json({"client_id": client_id, "client_secret": secret, "old_secret_works_for_hours": grace or 0,
                        "note": SECRET_NOTE})
            return
        if grace:
            typer.echo(f"Rotated the secret of {client_id}; the old secret keeps working for {grace:g} hour(s).")
        else:
            typer.echo(f"Rotated the secret of {client_id}; the old secret no longer works.")
        _print_secret(secret)

    def set_enabled(client_id: str, enabled: bool, server: str | None, as_json: bool) -> None:
        if server is not None:
            view = remote(server).call("POST", f"/clients/{segment(client_id)}/{'enable' if enabled else 'disable'}")
        else:
            with errors():
                view = client_dict(get_registry().set_enabled(client_id, enabled))
        if as_json:
            print_json(view)
        else:
            typer.echo(f"Client {client_id} is {'enabled' if enabled else 'disabled'}.")

    @app.command()
    def disable(client_id: ClientIdArg, server: ServerOpt = None, as_json: JsonFlag = False) -> None:
        """Disable a client: it can no longer authenticate or log anyone in."""
        set_enabled(client_id, False, server, as_json)

    @app.command()
    def enable(client_id: ClientIdArg, server: ServerOpt = None, as_json: JsonFlag = False) -> None:
        """Enable a disabled client."""
        set_enabled(client_id, True, server, as_json)

    @app.command()
    def delete(
        client_id: ClientIdArg,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        server: ServerOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Delete a client for good (disable it instead to keep its record)."""
        if not yes and not typer.confirm(f"Delete client {client_id}? This cannot be undone.", err=True):
            fail("not deleted", EXIT_FAILED)
        if server is not None:
            remote(server).call("DELETE", f"/clients/{segment(client_id)}")
        else:
            with errors():
                get_registry().delete(client_id)
        if as_json:
            print_json({"client_id": client_id, "deleted": True})
        else:
            typer.echo(f"Deleted client {client_id}.")

    return app


def check_client_scopes(registry: ClientRegistry, fields: dict[str, object], new: list[str] | None) -> None:
    """Refuse a scope nobody has defined (a typo, most often) unless it is given with --new-scope;
    the new ones join the client's scopes. The scopes of every client are the known ones: the
    catalogue's services are among them, as adding a service registers its scope."""
    if "scopes" not in fields and not new:
        return
    given = tuple(fields.get("scopes", ("openid",)))  # type: ignore[arg-type]
    scopes = list(dict.fromkeys([*given, *(new or ())]))
    known = {scope for client in registry.list() for scope in client.scopes}
    check_known_scopes(scopes, known, new=new or ())
    fields["scopes"] = tuple(scopes)


def client_dict(client: Client) -> dict[str, object]:
    """A JSON-ready view of the client: every field except the secret hash."""
    return {
        **plain_fields(client),
        "has_secret": client.secret_hash is not None,
        # Set during the grace period of a rotation: until then the old secret works too.
        "old_secret_works_until": (client.previous_secret_expires_at.isoformat()
                                   if client.previous_secret_expires_at and client.previous_secret_hash else None),
        "created_at": client.created_at.isoformat() if client.created_at else None,
        "updated_at": client.updated_at.isoformat() if client.updated_at else None,
    }


def _print_secret(secret: str) -> None:
    typer.echo("")
    typer.echo(f"client_secret: {secret}")
    typer.echo(SECRET_NOTE)


def _print_view(view: Mapping[str, Any]) -> None:
    """A client as `show` prints it, from its `client_dict` (made here or answered by the admin API)."""
    shown = dict(view)
    jwks = shown.get("jwks")
    key_count = len(jwks.get("keys", [])) if isinstance(jwks, Mapping) else 0
    shown["jwks"] = f"{key_count} key(s)" if jwks is not None else None
    print_fields(shown)

