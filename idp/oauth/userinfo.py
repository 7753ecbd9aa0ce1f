"""UserInfo endpoint: https://openid.net/specs/openid-connect-core-1_0.html#UserInfo"""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from idp.oauth.claims import filtered, person_claims
from idp.oauth.verified_claims import verified_claims
from idp.web import deps

router = APIRouter()


def _unauthorized(description: str, error: str | None = "invalid_token") -> Response:
    # RFC 6750 §3: the challenge says why; no error code when no token was sent at all.
    challenge = 'Bearer realm="userinfo"'
    if error:
        challenge += f', error="{error}", error_description="{description}"'
    return Response(
        orjson.dumps({"error": error or "invalid_request", "error_description": description}),
        status_code=401, media_type="application/json",
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


def _userinfo(request: Request, token: str) -> Response:
    at = deps.access_tokens(request).read_active(token, audience=deps.settings(request).issuer)
    if at is None:
        return _unauthorized("The access token is invalid, expired or revoked.")
    scopes = set(at.get_scope().split())
    if "openid" not in scopes:
        return Response(
            orjson.dumps({"error": "insufficient_scope", "error_description": "The token lacks scope openid."}),
            status_code=403, media_type="application/json",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
        )
    person = deps.people(request).get(at.person_id)
    if person is None or person.status != "active":
        return _unauthorized("The account behind this token is no longer active.")
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
    return Response(orjson.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})


@router.api_route("/userinfo", methods=["GET", "POST"])
def userinfo(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("Send the access token as 'Authorization: Bearer <token>'.", error=None)
    return _userinfo(request, token.strip())
