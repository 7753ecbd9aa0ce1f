"""`idp clients exchange allow|list|revoke`: which client may exchange a person's token for one to
call which client's services (RFC 8693 token exchange; the rules are `clients.exchange`).
`idp.cli.clients` mounts the app from `build_exchange_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

import typer

from clients.exchange import ExchangePermission, ExchangePermissions
from idp.cli.client_options import ClientIdArg, errors
from idp.cli.output import EXIT_FAILED, JsonFlag, command_group, fail, print_json, print_list

AudienceOption = Annotated[str, typer.Option(
    "--audience", metavar="TEXT", help="The client_id of the agency whose API is called (the issued token's aud).")]


def build_exchange_app(get_exchanges: Callable[[], ExchangePermissions]) -> typer.Typer:
    """The `clients exchange` command group, on the permissions `get_exchanges()` returns."""
    app = command_group(help="Manage token exchange permissions.")

    @app.command()
    def allow(
        client_id: ClientIdArg,
        audience: AudienceOption,
        scope: Annotated[list[str], typer.Option(
            "--scope", metavar="TEXT", help="One of the audience's services (repeat for more).")],
        as_json: JsonFlag = False,
    ) -> None:
        """Let CLIENT_ID exchange a person's access token for one to call AUDIENCE's services."""
        with errors():
            held = get_exchanges().allow(client_id, audience, scope)
        if as_json:
            print_json({"client_id": client_id, "audience": audience, "scopes": [p.scope for p in held]})
            return
        typer.echo(f"Client {client_id} may exchange a person's token to call {audience} for: "
                   f"{' '.join(p.scope for p in held)}.")

    @app.command("list")
    def list_(
        client_id: Annotated[
            str | None, typer.Argument(metavar="CLIENT_ID", help="Only this requesting client.")] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """List exchange permissions, of every client or of CLIENT_ID."""
        with errors():
            permissions = get_exchanges().list(client_id)
        print_list(
            permissions, as_json=as_json, to_json=permission_dict, empty="No exchange permissions.",
            header=("CLIENT_ID", "AUDIENCE", "SCOPE"), row=lambda p: (p.client_id, p.audience, p.scope),
        )

    @app.command()
    def revoke(
        client_id: ClientIdArg,
        audience: AudienceOption,
        scope: Annotated[list[str] | None, typer.Option(
            "--scope", metavar="TEXT", help="Only this service (repeat for more); every one if omitted.")] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Withdraw CLIENT_ID's permission to exchange tokens for AUDIENCE (all, or the given scopes)."""
        with errors():
            gone = get_exchanges().revoke(client_id, audience, scope or None)
        if not gone:
            fail(f"client {client_id!r} has no exchange permission for {audience!r}"
                 + (f" with scope {' '.join(scope)}" if scope else ""), EXIT_FAILED)
        if as_json:
            print_json({"client_id": client_id, "audience": audience, "revoked": gone})
        else:
            typer.echo(f"Client {client_id} may no longer exchange tokens to call {audience} for: {' '.join(gone)}.")

    return app


def permission_dict(permission: ExchangePermission) -> dict[str, object]:
    return asdict(permission)
