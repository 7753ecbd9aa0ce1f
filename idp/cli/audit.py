"""Admin CLI verbs for the audit trail: verify its hash chains, export events for a log store.

`verify` exits 0 when every chain is intact and 1 when one is broken, naming the first event that
does not fit in each broken chain; `export --json` writes one JSON object per line, streamed, for
shipping. `build_app` takes a factory rather than the engine, so `--help` and usage errors never
open the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import typer
from sqlalchemy import Engine

from idp.audit_verify import export, verify
from idp.cli.output import EXIT_FAILED, EXIT_INVALID, Errors, JsonFlag, command_group, fail, print_json, print_table

_errors = Errors()

_DATE_HELP = "An ISO date (2026-12-01, UTC) or date and time (2026-12-01T08:30:00Z; without a zone, UTC)."


def _moment(option: str, value: str, *, end_of_day: bool = False) -> datetime:
    """An option's date or date-time as an aware UTC time; a bare date is its midnight (or the
    next one, `end_of_day`, so that `--until` a day includes that day)."""
    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1 if end_of_day else 0), time(0), UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: not an ISO date or date-time: {value!r} (for example 2026-12-01 or "
             "2026-12-01T08:30:00Z)", EXIT_INVALID)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def build_app(get: Callable[[], Engine]) -> typer.Typer:
    """The `audit` command group, on the database `get()` returns."""
    app = command_group(help="The audit trail: verify its hash chains, export events.")

    @app.command("verify")
    def verify_(as_json: JsonFlag = False) -> None:
        """Check every hash chain; name the first changed, deleted, inserted or reordered event.

        Exit code 0: every chain is intact; 1: a chain is broken.
        """
        with _errors():
            report = verify(get())
        if as_json:
            print_json(report.as_dict())
        else:
            for found in report.breaks:
                typer.echo(found.message)
            earlier = f"; {report.unchained} earlier event(s) predate the chains and were not checked" \
                if report.unchained else ""
            state = "intact" if report.intact else f"BROKEN in {len(report.breaks)} place(s)"
            typer.echo(f"Audit trail {state}: {report.checked} event(s) checked in {len(report.chains)} "
                       f"chain(s){earlier}.")
        if not report.intact:
            raise typer.Exit(EXIT_FAILED)

    @app.command("export")
    def export_(
        since: Annotated[str, typer.Option("--since", metavar="WHEN", help=f"From this moment on. {_DATE_HELP}")],
        until: Annotated[str | None, typer.Option(
            "--until", metavar="WHEN", help="Before this moment (a bare date: to the end of that day).")] = None,
        as_json: Annotated[bool, typer.Option(
            "--json", help="One JSON object per line (JSON Lines), streamed, for a log store.")] = False,
    ) -> None:
        """Events from --since (up to --until), oldest first, with their chains and hashes.

        With --json, one object per line, streamed: for shipping to a log store.
        """
        start = _moment("--since", since)
        end = _moment("--until", until, end_of_day=True) if until is not None else None
        if end is not None and end <= start:
            fail("--until must be after --since", EXIT_INVALID)
        with _errors():
            events = export(get(), start, end)
            if as_json:
                for event in events:
                    typer.echo(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
                return
            rows = [(str(e["id"]), _text(e["chain"]), _text(e["sequence"]), str(e["at"]), str(e["kind"]),
                     _text(e["actor"]), _text(e["person_id"]), _text(e["client_id"]),
                     str(e["hash"])[:16] if e["hash"] else "-") for e in events]
        if not rows:
            typer.echo("No audit events in this period.")
            return
        print_table(("ID", "CHAIN", "SEQ", "AT", "KIND", "ACTOR", "PERSON", "CLIENT", "HASH"), rows)

    return app


def _text(value: object) -> str:
    return "-" if value is None else str(value)
