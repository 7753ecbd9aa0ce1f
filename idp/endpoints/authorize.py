"""Authorization endpoint: https://openid.net/specs/openid-connect-core-1_0.html#AuthorizationEndpoint"""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.authorization_response import deliver
from idp.checks import check_acr_values, check_max_age, check_prompt, check_response_mode
from idp.endpoints.deps import services
from idp.errors import LoginRequiredError, OAuth2Error, UnmetAuthenticationRequirements
from idp.login_transactions import LoginTransaction
from idp.oauth_request import HttpRequest, parse_pairs, read_form
from idp.services import Services
from idp.tokens import AuthContext
from levels.level import DEFAULT_ACR, proven_level

router = APIRouter()


@router.api_route("/authorize", methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    svc = services(request)
    try:
        pairs = await read_form(request) if request.method == "POST" else parse_pairs(
            request.scope.get("query_string", b"")
        )
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    return await run_in_threadpool(authorization, svc, request, pairs, None)


@router.get("/authorize/resume")
async def resume(request: Request) -> Response:
    svc = services(request)
    tx = svc.transactions.load(request.query_params.get("tx"))
    if tx is None:
        return svc.pages.error(
            request, "This sign-in link has expired",
            "Go back to the service you were using and start again.",
        )
    return await run_in_threadpool(authorization, svc, request, tx.params, tx)


def authorization(
    svc: Services, request: Request, pairs: list[tuple[str, str]], tx: LoginTransaction | None
) -> Response:
    issuer = svc.settings.issuer
    oreq = HttpRequest("GET", issuer + "/authorize", request.headers, pairs, [])
    data = oreq.payload.data
    locale = svc.pages.locale(request, data.get("ui_locales"))
    try:
        grant = svc.server.get_consent_grant(oreq, end_user=None)
    except OAuth2Error as err:
        if not err.redirect_uri:
            # Unknown client or unregistered redirect URI: tell the person, never redirect.
            return svc.pages.error(
                request, "This request is not valid",
                "The service that sent you here made a request we cannot accept.",
                locale=locale, detail=err.description,
            )
        return _deliver_error(svc, request, err, err.redirect_uri, data, locale)

    redirect_uri: str = grant.redirect_uri
    client = oreq.client
    try:
        response_mode = check_response_mode(data)
        prompts = check_prompt(data)
        max_age = check_max_age(data)
        required = check_acr_values(client, data)
    except OAuth2Error as err:
        return _deliver_error(svc, request, err, redirect_uri, data, locale)

    cookie = request.cookies.get(svc.settings.cookie_name)
    session = svc.sessions.load(cookie)
    person = svc.people.get(session.person_id) if session else None
    if person is not None and person.status != "active":
        person = None

    now = time.time()
    signed_in_for_this_request = bool(tx and session and session.auth_time >= tx.created_at)
    # A sign-in completed for this very request satisfies prompt=login and any max_age (even 0).
    must_sign_in = session is None or person is None or (not signed_in_for_this_request and (
        "login" in prompts or "select_account" in prompts
        or (max_age is not None and now - session.auth_time > max_age)
    ))
    if must_sign_in:
        if "none" in prompts:
            return _deliver_error(svc, request, LoginRequiredError(), redirect_uri, data, locale, response_mode)
        tx = tx or svc.transactions.start(pairs, client.client_id)
        return RedirectResponse(f"/login?tx={tx.id}", status_code=302, headers={"Cache-Control": "no-store"})

    assert session is not None and person is not None and cookie is not None
    level = proven_level(person.proofing_tier, session.methods_since(session.created_at))
    if level is None or level < required:
        err: OAuth2Error = LoginRequiredError() if "none" in prompts else UnmetAuthenticationRequirements(
            f"This service needs assurance level {int(required)}, which this sign-in does not reach."
        )
        return _deliver_error(svc, request, err, redirect_uri, data, locale, response_mode)

    ctx = AuthContext(
        person_id=person.id, auth_time=session.auth_time, acr=DEFAULT_ACR[level], amr=session.amr,
        sid=session.sid, nonce=data.get("nonce"),
    )
    grant.request.user = ctx
    code = grant.generate_authorization_code()
    grant.save_authorization_code(code, grant.request)
    svc.sessions.add_client(cookie, session, client.client_id)
    if tx is not None:
        svc.transactions.finish(tx.id)
    return deliver(
        svc.pages, request, redirect_uri=redirect_uri, params=[("code", code)], state=data.get("state"),
        issuer=issuer, response_mode=response_mode, locale=locale,
    )


def _deliver_error(
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
