"""RP-initiated logout: https://openid.net/specs/openid-connect-rpinitiated-1_0.html"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.errors import OAuth2Error
from idp.oauth.request import HttpRequest, parse_pairs
from idp.services import Services
from idp.web import input_limits
from idp.web.deps import PostedForm, client_ip, services

router = APIRouter()

# RP-Initiated Logout §2: the request parameters the confirmation form carries on (nothing else is echoed).
_LOGOUT_PARAMETERS = frozenset({"id_token_hint", "logout_hint", "client_id", "post_logout_redirect_uri", "state",
                                "ui_locales"})


@router.api_route("/end_session", methods=["GET", "POST"])
def end_session(request: Request, posted: PostedForm) -> Response:
    svc = services(request)
    try:
        query = input_limits.check(parse_pairs(request.scope.get("query_string", b"")))
        form = posted.pairs()
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
    cookie = svc.cookies.session.read(request)
    session = svc.sessions.load(cookie)
    hint = logout.id_token_claims
    # The hint names the person as its client saw them: pairwise or public (OIDC Core §8).
    hint_is_for_this_session = hint is not None and (session is None or hint.get("sub") == (
        svc.subjects.for_client(logout.client, session.person_id) if logout.client else session.person_id))
    confirmed = (
        request.method == "POST" and dict(form).get("confirm") == "yes"
        and svc.pages.check_csrf(request, dict(form).get("csrf_token"))
    )
    if not hint_is_for_this_session and not confirmed:
        # Without a valid id_token_hint anyone could sign the person out: ask first (§6).
        # The confirmed sign-out may redirect to the client's post-logout URI: forms may go there.
        return svc.pages.render(
            request, "logout_confirm.html", locale,
            form_targets=[logout.redirect_uri] if logout.redirect_uri else [],
            client=logout.client,
            params=[(k, v) for k, v in pairs if k in _LOGOUT_PARAMETERS],
        )

    ended = []
    if session is not None:
        ip = client_ip(request, svc.settings.trusted_proxies)
        done = svc.logout.end(session.sid, reason="rp_logout", ip=ip,
                              actor=f"client:{logout.client.client_id}" if logout.client else None)
        ended = [done] if done is not None else []
    frames = svc.logout.frontchannel_urls(ended)
    if logout.redirect_uri and not frames:
        response: Response = RedirectResponse(logout.redirect_uri, status_code=302,
                                              headers={"Cache-Control": "no-store"})
        return forget_session_cookie(svc, response)
    return logged_out_page(svc, request, locale, frames, logout.redirect_uri)


def forget_session_cookie(svc: Services, response: Response) -> Response:
    svc.cookies.session.delete(response)
    return response


def logged_out_page(
    svc: Services, request: Request, locale: str, frames: list[str], continue_to: str | None, *,
    everywhere: bool = False,
) -> Response:
    """The signed-out page (the browser's session cookie goes with it); it loads each client's
    front-channel logout URL in a hidden frame (OIDC Front-Channel Logout 1.0 §2), then continues to
    the client's post-logout URI, if any."""
    origins = sorted({f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in frames})
    response = svc.pages.render(request, "logged_out.html", locale, frame_origins=origins, frames=frames,
                                continue_to=continue_to, everywhere=everywhere)
    return forget_session_cookie(svc, response)
