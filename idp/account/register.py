"""Registration: national code, birth date, mobile (proven by an SMS code) and password → tier P1.

Whether the national code already has an account is not shown: the form is answered the same way,
after the same work (the password hashed, a code sent to the typed number, a pending entry), and
the code page, its resends, limits and wrong codes behave the same. Only a right code, which proves
the typed number, ends differently: an account is created, or, for a registered national code,
nothing is and the page says so. Meanwhile the account's own proven number is told that someone
tried, after the response and at most once per window, so a page never waits for that message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, date, datetime

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp import metrics
from idp.account.common import (
    ACCOUNT_HOME,
    FORM_EXPIRED,
    NO_SUCH_DATE,
    WRONG_CODE,
    expired,
    load_tx,
    page_locale,
    read_checked_form,
    translated,
)
from idp.account.notices import REGISTRATION_ATTEMPT, send_notice
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.signin.session_start import continue_signed_in
from idp.signin.sms_codes import TOO_MANY_CODES, wait_for_code
from idp.storage.keys import REGISTRATION, REGISTRATION_NOTICE, REGISTRATION_THROTTLE_NS
from idp.storage.records import JsonRecords, Marks
from idp.web.deps import PostedForm, client_ip, retry_after, services
from idp.web.error_map import refusal
from idp.web.pages import client_targets
from levels.authenticators.sms_otp import ResendTooSoon
from levels.iranian_input import InvalidMobile, InvalidNationalCode, normalize_mobile, parse_national_code
from levels.people import PersonExists, new_person
from levels.registration import InvalidBirthdate, WeakPassword, check_new_password, parse_birthdate
from levels.sms import SmsDeliveryFailed
from levels.throttle import LoginThrottle, TooManyAttempts

router = APIRouter()

PENDING_TTL = 15 * 60
# Each accepted form sends an SMS: bound messages to one number and registrations from one address.
REGISTRATIONS_PER_MOBILE = 5
REGISTRATIONS_PER_IP = 30
REGISTRATION_WINDOW = 3600



def _limits(svc: Services) -> LoginThrottle:
    # Its own namespace, so registrations never use up an address's sign-in attempts.
    secret = hmac.new(svc.recovery_key, b"idp registration throttle v1", hashlib.sha256).digest()
    return LoginThrottle(svc.store, per_account=REGISTRATIONS_PER_MOBILE, per_ip=REGISTRATIONS_PER_IP,
                         window=REGISTRATION_WINDOW, secret=secret, namespace=REGISTRATION_THROTTLE_NS,
                         on_refused=metrics.rate_limited)


class _Pending(JsonRecords[dict[str, str]]):
    """Registrations waiting for their SMS code."""

    prefix = REGISTRATION


class _Notices(Marks):
    """People told that someone tried to register their national code, once per window."""

    prefix = REGISTRATION_NOTICE


def _pending(svc: Services) -> _Pending:
    return _Pending(svc.store, PENDING_TTL)


def _load_pending(svc: Services, pending_id: str | None) -> dict[str, str] | None:
    stored = _pending(svc).get(pending_id)  # None for an id that is not one of ours
    return dict(stored) if stored is not None else None


def _links(tx: LoginTransaction | None) -> dict[str, str]:
    suffix = f"?tx={tx.id}" if tx else ""
    return {"sign_in_href": f"/login?tx={tx.id}" if tx else ACCOUNT_HOME, "recover_href": f"/recover{suffix}"}


def _form_page(
    svc: Services, request: Request, tx: LoginTransaction | None, *, values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, error: str | None = None, not_created: bool = False,
    status_code: int = 200,
) -> Response:
    locale = page_locale(svc, request, tx)
    tr = svc.pages.gettext(locale)
    client = svc.clients.get(tx.client_id) if tx and tx.client_id else None
    return svc.pages.render(
        request, "register.html", locale, status_code=status_code, tx=tx.id if tx else "",
        lang_query=[("tx", tx.id)] if tx else None, client=client,
        values=values or {}, errors=errors or {}, error=tr.gettext(error) if error else None,
        not_created=not_created,
        **_links(tx),
    )


def _verify_page(
    svc: Services, request: Request, pending_id: str, pending: dict[str, str], *, error: str | None = None,
    notice: str | None = None, status_code: int = 200,
) -> Response:
    tx = load_tx(svc, pending.get("tx"))
    locale = page_locale(svc, request, tx)
    tr = svc.pages.gettext(locale)
    return svc.pages.render(
        request, "register_verify.html", locale, status_code=status_code, pending_id=pending_id,
        form_targets=client_targets(tx),  # a correct code signs in and continues to the client
        lang_query=[("id", pending_id)], mobile_hint=pending.get("hint", ""),
        error=tr.gettext(error) if error else None, notice=tr.gettext(notice) if notice else None,
    )


def _validate(svc: Services, locale: str, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The normalized values and, per field, what is wrong in the page language."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    try:
        values["national_code"] = parse_national_code(form.get("national_code", "")[:32])
    except InvalidNationalCode as exc:
        errors["national_code"] = translated(svc, locale, str(exc), "This is not a valid national code.")
    try:
        values["birthdate"] = parse_birthdate(form.get("birthdate", "")[:32]).isoformat()
    except InvalidBirthdate as exc:
        errors["birthdate"] = translated(svc, locale, str(exc), NO_SUCH_DATE)
    try:
        values["mobile"] = normalize_mobile(form.get("mobile", "")[:32])
    except InvalidMobile as exc:
        errors["mobile"] = translated(svc, locale, str(exc), "Enter your mobile number.")
    try:
        check_new_password(form.get("password", "")[:2048], national_code=values.get("national_code"))
    except WeakPassword as exc:
        errors["password"] = translated(svc, locale, str(exc), "Choose another password.")
    return values, errors


@router.get("/register")
def register_page(request: Request) -> Response:
    svc = services(request)
    return _form_page(svc, request, load_tx(svc, request.query_params.get("tx")))


@router.post("/register")
def register_submit(request: Request, form_post: PostedForm) -> Response:
    svc = services(request)
    form = read_checked_form(svc, request, form_post)
    if isinstance(form, Response):
        return form
    tx = load_tx(svc, form.get("tx"))
    typed = {k: form.get(k, "")[:32] for k in ("national_code", "birthdate", "mobile")}
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return _form_page(svc, request, tx, values=typed, error=FORM_EXPIRED, status_code=400)
    values, errors = _validate(svc, page_locale(svc, request, tx), form)
    if errors:
        return _form_page(svc, request, tx, values=typed, errors=errors, status_code=400)

    ip = client_ip(request, svc.settings.trusted_proxies)
    limits = _limits(svc)
    try:
        limits.check(values["mobile"], ip)
    except TooManyAttempts as exc:
        refused = refusal(exc)
        return refused.apply(_form_page(svc, request, tx, values=typed, error=refused.message,
                                        status_code=refused.status))
    # Every accepted form counts, existing accounts included: that also slows down probing.
    limits.failed(values["mobile"], ip)
    owner = svc.people.get_by_national_code(values["national_code"])

    password_hash = svc.passwords.hash(form.get("password", "")[:2048])
    pending_id = secrets.token_urlsafe(24)
    pending = {**values, "password_hash": password_hash, "tx": tx.id if tx else ""}
    locale = page_locale(svc, request, tx)
    try:
        challenge = svc.sms_otp.send(pending_id, values["mobile"], "register", locale)
    except SmsDeliveryFailed as exc:
        refused = refusal(exc)
        return refused.apply(_form_page(svc, request, tx, values=typed, error=refused.message,
                                        status_code=refused.status))
    pending.update(challenge=challenge.id, hint=challenge.mobile_hint)
    _pending(svc).put(pending_id, pending)
    response = RedirectResponse(f"/register/verify?id={pending_id}", status_code=303)
    if owner is not None and owner.mobile and owner.mobile_verified:
        response.background = BackgroundTask(_tell_owner, svc, owner.id, owner.mobile)
    return response


def _tell_owner(svc: Services, person_id: str, mobile: str) -> None:
    """Someone tried to register the national code of `person_id`: say so on their proven number,
    at most once per window however often it is tried (each try costs the one who tries a code)."""
    if _Notices(svc.store, REGISTRATION_WINDOW).add(person_id, "1"):
        send_notice(svc.settings, mobile, REGISTRATION_ATTEMPT, svc.settings.default_locale)


@router.get("/register/verify")
def verify_page(request: Request) -> Response:
    svc = services(request)
    pending_id = request.query_params.get("id", "")
    pending = _load_pending(svc, pending_id)
    if pending is None:
        return expired(svc, request, "This registration has expired")
    return _verify_page(svc, request, pending_id, pending)


def _resend(svc: Services, request: Request, pending_id: str, pending: dict[str, str]) -> Response:
    locale = page_locale(svc, request, load_tx(svc, pending.get("tx")))
    try:
        challenge = svc.sms_otp.send(pending_id, pending["mobile"], "register", locale)
    except ResendTooSoon as exc:
        wait = wait_for_code(svc.pages.gettext(locale), locale, exc.retry_in)
        return retry_after(_verify_page(svc, request, pending_id, pending, error=wait, status_code=429),
                           exc.retry_in)
    except TooManyAttempts as exc:
        return retry_after(_verify_page(svc, request, pending_id, pending, error=TOO_MANY_CODES, status_code=429),
                           exc.resets_in)
    except SmsDeliveryFailed as exc:
        refused = refusal(exc)
        return refused.apply(_verify_page(svc, request, pending_id, pending, error=refused.message,
                                          status_code=refused.status))
    pending["challenge"] = challenge.id
    records = _pending(svc)
    records.put(pending_id, pending, records.expires_in(pending_id) or 1.0)
    return _verify_page(svc, request, pending_id, pending, notice="A new code was sent.")


@router.post("/register/verify")
def verify_submit(request: Request, form_post: PostedForm) -> Response:
    svc = services(request)
    form = read_checked_form(svc, request, form_post)
    if isinstance(form, Response):
        return form
    pending_id = form.get("id", "")
    pending = _load_pending(svc, pending_id)
    if pending is None:
        return expired(svc, request, "This registration has expired")
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return _verify_page(svc, request, pending_id, pending, error=FORM_EXPIRED, status_code=400)
    if form.get("resend"):
        return _resend(svc, request, pending_id, pending)

    ip = client_ip(request, svc.settings.trusted_proxies)
    account = f"register-code:{pending_id}"
    try:
        svc.throttle.check(account, ip)
    except TooManyAttempts as exc:
        refused = refusal(exc)
        return refused.apply(_verify_page(svc, request, pending_id, pending, error=refused.message,
                                          status_code=refused.status))
    ok = svc.sms_otp.verify(pending["challenge"], pending_id, "register",
                                 form.get("code", "")[:12])
    # Taking the entry makes the code single-use even if two requests carry it at once.
    if not ok or _pending(svc).take(pending_id) is None:
        svc.throttle.failed(account, ip)
        return _verify_page(svc, request, pending_id, pending, error=WRONG_CODE, status_code=400)
    svc.throttle.succeeded(account, ip)
    return _create(svc, request, pending, ip)


def _create(svc: Services, request: Request, pending: dict[str, str], ip: str) -> Response:
    tx = load_tx(svc, pending.get("tx"))
    if svc.people.get_by_national_code(pending["national_code"]) is not None:
        # A registered national code: nothing is created or changed (its owner was told already).
        return _form_page(svc, request, tx, not_created=True, status_code=409)
    now = datetime.now(UTC)
    person = new_person(
        pending["national_code"], "", "", birthdate=date.fromisoformat(pending["birthdate"]),
        mobile=pending["mobile"], mobile_verified=True, proofing_tier=1, now=now,
    )
    try:
        svc.people.add(person)
    except PersonExists:
        # Someone registered the same national code while this code was on its way.
        return _form_page(svc, request, tx, not_created=True, status_code=409)
    svc.people.set_password_hash(person.id, pending["password_hash"], now)
    response, session = continue_signed_in(svc, request, person.id, ("pwd", "sms"), tx)
    sid = session.sid
    svc.audit.record("person.registered", person_id=person.id, ip=ip, client_id=tx.client_id if tx else None,
                     detail={"proofing_tier": 1, "sid": sid})
    return response
