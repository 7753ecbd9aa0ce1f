"""Account activation: a person whose account was made for them (at a counter office, later also by
an operator's command) sets their first password with the activation code texted to them.

Two pages, one question each: the national code and the code, then the new password. A wrong
national code and a wrong code get the same answer after the same work (`Activations.check` looks a
code up for an unknown person too), and both count against the same limits as recovery's: per
address and per national code (`svc.throttle`), plus the code's own few attempts (levels.activation).
The accepted code is used up only when the password is set, so a person who leaves the password page
can come back with the same code.

`issue_activation` is what the office console (and the `idp people activate` command) call to give a
person a code: it issues, audits and returns the code with the text message to send.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.account.common import (
    ACCOUNT_HOME,
    ACTIVATED,
    FORM_EXPIRED,
    expired,
    load_tx,
    page_locale,
    read_checked_form,
    translated,
)
from idp.account.new_password import sign_in_with_new_password
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.storage.keys import ACTIVATION
from idp.storage.records import JsonRecords
from idp.web.deps import PostedForm, client_ip, services
from idp.web.error_map import refusal
from idp.web.pages import client_targets
from levels.activation import CODE_DIGITS, IssuedCode, is_code_form, normalize_code
from levels.iranian_input import InvalidNationalCode, parse_national_code
from levels.people import Person
from levels.registration import WeakPassword, check_new_password
from levels.throttle import TooManyAttempts

router = APIRouter()

ACTIVATE = "/activate"
PASSWORD_PAGE = "/activate/password"
PENDING_TTL = 15 * 60

EXPIRED_TITLE = "This activation has expired"
# Short, as it is said twice (the summary on top and beside the field); the page's own help says
# where a new code comes from.
NOT_ACTIVATED = "The national code or the activation code is not correct, or the code has expired or was used."
BAD_CODE_FORM = "Enter the 8-digit activation code from the text message."
NO_CODE = "Enter the activation code from the text message."
BAD_NATIONAL_CODE = "This is not a valid national code."

# The message with the code; `{link}` is this provider's /activate page, `{days}` how long the code lasts.
ACTIVATION_SMS = {
    "fa": "کد فعال‌سازی حساب ورود یکپارچه ملی شما: {code}\nبرای گذاشتن گذرواژه به {link} بروید و کد ملی خود"
          " و این کد را بنویسید. این کد تا {days} روز کار می‌کند. آن را به کسی ندهید.",
    "en": "Your national sign-in activation code: {code}\nTo set a password, open {link} and enter your national"
          " code and this code. It works for {days} days. Do not share it with anyone.",
}


def issue_activation(
    svc: Services, person: Person, *, actor: str, messages: Mapping[str, str] = ACTIVATION_SMS,
    detail: Mapping[str, object] | None = None, **values: str,
) -> tuple[IssuedCode, dict[str, str]]:
    """A new activation code for `person` (replacing any earlier one), audited as `activation.issued`
    by `actor` ("office", "cli"), and the text message carrying it in each language: `messages`
    filled with the code, the link, the days it lasts and `values`. The caller sends the message to
    the person's mobile (`idp.account.notices.send_notice`), after its response if it is a page."""
    issued = svc.activations.issue(person.id)
    svc.audit.record("activation.issued", actor=actor, person_id=person.id,
                     detail={**(detail or {}), "expires_at": issued.expires_at.isoformat()})
    days = activation_days(svc)
    filled = {lang: text.format(code=issued.code, link=svc.settings.endpoint(ACTIVATE), days=days, **values)
              for lang, text in messages.items()}
    return issued, filled


def activation_days(svc: Services) -> int:
    """How many days a new code lasts, as the message and the console say it."""
    return max(1, round(svc.settings.activation_code_ttl / 86400))


class _Pending(JsonRecords[dict[str, str]]):
    """Activation codes accepted on the first page, waiting for the new password."""

    prefix = ACTIVATION


def _pending(svc: Services) -> _Pending:
    return _Pending(svc.store, PENDING_TTL)


def _throttle_key(national_code: str) -> str:
    return f"activate:{national_code}"


def _error_list(errors: dict[str, str], order: tuple[str, ...]) -> list[tuple[str, str]]:
    """(field id, message) for the error summary at the top, in the order of the fields."""
    return [(field, errors[field]) for field in order if field in errors]


def _start_page(
    svc: Services, request: Request, tx: LoginTransaction | None, *, values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, error: str | None = None, status_code: int = 200,
) -> Response:
    locale = page_locale(svc, request, tx)
    tr = svc.pages.gettext(locale)
    errors = errors or {}
    return svc.pages.render(
        request, "activate.html", locale, status_code=status_code, tx=tx.id if tx else "",
        lang_query=[("tx", tx.id)] if tx else [], values=values or {}, errors=errors,
        error_list=_error_list(errors, ("national_code", "code")), error=tr.gettext(error) if error else None,
        sign_in_href=f"/login?tx={tx.id}" if tx else ACCOUNT_HOME, code_digits=CODE_DIGITS,
    )


def _password_page(
    svc: Services, request: Request, pending_id: str, pending: dict[str, str], *,
    errors: dict[str, str] | None = None, error: str | None = None, status_code: int = 200,
) -> Response:
    tx = load_tx(svc, pending.get("tx"))
    locale = page_locale(svc, request, tx)
    tr = svc.pages.gettext(locale)
    errors = errors or {}
    return svc.pages.render(
        request, "activate_password.html", locale, status_code=status_code, pending_id=pending_id,
        form_targets=client_targets(tx),  # the new password signs in and continues to the client
        lang_query=[("id", pending_id)], errors=errors, error_list=_error_list(errors, ("password",)),
        error=tr.gettext(error) if error else None,
    )


@router.get(ACTIVATE)
def activate_page(request: Request) -> Response:
    svc = services(request)
    return _start_page(svc, request, load_tx(svc, request.query_params.get("tx")))


@router.post(ACTIVATE)
def activate_submit(request: Request, form_post: PostedForm) -> Response:
    svc = services(request)
    form = read_checked_form(svc, request, form_post)
    if isinstance(form, Response):
        return form
    tx = load_tx(svc, form.get("tx"))
    typed = {k: form.get(k, "")[:32] for k in ("national_code", "code")}
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return _start_page(svc, request, tx, values=typed, error=FORM_EXPIRED, status_code=400)
    locale = page_locale(svc, request, tx)
    tr = svc.pages.gettext(locale)
    errors: dict[str, str] = {}
    national_code = ""
    try:
        national_code = parse_national_code(typed["national_code"])
    except InvalidNationalCode as exc:
        errors["national_code"] = translated(svc, locale, str(exc), BAD_NATIONAL_CODE)
    if not normalize_code(typed["code"]):
        errors["code"] = tr.gettext(NO_CODE)
    elif not is_code_form(typed["code"]):
        errors["code"] = tr.gettext(BAD_CODE_FORM)
    if errors:
        return _start_page(svc, request, tx, values=typed, errors=errors, status_code=400)

    ip = client_ip(request, svc.settings.trusted_proxies)
    try:
        svc.throttle.check(_throttle_key(national_code), ip)
    except TooManyAttempts as exc:
        refused = refusal(exc)
        return refused.apply(_start_page(svc, request, tx, values=typed, error=refused.message,
                                         status_code=refused.status))
    person = svc.people.get_by_national_code(national_code)
    active = person if person is not None and person.status == "active" else None
    # The same lookups and hashing for a national code without an account (see levels.activation).
    code_hash = svc.activations.check(active.id if active else None, typed["code"])
    if active is None or code_hash is None:
        svc.throttle.failed(_throttle_key(national_code), ip)
        # Both fields are named: which of them is wrong is exactly what must not be told.
        message = tr.gettext(NOT_ACTIVATED)
        return _start_page(svc, request, tx, values={"national_code": typed["national_code"]},
                           errors={"code": message}, status_code=400)
    pending_id = secrets.token_urlsafe(24)
    _pending(svc).put(pending_id, {"person_id": active.id, "hash": code_hash, "tx": tx.id if tx else "",
                                   "national_code": national_code})
    return RedirectResponse(f"{PASSWORD_PAGE}?id={pending_id}", status_code=303)


@router.get(PASSWORD_PAGE)
def password_page(request: Request) -> Response:
    svc = services(request)
    pending_id = request.query_params.get("id", "")
    stored = _pending(svc).get(pending_id)  # None for an id that is not one of ours
    if stored is None:
        return expired(svc, request, EXPIRED_TITLE)
    return _password_page(svc, request, pending_id, dict(stored))


@router.post(PASSWORD_PAGE)
def password_submit(request: Request, form_post: PostedForm) -> Response:
    svc = services(request)
    form = read_checked_form(svc, request, form_post)
    if isinstance(form, Response):
        return form
    pending_id = form.get("id", "")
    stored = _pending(svc).get(pending_id)
    if stored is None:
        return expired(svc, request, EXPIRED_TITLE)
    pending = dict(stored)
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return _password_page(svc, request, pending_id, pending, error=FORM_EXPIRED, status_code=400)
    tx = load_tx(svc, pending.get("tx"))
    password = form.get("password", "")[:2048]
    try:
        check_new_password(password, national_code=pending["national_code"])
    except WeakPassword as exc:
        message = translated(svc, page_locale(svc, request, tx), str(exc), "Choose another password.")
        return _password_page(svc, request, pending_id, pending, errors={"password": message}, status_code=400)
    person = svc.people.get(pending["person_id"])
    # The code is used up here, once: a second submission, or a code replaced meanwhile, gets nothing.
    if person is None or person.status != "active" or _pending(svc).take(pending_id) is None \
            or not svc.activations.redeem(person.id, pending["hash"]):
        return expired(svc, request, EXPIRED_TITLE)
    return _activate(svc, request, person, password, tx)


def _activate(svc: Services, request: Request, person: Person, password: str, tx: LoginTransaction | None) -> Response:
    ip = client_ip(request, svc.settings.trusted_proxies)
    # The code came by text message to the person's mobile: possession of it, as for a reset.
    response, session = sign_in_with_new_password(svc, request, person, password, tx,
                                                  throttle_key=_throttle_key(person.national_code), ip=ip)
    if response.headers.get("location") == ACCOUNT_HOME:
        response.headers["location"] = f"{ACCOUNT_HOME}?done={ACTIVATED}"
    svc.audit.record("activation.used", person_id=person.id, ip=ip, client_id=tx.client_id if tx else None,
                     detail={"sid": session.sid})
    return response
