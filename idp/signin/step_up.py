"""Step-up: after sign-in, ask only the factors (or proofing) the requested level still needs."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import OAuth2Error, UnmetAuthenticationRequirements
from idp.services import Services
from idp.signin.dispatch import refuse_pending
from idp.signin.interaction import Interaction, pending_page, posted_pending, resume
from idp.signin.sms_codes import CODE_SENT_MOMENTS_AGO, TOO_MANY_CODES, wait_for_code
from idp.web.deps import PostedForm, client_ip, retry_after, services
from levels.authenticators.sms_otp import OtpChallenge, ResendTooSoon
from levels.next_step import CannotReach, Proofing, StepUp
from levels.sms import mask_mobile
from levels.throttle import TooManyAttempts

router = APIRouter()


def _show(ctx: Interaction, *, error: str | None = None, status_code: int = 200, resend: bool = False) -> Response:
    step = ctx.step
    if isinstance(step, Proofing):
        assert ctx.person is not None
        can_register = bool(ctx.person.birthdate and ctx.person.mobile and ctx.person.mobile_verified)
        return ctx.render("proofing.html", status_code=status_code, level=int(step.level),
                          can_use_registry=can_register and step.level < 3, error=error)
    if isinstance(step, CannotReach):
        return ctx.render("cannot_reach.html", status_code=status_code, level=int(step.level))
    if not isinstance(step, StepUp):
        return resume(ctx)  # the level is reached, or something else comes first: the endpoint says what
    extra: dict[str, object] = {}
    notice = None
    wait = None
    if step.method == "sms":
        extra["mobile_hint"], notice, wait = _sms_challenge(ctx, resend=resend)
    if step.method == "passkey":
        options, handle = ctx.svc.passkeys.authentication_options(ctx.person.id)
        extra.update(passkey_options=options, passkey_handle=handle)
    response = ctx.render("step.html", status_code=429 if wait is not None else status_code,
                          method=step.method, error=error, notice=notice, **extra)
    return retry_after(response, wait) if wait is not None else response


def _sms_challenge(ctx: Interaction, *, resend: bool) -> tuple[str, str | None, float | None]:
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


def _bind(ctx: Interaction, key: str, challenge: OtpChallenge) -> None:
    ttl = max(1.0, (challenge.expires_at - datetime.now(UTC)).total_seconds())
    ctx.svc.store.set(key, challenge.id.encode(), ttl)
    ctx.svc.store.set(key + ":hint", challenge.mobile_hint.encode(), ctx.svc.settings.login_transaction_ttl)


@router.get("/login/step")
def step_page(request: Request) -> Response:
    return pending_page(request, _show)


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
        return retry_after(_show(
            ctx, error="Too many attempts. Try again later.", status_code=429), exc.resets_in)
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
    return resume(ctx)


_WRONG = {
    "pwd": "The password is not correct.",
    "sms": "That code is not correct or has expired.",
    "otp": "That code is not correct.",
    "passkey": "The passkey could not be verified.",
}


def _verify(ctx: Interaction, method: str, form: dict[str, str]) -> bool:
    """Check the submitted factor; only the method the step actually asks for is accepted."""
    step = ctx.step
    if not isinstance(step, StepUp) or step.method != method:
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
    return resume(ctx)


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
