"""Admin CLI verbs for the back-channel logout outbox: list, deliver (one pass now), retry failed.

The server's background loop delivers on its own; these are for seeing what is stuck at which
portal, pushing a pass by hand, and giving failed notifications another round after an outage.
`build_app` takes a factory rather than the outbox, so `--help` and usage errors never open the
database; the `idp` CLI supplies the factory from its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer

from idp.cli.output import EXIT_INVALID, Errors, JsonFlag, command_group, fail, print_json, print_list, utc_time
from idp.sessions.delivery import LogoutDeliverer
from idp.sessions.outbox import Delivery, LogoutOutbox

# Exit codes: 1 for a failed operation (database), 2 for invalid input.
_errors = Errors((ValueError, str, EXIT_INVALID))

Factory = Callable[[], tuple[LogoutOutbox, LogoutDeliverer]]


class Status(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


SidOpt = Annotated[str | None, typer.Option("--sid", metavar="TEXT", help="Only the notifications of this session.")]
LimitOpt = Annotated[int, typer.Option("--limit", metavar="N", min=1, help="At most this many rows.")]


def build_app(get: Factory) -> typer.Typer:
    """The `logout` command group, operating on the outbox and deliverer `get()` returns."""
    app = command_group(help="Back-channel logout notifications to clients.")

    @app.command()
    def deliver(limit: LimitOpt = 100, as_json: JsonFlag = False) -> None:
        """Send the notifications that are due now (one pass, as the server does every few seconds)."""
        with _errors():
            _, deliverer = get()
            try:
                report = deliverer.deliver_due(limit)
            finally:
                deliverer.close()
        if as_json:
            print_json({"delivered": report.delivered, "retried": report.retried, "failed": report.failed})
            return
        typer.echo(f"Delivered {report.delivered}, to retry {report.retried}, failed {report.failed}.")

    @app.command("list")
    def list_(
        status: Annotated[Status | None, typer.Option("--status", metavar="TEXT",
                                                      help="Only rows in this state.")] = None,
        sid: SidOpt = None,
        limit: LimitOpt = 100,
        as_json: JsonFlag = False,
    ) -> None:
        """List notifications, newest first."""
        with _errors():
            outbox, _ = get()
            rows = outbox.deliveries(sid=sid, status=status.value if status else None, limit=limit)
        print_list(
            rows, as_json=as_json, to_json=delivery_dict, empty="No back-channel logout notifications.",
            header=("ID", "CLIENT", "SID", "STATUS", "ATTEMPTS", "NEXT_ATTEMPT", "LAST_ERROR"),
            row=lambda d: (str(d.id), d.client_id, d.sid, d.status, str(d.attempts),
                           utc_time(d.next_attempt_at) if d.status == Status.pending else "-", d.last_error or "-"),
        )

    @app.command()
    def retry(
        delivery_id: Annotated[list[int] | None, typer.Option("--id", metavar="N",
                                                              help="Repeatable: a row id from list.")] = None,
        sid: SidOpt = None,
        client: Annotated[str | None, typer.Option("--client", metavar="TEXT",
                                                   help="Only this client's notifications.")] = None,
        all_failed: Annotated[bool, typer.Option("--all", help="Every failed notification.")] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Give failed notifications a fresh set of attempts, due now (e.g. after a portal's outage)."""
        if not (delivery_id or sid or client or all_failed):
            fail("name what to retry: --id, --sid, --client, or --all", EXIT_INVALID)
        with _errors():
            outbox, _ = get()
            count = outbox.retry_failed(ids=delivery_id or (), sid=sid, client_id=client, everything=all_failed)
        if as_json:
            print_json({"reopened": count})
            return
        typer.echo(f"Reopened {count} failed notification(s); the server sends them on its next pass.")

    return app


def delivery_dict(delivery: Delivery) -> dict[str, object]:
    return {
        "id": delivery.id, "client_id": delivery.client_id, "uri": delivery.uri, "sid": delivery.sid,
        "person_id": delivery.person_id, "jti": delivery.jti, "status": delivery.status,
        "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "last_error": delivery.last_error, "created_at": delivery.created_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }
