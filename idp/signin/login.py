"""The sign-in page: national code + password, then back to the authorization request."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import OAuth2Error, whole_seconds
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.signin.session_start import continue_signed_in
from idp.web.deps import Posted, PostedForm, client_ip, retry_after, services
from idp.web.i18n import localize_digits
from levels.iranian_input import InvalidNationalCode, normalize_digits, parse_national_code
from levels.people import Person
from levels.throttle import TooManyAttempts

router = APIRouter()

WRONG_CREDENTIALS = "The national code or password is not correct."


def _render(
    svc: Services, request: Request, tx: LoginTransaction, *, national_code: str = "", error: str | None = None,
    status_code: int = 200,
) -> Response:
    locale = svc.pages.locale(request, tx.get("ui_locales"))
    client = svc.clients.get(tx.client_id)
    tr = svc.pages.gettext(locale)
    passkey_options, passkey_handle = svc.passkeys.authentication_options(None)
    return svc.pages.render(
        request, "login.html", locale, status_code=status_code, transaction=tx, tx=tx.id,
        national_code=national_code,
        passkey_options=passkey_options, passkey_handle=passkey_handle,
        lang_query=[("tx", tx.id)],
        client=client, error=tr.gettext(error) if error else None,
    )


@router.get("/login")
def login_page(request: Request) -> Response:
    svc = services(request)
    tx = svc.transactions.load(request.query_params.get("tx"))
    if tx is None:
        return svc.pages.link_expired(request)
    hint = normalize_digits(tx.get("login_hint") or "")
    return _render(svc, request, tx, national_code=hint if hint.isdigit() and len(hint) <= 10 else "")


def _posted(request: Request, posted: Posted) -> tuple[Services, LoginTransaction, dict[str, str]] | Response:
    """A sign-in form with its pending transaction, after its CSRF token checks out."""
    svc = services(request)
    try:
        form = dict(posted.pairs())
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    tx = svc.transactions.load(form.get("tx"))
    if tx is None:
        return svc.pages.link_expired(request)
    if not svc.pages.check_csrf(request, form.get("csrf_token"), tx):
        return _render(svc, request, tx, error="Your form expired. Please try again.", status_code=400)
    return svc, tx, form


@router.post("/login")
def login_submit(request: Request, form_post: PostedForm) -> Response:
    posted = _posted(request, form_post)
    if isinstance(posted, Response):
        return posted
    svc, tx, form = posted

    typed = form.get("national_code", "")[:32]
    password = form.get("password", "")[:1024]
    try:
        national_code = parse_national_code(typed)
    except InvalidNationalCode:
        return _render(svc, request, tx, national_code=typed,
                       error="Enter your 10-digit national code.", status_code=400)
    if not password:
        return _render(svc, request, tx, national_code=national_code, error="Enter your password.",
                       status_code=400)

    ip = client_ip(request, svc.settings.trusted_proxies)
    # A browser that signed in to this account before is limited on its own (levels.throttle).
    device = svc.device_cookies.recognise(request, national_code)
    try:
        svc.throttle.check(national_code, ip, device)
    except TooManyAttempts as exc:
        return _too_many(svc, request, tx, exc.resets_in, national_code=national_code)

    person = svc.people.get_by_national_code(national_code)
    # Unknown people and wrong passwords cost the same queries and argon2 work and get the same
    # answer: the hash is looked up for an id no one has rather than skipped.
    stored_hash = svc.people.password_hash(person.id if person else "")
    ok = svc.passwords.verify(stored_hash, password)
    if not ok or person is None or person.status != "active":
        svc.throttle.failed(national_code, ip, device)
        svc.audit.record("login.failed", person_id=person.id if person else None, ip=ip,
                         client_id=tx.client_id, detail={"method": "pwd", "known_device": device is not None})
        return _render(svc, request, tx, national_code=national_code, error=WRONG_CREDENTIALS, status_code=400)

    svc.throttle.succeeded(national_code, ip, device)
    return _signed_in(svc, request, tx, person, "pwd", ip)


def _too_many(
    svc: Services, request: Request, tx: LoginTransaction, wait: float, *, national_code: str = "",
) -> Response:
    """429 with how long to wait, on the page (seconds or minutes) and in `Retry-After`."""
    locale = svc.pages.locale(request, tx.get("ui_locales"))
    tr = svc.pages.gettext(locale)
    if wait < 60:
        message = tr.gettext("Too many attempts. Try again in %(seconds)s seconds.") % {
            "seconds": localize_digits(str(whole_seconds(wait)), locale)}
    else:
        message = tr.gettext("Too many attempts. Try again in %(minutes)s minutes.") % {
            "minutes": localize_digits(str(max(1, round(wait / 60))), locale)}
    response = _render(svc, request, tx, national_code=national_code, error=message, status_code=429)
    return retry_after(response, wait)


def _signed_in(svc: Services, request: Request, tx: LoginTransaction, person: Person, method: str,
               ip: str) -> Response:
    """Start (or renew) the SSO session with the factor just proven and continue where the person was
    going; the browser is known to the account from now on (device cookie)."""
    response, session = continue_signed_in(svc, request, person.id, (method,), tx)
    svc.device_cookies.remember(request, response, person.national_code)
    # The level the session now proves (for the sign-in metrics and auditors; idp.metrics).
    level = svc.policy.proven_level(person.proofing_tier, session.proven_factors(), datetime.now(UTC))
    svc.audit.record("login.succeeded", person_id=person.id, ip=ip, client_id=tx.client_id,
                     detail={"method": method, "sid": session.sid, "level": int(level) if level else 0})
    return response


@router.post("/login/passkey")
def login_passkey(request: Request, form_post: PostedForm) -> Response:
    """Sign in with a passkey alone (discoverable credential, user verification required)."""
    posted = _posted(request, form_post)
    if isinstance(posted, Response):
        return posted
    svc, tx, form = posted
    ip = client_ip(request, svc.settings.trusted_proxies)
    # No account is named until the passkey is verified: limited per address only.
    try:
        svc.throttle.check(None, ip)
    except TooManyAttempts as exc:
        return _too_many(svc, request, tx, exc.resets_in)
    from levels.authenticators.passkey import PasskeyError

    try:
        assertion = svc.passkeys.authenticate(form.get("handle", ""), form.get("credential", ""), None)
    except PasskeyError:
        svc.throttle.failed(None, ip)
        return _render(svc, request, tx, error="The passkey could not be verified.", status_code=400)
    person = svc.people.get(assertion.person_id)
    if person is None or person.status != "active":
        return _render(svc, request, tx, error="The passkey could not be verified.", status_code=400)
    return _signed_in(svc, request, tx, person, "passkey", ip)
