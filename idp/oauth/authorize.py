"""Authorization endpoint: https://openid.net/specs/openid-connect-core-1_0.html#AuthorizationEndpoint"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clients.models import Client
from idp.errors import AccountSelectionRequiredError, LoginRequiredError, OAuth2Error
from idp.oauth.checks import Refusal, check_acr_values, check_claims, check_input, check_prompt, check_response_mode
from idp.oauth.request import HttpRequest, parse_pairs
from idp.oauth.response import deliver
from idp.oauth.tokens import AuthContext
from idp.oauth.verified_claims import requested
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.signin.acting import SCOPE as ENTITY_SCOPE
from idp.signin.acting import SELF, Acting
from idp.signin.interaction import Done, Requirement, decide
from idp.signin.methods import available_methods
from idp.web.deps import PostedParameters, client_ip, services
from idp.web.input_limits import AUTHORIZATION_PARAMETERS
from levels.level import Level

router = APIRouter()


@router.api_route("/authorize", methods=["GET", "POST"])
def authorize(request: Request, posted: PostedParameters) -> Response:
    svc = services(request)
    try:
        pairs = posted.pairs() if request.method == "POST" else parse_pairs(request.scope.get("query_string", b""))
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    return authorization(svc, request, pairs, None)


@router.get("/authorize/resume")
def resume(request: Request) -> Response:
    svc = services(request)
    tx = svc.transactions.load(request.query_params.get("tx"))
    if tx is None:
        return svc.pages.link_expired(request)
    return authorization(svc, request, tx.params, tx)


def authorization(
    svc: Services, request: Request, pairs: list[tuple[str, str]], tx: LoginTransaction | None
) -> Response:
    issuer = svc.settings.issuer
    # Only the parameters we read are kept (and stored while the person signs in); others are ignored.
    pairs = [(key, value) for key, value in pairs if key in AUTHORIZATION_PARAMETERS]
    refusal = check_input(pairs)
    if refusal is not None:
        return refuse(svc, request, refusal, pairs)
    oreq = HttpRequest("GET", issuer + "/authorize", request.headers, pairs, [])
    data = oreq.payload.data
    locale = svc.pages.locale(request, data.get("ui_locales"))
    try:
        grant = svc.server.get_consent_grant(oreq, end_user=None)
    except OAuth2Error as err:
        if not err.redirect_uri:
            return invalid_request_page(svc, request, err, locale)
        return deliver_error(svc, request, err, err.redirect_uri, data, locale)

    redirect_uri: str = grant.redirect_uri
    client = oreq.client
    try:
        response_mode = check_response_mode(data)
        prompts = check_prompt(data)
        claims = check_claims(data)
        requirement = requirement_for(svc, client, data, claims, tx)
    except OAuth2Error as err:
        return deliver_error(svc, request, err, redirect_uri, data, locale)

    cookie = svc.cookies.session.read(request)
    session = svc.sessions.load(cookie)
    person = svc.people.get(session.person_id) if session else None
    if person is not None and person.status != "active":
        person = None

    scopes = client.get_allowed_scope(data.get("scope", "")).split()
    wants_entity = ENTITY_SCOPE in scopes
    signed_in_for_this_request = bool(tx and session and max(f.at for f in session.factors) >= tx.created_at)
    # select_account with legal_entity shows the "Act as" chooser again; without it, it means
    # "let me choose the account", i.e. sign in again.
    reidentify = "login" in prompts or ("select_account" in prompts and not wants_entity)
    must_identify = session is None or person is None or (reidentify and not signed_in_for_this_request)

    choice: str | None = None
    acting: Acting | None = None
    if wants_entity and not must_identify:
        assert session is not None and person is not None
        choice = svc.acting.chosen(tx.id) if tx else None
        if choice is None and "select_account" not in prompts:
            choice = session.acting.get(client.client_id)
        if choice is not None and choice != SELF:
            acting = svc.acting.option(person.national_code, client.client_id, scopes, choice)
            if acting is None:
                choice = None  # the mandate no longer lets them act here: ask again
        requirement = raised_for(requirement, acting)

    decision = None if must_identify else decide(
        svc.policy, person.proofing_tier, session.proven_factors(),  # type: ignore[union-attr]
        lambda: available_methods(svc, person), requirement, datetime.now(UTC),  # type: ignore[arg-type]
        preference=svc.factors.authenticators.preference,
    )
    if not isinstance(decision, Done):
        if "none" in prompts:
            # prompt=none never shows a page: any shortfall, including a level step-up, is login_required.
            return deliver_error(svc, request, LoginRequiredError(), redirect_uri, data, locale, response_mode)
        tx = tx or svc.transactions.start(pairs, client.client_id)
        if choice is not None:
            svc.acting.choose(tx.id, choice)  # the step-up must aim at the chosen entity's level
        target = "/login" if must_identify else "/login/step"
        return RedirectResponse(f"{target}?tx={tx.id}", status_code=302, headers={"Cache-Control": "no-store"})

    assert session is not None and person is not None and cookie is not None
    if wants_entity and choice is None:
        if svc.acting.options(person.national_code, client.client_id, scopes):
            if "none" in prompts:
                return deliver_error(svc, request, AccountSelectionRequiredError(
                    description="The person must choose whom to act for."), redirect_uri, data, locale,
                    response_mode)
            tx = tx or svc.transactions.start(pairs, client.client_id)
            return RedirectResponse(f"/login/act-as?tx={tx.id}", status_code=302,
                                    headers={"Cache-Control": "no-store"})
        choice = SELF  # nobody to act for with this client: no chooser with a single answer
    # Imported here: the consent page module builds on the sign-in pages, which import this module.
    from idp.signin.consent import consent_step

    consent = consent_step(svc, request, client, person, scopes, prompts, tx, pairs, redirect_uri, data, locale,
                           response_mode)
    if consent is not None:
        return consent
    ctx = AuthContext(
        person_id=person.id, auth_time=session.auth_time, acr=svc.policy.acr(decision.level),
        amr=tuple(svc.policy.amr(decision.methods)), sid=session.sid, nonce=data.get("nonce"),
        id_token_verified=_names(requested(claims.get("id_token"))),
        userinfo_verified=_names(requested(claims.get("userinfo"))),
        legal_entity=acting.claim() if acting else None,
    )
    grant.request.user = ctx
    code = grant.generate_authorization_code()
    grant.save_authorization_code(code, grant.request)
    session = svc.sessions.seen(cookie, session, client_ip(request, svc.settings.trusted_proxies))
    svc.sessions.add_client(cookie, session, client.client_id, acting=choice)
    if acting is not None:
        svc.audit.record("legal_entity.acted", person_id=person.id, client_id=client.client_id, detail={
            "mandate_id": acting.mandate_id, "entity": acting.mandate.entity.national_id, "sid": session.sid})
    if tx is not None:
        svc.transactions.finish(tx.id)
    return deliver(
        svc.pages, request, redirect_uri=redirect_uri, params=[("code", code)], state=data.get("state"),
        issuer=issuer, response_mode=response_mode, locale=locale,
    )


def raised_for(requirement: Requirement, acting: Acting | None) -> Requirement:
    """An entity may require a higher level for acting on its behalf than the service itself."""
    if acting is None or acting.mandate.entity.min_level <= requirement.level:
        return requirement
    return replace(requirement, level=Level(acting.mandate.entity.min_level))


def _names(names: list[str] | None) -> tuple[str, ...] | None:
    return tuple(names) if names is not None else None


def requirement_for(
    svc: Services, client: Client, data: dict[str, str], claims: dict[str, dict[str, object]],
    tx: LoginTransaction | None,
) -> Requirement:
    requirement = check_acr_values(svc.policy, client, data, claims, svc.services.services_for(client.client_id))
    if tx is not None and requirement.max_age is not None:
        # Factors proven during this very request count as fresh, even for max_age=0.
        since_start = time.time() - tx.created_at
        requirement = replace(requirement, max_age=max(requirement.max_age, since_start))
    return requirement


def refuse(svc: Services, request: Request, refusal: Refusal, pairs: list[tuple[str, str]]) -> Response:
    """Answer a request refused before use: at the redirect URI if the rest of the request shows the
    client and redirect URI are valid (the usual rules, decided by Authlib), else on a page."""
    trusted = [(key, value) for key, value in pairs if key not in refusal.untrusted]
    oreq = HttpRequest("GET", svc.settings.issuer + "/authorize", request.headers, trusted, [])
    data = oreq.payload.data
    locale = svc.pages.locale(request, data.get("ui_locales"))
    try:
        redirect_uri = svc.server.get_consent_grant(oreq, end_user=None).redirect_uri
    except OAuth2Error as err:
        redirect_uri = err.redirect_uri
    if not redirect_uri:
        return invalid_request_page(svc, request, refusal.error, locale)
    return deliver_error(svc, request, refusal.error, redirect_uri, data, locale)


def invalid_request_page(svc: Services, request: Request, err: OAuth2Error, locale: str) -> Response:
    """Unknown client or unregistered redirect URI: tell the person, never redirect."""
    return svc.pages.error(
        request, "This request is not valid", "The service that sent you here made a request we cannot accept.",
        locale=locale, detail=err.description,
    )


def deliver_error(
    svc: Services, request: Request, err: OAuth2Error, redirect_uri: str, data: dict[str, str], locale: str,
    response_mode: str | None = None,
) -> Response:
    params = [("error", err.error)]
    if err.description:
        params.append(("error_description", err.description))
    mode = response_mode or (data.get("response_mode") if data.get("response_mode") == "form_post" else "query")
    return deliver(
        svc.pages, request, redirect_uri=redirect_uri, params=params, state=data.get("state"),
        issuer=svc.settings.issuer, response_mode=mode, locale=locale,
    )
