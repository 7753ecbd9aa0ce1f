"""The consent page: a client that requires consent learns nothing about a person until the person
has allowed it, in plain words, to receive what it asked for. `prompt=consent` always asks."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clients.services import Service
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
# Followed by the service's name (its scope when it has none) or the scope itself.
SERVICE_TEXT = "Use the service:"
OTHER_TEXT = "Other access:"
CHOOSE_TEXT = "Choose Allow or Don't allow."


def _wanted(ctx: Interaction) -> list[str]:
    assert ctx.client is not None
    return ctx.consent_wanted


def access_lines(scopes: Iterable[str], services: Iterable[Service], locale: str) -> list[tuple[str, str | None]]:
    """(sentence, what is shown after it or None) for each scope, in the order given: a service by
    its name in `locale`, a standard scope in words, anything else by its scope code. The consent
    page and the connected-services page read the same."""
    named = {s.scope: s.display_name(locale) for s in services}
    lines: list[tuple[str, str | None]] = []
    for scope in scopes:
        if scope in named:
            lines.append((SERVICE_TEXT, named[scope]))
        elif scope in SCOPE_TEXT:
            lines.append((SCOPE_TEXT[scope], None))
        else:
            lines.append((OTHER_TEXT, scope))  # never hide something asked for
    return lines


def _show(ctx: Interaction, *, error: str | None = None, status_code: int = 200) -> Response:
    if ctx.client is None:
        return ctx.svc.pages.link_expired(ctx.request)
    lines = access_lines(_wanted(ctx), ctx.services, ctx.locale)
    return ctx.render("consent.html", status_code=status_code, error=error, lines=lines)


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
