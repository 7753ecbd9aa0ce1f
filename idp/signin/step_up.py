"""Step-up: after sign-in, ask only the factors (or proofing) the requested level still needs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.errors import OAuth2Error, UnmetAuthenticationRequirements
from idp.oauth.authorize import raised_for, requirement_for
from idp.oauth.checks import check_claims
from idp.oauth.request import HttpRequest
from idp.oauth.response import deliver
from idp.services import Services
from idp.sessions.sso import SsoSession
from idp.sessions.transactions import LoginTransaction
from idp.signin.acting import SELF
from idp.signin.interaction import AskFactor, CannotReach, Done, NeedProofing, decide
from idp.signin.methods import available_methods
from idp.signin.sms_codes import CODE_SENT_MOMENTS_AGO, TOO_MANY_CODES, wait_for_code
from idp.web.deps import Posted, PostedForm, client_ip, retry_after, services
from idp.web.error_map import refusal
from levels.authenticators.sms_otp import OtpChallenge, ResendTooSoon
from levels.people import Person
from levels.sms import mask_mobile
from levels.throttle import TooManyAttempts

router = APIRouter()


class PendingLogin:
    """The pending authorization, the browser's session and its person, loaded together."""

    def __init__(self, svc: Services, request: Request, tx: LoginTransaction, cookie: str,
                 session: SsoSession, person: Person) -> None:
        self.svc, self.request, self.tx = svc, request, tx
        self.cookie, self.session, self.person = cookie, session, person
        self.data = dict(tx.params)
        self.client = svc.clients.get(tx.client_id)
        self.locale = svc.pages.locale(request, self.data.get("ui_locales"))

    def decision(self):  # type: ignore[no-untyped-def]
        if self.client is None:
            return None
        requirement = requirement_for(self.svc, self.client, self.data, check_claims(self.data), self.tx)
        choice = self.svc.acting.chosen(self.tx.id)
        if choice is not None and choice != SELF:
            scopes = self.client.get_allowed_scope(self.data.get("scope", "")).split()
            requirement = raised_for(
                requirement, self.svc.acting.option(self.person.national_code, self.client.client_id, scopes, choice))
        return decide(
            self.svc.policy, self.person.proofing_tier, self.session.proven_factors(),
            lambda: available_methods(self.svc, self.person), requirement, datetime.now(UTC),
        )

    def render(self, template: str, *, status_code: int = 200, **extra: object) -> Response:
        tr = self.svc.pages.gettext(self.locale)
        for key in ("error", "notice"):
            if isinstance(extra.get(key), str):
                extra[key] = tr.gettext(str(extra[key]))
        return self.svc.pages.render(
            self.request, template, self.locale, status_code=status_code, transaction=self.tx, tx=self.tx.id,
            client_name=self.client.name if self.client else None, lang_query=[("tx", self.tx.id)],
            person_name=f"{self.person.given_name} {self.person.family_name}".strip(), **extra,
        )


def load_pending(svc: Services, request: Request, tx_id: str | None) -> PendingLogin | Response:
    tx = svc.transactions.load(tx_id)
    if tx is None:
        return svc.pages.link_expired(request)
    cookie = svc.cookies.session.read(request)
    session = svc.sessions.load(cookie)
    person = svc.people.get(session.person_id) if session else None
    if cookie is None or session is None or person is None or person.status != "active":
        return RedirectResponse(f"/login?tx={tx.id}", status_code=303)
    return PendingLogin(svc, request, tx, cookie, session, person)


def _resume(ctx: PendingLogin) -> Response:
    return RedirectResponse(f"/authorize/resume?tx={ctx.tx.id}", status_code=303)


def _show(ctx: PendingLogin, *, error: str | None = None, status_code: int = 200, resend: bool = False) -> Response:
    decision = ctx.decision()
    if decision is None or isinstance(decision, Done):
        return _resume(ctx)
    if isinstance(decision, NeedProofing):
        can_register = bool(ctx.person.birthdate and ctx.person.mobile and ctx.person.mobile_verified)
        return ctx.render("proofing.html", status_code=status_code, level=int(decision.level),
                          can_use_registry=can_register and decision.level < 3, error=error)
    if isinstance(decision, CannotReach):
        return ctx.render("cannot_reach.html", status_code=status_code, level=int(decision.level))
    assert isinstance(decision, AskFactor)
    extra: dict[str, object] = {}
    notice = None
    wait = None
    if decision.method == "sms":
        extra["mobile_hint"], notice, wait = _sms_challenge(ctx, resend=resend)
    if decision.method == "passkey":
        options, handle = ctx.svc.passkeys.authentication_options(ctx.person.id)
        extra.update(passkey_options=options, passkey_handle=handle)
    response = ctx.render("step.html", status_code=429 if wait is not None else status_code,
                          method=decision.method, error=error, notice=notice, **extra)
    return retry_after(response, wait) if wait is not None else response


def _sms_challenge(ctx: PendingLogin, *, resend: bool) -> tuple[str, str | None, float | None]:
    """The masked number this step's code went to, what the page says about it, and the seconds
    to wait when a new code was asked for too soon (the page is then a 429).

    The code is bound to the step (`step-sms:<tx>`); a step arriving moments after another
    sign-in for the same person is bound to the code that sign-in sent, still valid, rather than
    left without one until the resend interval ends.
    """
    key = f"step-sms:{ctx.tx.id}"
    pending = ctx.svc.store.get(key)
    hint = ctx.svc.store.get(key + ":hint")
    if pending is not None and hint is not None and not resend:
        return hint.decode(), None, None
    shown_hint = hint.decode() if hint else mask_mobile(str(ctx.person.mobile))
    try:
        challenge = ctx.svc.sms_otp.send(ctx.person.id, str(ctx.person.mobile), "step-up", ctx.locale)
    except ResendTooSoon as exc:
        if exc.pending is not None:
            _bind(ctx, key, exc.pending)
            shown_hint = exc.pending.mobile_hint
            if not resend:
                return shown_hint, CODE_SENT_MOMENTS_AGO, None
        wait = wait_for_code(ctx.svc.pages.gettext(ctx.locale), ctx.locale, exc.retry_in)
        return shown_hint, wait, exc.retry_in if resend else None
    except TooManyAttempts as exc:
        return shown_hint, TOO_MANY_CODES, exc.resets_in if resend else None
    _bind(ctx, key, challenge)
    return challenge.mobile_hint, ("A new code was sent." if resend else None), None


def _bind(ctx: PendingLogin, key: str, challenge: OtpChallenge) -> None:
    ttl = max(1.0, (challenge.expires_at - datetime.now(UTC)).total_seconds())
    ctx.svc.store.set(key, challenge.id.encode(), ttl)
    ctx.svc.store.set(key + ":hint", challenge.mobile_hint.encode(), ctx.svc.settings.login_transaction_ttl)


def pending_page(request: Request, show: Callable[[PendingLogin], Response]) -> Response:
    """GET of a sign-in page that continues a pending authorization (`?tx=`)."""
    loaded = load_pending(services(request), request, request.query_params.get("tx"))
    if isinstance(loaded, Response):
        return loaded
    return show(loaded)


@router.get("/login/step")
def step_page(request: Request) -> Response:
    return pending_page(request, _show)


def posted_pending(
    request: Request, posted: Posted, show: Callable[..., Response]
) -> tuple[PendingLogin, dict[str, str]] | Response:
    """A sign-in form's pending transaction and session, after its CSRF token checks out; `show`
    renders the form's page again with an error when it does not."""
    svc = services(request)
    try:
        form = dict(posted.pairs())
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    loaded = load_pending(svc, request, form.get("tx"))
    if isinstance(loaded, Response):
        return loaded
    if not svc.pages.check_csrf(request, form.get("csrf_token"), loaded.tx):
        return show(loaded, error="Your form expired. Please try again.",
                                                    status_code=400)
    return loaded, form


@router.post("/login/step")
def step_submit(request: Request, form_post: PostedForm) -> Response:
    posted = posted_pending(request, form_post, _show)
    if isinstance(posted, Response):
        return posted
    ctx, form = posted
    svc = ctx.svc
    method = form.get("method", "")
    if method == "sms" and form.get("resend"):
        return _show(ctx, resend=True)
    ip = client_ip(request, svc.settings.trusted_proxies)
    # A password is the same secret wherever it is typed: the sign-in counters, so a borrowed
    # session gets no fresh allowance; other factors have their own.
    account = ctx.person.national_code if method == "pwd" else f"{method}:{ctx.person.id}"
    device = svc.device_cookies.recognise(request, ctx.person.national_code)
    try:
        svc.throttle.check(account, ip, device)
    except TooManyAttempts as exc:
        refused = refusal(exc)
        return refused.apply(_show(ctx, error=refused.message, status_code=refused.status))
    ok = _verify(ctx, method, form)
    if not ok:
        svc.throttle.failed(account, ip, device)
        svc.audit.record("login.failed", person_id=ctx.person.id, ip=ip, client_id=ctx.tx.client_id,
                         detail={"method": method, "step_up": True})
        return _show(ctx, error=_WRONG.get(method, _WRONG["pwd"]), status_code=400)
    svc.throttle.succeeded(account, ip, device)
    # Written to the session register (the database) first: off the event loop.
    svc.sessions.add_factor(ctx.cookie, ctx.session, method)
    svc.audit.record("login.step_up", person_id=ctx.person.id, ip=ip, client_id=ctx.tx.client_id,
                     detail={"method": method, "sid": ctx.session.sid})
    return _resume(ctx)


_WRONG = {
    "pwd": "The password is not correct.",
    "sms": "That code is not correct or has expired.",
    "otp": "That code is not correct.",
    "passkey": "The passkey could not be verified.",
}


def _verify(ctx: PendingLogin, method: str, form: dict[str, str]) -> bool:
    """Check the submitted factor; only the method the step actually asks for is accepted."""
    decision = ctx.decision()
    if not isinstance(decision, AskFactor) or decision.method != method:
        return False
    svc, person = ctx.svc, ctx.person
    if method == "pwd":
        return svc.passwords.verify(svc.people.password_hash(person.id), form.get("password", "")[:1024])
    if method == "sms":
        challenge = svc.store.get(f"step-sms:{ctx.tx.id}")
        if challenge is None:
            return False
        if svc.sms_otp.verify(challenge.decode(), person.id, "step-up", form.get("code", "")[:12]):
            svc.store.delete(f"step-sms:{ctx.tx.id}")
            return True
        return False
    if method == "otp":
        return verify_totp_or_recovery(svc, person.id, form.get("code", "")[:20])
    if method == "passkey":
        from levels.authenticators.passkey import PasskeyError

        try:
            svc.passkeys.authenticate(form.get("handle", ""), form.get("credential", ""), person.id)
        except PasskeyError:
            return False
        return True
    return False


def verify_totp_or_recovery(svc: Services, person_id: str, code: str) -> bool:
    from levels.authenticators.totp import hash_recovery_code
    from levels.national_code import normalize_digits

    secret = svc.credentials.totp_secret(person_id)
    if secret is None:
        return False
    digits = normalize_digits(code)
    now = datetime.now(UTC)
    if digits.isdigit():
        counter = svc.totp.verify(secret, digits, svc.credentials.totp_last_counter(person_id))
        # The compare-and-set is the real replay guard when two requests race with one code.
        return counter is not None and svc.credentials.advance_totp_counter(person_id, counter, now)
    return svc.credentials.use_recovery_code(person_id, hash_recovery_code(code, svc.recovery_key), now)


@router.post("/login/proofing")
def proofing_submit(request: Request, form_post: PostedForm) -> Response:
    posted = posted_pending(request, form_post, _show)
    if isinstance(posted, Response):
        return posted
    ctx, form = posted
    svc = ctx.svc
    result = svc.proofing.verify_with_registry(ctx.person.id)
    if not result.ok:
        return _show(
            ctx, error="The registry could not confirm your details.", status_code=400)
    return _resume(ctx)


@router.post("/login/cancel")
def cancel(request: Request, form_post: PostedForm) -> Response:
    """The person gives up on reaching the level: tell the client, per OIDC's
    unmet_authentication_requirements, at its validated redirect URI."""
    svc = services(request)
    try:
        form = dict(form_post.pairs())
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    tx = svc.transactions.load(form.get("tx"))
    if tx is None or not svc.pages.check_csrf(request, form.get("csrf_token"), tx):
        return svc.pages.link_expired(request)
    return refuse_pending(svc, request, tx, UnmetAuthenticationRequirements(
        "The person did not complete the sign-in this service requires."))


def refuse_pending(svc: Services, request: Request, tx: LoginTransaction, err: OAuth2Error) -> Response:
    """End the pending authorization and send `err` to the client at its redirect URI.

    The request is validated again (client, redirect URI) rather than trusting the stored copy, so a
    client disabled or changed meanwhile never receives the redirect.
    """
    oreq = HttpRequest("GET", svc.settings.issuer + "/authorize", request.headers, tx.params, [])
    try:
        grant = svc.server.get_consent_grant(oreq, end_user=None)
    except OAuth2Error:
        return svc.pages.link_expired(request)
    svc.transactions.finish(tx.id)
    data = oreq.payload.data
    params = [("error", err.error)]
    if err.description:
        params.append(("error_description", err.description))
    return deliver(
        svc.pages, request, redirect_uri=grant.redirect_uri, params=params, state=data.get("state"),
        issuer=svc.settings.issuer, response_mode=data.get("response_mode"),
        locale=svc.pages.locale(request, data.get("ui_locales")),
    )
