"""UserInfo endpoint: https://openid.net/specs/openid-connect-core-1_0.html#UserInfo

A bearer token comes as `Authorization: Bearer` (RFC 6750 §2.1); a DPoP-bound one only as
`Authorization: DPoP` with a proof for this request made with the token's key (RFC 9449 §7.1).
Every refusal names both schemes it accepts (RFC 9449 §7.2) and the proof algorithms (`algs`).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import InvalidDpopProof, UseDpopNonce
from idp.oauth.claims import filtered, person_claims
from idp.oauth.dpop import ALGORITHMS, HEADER, NONCE_HEADER
from idp.oauth.verified_claims import verified_claims
from idp.web import deps

router = APIRouter()


_DPOP_CHALLENGE = f'DPoP realm="userinfo", algs="{" ".join(ALGORITHMS)}"'


def _unauthorized(
    description: str, error: str | None = "invalid_token", *, scheme: str = "Bearer", nonce: str | None = None,
) -> Response:
    # RFC 6750 §3, RFC 9449 §7.1: the challenge of the scheme the token came with says why (no
    # error code when no token was sent at all); the other scheme is offered beside it (§7.2).
    bearer, dpop = 'Bearer realm="userinfo"', _DPOP_CHALLENGE
    if error:
        reason = f', error="{error}", error_description="{description}"'
        if scheme == "DPoP":
            dpop += reason
        else:
            bearer += reason
    response = Response(
        orjson.dumps({"error": error or "invalid_request", "error_description": description}),
        status_code=401, media_type="application/json", headers={"Cache-Control": "no-store"},
    )
    for challenge in (bearer, dpop) if scheme == "Bearer" else (dpop, bearer):
        response.headers.append("WWW-Authenticate", challenge)
    if nonce is not None:
        response.headers[NONCE_HEADER] = nonce
    return response


def _proof_refused(request: Request, token: str, scheme: str, jkt: str | None) -> Response | None:
    """None if the token may be used as sent: a bearer token as Bearer, a DPoP-bound one as DPoP
    with a valid proof for this request by its key (RFC 9449 §7.1); else the 401 saying why."""
    if jkt is None:
        if scheme == "DPoP":
            return _unauthorized("This access token is not DPoP-bound: send it as a Bearer token.", scheme="DPoP")
        return None
    if scheme != "DPoP":
        return _unauthorized("This access token is DPoP-bound: send it as 'Authorization: DPoP <token>' "
                             "with a DPoP proof.", scheme="DPoP")
    url = deps.settings(request).endpoint("/userinfo")
    try:
        deps.services(request).dpop.check(
            request.headers.getlist(HEADER), method=request.method, uri=url, access_token=token, jkt=jkt)
    except UseDpopNonce as exc:
        return _unauthorized(exc.description, "use_dpop_nonce", scheme="DPoP", nonce=exc.nonce)
    except InvalidDpopProof as exc:
        return _unauthorized(exc.description, "invalid_dpop_proof", scheme="DPoP")
    return None


def _userinfo(request: Request, token: str, scheme: str) -> Response:
    at = deps.access_tokens(request).read_active(token, audience=deps.settings(request).issuer)
    if at is None:
        return _unauthorized("The access token is invalid, expired or revoked.", scheme=scheme)
    refused = _proof_refused(request, token, scheme, at.jkt)
    if refused is not None:
        return refused
    scopes = set(at.get_scope().split())
    if "openid" not in scopes:
        return Response(
            orjson.dumps({"error": "insufficient_scope", "error_description": "The token lacks scope openid."}),
            status_code=403, media_type="application/json",
            headers={"WWW-Authenticate": f'{scheme} error="insufficient_scope", scope="openid"'},
        )
    person = deps.people(request).get(at.person_id)
    if person is None or person.status != "active":
        return _unauthorized("The account behind this token is no longer active.", scheme=scheme)
    # The `sub` the token's client sees (pairwise or public, OIDC Core §5.3.2 and §8); the claims its
    # scopes release, less those the claims request asked for with another value (§5.5.1).
    asked = at.claims.get("claims_request")
    body: dict[str, object] = {
        "sub": at.claims.get("sub"),
        **filtered(person_claims(person, scopes), asked if isinstance(asked, dict) else None),
    }
    # How and when the person authenticated, as in the token (a user token always has these).
    body.update({k: at.claims[k] for k in ("acr", "amr", "auth_time", "legal_entity") if k in at.claims})
    names = at.claims.get("verified_claims_request")
    if isinstance(names, list):
        stated = verified_claims(person, deps.proofing_records(request).latest(person.id), [str(n) for n in names])
        if stated:
            body["verified_claims"] = stated
    headers = {"Cache-Control": "no-store"}
    if at.jkt is not None:
        headers.update(deps.services(request).dpop.fresh_nonce_header())  # RFC 9449 §8.2
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


@router.api_route("/userinfo", methods=["GET", "POST"])
def userinfo(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # Scheme names are case-insensitive (RFC 9110 §11.1).
    scheme = {"bearer": "Bearer", "dpop": "DPoP"}.get(scheme.lower(), "")
    if not scheme or not token.strip():
        return _unauthorized("Send the access token as 'Authorization: Bearer <token>' or, bound to a DPoP key, "
                             "'Authorization: DPoP <token>' with a DPoP proof.", error=None)
    return _userinfo(request, token.strip(), scheme)
