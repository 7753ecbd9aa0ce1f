"""Password recovery: national code + birth date, a code to the proven mobile, then a new password.

Whether the details matched an account is never shown: a mismatch gets a pending entry of its own
and every page, limit and answer after it behaves the same; text messages go out after the
response, so the time to answer does not tell either.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import date

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

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
from idp.account.new_password import sign_in_with_new_password
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.signin.sms_codes import TOO_MANY_CODES, wait_for_code
from idp.storage.keys import RECOVERY
from idp.storage.records import JsonRecords
from idp.web.deps import PostedForm, client_ip, retry_after, services
from idp.web.error_map import refusal
from idp.web.pages import client_targets
from levels.authenticators.sms_otp import ResendTooSoon
from levels.iranian_input import InvalidNationalCode, parse_national_code
from levels.registration import InvalidBirthdate, WeakPassword, check_new_password, parse_birthdate
from levels.sms import SmsDeliveryFailed
from levels.throttle import TooManyAttempts

router = APIRouter()
log = logging.getLogger("idp.recover")

PENDING_TTL = 15 * 60
MAX_SENDS = 3
EXPIRED_TITLE = "This password reset has expired"


class _Pending(JsonRecords[dict[str, str | float]]):
    """Password resets waiting for their SMS code."""

    prefix = RECOVERY

    def challenge(self, pending_id: str) -> str | None:
        """The SMS challenge the reset's code belongs to (kept beside it, under ":challenge")."""
        raw = self._store.get(self.key(pending_id) + ":challenge")
        return raw.decode() if raw else None

    def bind(self, pending_id: str, challenge_id: str) -> None:
        self._store.set(self.key(pending_id) + ":challenge", challenge_id.encode(), self.ttl)


def _pending(svc: Services) -> _Pending:
    return _Pending(svc.store, PENDING_TTL)


def _throttle_key(national_code: str) -> str:
    return f"recover:{national_code}"


def _load(svc: Services, pending_id: str | None) -> dict[str, str | float] | None:
    stored = _pending(svc).get(pending_id)  # None for an id that is not one of ours
    return dict(stored) if stored is not None else None


def _save(svc: Services, pending_id: str, pending: dict[str, str | float]) -> None:
    records = _pending(svc)
    records.put(pending_id, pending, records.expires_in(pending_id) or PENDING_TTL)


def _send_code(svc: Services, pending_id: str, person_id: str, mobile: str, locale: str) -> None:
    """Runs after the response. Limits and gateway failures are silent here: the pages already say
    only "if the details match", and the person can ask for a new code. A recovery started moments
    after another one uses the code that one sent, still valid, rather than none."""
    try:
        challenge = svc.sms_otp.send(person_id, mobile, "recover", locale)
    except ResendTooSoon as exc:
        if exc.pending is None:
            log.info("recovery code not sent: %s", type(exc).__name__)
            return
        challenge = exc.pending
    except (TooManyAttempts, SmsDeliveryFailed) as exc:
        log.info("recovery code not sent: %s", type(exc).__name__)
        return
    _pending(svc).bind(pending_id, challenge.id)


def _start_page(
    svc: Services, request: Request, tx: LoginTransaction | None, *, values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, error: str | None = None, status_code: int = 200,
) -> Response:
    locale = page_locale(svc, request, tx)
    tr = svc.pages.gettext(locale)
    return svc.pages.render(
        request, "recover.html", locale, status_code=status_code, tx=tx.id if tx else "",
        lang_query=[("tx", tx.id)] if tx else None, values=values or {}, errors=errors or {},
        error=tr.gettext(error) if error else None,
        sign_in_href=f"/login?tx={tx.id}" if tx else ACCOUNT_HOME,
    )


def _code_page(
    svc: Services, request: Request, pending_id: str, pending: dict[str, str | float], *,
    error: str | None = None, errors: dict[str, str] | None = None, notice: str | None = None,
    status_code: int = 200,
) -> Response:
    tx = load_tx(svc, str(pending.get("tx", "")))
    locale = page_locale(svc, request, tx)
    tr = svc.pages.gettext(locale)
    return svc.pages.render(
        request, "recover_verify.html", locale, status_code=status_code, pending_id=pending_id,
        form_targets=client_targets(tx),  # a correct code signs in and continues to the client
        lang_query=[("id", pending_id)], errors=errors or {},
        error=tr.gettext(error) if error else None, notice=tr.gettext(notice) if notice else None,
    )


@router.get("/recover")
def recover_page(request: Request) -> Response:
    svc = services(request)
    return _start_page(svc, request, load_tx(svc, request.query_params.get("tx")))


@router.post("/recover")
def recover_submit(request: Request, form_post: PostedForm) -> Response:
    svc = services(request)
    form = read_checked_form(svc, request, form_post)
    if isinstance(form, Response):
        return form
    tx = load_tx(svc, form.get("tx"))
    typed = {k: form.get(k, "")[:32] for k in ("national_code", "birthdate")}
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return _start_page(svc, request, tx, values=typed, error=FORM_EXPIRED, status_code=400)
    locale = page_locale(svc, request, tx)
    errors: dict[str, str] = {}
    national_code, birthdate = "", date.min
    try:
        national_code = parse_national_code(typed["national_code"])
    except InvalidNationalCode as exc:
        errors["national_code"] = translated(svc, locale, str(exc), "This is not a valid national code.")
    try:
        birthdate = parse_birthdate(typed["birthdate"])
    except InvalidBirthdate as exc:
        errors["birthdate"] = translated(svc, locale, str(exc), NO_SUCH_DATE)
    if errors:
        return _start_page(svc, request, tx, values=typed, errors=errors, status_code=400)

    ip = client_ip(request, svc.settings.trusted_proxies)
    try:
        svc.throttle.check(_throttle_key(national_code), ip)
    except TooManyAttempts as exc:
        refused = refusal(exc)
        return refused.apply(_start_page(svc, request, tx, values=typed, error=refused.message,
                                         status_code=refused.status))
    # Every request counts, matching or not, so the limit itself reveals nothing either.
    svc.throttle.failed(_throttle_key(national_code), ip)
    person = svc.people.get_by_national_code(national_code)
    # An imported account has a mobile from the old system but no password yet: its first
    # sign-in sets one here, and the code proves the mobile at the same time.
    first_password = bool(person and person.mobile and not person.mobile_verified
                          and svc.people.password_hash(person.id) is None)
    matches = bool(person and person.status == "active" and person.birthdate == birthdate
                   and person.mobile and (person.mobile_verified or first_password))
    pending_id = secrets.token_urlsafe(24)
    pending: dict[str, str | float] = {
        "national_code": national_code, "person_id": person.id if person and matches else "",
        "tx": tx.id if tx else "", "sent_at": time.time(), "sends": 1,
    }
    _pending(svc).put(pending_id, pending)
    response = RedirectResponse(f"/recover/verify?id={pending_id}", status_code=303)
    if person is not None and matches:
        response.background = BackgroundTask(_send_code, svc, pending_id, person.id, str(person.mobile), locale)
    return response


@router.get("/recover/verify")
def verify_page(request: Request) -> Response:
    svc = services(request)
    pending_id = request.query_params.get("id", "")
    pending = _load(svc, pending_id)
    if pending is None:
        return expired(svc, request, EXPIRED_TITLE)
    return _code_page(svc, request, pending_id, pending)


def _resend(svc: Services, request: Request, pending_id: str, pending: dict[str, str | float]) -> Response:
    # Limited per pending entry, the same way for matches and mismatches; SmsOtp's own limits per
    # person apply on top, silently (see `_send_code`).
    wait = svc.settings.sms_resend_interval - (time.time() - float(pending["sent_at"]))
    if wait > 0:
        locale = page_locale(svc, request, load_tx(svc, str(pending.get("tx", ""))))
        return retry_after(_code_page(svc, request, pending_id, pending, status_code=429,
                                      error=wait_for_code(svc.pages.gettext(locale), locale, wait)), wait)
    if int(pending["sends"]) >= MAX_SENDS:
        # No more codes for this reset: a new one can be started once it has expired.
        return retry_after(_code_page(svc, request, pending_id, pending, error=TOO_MANY_CODES, status_code=429),
                           _pending(svc).expires_in(pending_id) or PENDING_TTL)
    pending.update(sent_at=time.time(), sends=int(pending["sends"]) + 1)
    _save(svc, pending_id, pending)
    response = _code_page(svc, request, pending_id, pending,
                          notice="If the details match an account, a new code is on its way.")
    person = svc.people.get(str(pending["person_id"])) if pending["person_id"] else None
    if person is not None and person.mobile:
        locale = page_locale(svc, request, load_tx(svc, str(pending.get("tx", ""))))
        response.background = BackgroundTask(_send_code, svc, pending_id, person.id, person.mobile, locale)
    return response


@router.post("/recover/verify")
def verify_submit(request: Request, form_post: PostedForm) -> Response:
    svc = services(request)
    form = read_checked_form(svc, request, form_post)
    if isinstance(form, Response):
        return form
    pending_id = form.get("id", "")
    pending = _load(svc, pending_id)
    if pending is None:
        return expired(svc, request, EXPIRED_TITLE)
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return _code_page(svc, request, pending_id, pending, error=FORM_EXPIRED, status_code=400)
    if form.get("resend"):
        return _resend(svc, request, pending_id, pending)

    tx = load_tx(svc, str(pending.get("tx", "")))
    national_code = str(pending["national_code"])
    password = form.get("password", "")[:2048]
    try:
        check_new_password(password, national_code=national_code)
    except WeakPassword as exc:
        message = translated(svc, page_locale(svc, request, tx), str(exc), "Choose another password.")
        return _code_page(svc, request, pending_id, pending, errors={"password": message}, status_code=400)
    ip = client_ip(request, svc.settings.trusted_proxies)
    try:
        svc.throttle.check(_throttle_key(national_code), ip)
    except TooManyAttempts as exc:
        refused = refusal(exc)
        return refused.apply(_code_page(svc, request, pending_id, pending, error=refused.message,
                                        status_code=refused.status))
    person_id = str(pending["person_id"])
    # A mismatch checks a code against a challenge that does not exist: the same work, always False.
    challenge_id = _pending(svc).challenge(pending_id) or secrets.token_urlsafe(24)
    ok = svc.sms_otp.verify(challenge_id, person_id or pending_id, "recover", form.get("code", "")[:12])
    if not ok or not person_id or _pending(svc).take(pending_id) is None:
        svc.throttle.failed(_throttle_key(national_code), ip)
        return _code_page(svc, request, pending_id, pending, error=WRONG_CODE, status_code=400)
    return _reset(svc, request, person_id, password, tx, ip)


def _reset(
    svc: Services, request: Request, person_id: str, password: str, tx: LoginTransaction | None, ip: str,
) -> Response:
    person = svc.people.get(person_id)
    if person is None or person.status != "active" or not person.mobile:
        return expired(svc, request, EXPIRED_TITLE)
    if not person.mobile_verified:
        svc.people.set_mobile(person.id, person.mobile, verified=True)
    # Whoever knew the old password is signed out everywhere, this browser's old session included.
    response, session = sign_in_with_new_password(svc, request, person, password, tx,
                                                  throttle_key=_throttle_key(person.national_code), ip=ip)
    svc.audit.record("password.reset", person_id=person.id, ip=ip, client_id=tx.client_id if tx else None,
                     detail={"method": "sms", "sid": session.sid, "other_sessions_ended": True})
    return response
