"""`idp keys ...`: list and rotate signing keys. `idp.cli.main` mounts the app from `build_app`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer

from keys.errors import KeysError
from keys.keyring import KeyRing
from keys.models import SUPPORTED_ALGS, KeyState, SigningKey, check_alg


def build_app(get_keyring: Callable[[], KeyRing]) -> typer.Typer:
    """The `keys` command group; `get_keyring` is called only when a command runs."""
    app = typer.Typer(help="Signing keys: list and rotate.", no_args_is_help=True)

    @app.command("list")
    def list_keys(
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    ) -> None:
        """Show every published key (next, active, retired)."""
        with _errors():
            keys = get_keyring().keys()
        if as_json:
            typer.echo(json.dumps([_key_json(k) for k in keys], indent=2))
            return
        rows = [
            (k.kid, k.alg, k.state.value, _when(k.created_at), _when(k.activated_at), _when(k.retired_at))
            for k in keys
        ]
        typer.echo(_table(("KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED"), rows))

    @app.command("rotate")
    def rotate(
        alg: Annotated[str, typer.Option("--alg", help=f"One of {', '.join(SUPPORTED_ALGS)}.")] = "ES256",
        as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
    ) -> None:
        """Rotate now: the next key becomes active, the active key retires, a new next key is made."""
        with _errors():
            checked = check_alg(alg)
            keyring = get_keyring()
            plan = keyring.rotate(checked, force=True)
            current = keyring.keys()
        created = [k.kid for k in current if k.alg == checked and k.state is KeyState.NEXT]
        result = {
            "alg": checked,
            "activated": plan.activate,
            "retired": list(plan.retire),
            "removed": list(plan.remove),
            "created_next": created[0] if plan.create_next and created else None,
        }
        if as_json:
            typer.echo(json.dumps(result, indent=2))
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


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (KeysError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _key_json(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state.value,
        "created_at": key.created_at.isoformat(),
        "activated_at": key.activated_at.isoformat() if key.activated_at else None,
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(cell)) for cell in col) for col in zip(header, *rows, strict=False)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    )
