"""`idp keys ...`: list and rotate signing keys. `idp.cli.main` mounts the app from `build_app`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer

from idp.cli.output import EXIT_FAILED, EXIT_INVALID, Errors, command_group, fail, print_json, print_list, utc_time
from idp.cli.remote import AdminApi, ServerOpt
from keys.errors import KeysError
from keys.keyring import KeyRing
from keys.models import SUPPORTED_ALGS, KeyState, SigningKey, check_alg
from keys.rotation import RotationPlan

# Exit code 1 for every failure here, an unsupported algorithm included.
_errors = Errors(((KeysError, ValueError, OSError), str, EXIT_FAILED))


def build_app(get_keyring: Callable[[], KeyRing],
              get_remote: Callable[[str], AdminApi] | None = None) -> typer.Typer:
    """The `keys` command group; `get_keyring` is called only when a command runs. With
    `get_remote`, both commands take `--server URL` to work through that provider's admin API."""
    app = command_group(help="Signing keys: list and rotate.")

    def remote(server: str) -> AdminApi:
        if get_remote is None:
            fail("--server is not available here", EXIT_INVALID)
        return get_remote(server)

    @app.command("list")
    def list_keys(
        server: ServerOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    ) -> None:
        """Show every published key (next, active, retired)."""
        if server is not None:
            views = remote(server).call("GET", "/keys")
        else:
            with _errors():
                views = [key_dict(k) for k in get_keyring().keys()]  # noqa: SIM118 - a key ring, not a dict
        print_list(
            views, as_json=as_json, to_json=lambda v: v,
            header=("KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED"),
            row=lambda v: (v["kid"], v["alg"], v["state"], *(_moment(v[k]) for k in
                                                              ("created_at", "activated_at", "retired_at"))),
        )

    @app.command("rotate")
    def rotate(
        alg: Annotated[str, typer.Option("--alg", metavar="TEXT",
                                         help=f"One of {', '.join(SUPPORTED_ALGS)}.")] = "ES256",
        server: ServerOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
    ) -> None:
        """Rotate now: the next key becomes active, the active key retires, a new next key is made."""
        if server is not None:
            result = remote(server).call("POST", "/keys/rotate", {"alg": alg})
        else:
            with _errors():
                checked = check_alg(alg)
                keyring = get_keyring()
                plan = keyring.rotate(checked, force=True)
                result = rotation_dict(checked, plan, keyring.keys())
        if as_json:
            print_json(result)
            return
        for kid in result["retired"]:
            typer.echo(f"retired    {kid}")
        if result["activated"]:
            typer.echo(f"activated  {result['activated']}")
        for kid in result["removed"]:
            typer.echo(f"removed    {kid}")
        if result["created_next"]:
            typer.echo(f"new next   {result['created_next']}")

    return app


def rotation_dict(alg: str, plan: RotationPlan, current: list[SigningKey]) -> dict[str, Any]:
    """What a rotation of `alg` did (`plan`), with the new next key as found in `current`."""
    created = [k.kid for k in current if k.alg == alg and k.state is KeyState.NEXT]
    return {
        "alg": alg,
        "activated": plan.activate,
        "retired": list(plan.retire),
        "removed": list(plan.remove),
        "created_next": created[0] if plan.create_next and created else None,
    }


def key_dict(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state.value,
        "created_at": key.created_at.isoformat(),
        "activated_at": key.activated_at.isoformat() if key.activated_at else None,
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


def _moment(value: str | None) -> str:
    """A moment of `key_dict` as the table shows it."""
    return utc_time(datetime.fromisoformat(value)) if value else "-"
