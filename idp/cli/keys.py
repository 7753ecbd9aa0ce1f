"""`idp keys ...`: list and rotate signing keys. `idp.cli.main` mounts the app from `build_app`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from idp.cli.output import EXIT_FAILED, Errors, command_group, print_json, print_list, utc_time
from keys.errors import KeysError
from keys.keyring import KeyRing
from keys.models import SUPPORTED_ALGS, KeyState, SigningKey, check_alg
from keys.rotation import RotationPlan

# Exit code 1 for every failure here, an unsupported algorithm included.
_errors = Errors(((KeysError, ValueError, OSError), str, EXIT_FAILED))


def build_app(get_keyring: Callable[[], KeyRing]) -> typer.Typer:
    """The `keys` command group; `get_keyring` is called only when a command runs."""
    app = command_group(help="Signing keys: list and rotate.")

    @app.command("list")
    def list_keys(
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    ) -> None:
        """Show every published key (next, active, retired)."""
        with _errors():
            keys = get_keyring().keys()
        print_list(
            keys, as_json=as_json, to_json=key_dict, header=("KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED"),
            row=lambda k: (k.kid, k.alg, k.state.value, utc_time(k.created_at), utc_time(k.activated_at),
                           utc_time(k.retired_at)),
        )

    @app.command("rotate")
    def rotate(
        alg: Annotated[str, typer.Option("--alg", metavar="TEXT",
                                         help=f"One of {', '.join(SUPPORTED_ALGS)}.")] = "ES256",
        as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
    ) -> None:
        """Rotate now: the next key becomes active, the active key retires, a new next key is made."""
        with _errors():
            checked = check_alg(alg)
            keyring = get_keyring()
            plan = keyring.rotate(checked, force=True)
            result = rotation_dict(checked, plan, keyring.keys())
        if as_json:
            print_json(result)
            return
        for kid in plan.retire:
            typer.echo(f"retired    {kid}")
        if plan.activate:
            typer.echo(f"activated  {plan.activate}")
        for kid in plan.remove:
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
