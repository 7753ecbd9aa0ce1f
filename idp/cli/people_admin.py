"""`idp people list|search|disable|enable|unlock|remove-factor|sessions|sign-out`: looking people
up and the administrator's actions on an account (`idp.people_admin`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

import typer

from idp.cli.output import EXIT_FAILED, EXIT_INVALID, Errors, JsonFlag, fail, print_json, print_list, utc_time
from idp.cli.remote import AdminApi, ServerOpt, segment
from idp.people_admin import BlocksOutOfReach, CannotActivate, NotEnrollable, PeopleAdmin
from idp.sessions.logout import EndedSession
from levels.iranian_input import InvalidNationalCode, normalize_digits, parse_national_code
from levels.people import STATUSES, Person, SqlPersonStore
from levels.sms import SmsDeliveryFailed, mask_mobile

CodeOpt = Annotated[str, typer.Option("--national-code", metavar="TEXT", help="The person's national code.")]
OperatorOpt = Annotated[str, typer.Option("--operator", metavar="TEXT", help="Who is doing this, for the audit log.")]
LimitOpt = Annotated[int, typer.Option("--limit", metavar="N", min=1, max=1000, help="At most this many.")]

errors = Errors(
    (InvalidNationalCode, lambda exc: str(exc), EXIT_INVALID),
    (NotEnrollable, lambda exc: f"--factor: {exc}", EXIT_INVALID),
    (BlocksOutOfReach, str, EXIT_FAILED),
    (CannotActivate, str, EXIT_FAILED),
    (SmsDeliveryFailed, lambda exc: f"the activation code was issued but the text message failed: {exc}; run the"
                                    " command again to send a new code", EXIT_FAILED),
)
_HEADER = ("NATIONAL_CODE", "GIVEN_NAME", "FAMILY_NAME", "TIER", "STATUS", "CREATED")


def person_row(view: dict[str, object]) -> tuple[str, ...]:
    """A `person_brief` as a table row."""
    created = datetime.fromisoformat(str(view["created_at"]))
    return (str(view["national_code"]), str(view["given_name"]), str(view["family_name"]),
            str(view["proofing_tier"]), str(view["status"]), utc_time(created))


def person_brief(person: Person) -> dict[str, object]:
    return {"national_code": person.national_code, "given_name": person.given_name,
            "family_name": person.family_name, "proofing_tier": person.proofing_tier, "status": person.status,
            "created_at": person.created_at.isoformat()}


def add_admin_commands(app: typer.Typer, get_people: Callable[[], SqlPersonStore],
                       get_admin: Callable[[str], PeopleAdmin],
                       get_remote: Callable[[str], AdminApi] | None = None) -> None:
    """Add the look-up and account commands to the `people` group `app`; with `get_remote`,
    `disable`, `enable`, `unlock` and `sign-out` take `--server URL` to work through that
    provider's admin API."""

    def remote_page(server: str, query: dict[str, object]) -> list[dict[str, object]]:
        if get_remote is None:
            fail("--server is not available here", EXIT_INVALID)
        return list(get_remote(server).call("GET", f"/people?{urlencode(query)}")["people"])

    def remote(server: str, national_code: str, action: str) -> dict[str, object]:
        if get_remote is None:
            fail("--server is not available here", EXIT_INVALID)
        with errors():
            code = parse_national_code(national_code)
        return get_remote(server).call("POST", f"/people/{segment(code)}/{action}")  # type: ignore[no-any-return]

    @contextmanager
    def account(national_code: str, operator: str = "cli") -> Iterator[tuple[PeopleAdmin, Person]]:
        with errors():
            code = parse_national_code(national_code)
            admin = get_admin(operator)
            person = admin.svc.people.get_by_national_code(code)
            if person is None:
                fail("no person with this national code", EXIT_FAILED)
            try:
                yield admin, person
            finally:
                admin.svc.engine.dispose()

    @app.command("list")
    def list_(
        status: Annotated[str | None, typer.Option("--status", metavar="STATUS", help="active or disabled.")] = None,
        after: Annotated[str | None, typer.Option(
            "--after", metavar="NATIONAL_CODE", help="Start after this national code (the last one shown).")] = None,
        limit: LimitOpt = 50,
        server: ServerOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """People in national-code order, a page at a time."""
        if status is not None and status not in STATUSES:
            fail(f"--status must be one of {', '.join(sorted(STATUSES))}", EXIT_INVALID)
        after = normalize_digits(after) if after else None
        if server is not None:
            query = {k: v for k, v in (("after", after), ("status", status), ("limit", limit)) if v is not None}
            found = remote_page(server, query)
        else:
            with errors():
                found = [person_brief(p) for p in get_people().page(after=after, limit=limit, status=status)]
        print_list(found, as_json=as_json, to_json=lambda v: v, header=_HEADER, row=person_row, empty="No people.")

    @app.command()
    def search(
        prefix: Annotated[str, typer.Argument(
            metavar="DIGITS", help="The first digits of a national code (3 or more).")],
        limit: LimitOpt = 50,
        server: ServerOpt = None,
        as_json: JsonFlag = False,
    ) -> None:
        """People whose national code starts with the digits given."""
        digits = normalize_digits(prefix).replace(" ", "").replace("-", "")
        if not digits.isdigit() or not 3 <= len(digits) <= 10:
            fail("give 3 to 10 digits of a national code", EXIT_INVALID)
        if server is not None:
            found = remote_page(server, {"code_prefix": digits, "limit": limit})
        else:
            with errors():
                found = [person_brief(p) for p in get_people().page(code_prefix=digits, limit=limit)]
        print_list(found, as_json=as_json, to_json=lambda v: v, header=_HEADER, row=person_row,
                   empty="No one's national code starts with these digits.")

    @app.command()
    def disable(national_code: CodeOpt, operator: OperatorOpt = "cli", server: ServerOpt = None,
                as_json: JsonFlag = False) -> None:
        """Stop the person signing in; their sessions end and their services are told."""
        if server is not None:
            view = remote(server, national_code, "disable")
        else:
            with account(national_code, operator) as (admin, person):
                view = {"status": "disabled", **ended_dict(admin.disable(person))}
        _print_ended(view, as_json)

    @app.command()
    def enable(national_code: CodeOpt, operator: OperatorOpt = "cli", server: ServerOpt = None,
               as_json: JsonFlag = False) -> None:
        """Let a disabled person sign in again."""
        if server is not None:
            changed = bool(remote(server, national_code, "enable")["changed"])
        else:
            with account(national_code, operator) as (admin, person):
                changed = admin.enable(person)
        if as_json:
            print_json({"status": "active", "changed": changed})
        else:
            typer.echo("The person can sign in again." if changed else "The person was not disabled.")

    @app.command()
    def unlock(national_code: CodeOpt, operator: OperatorOpt = "cli", server: ServerOpt = None,
               as_json: JsonFlag = False) -> None:
        """Lift the block too many failed sign-ins put on the account."""
        if server is not None:
            remote(server, national_code, "unlock")  # in the provider: its in-process blocks too
        else:
            with account(national_code, operator) as (admin, person):
                admin.unlock(person)
        if as_json:
            print_json({"unlocked": True})
        else:
            typer.echo("The account's sign-in block is lifted.")

    @app.command("remove-factor")
    def remove_factor(
        national_code: CodeOpt,
        factor: Annotated[str, typer.Option("--factor", metavar="METHOD", help="otp or passkey.")],
        credential: Annotated[str | None, typer.Option(
            "--credential", metavar="ID", help="One passkey's id (see `sessions`); default: every one.")] = None,
        operator: OperatorOpt = "cli",
        as_json: JsonFlag = False,
    ) -> None:
        """Remove a second factor the person lost (an authenticator app, a passkey)."""
        with account(national_code, operator) as (admin, person):
            removed = admin.remove_factor(person, factor, credential)
        if as_json:
            print_json({"factor": factor, "removed": removed})
        elif removed:
            typer.echo(f"Removed the person's {factor}.")
        else:
            fail(f"the person has no {factor}" + (f" {credential}" if credential else ""), EXIT_FAILED)

    @app.command()
    def activate(
        national_code: CodeOpt,
        lang: Annotated[str, typer.Option("--lang", metavar="fa|en", help="The text message's language.")] = "fa",
        operator: OperatorOpt = "cli",
        as_json: JsonFlag = False,
    ) -> None:
        """Text a person added without a password a one-time code to choose one at /activate."""
        if lang not in ("fa", "en"):
            fail("--lang must be fa or en", EXIT_INVALID)
        with account(national_code, operator) as (admin, person):
            expires = admin.activate(person, lang)
        if as_json:
            print_json({"sent_to": mask_mobile(person.mobile or ""), "expires_at": expires.isoformat()})
        else:
            typer.echo(f"Sent an activation code to {mask_mobile(person.mobile or '')}; it works until"
                       f" {utc_time(expires)}.")

    @app.command()
    def sessions(national_code: CodeOpt, as_json: JsonFlag = False) -> None:
        """The person's open sessions, most recently used first."""
        with account(national_code) as (admin, person):
            found = admin.sessions(person)
        print_list(
            found, as_json=as_json, empty="No open sessions.",
            to_json=lambda r: {"sid": r.sid, "device": r.device, "ip": r.ip, "created_at": r.created_at.isoformat(),
                               "last_seen_at": r.last_seen_at.isoformat(), "clients": list(r.clients)},
            header=("SID", "DEVICE", "IP", "STARTED", "LAST_SEEN", "CLIENTS"),
            row=lambda r: (r.sid[:12], r.device or "-", r.ip or "-", utc_time(r.created_at), utc_time(r.last_seen_at),
                           ",".join(r.clients) or "-"),
        )

    @app.command("sign-out")
    def sign_out(national_code: CodeOpt, operator: OperatorOpt = "cli", server: ServerOpt = None,
                 as_json: JsonFlag = False) -> None:
        """End every session of the person on every device: their clients get back-channel logout
        notifications and the refresh tokens issued in those sessions stop working."""
        if server is not None:
            view = remote(server, national_code, "sign-out")
        else:
            with account(national_code, operator) as (admin, person):
                view = ended_dict(admin.sign_out(person))
        _print_ended(view, as_json)


def ended_dict(ended: list[EndedSession]) -> dict[str, object]:
    """The sessions an account change ended, and the clients told of it."""
    return {"sessions_ended": [e.sid for e in ended], "clients_notified": sorted({c for e in ended for c in e.clients})}


def _print_ended(view: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    ended, clients = view["sessions_ended"], view["clients_notified"]
    assert isinstance(ended, list) and isinstance(clients, list)
    typer.echo(f"Ended {len(ended)} session(s)" + (f"; notifying {', '.join(clients)}." if clients else "."))
