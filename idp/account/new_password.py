"""The end of a password reset and of an account activation alike: the person proved, with a code
their mobile received, that the account is theirs, and chose a password. One place sets it, signs
everyone else out and the person in, and tells their mobile; each page audits its own event."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from idp.account.common import page_locale
from idp.account.notices import notify_password_changed
from idp.services import Services
from idp.sessions.sso import SsoSession
from idp.sessions.transactions import LoginTransaction
from idp.signin.session_start import continue_signed_in
from levels.people import Person


def sign_in_with_new_password(
    svc: Services, request: Request, person: Person, password: str, tx: LoginTransaction | None, *,
    throttle_key: str, ip: str,
) -> tuple[Response, SsoSession]:
    """Store the new password, forget the page's failures, end the person's other sessions (whoever
    knew an earlier password is out), and start a session proven by the code (`sms`, not `pwd`: the
    password was chosen, not proven). The mobile is told after the response."""
    svc.people.set_password_hash(person.id, svc.passwords.hash(password), datetime.now(UTC))
    svc.throttle.succeeded(throttle_key, ip)
    svc.logout.end_all(person.id, reason="password_reset", ip=ip)
    response, session = continue_signed_in(svc, request, person.id, ("sms",), tx)
    if person.mobile:
        response.background = BackgroundTask(notify_password_changed, svc, person.mobile,
                                             page_locale(svc, request, tx))
    return response, session
