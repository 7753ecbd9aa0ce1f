"""Admin CLI verbs for the client registry: create, list, show, update, rotate-secret, enable,
disable, delete; and `services add|list|remove` for a client's service catalogue.

`build_app` takes factories rather than a registry and a catalogue, so `--help` and usage errors
never open the database; the `idp` CLI supplies the factories from its settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from clients.models import Client, InvalidClientMetadata, plain_fields
from clients.registry import ClientRegistry
from clients.services import InvalidService, Service, ServiceCatalogue
from clients.store import ClientExists, UnknownClient
from idp.cli.output import EXIT_FAILED, EXIT_INVALID, database_error
from idp.cli.output import fail as _fail
from idp.cli.output import print_json as _print_json
from idp.cli.output import print_table as _print_table

SECRET_NOTE = "Store this secret now: it is shown only once and cannot be shown again."

# Exit codes: 1 for a failed operation (unknown or duplicate client, database), 2 for invalid input.

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ClientIdArg = Annotated[str, typer.Argument(help="The client's client_id.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Display name shown to people.")]
AuthMethodOpt = Annotated[
    str | None,
    typer.Option(
        "--auth-method",
        help="Token endpoint auth method: client_secret_basic, client_secret_post, private_key_jwt, none.",
    ),
]
RedirectOpt = Annotated[list[str] | None, typer.Option("--redirect-uri", help="Repeatable.")]
PostLogoutOpt = Annotated[list[str] | None, typer.Option("--post-logout-redirect-uri", help="Repeatable.")]
GrantOpt = Annotated[
    list[str] | None,
    typer.Option("--grant-type", help="Repeatable: authorization_code, refresh_token, client_credentials."),
]
ScopeOpt = Annotated[list[str] | None, typer.Option("--scope", help="Repeatable: a scope it may receive.")]
AudienceOpt = Annotated[
    list[str] | None, typer.Option("--audience", help="Repeatable: an API its access tokens may target.")
]
JwksOpt = Annotated[
    Path | None, typer.Option("--jwks-file", help="JSON file with the client's public JWK Set.")
]
AlgOpt = Annotated[str | None, typer.Option("--alg", help="ID token signing alg: ES256 or RS256.")]
BackchannelOpt = Annotated[
    str | None, typer.Option("--backchannel-logout-uri", help="Back-channel logout endpoint.")
]
BackchannelSidOpt = Annotated[
    bool | None,
    typer.Option("--backchannel-logout-session-required/--no-backchannel-logout-session-required",
                 help="Whether back-channel logout tokens must carry the session id (default: yes)."),
]
FrontchannelOpt = Annotated[
    str | None,
    typer.Option("--frontchannel-logout-uri", help="Front-channel logout page (no fragment), loaded in an iframe."),
]
FrontchannelSidOpt = Annotated[
    bool | None,
    typer.Option("--frontchannel-logout-session-required/--no-frontchannel-logout-session-required",
                 help="Whether the front-channel logout URI gets iss and sid (default: yes)."),
]
ConsentOpt = Annotated[
    bool | None,
    typer.Option("--require-consent/--trusted",
                 help="Ask people before releasing their data (a third party), or not (a trusted "
                      "government portal; the default)."),
]
MinLevelOpt = Annotated[
    int | None, typer.Option("--min-level", help="Minimum assurance level for every login (1-3).")
]

# Option spelling -> field, for `update --clear`.
CLEARABLE: dict[str, tuple[str, object]] = {
    "redirect-uri": ("redirect_uris", ()),
    "post-logout-redirect-uri": ("post_logout_redirect_uris", ()),
    "scope": ("scopes", ()),
    "audience": ("audiences", ()),
    "jwks": ("jwks", None),
    "backchannel-logout-uri": ("backchannel_logout_uri", None),
    "frontchannel-logout-uri": ("frontchannel_logout_uri", None),
}


def build_app(
    get_registry: Callable[[], ClientRegistry],
    get_services: Callable[[], ServiceCatalogue] | None = None,
) -> typer.Typer:
    """The `clients` command group, operating on the registry `get_registry()` returns.

    With `get_services`, it also has the `services` group on the catalogue that factory returns.
    """
    app = typer.Typer(help="Manage OAuth/OIDC clients.", no_args_is_help=True, add_completion=False)
    if get_services is not None:
        app.add_typer(
            build_services_app(get_services), name="services",
            help="A client's services: scopes with the level and authentication age they need.",
        )

    @app.command()
    def create(
        name: Annotated[str, typer.Option("--name", help="Display name shown to people.")],
        client_id: Annotated[
            str | None, typer.Option("--client-id", help="Chosen client_id (generated if omitted).")
        ] = None,
        auth_method: AuthMethodOpt = None,
        redirect_uri: RedirectOpt = None,
        post_logout_redirect_uri: PostLogoutOpt = None,
        grant_type: GrantOpt = None,
        scope: ScopeOpt = None,
        audience: AudienceOpt = None,
        jwks_file: JwksOpt = None,
        alg: AlgOpt = None,
        backchannel_logout_uri: BackchannelOpt = None,
        backchannel_logout_session_required: BackchannelSidOpt = None,
        frontchannel_logout_uri: FrontchannelOpt = None,
        frontchannel_logout_session_required: FrontchannelSidOpt = None,
        require_consent: ConsentOpt = None,
        min_level: MinLevelOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Register a client. Its secret, if it has one, is printed once."""
        fields: dict[str, object] = {"name": name}
        if client_id is not None:
            fields["client_id"] = client_id
        fields.update(
            _given(
                auth_method=auth_method, redirect_uri=redirect_uri,
                post_logout_redirect_uri=post_logout_redirect_uri, grant_type=grant_type, scope=scope,
                audience=audience, jwks_file=jwks_file, alg=alg,
                backchannel_logout_uri=backchannel_logout_uri,
                backchannel_logout_session_required=backchannel_logout_session_required,
                frontchannel_logout_uri=frontchannel_logout_uri,
                frontchannel_logout_session_required=frontchannel_logout_session_required,
                require_consent=require_consent, min_level=min_level,
            )
        )
        with _errors():
            client, secret = get_registry().create(**fields)  # type: ignore[arg-type]
        if as_json:
            _print_json({"client": client_dict(client), "client_secret": secret,
                         **({"note": SECRET_NOTE} if secret else {})})
            return
        typer.echo(f"Created client {client.client_id}.")
        _print_client(client)
        if secret is not None:
            _print_secret(secret)

    @app.command("list")
    def list_(as_json: JsonFlag = False) -> None:
        """List every client."""
        with _errors():
            clients = get_registry().list()
        if as_json:
            _print_json([client_dict(c) for c in clients])
            return
        if not clients:
            typer.echo("No clients.")
            return
        rows = [
            (c.client_id, c.name, c.token_endpoint_auth_method, ",".join(c.grant_types),
             str(c.min_level), "yes" if c.enabled else "no")
            for c in clients
        ]
        _print_table(("CLIENT_ID", "NAME", "AUTH", "GRANTS", "LEVEL", "ENABLED"), rows)

    @app.command()
    def show(client_id: ClientIdArg, as_json: JsonFlag = False) -> None:
        """Show one client (never its secret)."""
        with _errors():
            client = get_registry().get(client_id)
            if client is None:
                raise UnknownClient(client_id)
        if as_json:
            _print_json(client_dict(client))
        else:
            _print_client(client)

    @app.command()
    def update(
        client_id: ClientIdArg,
        name: NameOpt = None,
        auth_method: AuthMethodOpt = None,
        redirect_uri: RedirectOpt = None,
        post_logout_redirect_uri: PostLogoutOpt = None,
        grant_type: GrantOpt = None,
        scope: ScopeOpt = None,
        audience: AudienceOpt = None,
        jwks_file: JwksOpt = None,
        alg: AlgOpt = None,
        backchannel_logout_uri: BackchannelOpt = None,
        backchannel_logout_session_required: BackchannelSidOpt = None,
        frontchannel_logout_uri: FrontchannelOpt = None,
        frontchannel_logout_session_required: FrontchannelSidOpt = None,
        require_consent: ConsentOpt = None,
        min_level: MinLevelOpt = None,
        clear: Annotated[
            list[str] | None,
            typer.Option("--clear", help=f"Repeatable: empty a field ({', '.join(CLEARABLE)})."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Change a client. A repeatable option given replaces the whole list."""
        changes: dict[str, object] = {}
        for spelling in clear or ():
            if spelling not in CLEARABLE:
                _fail(f"--clear: {spelling!r} is not one of {', '.join(CLEARABLE)}", EXIT_INVALID)
            field, empty = CLEARABLE[spelling]
            changes[field] = empty
        if name is not None:
            changes["name"] = name
        changes.update(
            _given(
                auth_method=auth_method, redirect_uri=redirect_uri,
                post_logout_redirect_uri=post_logout_redirect_uri, grant_type=grant_type, scope=scope,
                audience=audience, jwks_file=jwks_file, alg=alg,
                backchannel_logout_uri=backchannel_logout_uri,
                backchannel_logout_session_required=backchannel_logout_session_required,
                frontchannel_logout_uri=frontchannel_logout_uri,
                frontchannel_logout_session_required=frontchannel_logout_session_required,
                require_consent=require_consent, min_level=min_level,
            )
        )
        if not changes:
            _fail("nothing to change: give at least one option (see --help)", EXIT_INVALID)
        with _errors():
            client = get_registry().update(client_id, **changes)
        if as_json:
            _print_json(client_dict(client))
            return
        typer.echo(f"Updated client {client.client_id}.")
        _print_client(client)
        if client.uses_secret and client.secret_hash is None:
            typer.echo(f"Note: this client has no secret yet; run rotate-secret {client.client_id}.")

    @app.command("rotate-secret")
    def rotate_secret(client_id: ClientIdArg, as_json: JsonFlag = False) -> None:
        """Issue a new secret; the old one stops working at once."""
        with _errors():
            secret = get_registry().rotate_secret(client_id)
        if as_json:
            _print_json({"client_id": client_id, "client_secret": secret, "note": SECRET_NOTE})
            return
        typer.echo(f"Rotated the secret of {client_id}; the old secret no longer works.")
        _print_secret(secret)

    @app.command()
    def disable(client_id: ClientIdArg, as_json: JsonFlag = False) -> None:
        """Disable a client: it can no longer authenticate or log anyone in."""
        _set_enabled(get_registry, client_id, False, as_json)

    @app.command()
    def enable(client_id: ClientIdArg, as_json: JsonFlag = False) -> None:
        """Enable a disabled client."""
        _set_enabled(get_registry, client_id, True, as_json)

    @app.command()
    def delete(
        client_id: ClientIdArg,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Delete a client for good (disable it instead to keep its record)."""
        if not yes and not typer.confirm(f"Delete client {client_id}? This cannot be undone.", err=True):
            _fail("not deleted", EXIT_FAILED)
        with _errors():
            get_registry().delete(client_id)
        if as_json:
            _print_json({"client_id": client_id, "deleted": True})
        else:
            typer.echo(f"Deleted client {client_id}.")

    return app


ScopeArg = Annotated[str, typer.Option("--scope", help="The service's scope, e.g. tax.file.")]


def build_services_app(get_services: Callable[[], ServiceCatalogue]) -> typer.Typer:
    """The `clients services` command group, operating on the catalogue `get_services()` returns."""
    app = typer.Typer(help="Manage a client's services.", no_args_is_help=True, add_completion=False)

    @app.command()
    def add(
        client_id: ClientIdArg,
        scope: ScopeArg,
        min_level: Annotated[int, typer.Option("--min-level", help="Minimum assurance level (1-3).")],
        max_age: Annotated[
            int | None,
            typer.Option("--max-age", help="Maximum authentication age in seconds (default: the level's own)."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Add a service, or change it if the client already has one with this scope.

        The scope is also registered with the client, so it may request it.
        """
        with _errors():
            service = get_services().add(Service(client_id, scope, min_level, max_age))
        if as_json:
            _print_json(service_dict(service))
            return
        age = "the level's maximum authentication age"
        if service.max_auth_age is not None:
            age = f"authentication at most {service.max_auth_age} s old"
        typer.echo(f"Client {client_id}: service {service.scope} needs level {service.min_level}, {age}.")

    @app.command("list")
    def list_(client_id: ClientIdArg, as_json: JsonFlag = False) -> None:
        """List a client's services."""
        with _errors():
            services = get_services().services_for(client_id)
        if as_json:
            _print_json([service_dict(s) for s in services])
            return
        if not services:
            typer.echo(f"Client {client_id} has no services.")
            return
        rows = [
            (s.scope, str(s.min_level), str(s.max_auth_age) if s.max_auth_age is not None else "-")
            for s in services
        ]
        _print_table(("SCOPE", "MIN_LEVEL", "MAX_AUTH_AGE"), rows)

    @app.command()
    def remove(client_id: ClientIdArg, scope: ScopeArg, as_json: JsonFlag = False) -> None:
        """Remove a service. Its scope stays registered with the client."""
        with _errors():
            removed = get_services().remove(client_id, scope)
        if not removed:
            _fail(f"client {client_id!r} has no service {scope!r}", EXIT_FAILED)
        if as_json:
            _print_json({"client_id": client_id, "scope": scope, "removed": True})
        else:
            typer.echo(f"Removed service {scope} of client {client_id}.")

    return app


def service_dict(service: Service) -> dict[str, object]:
    return asdict(service)


def client_dict(client: Client) -> dict[str, object]:
    """A JSON-ready view of the client: every field except the secret hash."""
    return {
        **plain_fields(client),
        "has_secret": client.secret_hash is not None,
        "created_at": client.created_at.isoformat() if client.created_at else None,
        "updated_at": client.updated_at.isoformat() if client.updated_at else None,
    }


def _given(
    *,
    auth_method: str | None,
    redirect_uri: list[str] | None,
    post_logout_redirect_uri: list[str] | None,
    grant_type: list[str] | None,
    scope: list[str] | None,
    audience: list[str] | None,
    jwks_file: Path | None,
    alg: str | None,
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool | None,
    frontchannel_logout_uri: str | None,
    frontchannel_logout_session_required: bool | None,
    require_consent: bool | None,
    min_level: int | None,
) -> dict[str, object]:
    """Registry keyword arguments for the options the operator actually gave."""
    fields: dict[str, object] = {
        "token_endpoint_auth_method": auth_method,
        "redirect_uris": redirect_uri,
        "post_logout_redirect_uris": post_logout_redirect_uri,
        "grant_types": grant_type,
        "scopes": scope,
        "audiences": audience,
        "id_token_signed_response_alg": alg,
        "backchannel_logout_uri": backchannel_logout_uri,
        "backchannel_logout_session_required": backchannel_logout_session_required,
        "frontchannel_logout_uri": frontchannel_logout_uri,
        "frontchannel_logout_session_required": frontchannel_logout_session_required,
        "require_consent": require_consent,
        "min_level": min_level,
    }
    if jwks_file is not None:
        fields["jwks"] = _read_jwks(jwks_file)
    return {k: v for k, v in fields.items() if v is not None}


def _read_jwks(path: Path) -> Mapping[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"--jwks-file: cannot read {path}: {exc.strerror or exc}", EXIT_INVALID)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(f"--jwks-file: {path} is not valid JSON: {exc}", EXIT_INVALID)
    if not isinstance(data, dict):
        _fail(f'--jwks-file: {path} must hold a JWK Set object {{"keys": [...]}}', EXIT_INVALID)
    return data


def _set_enabled(
    get_registry: Callable[[], ClientRegistry], client_id: str, enabled: bool, as_json: bool
) -> None:
    with _errors():
        client = get_registry().set_enabled(client_id, enabled)
    if as_json:
        _print_json(client_dict(client))
    else:
        typer.echo(f"Client {client_id} is {'enabled' if enabled else 'disabled'}.")


@contextmanager
def _errors() -> Iterator[None]:
    """Turn registry and database errors into one line on stderr and an exit code."""
    try:
        yield
    except InvalidClientMetadata as exc:
        _fail(f"invalid client: {exc}", EXIT_INVALID)
    except InvalidService as exc:
        _fail(f"invalid service: {exc}", EXIT_INVALID)
    except UnknownClient as exc:
        _fail(f"no client {exc.args[0]!r}", EXIT_FAILED)
    except ClientExists as exc:
        _fail(f"a client {exc.args[0]!r} already exists", EXIT_FAILED)
    except SQLAlchemyError as exc:
        database_error(exc)




def _print_secret(secret: str) -> None:
    typer.echo("")
    typer.echo(f"client_secret: {secret}")
    typer.echo(SECRET_NOTE)


def _print_client(client: Client) -> None:
    view = client_dict(client)
    jwks = client.jwks
    key_count = len(jwks.get("keys", [])) if isinstance(jwks, Mapping) else 0  # type: ignore[arg-type]
    view["jwks"] = f"{key_count} key(s)" if jwks is not None else None
    width = max(len(k) for k in view)
    for key, value in view.items():
        if isinstance(value, list):
            shown = ", ".join(value) if value else "-"
        elif value is None:
            shown = "-"
        elif isinstance(value, bool):
            shown = "yes" if value else "no"
        else:
            shown = str(value)
        typer.echo(f"{key.ljust(width)}  {shown}")

