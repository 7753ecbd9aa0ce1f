"""Who is calling the admin API: an operator client, by an access token of ours.

The token is read as userinfo and introspection read our access tokens (`AccessTokenReader`: our
keyring's signature, `typ` at+jwt, our `iss`, not expired, not revoked), and must be meant for the
admin audience (`<issuer>/admin/v1`). It must be a machine token (`client_credentials`: about the
client itself, not a person, not exchanged), of a client that still exists and is enabled, and —
when bound to a DPoP key (`cnf.jkt`) — sent as `Authorization: DPoP` with a valid proof for this
request (RFC 9449 §7.1, `idp.oauth.dpop`). Refusals follow RFC 6750 §3: 401 `invalid_token`, or
403 `insufficient_scope` naming the scope needed.

Scopes: `idp.admin.<group>` (clients, people, entities, keys) reads and changes its group;
`idp.admin.read` reads every group and changes nothing, for dashboards and audits.

Runs in the thread pool (FastAPI calls a sync dependency there): the client and the revocation
list are read from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes

from clients.scopes import ADMIN_READ_SCOPE
from clients.store_sql import SqlClientStore
from idp.admin.errors import AdminError
from idp.errors import InvalidDpopProof, UseDpopNonce
from idp.oauth.dpop import ALGORITHMS, HEADER, NONCE_HEADER
from idp.services import Services

REALM = "idp-admin"
GROUPS = ("clients", "people", "entities", "keys")


def scope_of(group: str) -> str:
    return f"idp.admin.{group}"


@dataclass(frozen=True, slots=True)
class Operator:
    """The operator client behind a request, and what its token allows."""

    client_id: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        """How the audit log names it."""
        return f"client:{self.client_id}"


def security_scheme(token_url: str) -> OAuth2:
    """The OpenAPI security scheme: OAuth 2.0 client credentials at our token endpoint. As a
    dependency it only hands over the `Authorization` header (`auto_error=False`); `authenticate`
    judges it."""
    scopes = {scope_of(g): f"Read and change {g}." for g in GROUPS}
    scopes[ADMIN_READ_SCOPE] = "Read every group; change nothing."
    return OAuth2(
        flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=token_url, scopes=scopes)),
        scheme_name="operatorToken", auto_error=False,
        description="An access token of an operator client from the token endpoint (client_credentials, "
                    "resource/audience `<issuer>/admin/v1`), as `Authorization: Bearer <token>` (or `DPoP <token>` "
                    "with a DPoP proof for a DPoP-bound token).",
    )


def unauthorized(detail: str, *, error: str | None = "invalid_token", scheme: str = "Bearer",
                 nonce: str | None = None) -> AdminError:
    """401 (RFC 6750 §3.1): no error code in the challenge when no token was sent at all."""
    challenge = f'{scheme} realm="{REALM}"'
    if scheme == "DPoP":
        challenge += f', algs="{" ".join(ALGORITHMS)}"'
    if error:
        challenge += f', error="{error}", error_description="{detail}"'
    headers = {"WWW-Authenticate": challenge}
    if nonce is not None:
        headers[NONCE_HEADER] = nonce
    return AdminError(401, error or "invalid_token", detail, headers)


def authenticate(svc: Services, request: Request, authorization: str | None, audience: str) -> Operator:
    """The operator behind `authorization` (the header's value), or raises the 401 that says why."""
    scheme, _, token = (authorization or "").partition(" ")
    # Scheme names are case-insensitive (RFC 9110 §11.1).
    scheme = {"bearer": "Bearer", "dpop": "DPoP"}.get(scheme.lower(), "")
    token = token.strip()
    if not scheme or not token:
        raise unauthorized("Send an operator's access token as 'Authorization: Bearer <token>'.", error=None)
    at = svc.access_tokens.read_active(token, audience=audience)
    if at is None:
        raise unauthorized("The access token is invalid, expired, revoked or not meant for the admin API.",
                           scheme=scheme)
    claims = at.claims
    if claims.get("sub") != at.client_id or any(k in claims for k in ("acr", "sid", "act", "legal_entity")):
        raise unauthorized("Only an operator client's own token (client_credentials) may call the admin API.",
                           scheme=scheme)
    # Read now, not from the token endpoint's cache: an operator client disabled a moment ago is
    # refused at once.
    client = SqlClientStore(svc.engine).get(at.client_id)
    if client is None or not client.enabled:
        raise unauthorized("The client this token was issued to is disabled or no longer exists.", scheme=scheme)
    if at.jkt is None:
        if scheme == "DPoP":
            raise unauthorized("This access token is not DPoP-bound: send it as a Bearer token.", scheme="DPoP")
    else:
        if scheme != "DPoP":
            raise unauthorized("This access token is DPoP-bound: send it as 'Authorization: DPoP <token>' with a "
                               "DPoP proof.", scheme="DPoP")
        try:
            svc.dpop.check(request.headers.getlist(HEADER), method=request.method,
                           uri=svc.settings.endpoint(request.url.path), access_token=token, jkt=at.jkt)
        except UseDpopNonce as exc:
            raise unauthorized(exc.description, error="use_dpop_nonce", scheme="DPoP", nonce=exc.nonce) from exc
        except InvalidDpopProof as exc:
            raise unauthorized(exc.description, error="invalid_dpop_proof", scheme="DPoP") from exc
    return Operator(at.client_id, frozenset(at.get_scope().split()))


def require(operator: Operator, needed: SecurityScopes, scheme: str) -> None:
    """403 `insufficient_scope` (RFC 6750 §3.1) unless the token has one of the scopes `needed`."""
    if operator.scopes.isdisjoint(needed.scopes):
        wanted = needed.scopes[0]
        raise AdminError(
            403, "insufficient_scope", f"This operation needs the scope {wanted}.",
            {"WWW-Authenticate": f'{scheme} realm="{REALM}", error="insufficient_scope", scope="{wanted}"'},
        )


def operator_dependency(svc: Services, scheme: OAuth2, audience: str) -> Callable[..., Operator]:
    """A FastAPI dependency (use with `Security(..., scopes=[…])`): the operator, with one of the scopes."""

    def current_operator(
        request: Request, needed: SecurityScopes, authorization: str | None = Depends(scheme),
    ) -> Operator:
        operator = authenticate(svc, request, authorization, audience)
        used = (authorization or "").partition(" ")[0]
        require(operator, needed, "DPoP" if used.lower() == "dpop" else "Bearer")
        return operator

    return current_operator


def read_scopes(group: str) -> list[str]:
    """The scopes that may read `group`: its own first (named in a refusal), then the read-only one."""
    return [scope_of(group), ADMIN_READ_SCOPE]


def write_scopes(group: str) -> list[str]:
    return [scope_of(group)]
