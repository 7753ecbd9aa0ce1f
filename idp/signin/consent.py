"""The consent page: a client that requires consent learns nothing about a person until the person
has allowed it, in plain words, to receive what it asked for. `prompt=consent` always asks."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clients.models import Client
from idp.errors import AccessDeniedError, ConsentRequiredError, OAuth2Error
from idp.oauth.authorize import deliver_error
from idp.oauth.checks import check_claims
from idp.oauth.verified_claims import requested
from idp.services import Services
from idp.sessions.consents import VERIFIED_CLAIMS, needs_consent
from idp.sessions.transactions import ConsentMarks, LoginTransaction
from idp.signin.step_up import PendingLogin, pending_page, posted_pending, refuse_pending
from idp.web.deps import PostedForm, client_ip
from levels.people import Person

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


def _marks(svc: Services) -> ConsentMarks:
    return ConsentMarks(svc.store, svc.settings.login_transaction_ttl)


def requested_for_consent(scopes: Collection[str], data: dict[str, str]) -> list[str]:
    """What the authorization asks the person to release: its allowed scopes, plus `verified_claims`
    when the claims parameter asks for it (it is released whatever the scopes)."""
    wanted = list(dict.fromkeys(scopes))
    try:
        claims = check_claims(data)
    except OAuth2Error:
        claims = {}  # authorize() already refused a malformed claims parameter
    if any(requested(member) is not None for member in claims.values()):
        wanted.append(VERIFIED_CLAIMS)
    return wanted


def consent_step(
    svc: Services, request: Request, client: Client, person: Person, scopes: list[str], prompts: frozenset[str],
    tx: LoginTransaction | None, pairs: list[tuple[str, str]], redirect_uri: str, data: dict[str, str],
    locale: str, response_mode: str | None,
) -> Response | None:
    """Called by the authorization endpoint once the person is signed in at the right level: None
    to go on and issue the code, else the way to the consent page (or `consent_required` for
    `prompt=none`, which may not show it)."""
    if not client.require_consent and "consent" not in prompts:
        return None  # a trusted government portal: not even a database read
    # The mark names the person, so a different account signing in on the same transaction
    # ("Not you?") is asked for its own consent.
    consented = tx is not None and _marks(svc).get(tx.id) == person.id
    wanted = requested_for_consent(scopes, data)
    # What was granted before only matters when neither prompt=consent nor this request decides.
    ask_store = client.require_consent and not consented and "consent" not in prompts
    granted = svc.consents.granted(person.id, client.client_id) if ask_store else frozenset()
    if not needs_consent(client, wanted, granted, prompts, consented):
        return None
    if "none" in prompts:
        return deliver_error(svc, request, ConsentRequiredError(
            description="The person must allow this service to access their information."),
            redirect_uri, data, locale, response_mode)
    tx = tx or svc.transactions.start(pairs, client.client_id)
    return RedirectResponse(f"/login/consent?tx={tx.id}", status_code=302, headers={"Cache-Control": "no-store"})


def _wanted(ctx: PendingLogin) -> list[str]:
    assert ctx.client is not None
    return requested_for_consent(ctx.client.get_allowed_scope(ctx.data.get("scope", "")).split(), ctx.data)


def _lines(ctx: PendingLogin, wanted: list[str]) -> list[tuple[str, str | None]]:
    """(sentence, scope shown after it or None) for each thing asked for, in the order asked."""
    assert ctx.client is not None
    services_ = {s.scope for s in ctx.svc.services.services_for(ctx.client.client_id)}
    lines: list[tuple[str, str | None]] = []
    for scope in wanted:
        if scope in services_:
            lines.append((SERVICE_TEXT, scope))
        elif scope in SCOPE_TEXT:
            lines.append((SCOPE_TEXT[scope], None))
        else:
            lines.append((OTHER_TEXT, scope))  # never hide something asked for
    return lines


def _show(ctx: PendingLogin, *, error: str | None = None, status_code: int = 200) -> Response:
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


def _decide(ctx: PendingLogin, allow: bool) -> Response:
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
    _marks(svc).put(ctx.tx.id, ctx.person.id)
    svc.audit.record("consent.granted", person_id=ctx.person.id, client_id=client.client_id, ip=ip,
                     detail={"scopes": wanted})
    return RedirectResponse(f"/authorize/resume?tx={ctx.tx.id}", status_code=303)
