"""Starting the SSO session after a successful sign-in (password, passkey, registration, recovery)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.account.common import ACCOUNT_HOME, account_page_for
from idp.services import Services
from idp.sessions.devices import describe
from idp.sessions.sso import SsoSession
from idp.sessions.transactions import LoginTransaction
from idp.web.deps import client_ip


def continue_signed_in(
    svc: Services, request: Request, person_id: str, methods: tuple[str, ...], tx: LoginTransaction | None,
) -> tuple[Response, SsoSession]:
    """Give the browser a session holding `methods`, under a new cookie value (against session
    fixation), and continue with the pending authorization, or the account page it came from.

    The same person signing in again (prompt=login, a step back to the sign-in page) keeps their
    session — its sid and the clients in it — so no client is logged out; a different person's
    session on this browser is ended first, with the usual logout fan-out.
    """
    ip = client_ip(request, svc.settings.trusted_proxies)
    previous_cookie = svc.cookies.session.read(request)
    previous = svc.sessions.load(previous_cookie)
    if previous is not None and previous_cookie and previous.person_id == person_id:
        cookie_value, session = svc.sessions.renew(previous_cookie, previous, methods, ip=ip)
    else:
        if previous is not None:
            svc.logout.end(previous.sid, reason="other_sign_in", ip=ip)
        cookie_value, session = svc.sessions.start(
            person_id, methods[0], device=describe(request.headers.get("user-agent")), ip=ip)
        for method in methods[1:]:
            session = svc.sessions.add_factor(cookie_value, session, method)
    target = account_page_for(tx) or (f"/authorize/resume?tx={tx.id}" if tx else ACCOUNT_HOME)
    response = RedirectResponse(target, status_code=303)
    svc.cookies.session.set(response, cookie_value)
    return response, session
