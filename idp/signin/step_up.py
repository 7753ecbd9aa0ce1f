"""Step-up: after sign-in, ask only the factors (or proofing) the requested level still needs."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import OAuth2Error, UnmetAuthenticationRequirements
from idp.signin.dispatch import refuse_pending
from idp.signin.interaction import Interaction, pending_page, posted_pending, resume
from idp.web.deps import PostedForm, client_ip, retry_after, services
from idp.web.error_map import refusal
from levels.next_step import CannotReach, Proofing, StepUp
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
    factor = ctx.svc.factors.page(step.method)
    challenge = ctx.svc.factors[step.method].challenge(ctx.factor_step(), again=resend)
    view = factor.step(challenge, ctx.svc.pages.gettext(ctx.locale), ctx.locale)
    wait = view.retry_after
    response = ctx.render("step.html", status_code=429 if wait is not None else status_code,
                          method=step.method, partial=factor.partial, factor=view.values,
                          error=error, notice=view.notice)
    return retry_after(response, wait) if wait is not None else response


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
    factor = svc.factors.page(method) if method in svc.factors else None
    if factor is not None and factor.resend and form.get("resend"):
        return _show(ctx, resend=True)
    ip = client_ip(request, svc.settings.trusted_proxies)
    # Each factor says which allowance a wrong answer counts against (the password: the sign-in's).
    account = factor.throttle_account(method, ctx.person) if factor is not None else f"{method}:{ctx.person.id}"
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
        return _show(ctx, error=factor.wrong if factor is not None else _WRONG, status_code=400)
    svc.throttle.succeeded(account, ip, device)
    # Written to the session register (the database) first: off the event loop.
    svc.sessions.add_factor(ctx.cookie, ctx.session, method)
    svc.audit.record("login.step_up", person_id=ctx.person.id, ip=ip, client_id=ctx.tx.client_id,
                     detail={"method": method, "sid": ctx.session.sid})
    return resume(ctx)


_WRONG = "The password is not correct."  # for a method no factor has (the form was tampered with)


def _verify(ctx: Interaction, method: str, form: dict[str, str]) -> bool:
    """Check the submitted factor; only the method the step actually asks for is accepted."""
    step = ctx.step
    if not isinstance(step, StepUp) or step.method != method:
        return False
    return ctx.svc.factors[method].verify(ctx.factor_step(), form)


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
