"""Authorization endpoint: https://openid.net/specs/openid-connect-core-1_0.html#AuthorizationEndpoint

Parses and validates the request, then asks `idp.signin.interaction` for its one next step and lets
`idp.signin.dispatch` answer (a page, the client's error, or the code). `/authorize/resume` is the
same request continued after a sign-in page.

A request may come whole, as a signed request object (`request`, RFC 9101) or as the `request_uri`
of a pushed request (RFC 9126). Either way only the parameters inside count (RFC 9101 §6.3, RFC 9126
§4): the others beside it are ignored, `client_id` aside, which must match. Those parameters, not
the request object or the request_uri, are what the login transaction keeps, so the sign-in
continues (`/authorize/resume`) after the single-use request_uri is spent. A request object that
does not verify, or a request_uri that is unknown, expired, used or another client's, is shown on a
page (`invalid_request_object`, `invalid_request_uri`): until the object verifies nothing in it
says where the client really wants its answers.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import InvalidClientError, InvalidRequestError, OAuth2Error
from idp.oauth.checks import Refusal, check_claims, check_input, check_prompt, check_pushed, check_response_mode
from idp.oauth.request import HttpRequest, parse_pairs
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.signin.dispatch import Validated, answer, deliver_error
from idp.signin.interaction import Interaction
from idp.web.deps import PostedParameters, services
from idp.web.input_limits import AUTHORIZATION_PARAMETERS

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
    """Validate the request, gather what the decision reads, and act on its one next step."""
    issuer = svc.settings.issuer
    # Only the parameters we read are kept (and stored while the person signs in); others are ignored.
    pairs = [(key, value) for key, value in pairs if key in AUTHORIZATION_PARAMETERS]
    refusal = check_input(pairs)
    if refusal is not None:
        return refuse(svc, request, refusal, pairs)
    # A login transaction keeps a request accepted when it started, pushed or not.
    pushed = tx is not None
    if tx is None and any(key in ("request", "request_uri") for key, _ in pairs):
        try:
            pairs, pushed = inner_parameters(svc, pairs)
        except OAuth2Error as err:
            return unusable_request_page(svc, request, err)
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
    try:
        response_mode = check_response_mode(data)
        prompts = check_prompt(data)
        claims = check_claims(data)
        check_pushed(oreq.client, pushed=pushed,
                     required_everywhere=svc.settings.require_pushed_authorization_requests)
        ctx = Interaction(svc, request, client=oreq.client, data=data, claims=claims, prompts=prompts, tx=tx,
                          cookie=None, session=None, person=None, locale=locale)
        ctx.check()
    except OAuth2Error as err:
        return deliver_error(svc, request, err, redirect_uri, data, locale)

    cookie = svc.cookies.session.read(request)
    session = svc.sessions.load(cookie)
    person = svc.people.get(session.person_id) if session else None
    ctx.signed_in_as(cookie, session, person if person is not None and person.status == "active" else None)
    try:
        ctx.check_subject()
    except OAuth2Error as err:
        return deliver_error(svc, request, err, redirect_uri, data, locale, response_mode)
    return answer(ctx, Validated(grant, pairs, redirect_uri, response_mode))


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


def inner_parameters(svc: Services, pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], bool]:
    """The parameters a request object or a pushed request stands for, and whether they were pushed.

    RFC 9101 §5 and RFC 9126 §4: `client_id` is required beside either, and must be the client that
    signed the object or pushed the request; every other parameter beside them is ignored.
    """
    data = dict(pairs)
    client_id = data.get("client_id")
    if "request" in data and "request_uri" in data:
        raise InvalidRequestError("request and request_uri cannot be sent together (RFC 9101 section 5).")
    if not client_id:
        raise InvalidRequestError(
            "client_id is required beside request or request_uri (RFC 9101 section 5, RFC 9126 section 4).")
    if "request_uri" in data:
        return svc.pushed.take(data["request_uri"], client_id), True
    client = svc.server.query_client(client_id)
    if client is None:
        raise InvalidClientError("The client_id is not that of a registered client.")
    return svc.request_objects.parameters(data["request"], client), False


def unusable_request_page(svc: Services, request: Request, err: OAuth2Error) -> Response:
    """A request object that does not verify, or a request_uri we cannot use: a page, never a
    redirect, since nothing trustworthy says where the client wants its answer."""
    return svc.pages.error(
        request, "This request is not valid", "The service that sent you here made a request we cannot accept.",
        locale=svc.pages.locale(request, None), detail=f"{err.error}: {err.description}",
    )
