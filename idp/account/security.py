"""The citizen's own account: shared helpers of the account pages, and "Sign-in and security"
(the password, and setting up each factor that has a section here: `idp.signin.factors`).

The other pages live in their own modules: profile (`account_profile`), where you're signed in
(`account_sessions`), connected services (`account_services`), activity (`account_history`) and
companies I represent (`account_companies`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.account.common import ACCOUNT_HOME, SECURITY
from idp.account.notices import notify_password_changed
from idp.errors import OAuth2Error
from idp.services import Services
from idp.sessions.sso import SsoSession
from idp.signin.factors import BUILT_IN, FactorPage
from idp.web.deps import Posted, PostedForm, client_ip, services
from idp.web.error_map import refusal
from idp.web.i18n import format_day
from idp.web.pages import unbroken
from legal_entities.days import TEHRAN
from levels.authenticators.base import EnrolmentFailed
from levels.people import Person
from levels.registration import WeakPassword, check_new_password
from levels.throttle import TooManyAttempts

router = APIRouter()
log = logging.getLogger("idp.account")

_PENDING_TTL = 600


PASSWORD_CHANGED = "Your password was changed. You were signed out on your other devices."
WRONG_CURRENT_PASSWORD = "Your current password is not correct."


def signed_in(svc: Services, request: Request, page: str = ACCOUNT_HOME) -> tuple[SsoSession, Person] | Response:
    """The browser's session and person, or a redirect to sign in that comes back to `page`."""
    cookie = svc.cookies.session.read(request)
    session = svc.sessions.load(cookie)
    person = svc.people.get(session.person_id) if session else None
    if cookie is None or session is None or person is None or person.status != "active":
        tx = svc.transactions.start([("return_to", page)], client_id="")
        response = RedirectResponse(f"/login?tx={tx.id}", status_code=303)
        # A link asking for a language (`?ui_locales=en`) keeps it through the sign-in and after.
        svc.pages.remember_locale(request, response)
        return response
    return svc.sessions.seen(cookie, session, client_ip(request, svc.settings.trusted_proxies)), person


def format_moment(moment: datetime, locale: str) -> str:
    """A moment as people read it: the day (Jalali in Persian) and the time on Tehran's clock."""
    local = moment.astimezone(TEHRAN)
    return f"{format_day(local.date(), locale)} {local:%H:%M}"


def full_name(person: Person) -> str:
    return f"{person.given_name} {person.family_name}".strip()


def account_frame(person: Person) -> dict[str, object]:
    """What every account page's frame needs: the person the header names (with "Sign out") and
    the account layout, which gives the pages' menu room."""
    return {"signed_in_as": full_name(person) or person.national_code, "layout": "account"}


def render_account(
    svc: Services, request: Request, template: str, person: Person, *, status_code: int = 200,
    error: str | None = None, notice: str | None = None, **context: object,
) -> Response:
    """An account page in the person's language; `error` and `notice` are message ids, translated here.
    Framed by `account_frame`."""
    locale = svc.pages.locale(request)
    tr = svc.pages.gettext(locale)
    return svc.pages.render(
        request, template, locale, status_code=status_code, person=person, person_name=full_name(person),
        **account_frame(person),
        error=tr.gettext(error) if error else None, notice=tr.gettext(notice) if notice else None,
        format_moment=lambda moment: unbroken(format_moment(moment, locale)), **context,
    )


CONFIRMED = "yes"


def confirm_first(
    svc: Services, request: Request, person: Person, form: Mapping[str, str], *, question: str, detail: str,
    confirm_label: str, action: str, cancel_to: str, fields: Mapping[str, str] | None = None, subject: str = "",
) -> Response | None:
    """A page that asks `question` before an action that cannot be undone, or None once confirmed.

    One question per page, with Confirm and Cancel, as GOV.UK's design system asks: it works without
    JavaScript, and its form carries the same CSRF token as the page it came from. Confirming
    resubmits `fields` to `action` with `confirm=yes`; Cancel is a link back to `cancel_to`.
    """
    if form.get("confirm") == CONFIRMED:
        return None
    tr = svc.pages.gettext(svc.pages.locale(request))
    return render_account(
        svc, request, "account_confirm.html", person, question=tr.gettext(question), detail=tr.gettext(detail),
        confirm_label=tr.gettext(confirm_label), action=action, cancel_to=cancel_to,
        fields=sorted((fields or {}).items()), subject=subject)


def _page(
    svc: Services, request: Request, person: Person, *, status_code: int = 200, ticket: str = "",
    shown: tuple[str, Mapping[str, object]] | None = None, **extra: object,
) -> Response:
    """The security page: the password form and one section per factor set up here (its partial,
    `idp/web/templates/factors/*_account.html`); `shown` adds what one factor's set-up just
    returned (a QR code, recovery codes) to its section."""
    sections = []
    for method, authenticator, page in svc.factors.enrollable():
        values = page.account(authenticator, person, ticket)
        if shown is not None and shown[0] == method:
            values.update(shown[1])
        sections.append({"partial": page.account_partial, "view": values})
    return render_account(svc, request, "account_security.html", person, status_code=status_code, lang_page=SECURITY,
                          factor_sections=sections, **extra)


def _form(svc: Services, request: Request, posted: Posted) -> ImmutableMultiDict[str, str] | Response:
    try:
        form = ImmutableMultiDict(posted.pairs())
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return svc.pages.error(request, "Your form expired. Please try again.", "")
    return form


def posted_form(
    request: Request, posted: Posted, page: str = ACCOUNT_HOME
) -> tuple[Services, SsoSession, Person, ImmutableMultiDict[str, str]] | Response:
    """A signed-in person's account form, after its CSRF token checks out."""
    svc = services(request)
    who = signed_in(svc, request, page)
    if isinstance(who, Response):
        return who
    form = _form(svc, request, posted)
    if isinstance(form, Response):
        return form
    return svc, who[0], who[1], form


_SECURITY_NOTICES = {"password": PASSWORD_CHANGED, **{
    page.enrolled_name: page.added_notice for page in (m.PAGE for m in BUILT_IN) if page.added_notice}}


@router.get(SECURITY)
def security(request: Request) -> Response:
    svc = services(request)
    who = signed_in(svc, request, SECURITY)
    if isinstance(who, Response):
        return who
    notice = _SECURITY_NOTICES.get(request.query_params.get("added", "") or request.query_params.get("done", ""))
    return _page(svc, request, who[1], notice=notice)


@router.post("/account/password")
def change_password(request: Request, form_post: PostedForm) -> Response:
    """Change the password: the current one is checked (and throttled) like a sign-in; every other
    session of the person ends, this browser's goes on."""
    posted = posted_form(request, form_post, SECURITY)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    current = form.get("current_password", "")[:1024]
    new = form.get("new_password", "")[:2048]

    def refuse(status_code: int, **errors: str) -> Response:
        locale = svc.pages.locale(request)
        tr = svc.pages.gettext(locale)
        return _page(svc, request, person, status_code=status_code,
                     password_errors={k: tr.gettext(v) for k, v in errors.items()})

    if not current:
        return refuse(400, current="Enter your current password.")
    ip = client_ip(request, svc.settings.trusted_proxies)
    device = svc.device_cookies.recognise(request, person.national_code)
    try:
        # The same counters as signing in: a borrowed session cannot be used to guess the password.
        svc.throttle.check(person.national_code, ip, device)
    except TooManyAttempts as exc:
        refused = refusal(exc)
        return refused.apply(refuse(refused.status, current=refused.message))
    ok = svc.passwords.verify(svc.people.password_hash(person.id), current)
    if not ok:
        svc.throttle.failed(person.national_code, ip, device)
        svc.audit.record("password.change_failed", person_id=person.id, ip=ip, detail={"sid": session.sid})
        return refuse(400, current=WRONG_CURRENT_PASSWORD)
    svc.throttle.succeeded(person.national_code, ip, device)
    try:
        check_new_password(new, national_code=person.national_code)
    except WeakPassword as exc:
        return refuse(400, new=_weak_password_message(svc, request, str(exc)))
    _store_password(svc, person, new, session, ip)
    response = RedirectResponse(f"{SECURITY}?done=password", status_code=303)
    if person.mobile:
        response.background = BackgroundTask(notify_password_changed, svc, person.mobile, svc.pages.locale(request))
    return response


def _weak_password_message(svc: Services, request: Request, message: str) -> str:
    """The reason as a message id with a translation in the page language; a general one when the
    reason has none (messages that carry a number, like a maximum length)."""
    locale = svc.pages.locale(request)
    translated = svc.pages.gettext(locale).gettext(message) != message
    return message if translated or locale == "en" else "Choose another password."


def _store_password(svc: Services, person: Person, password: str, session: SsoSession, ip: str) -> None:
    svc.people.set_password_hash(person.id, svc.passwords.hash(password), datetime.now(UTC))
    # Whoever knew the old password is signed out; this browser, which just proved it, stays.
    ended = svc.logout.end_all(person.id, reason="password_changed", ip=ip, keep=session.sid)
    svc.audit.record("password.changed", person_id=person.id, ip=ip, detail={
        "sid": session.sid, "other_sessions_ended": len(ended)})


def _enrolment(page: FactorPage, action: str) -> Callable[[Request, PostedForm], Response]:
    """The POST handler that begins or finishes setting up one factor (its `enrol_paths`)."""

    def handler(request: Request, form_post: PostedForm) -> Response:
        posted = posted_form(request, form_post, SECURITY)
        if isinstance(posted, Response):
            return posted
        svc, session, person, form = posted
        found = [(m, a) for m, a, p in svc.factors.enrollable() if p is page]
        if not found:
            return svc.pages.error(request, "This request is not valid", "")
        method, authenticator = found[0]
        if action == "begin":
            shown = authenticator.begin_enrolment(person, session.sid)
            return _page(svc, request, person, ticket=session.sid, shown=(method, shown))
        try:
            shown = authenticator.finish_enrolment(person, session.sid, form)
        except EnrolmentFailed as exc:
            return _page(svc, request, person, status_code=page.failure_status(exc), ticket=session.sid,
                         shown=(method, exc.data), error=exc.message)
        svc.audit.record(f"authenticator.{page.enrolled_name}_added", person_id=person.id,
                         detail={"sid": session.sid}, ip=client_ip(request, svc.settings.trusted_proxies))
        if page.added_notice:
            return RedirectResponse(f"{SECURITY}?added={page.enrolled_name}", status_code=303)
        return _page(svc, request, person, ticket=session.sid, shown=(method, shown))

    return handler


# Each factor's set-up forms post to its own paths (`FactorPage.enrol_paths`).
for _module in BUILT_IN:
    for _path, _action in _module.PAGE.enrol_paths.items():
        router.add_api_route(_path, _enrolment(_module.PAGE, _action), methods=["POST"])
