"""What every `idp` sub-command prints and how it exits, the same way everywhere: errors as one line
on stderr (`error: …`, or with `--json` one JSON object `{"error": …, "detail": …}`), exit code 1
for a failed operation and 2 for invalid input, JSON with `--json`, aligned tables otherwise.

Each command group lists the exceptions it expects once, in an `Errors` table, and wraps its work
in `with errors():`; database errors are in every table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

try:  # Typer 0.22 and newer parse with their own copy of click: its errors and context are these.
    from typer._click.exceptions import ClickException, UsageError
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older Typer runs on click itself
    from click import ClickException, UsageError, get_current_context  # type: ignore[assignment]

__all__ = ["ClickException", "UsageError"]

_T = TypeVar("_T")

EXIT_FAILED = 1
EXIT_INVALID = 2

def command_group(help: str, **options: Any) -> typer.Typer:  # noqa: A002 - Typer's own name
    """A command group as every `idp` group is made: plain click help, which wraps to the terminal
    (at 80 columns Rich's boxed help cut option names short), no shell-completion options, help
    when called with no command."""
    return typer.Typer(help=help, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                       pretty_exceptions_enable=False, **options)


# The `--json` switch of every command that has no more specific help for it.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

# (exception class or classes, the message for a caught exception, exit code)
ErrorRule = tuple[type[Exception] | tuple[type[Exception], ...], Callable[[Any], str], int]


# The `error` member of a JSON error, by exit code: what a script branches on.
ERROR_NAMES = {EXIT_FAILED: "failed", EXIT_INVALID: "invalid_input"}


def fail(message: str, code: int, *, problems: Sequence[Mapping[str, object]] = ()) -> NoReturn:
    """Print the error on stderr and exit with `code`. `problems`: the lines of a file that were
    wrong, each `{"line": n, "message": …}`, printed before the error."""
    if json_wanted():
        error: dict[str, object] = {"error": ERROR_NAMES.get(code, "failed"), "detail": message}
        if problems:
            error["problems"] = list(problems)
        typer.echo(json.dumps(error, ensure_ascii=False), err=True)
    else:
        for problem in problems:
            typer.echo(f"line {problem['line']}: {problem['message']}", err=True)
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def json_wanted() -> bool:
    """Whether the running command (or a group above it) was given `--json`; also read from the
    command line itself for usage errors, which click raises before any parameter is parsed."""
    ctx = get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return False


def database_error(exc: Exception) -> NoReturn:
    fail(f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}", EXIT_FAILED)


class Errors:
    """A command group's expected exceptions, each turned into one line on stderr and an exit code.

    Rules are tried in order, so a subclass goes before its base; anything else propagates (a bug
    shows its traceback). `with table():` guards the work of one command.
    """

    def __init__(self, *rules: ErrorRule) -> None:
        self._rules = rules

    @contextmanager
    def __call__(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            database_error(exc)
        except Exception as exc:
            for kinds, message, code in self._rules:
                if isinstance(exc, kinds):
                    fail(message(exc), code)
            raise


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_fields(view: Mapping[str, object]) -> None:
    """One record as every `show` prints it: aligned `name  value` lines, lists joined with commas,
    nested records as `key=value` pairs, yes/no for flags and `-` for nothing."""
    width = max((len(k) for k in view), default=0)
    for key, value in view.items():
        typer.echo(f"{key.ljust(width)}  {_shown(value)}".rstrip())


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v) for v in value) if value else "-"
    if isinstance(value, Mapping):
        pairs = [f"{k}={_shown(v)}" for k, v in value.items() if v is not None]
        return ", ".join(pairs) if pairs else "-"
    return str(value)


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_list(
    items: Sequence[_T], *, as_json: bool, to_json: Callable[[_T], object], header: tuple[str, ...],
    row: Callable[[_T], tuple[str, ...]], empty: str | None = None,
) -> None:
    """A listing: a JSON array with `--json`, else `empty` if there is nothing (and it is given),
    else a table."""
    if as_json:
        print_json([to_json(item) for item in items])
    elif not items and empty is not None:
        typer.echo(empty)
    else:
        print_table(header, [row(item) for item in items])


def utc_time(value: datetime | None) -> str:
    """A moment as tables show it (`2025-01-31 08:00:00Z`), or `-` for none; naive means UTC."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%SZ")
