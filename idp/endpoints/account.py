"""The citizen's own account: authenticators (authenticator app with recovery codes, passkeys)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.endpoints.deps import services
from idp.errors import OAuth2Error
from idp.login_transactions import LoginTransaction
from idp.oauth_request import read_form
from idp.services import Services
from idp.sessions import SsoSession
from levels.people import Person

router = APIRouter()

ACCOUNT_HOME = "/account/security"
COMPANIES = "/account/companies"
ACCOUNT_PAGES = frozenset({ACCOUNT_HOME, COMPANIES})
_PENDING_TTL = 600


def account_page_for(tx: LoginTransaction | None) -> str | None:
    """The account page a sign-in was started from, if it was (only our own pages, never a URL)."""
    page = tx.get("return_to") if tx is not None else None
    return page if page in ACCOUNT_PAGES else None


def signed_in(svc: Services, request: Request, page: str = ACCOUNT_HOME) -> tuple[SsoSession, Person] | Response:
    """The browser's session and person, or a redirect to sign in that comes back to `page`."""
    session = svc.sessions.load(request.cookies.get(svc.settings.cookie_name))
    person = svc.people.get(session.person_id) if session else None
    if session is None or person is None or person.status != "active":
        tx = svc.transactions.start([("return_to", page)], client_id="")
        return RedirectResponse(f"/login?tx={tx.id}", status_code=303)
    return session, person


def _page(svc: Services, request: Request, person: Person, *, status_code: int = 200, **extra: object) -> Response:
    locale = svc.pages.locale(request)
    tr = svc.pages.gettext(locale)
    for key in ("error", "notice"):
        if isinstance(extra.get(key), str):
            extra[key] = tr.gettext(str(extra[key]))
    registration = svc.passkeys.registration_options(
        person.id, person.national_code, f"{person.given_name} {person.family_name}".strip())
    return svc.pages.render(
        request, "account_security.html", locale, status_code=status_code,
        person_name=f"{person.given_name} {person.family_name}".strip(),
        has_totp=svc.credentials.has_totp(person.id),
        recovery_left=svc.credentials.remaining_recovery_codes(person.id),
        passkeys=svc.passkeys.list(person.id), passkey_options=registration, **extra,
    )


async def _form(svc: Services, request: Request) -> ImmutableMultiDict[str, str] | Response:
    try:
        form = ImmutableMultiDict(await read_form(request))
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    if not svc.pages.check_csrf(request, form.get("csrf_token")):
        return svc.pages.error(request, "Your form expired. Please try again.", "")
    return form


async def posted_form(
    request: Request, page: str = ACCOUNT_HOME
) -> tuple[Services, SsoSession, Person, ImmutableMultiDict[str, str]] | Response:
    """A signed-in person's account form, after its CSRF token checks out."""
    svc = services(request)
    who = signed_in(svc, request, page)
    if isinstance(who, Response):
        return who
    form = await _form(svc, request)
    if isinstance(form, Response):
        return form
    return svc, who[0], who[1], form


@router.get(ACCOUNT_HOME)
async def security(request: Request) -> Response:
    svc = services(request)
    who = signed_in(svc, request)
    if isinstance(who, Response):
        return who
    notice = {"passkey": "Your passkey was added."}.get(request.query_params.get("added", ""))
    return await run_in_threadpool(lambda: _page(svc, request, who[1], notice=notice))


@router.post("/account/totp/start")
async def totp_start(request: Request) -> Response:
    posted = await posted_form(request)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    secret = svc.totp.new_secret()
    # Kept aside until the person proves their app produces codes for it.
    svc.store.set(f"totp-pending:{session.sid}", secret.encode(), _PENDING_TTL)
    uri = svc.totp.provisioning_uri(secret, person.national_code)
    return await run_in_threadpool(lambda: _page(
        svc, request, person, enrolling=True, totp_secret=secret, qr_svg=svc.totp.qr_svg(uri)))


@router.post("/account/totp/confirm")
async def totp_confirm(request: Request) -> Response:
    posted = await posted_form(request)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    pending = svc.store.get(f"totp-pending:{session.sid}")
    if pending is None:
        return await run_in_threadpool(lambda: _page(svc, request, person, error="Start the setup again."))
    secret = pending.decode()
    from levels.national_code import normalize_digits

    counter = svc.totp.verify(secret, normalize_digits(form.get("code", ""))[:8], None)
    if counter is None:
        uri = svc.totp.provisioning_uri(secret, person.national_code)
        return await run_in_threadpool(lambda: _page(
            svc, request, person, status_code=400, enrolling=True, totp_secret=secret,
            qr_svg=svc.totp.qr_svg(uri), error="That code is not correct."))
    from levels.authenticators.totp import hash_recovery_code, new_recovery_codes

    now = datetime.now(UTC)
    codes = new_recovery_codes()
    svc.credentials.set_totp(person.id, secret, now)
    svc.credentials.advance_totp_counter(person.id, counter, now)
    svc.credentials.replace_recovery_codes(person.id, [hash_recovery_code(c, svc.recovery_key) for c in codes], now)
    svc.store.delete(f"totp-pending:{session.sid}")
    svc.audit.record("authenticator.totp_added", person_id=person.id, detail={"sid": session.sid})
    return await run_in_threadpool(lambda: _page(svc, request, person, recovery_codes=codes))


@router.post("/account/passkeys")
async def passkey_add(request: Request) -> Response:
    posted = await posted_form(request)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    from levels.authenticators.passkey import PasskeyError

    try:
        await run_in_threadpool(svc.passkeys.register, person.id, form.get("credential", ""), None)
    except PasskeyError:
        return await run_in_threadpool(lambda: _page(
            svc, request, person, status_code=400, error="The passkey could not be added."))
    svc.audit.record("authenticator.passkey_added", person_id=person.id, detail={"sid": session.sid})
    return RedirectResponse(f"{ACCOUNT_HOME}?added=passkey", status_code=303)
