"""The consent page: a client that requires consent learns nothing about a person until the person
has allowed it, in plain words, to receive what it asked for. `prompt=consent` always asks."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.errors import AccessDeniedError
from idp.sessions.consents import VERIFIED_CLAIMS
from idp.signin.dispatch import refuse_pending
from idp.signin.interaction import Interaction, consent_marks, pending_page, posted_pending
from idp.web.deps import PostedForm, client_ip

router = APIRouter()

# What each scope releases, as a person reads it (the Persian is in locales/fa/LC_MESSAGES/consent.po).
SCOPE_TEXT = {
    "openid": "Know that it is you (a stable identifier for this service)",
    "profile": "Your name and date of birth",
    "phone": "Your mobile number",
    "national_code": "Your national code",
    "offline_access": "Keep you connected to this service when you are not using it",
    "legal_entity": "Which company you are acting for",
    VERIFIED_CLAIMS: "How your identity was verified",
}
# Followed by the scope itself, shown left to right.
SERVICE_TEXT = "Use the service:"
OTHER_TEXT = "Other access:"
CHOOSE_TEXT = "Choose Allow or Don't allow."


def _wanted(ctx: Interaction) -> list[str]:
    assert ctx.client is not None
    return ctx.consent_wanted


def _lines(ctx: Interaction, wanted: list[str]) -> list[tuple[str, str | None]]:
    """(sentence, scope shown after it or None) for each thing asked for, in the order asked."""
    assert ctx.client is not None
    services_ = {s.scope for s in ctx.services}
    lines: list[tuple[str, str | None]] = []
    for scope in wanted:
        if scope in services_:
            lines.append((SERVICE_TEXT, scope))
        elif scope in SCOPE_TEXT:
            lines.append((SCOPE_TEXT[scope], None))
        else:
            lines.append((OTHER_TEXT, scope))  # never hide something asked for
    return lines


def _show(ctx: Interaction, *, error: str | None = None, status_code: int = 200) -> Response:
    if ctx.client is None:
        return ctx.svc.pages.link_expired(ctx.request)
    return ctx.render("consent.html", status_code=status_code, error=error, lines=_lines(ctx, _wanted(ctx)))


@router.get("/login/consent")
def consent_page(request: Request) -> Response:
    return pending_page(request, _show)


@router.post("/login/consent")
def consent_decision(request: Request, form_post: PostedForm) -> Response:
    posted = posted_pending(request, form_post, _show)
    if isinstance(posted, Response):
        return posted
    ctx, form = posted
    decision = form.get("decision")
    if ctx.client is None or decision not in ("allow", "deny"):
        return _show(ctx, error=CHOOSE_TEXT, status_code=400)
    return _decide(ctx, decision == "allow")


def _decide(ctx: Interaction, allow: bool) -> Response:
    svc, client = ctx.svc, ctx.client
    assert client is not None
    wanted = _wanted(ctx)
    ip = client_ip(ctx.request, svc.settings.trusted_proxies)
    if not allow:
        svc.audit.record("consent.denied", person_id=ctx.person.id, client_id=client.client_id, ip=ip,
                         detail={"scopes": wanted})
        return refuse_pending(svc, ctx.request, ctx.tx, AccessDeniedError(
            "The person did not allow the service to access their information."))
    svc.consents.grant(ctx.person.id, client.client_id, wanted)
    # prompt=consent asks once per authorization: the resumed request must not ask again.
    consent_marks(svc).put(ctx.tx.id, ctx.person.id)
    svc.audit.record("consent.granted", person_id=ctx.person.id, client_id=client.client_id, ip=ip,
                     detail={"scopes": wanted})
    return RedirectResponse(f"/authorize/resume?tx={ctx.tx.id}", status_code=303)
