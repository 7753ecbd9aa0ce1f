"""RP-initiated logout: https://openid.net/specs/openid-connect-rpinitiated-1_0.html"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.endpoints.deps import client_ip, services
from idp.errors import OAuth2Error
from idp.oauth_request import HttpRequest, parse_pairs, read_form

router = APIRouter()

_OWN_FIELDS = frozenset({"csrf_token", "confirm"})


@router.api_route("/end_session", methods=["GET", "POST"])
async def end_session(request: Request) -> Response:
    svc = services(request)
    try:
        query = parse_pairs(request.scope.get("query_string", b""))
        form = await read_form(request)
        pairs = form if request.method == "POST" else query
        oreq = HttpRequest(request.method, svc.settings.issuer + "/end_session", request.headers, query, form)
        logout = svc.server.validate_endpoint_request("end_session", oreq)
    except OAuth2Error as err:
        # Errors never redirect (RP-Initiated Logout §4): the person sees what went wrong.
        return svc.pages.error(
            request, "This sign-out request is not valid",
            "The service that sent you here made a sign-out request we cannot accept.",
            detail=err.description,
        )

    locale = svc.pages.locale(request, logout.ui_locales)
    cookie = request.cookies.get(svc.settings.cookie_name)
    session = svc.sessions.load(cookie)
    hint = logout.id_token_claims
    hint_is_for_this_session = hint is not None and (session is None or hint.get("sub") == session.person_id)
    confirmed = (
        request.method == "POST" and dict(form).get("confirm") == "yes"
        and svc.pages.check_csrf(request, dict(form).get("csrf_token"))
    )
    if not hint_is_for_this_session and not confirmed:
        # Without a valid id_token_hint anyone could sign the person out: ask first (§6).
        return svc.pages.render(
            request, "logout_confirm.html", locale,
            client_name=logout.client.name if logout.client else None,
            params=[(k, v) for k, v in pairs if k not in _OWN_FIELDS],
        )

    if session is not None and cookie is not None:
        svc.sessions.end(cookie)
        svc.audit.record(
            "logout", person_id=session.person_id, ip=client_ip(request, svc.settings.trust_forwarded_for),
            client_id=logout.client.client_id if logout.client else None, detail={"sid": session.sid},
        )
    response: Response
    if logout.redirect_uri:
        response = RedirectResponse(logout.redirect_uri, status_code=302, headers={"Cache-Control": "no-store"})
    else:
        response = svc.pages.render(request, "logged_out.html", locale)
    response.delete_cookie(svc.settings.cookie_name, path="/", secure=svc.settings.secure_cookies,
                           httponly=True, samesite="lax")
    return response
