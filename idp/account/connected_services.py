"""Account page "Connected services": each service the person allowed to receive their information
(consent) or that can stay connected for them (a live refresh token), with what it may access, and
"Disconnect": the consent is withdrawn and the service's refresh and access tokens are revoked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.account.common import SERVICES
from idp.account.security import confirm_first, posted_form, render_account, signed_in
from idp.oauth.grant_revocation import OfClient
from idp.services import Services
from idp.signin.consent import SCOPE_TEXT, access_lines
from idp.web.deps import PostedForm, client_ip, services
from levels.people import Person

router = APIRouter()

DISCONNECTED = "The service was disconnected. It will ask for your permission again the next time you use it."
NOT_CONNECTED = "This service is not connected to your account."
STAYS_CONNECTED = "offline_access"
CONFIRM_DISCONNECT = "Disconnect this service?"
CONFIRM_DISCONNECT_DETAIL = ("It will no longer receive your information or keep you connected. What it already "
                             "received stays with it.")


@dataclass(frozen=True, slots=True)
class Connection:
    client_id: str
    name: str
    lines: list[tuple[str, str | None]]  # (sentence, scope shown after it or None), as on the consent page
    allowed_at: datetime | None  # when the person gave (or last widened) their consent
    last_connected_at: datetime | None  # when the service's newest live refresh token was issued


def connections(svc: Services, person_id: str, locale: str) -> list[Connection]:
    """Every service connected to the person, by its name in `locale`."""
    consents = {c.client_id: c for c in svc.consents.for_person(person_id)}
    tokens = svc.refresh_tokens.clients_of(person_id)
    found = []
    for client_id in consents.keys() | tokens.keys():
        client = svc.clients.get(client_id)
        consent = consents.get(client_id)
        scopes = sorted(consent.scopes, key=lambda s: (s != "openid", s not in SCOPE_TEXT, s)) if consent else []
        if client_id in tokens:
            # A refresh token is the service staying connected, whether or not it ever asked.
            scopes = [s for s in scopes if s != STAYS_CONNECTED] or ["openid"]
            scopes.append(STAYS_CONNECTED)
        found.append(Connection(
            client_id=client_id, name=client.display_name(locale) if client is not None else client_id,
            lines=access_lines(scopes, svc.services.services_for(client_id), locale),
            allowed_at=consent.granted_at if consent else None,
            last_connected_at=tokens.get(client_id)))
    return sorted(found, key=lambda c: (c.name, c.client_id))


def _page(svc: Services, request: Request, person: Person, *, status_code: int = 200, error: str | None = None,
          notice: str | None = None) -> Response:
    return render_account(svc, request, "account_services.html", person, status_code=status_code, error=error,
                          notice=notice, connections=connections(svc, person.id, svc.pages.locale(request)))


@router.get(SERVICES)
def connected_services(request: Request) -> Response:
    svc = services(request)
    who = signed_in(svc, request, SERVICES)
    if isinstance(who, Response):
        return who
    notice = DISCONNECTED if request.query_params.get("done") == "disconnected" else None
    return _page(svc, request, who[1], notice=notice)


@router.post(f"{SERVICES}/revoke")
def disconnect(request: Request, form_post: PostedForm) -> Response:
    posted = posted_form(request, form_post, SERVICES)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    client_id = form.get("client_id", "")[:128]
    ip = client_ip(request, svc.settings.trusted_proxies)

    def run() -> Response:
        connected = {c.client_id: c for c in connections(svc, person.id, svc.pages.locale(request))}
        if not client_id or client_id not in connected:
            return _page(svc, request, person, status_code=400, error=NOT_CONNECTED)
        ask = confirm_first(
            svc, request, person, form, question=CONFIRM_DISCONNECT, detail=CONFIRM_DISCONNECT_DETAIL,
            confirm_label="Disconnect", action=f"{SERVICES}/revoke", cancel_to=SERVICES,
            fields={"client_id": client_id}, subject=connected[client_id].name)
        if ask is not None:
            return ask
        withdrawn = svc.consents.withdraw(person.id, client_id)
        jtis = svc.grants.revoke_grant(OfClient(person.id, client_id), None)  # audited below
        svc.audit.record("service.disconnected", person_id=person.id, client_id=client_id, ip=ip, detail={
            "sid": session.sid, "consent_withdrawn": withdrawn, "access_tokens_revoked": len(jtis)})
        return RedirectResponse(f"{SERVICES}?done=disconnected", status_code=303)

    return run()
