"""Account page "Where you're signed in": every open session of the person (device, IP, times, the
services used in it), with "Sign out" for each and "Sign out everywhere". Ending goes through
`SingleLogout`, which also audits it and tells the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.account.common import SESSIONS, client_names
from idp.account.security import confirm_first, posted_form, render_account, signed_in
from idp.services import Services
from idp.sessions.end_session import logged_out_page
from idp.sessions.logout import EndedSession
from idp.sessions.sso import SsoSession
from idp.web.deps import PostedForm, client_ip, services
from levels.people import Person

router = APIRouter()

SIGN_OUT = "/account/sign-out"  # the header's button, on every page that names the signed-in person
SESSION_ENDED = "That device was signed out."
NOT_YOUR_SESSION = "This session is not one of yours, or it has already ended."
UNKNOWN_DEVICE = "Unknown device"
CONFIRM_END_ALL = "Sign out everywhere?"
CONFIRM_END_ALL_DETAIL = ("You will be signed out on every device, this one included, and of the services you "
                          "used there.")
# `idp.sessions.devices.describe` says "<browser> on <system>"; the pattern is translated, the names are not.
DEVICE_PATTERN = "%(browser)s on %(system)s"


def device_name(device: str, gettext: Callable[[str], str]) -> str:
    """The device description in the page language."""
    if not device or device == UNKNOWN_DEVICE:
        return gettext(UNKNOWN_DEVICE)
    browser, on, system = device.partition(" on ")
    if on:
        return gettext(DEVICE_PATTERN) % {"browser": browser, "system": system}
    return device


def _page(svc: Services, request: Request, session: SsoSession, person: Person, *, status_code: int = 200,
          error: str | None = None, notice: str | None = None) -> Response:
    locale = svc.pages.locale(request)
    tr = svc.pages.gettext(locale)
    client_name = client_names(svc, locale)

    records = svc.sessions.register.open_for(person.id, datetime.now(UTC))
    # This browser first, then the most recently used.
    records.sort(key=lambda r: r.sid != session.sid)
    rows = [
        {"sid": r.sid, "device": device_name(r.device, tr.gettext), "ip": r.ip, "created_at": r.created_at,
         "last_seen_at": r.last_seen_at, "current": r.sid == session.sid,
         "clients": [client_name(c) for c in r.clients]}
        for r in records
    ]
    return render_account(svc, request, "account_sessions.html", person, status_code=status_code, error=error,
                          notice=notice, sessions=rows)


@router.get(SESSIONS)
def sessions(request: Request) -> Response:
    svc = services(request)
    who = signed_in(svc, request, SESSIONS)
    if isinstance(who, Response):
        return who
    notice = SESSION_ENDED if request.query_params.get("done") == "ended" else None
    return _page(svc, request, *who, notice=notice)


def _signed_out_here(svc: Services, request: Request, ended: list[EndedSession], *, everywhere: bool) -> Response:
    """This browser's session ended: the signed-out page, which also signs the browser out of the
    services that registered a front-channel logout URL."""
    return logged_out_page(svc, request, svc.pages.locale(request), svc.logout.frontchannel_urls(ended), None,
                           everywhere=everywhere)


@router.post(f"{SESSIONS}/end")
def end_one(request: Request, form_post: PostedForm) -> Response:
    posted = posted_form(request, form_post, SESSIONS)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    sid = form.get("sid", "")[:64]
    record = svc.sessions.register.get(sid) if sid else None
    if record is None or record.person_id != person.id:
        return _page(
            svc, request, session, person, status_code=400, error=NOT_YOUR_SESSION)
    ip = client_ip(request, svc.settings.trusted_proxies)
    ended = svc.logout.end(sid, reason="signed_out", actor=f"person:{person.id}", ip=ip)
    if sid == session.sid:
        return _signed_out_here(svc, request, [ended] if ended else [], everywhere=False)
    # Front-channel logout only works in the browser that holds the services' cookies: another
    # device's services learn of it by back-channel only.
    return RedirectResponse(f"{SESSIONS}?done=ended", status_code=303)


@router.post(f"{SESSIONS}/end-all")
def end_all(request: Request, form_post: PostedForm) -> Response:
    posted = posted_form(request, form_post, SESSIONS)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    ask = confirm_first(
        svc, request, person, form, question=CONFIRM_END_ALL, detail=CONFIRM_END_ALL_DETAIL,
        confirm_label="Sign out everywhere", action=f"{SESSIONS}/end-all", cancel_to=SESSIONS)
    if ask is not None:
        return ask
    ip = client_ip(request, svc.settings.trusted_proxies)
    ended = svc.logout.end_all(
        person.id, reason="everywhere", actor=f"person:{person.id}", ip=ip)
    here = [e for e in ended if e.sid == session.sid]
    return _signed_out_here(svc, request, here, everywhere=True)


@router.post(SIGN_OUT)
def sign_out(request: Request, form_post: PostedForm) -> Response:
    """The header's "Sign out": ends this browser's session (a POST with its CSRF token, so no link
    or image elsewhere can sign a person out), then the signed-out page tells the services."""
    posted = posted_form(request, form_post, SESSIONS)
    if isinstance(posted, Response):
        return posted
    svc, session, person, _ = posted
    ip = client_ip(request, svc.settings.trusted_proxies)
    ended = svc.logout.end(session.sid, reason="signed_out", actor=f"person:{person.id}", ip=ip)
    return _signed_out_here(svc, request, [ended] if ended else [], everywhere=False)
