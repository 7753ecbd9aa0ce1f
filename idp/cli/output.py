"""What every `idp` sub-command prints and how it exits, the same way everywhere: errors as one line
on stderr (`error: …`), exit code 1 for a failed operation and 2 for invalid input, JSON with
`--json`, aligned tables otherwise."""

from __future__ import annotations

import json
from typing import NoReturn

import typer

EXIT_FAILED = 1
EXIT_INVALID = 2


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def database_error(exc: Exception) -> NoReturn:
    fail(f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}", EXIT_FAILED)


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
