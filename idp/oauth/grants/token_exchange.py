"""Token exchange for inter-agency inquiries: agency A's back end trades a person's access token for
one to call agency B's inquiry API on the person's behalf.

https://www.rfc-editor.org/rfc/rfc8693 — what this provider supports of it:

- Request (§2.1): `subject_token` is an access token we issued, `subject_token_type`
  `urn:ietf:params:oauth:token-type:access_token`; `requested_token_type`, if sent, the same.
  `actor_token` is not supported (the acting party is the authenticated client) and is refused
  rather than ignored, so no one believes it was checked.
- The target: `audience` (§2.1, a logical name) and/or `resource` (§2.1, RFC 8707) name agency B by
  its client_id, the name a resource server has with this provider (the issued token's `aud`, and
  what introspection lets B read). Exactly one agency per exchange. Missing, unknown, A itself, or a
  pair no operator allowed (`idp clients exchange allow`): `invalid_target` (§2.2.2).
- `scope` is required (RFC 6749 §3.3 lets us fail a request without one) and each value must be one
  of B's services allowed for the pair, of a level the subject token's `acr` reaches, within the
  service's maximum authentication age, and, for a service requiring a profile, asked by a client
  held to it: else `invalid_scope`.
- Whose subject token: a user token issued to A itself (by sign-in), or a token already exchanged
  and addressed to A (a chain: B, having received A's exchanged token, asks C). Machine tokens,
  tokens of other clients, expired or revoked ones, and those of people no longer active are
  `invalid_grant`, as the issue for this feature asks and RFC 6749 §5.2 defines it (the grant is
  invalid, expired, revoked or issued to another client); RFC 8693 §2.2.2 names `invalid_request`
  for an unacceptable subject token, which is kept for requests that are malformed or refused by
  policy (an `act` chain deeper than `IDP_TOKEN_EXCHANGE_MAX_DEPTH`).
- Response (§2.2.1): a JWT access token (RFC 9068) with `aud` B, `client_id` A, `sub` as B sees the
  person (pairwise for B when B is pairwise), `acr`/`amr`/`auth_time` exactly as in the subject
  token (never above), `legal_entity` when present, `sid`, and `act` (§4.1) naming A, with the
  subject token's own `act` nested inside; it expires no later than the subject token. No refresh
  token. Revoking the subject token, its grant or its session revokes it too.
- DPoP (RFC 9449): with a proof the new token is bound to its key (`cnf.jkt`, `token_type: DPoP`);
  a DPoP-bound subject token is exchanged only with a proof by its own key, and a client that must
  use DPoP (`dpop_bound_access_tokens`, fapi2) only with a proof: `invalid_dpop_proof` otherwise.

Each exchange is audited as `token.exchanged` (person, A, B, scopes) and shown to the person on
their account's activity page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from authlib.oauth2.rfc6749.grants.base import BaseGrant, TokenEndpointMixin

from clients.models import _SCOPE_TOKEN, is_client_id
from idp.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    InvalidTargetError,
    UnauthorizedClientError,
)
from idp.oauth.dpop import token_binding
from idp.oauth.grants.client_auth import CONFIDENTIAL_METHODS
from idp.oauth.tokens import ACCESS_TOKEN_TYPE, AuthContext

if TYPE_CHECKING:
    from clients.exchange import ExchangeStore
    from clients.models import Client
    from clients.registry import ClientRegistry
    from clients.services import Service, ServiceStore
    from idp.audit import AuditLog
    from idp.oauth.access_tokens import AccessToken, AccessTokenReader
    from idp.oauth.tokens import TokenIssuer
    from levels.people import PersonStore

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
# The one value both `subject_token_type` and `requested_token_type` may have.
TOKEN_TYPE = ACCESS_TOKEN_TYPE
# The parameters that may appear once at most (RFC 6749 §3.2: parameters MUST NOT repeat); `audience`
# and `resource` may repeat (RFC 8693 §2.1) but must then name the same agency.
_SINGLE = ("subject_token", "subject_token_type", "requested_token_type", "scope", "actor_token",
           "actor_token_type")


@dataclass(frozen=True, slots=True)
class ExchangeGrantDeps:
    """What the token exchange grant uses, passed in when the server is built."""

    issuer: TokenIssuer
    access_tokens: AccessTokenReader
    permissions: ExchangeStore
    services: ServiceStore
    clients: ClientRegistry
    people: PersonStore
    level_of_acr: Callable[[str], int | None]  # `levels.policy.Policy.level_for_acr`
    audit: AuditLog
    max_depth: int  # how many agencies deep an `act` chain may grow
    clock: Callable[[], float] = time.time


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = GRANT_TYPE
    # Only clients that authenticate: an exchange hands a person's authority to another agency.
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS
    deps: ClassVar[ExchangeGrantDeps]  # set by `idp.oauth.grants.bind`

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if client.is_public:
            raise UnauthorizedClientError("Public clients cannot exchange tokens.")
        self.request.client = client
        datalist = self.request.payload.datalist
        for name in _SINGLE:
            if len(datalist.get(name, [])) > 1:
                raise InvalidRequestError(f"The {name} parameter is repeated.")
        data = self.request.payload.data
        if not data.get("subject_token"):
            raise InvalidRequestError("The subject_token parameter is missing.")
        if data.get("subject_token_type") != TOKEN_TYPE:
            raise InvalidRequestError(f"The subject_token_type must be {TOKEN_TYPE}.")
        if data.get("requested_token_type", TOKEN_TYPE) != TOKEN_TYPE:
            raise InvalidRequestError(f"Only {TOKEN_TYPE} can be issued.")
        if "actor_token" in data or "actor_token_type" in data:
            raise InvalidRequestError("actor_token is not supported: the authenticated client is the actor.")

    def create_token_response(self):  # type: ignore[no-untyped-def]
        deps = self.deps
        client = self.request.client
        data = self.request.payload.data
        subject = self._subject(data["subject_token"], client.client_id)
        act: dict[str, object] = {"sub": client.client_id}
        if isinstance(subject.claims.get("act"), dict):
            act["act"] = subject.claims["act"]
        if _depth(act) > deps.max_depth:
            # RFC 8693 §2.2.2: a subject token unacceptable by policy is an invalid request.
            raise InvalidRequestError(f"The chain of agencies acting would be longer than {deps.max_depth}.")
        person = deps.people.get(subject.person_id)
        if person is None or person.status != "active":
            raise InvalidGrantError("The account behind the subject token is no longer active.")
        audience = self._audience(client.client_id)
        scopes = self._scopes(data.get("scope", ""), client, audience.client_id, subject)
        claims = subject.claims
        ctx = AuthContext(
            person_id=person.id, auth_time=int(claims["auth_time"]),  # type: ignore[call-overload]
            acr=str(claims["acr"]), amr=tuple(str(a) for a in claims.get("amr") or ()),  # type: ignore[union-attr]
            sid=claims["sid"] if isinstance(claims.get("sid"), str) else None,  # type: ignore[arg-type]
            legal_entity=claims["legal_entity"] if isinstance(claims.get("legal_entity"), dict) else None,  # type: ignore[arg-type]
        )
        origins = claims.get("exchanged_from")
        scope = " ".join(scopes)
        # RFC 9449: bound to the key of the request's proof; a DPoP-bound subject token only with a
        # proof by its own key, so an exchange never turns a bound token into a bearer one.
        jkt = token_binding(self.request.dpop, client, subject.jkt)
        token = deps.issuer.exchanged_token(
            client, scope, audience, ctx, act=act,
            expires_at=int(claims["exp"]),  # type: ignore[call-overload]
            exchanged_from=[*(str(j) for j in origins), subject.jti] if isinstance(origins, list) else [subject.jti],
            jkt=jkt,
        )
        deps.audit.record("token.exchanged", person_id=person.id, client_id=client.client_id,
                          detail={"audience": audience.client_id, "scope": scope, "act": act})
        return 200, token, self.TOKEN_RESPONSE_HEADER

    # -- the parts of the request ----------------------------------------------------------------

    def _subject(self, token: str, requester: str) -> AccessToken:
        """The subject token, if it is a live user token the requester holds as of right."""
        subject = self.deps.access_tokens.read(token)
        if subject is None:
            raise InvalidGrantError("The subject_token is not an access token issued by this server.")
        if subject.revoked:
            raise InvalidGrantError("The subject_token has been revoked.")
        if int(subject.claims.get("exp", 0)) <= self.deps.clock():  # type: ignore[call-overload]
            raise InvalidGrantError("The subject_token has expired.")
        claims = subject.claims
        if not isinstance(claims.get("acr"), str) or not isinstance(claims.get("auth_time"), int):
            raise InvalidGrantError("The subject_token was issued to a client for itself, not for a person.")
        # A token exchanged before is held by the agency it was addressed to; any other by the
        # client it was issued to.
        held = requester in subject.audiences if "act" in claims else subject.client_id == requester
        if not held:
            raise InvalidGrantError("The subject_token was not issued to this client.")
        return subject

    def _audience(self, requester: str) -> Client:
        datalist = self.request.payload.datalist
        named = set(datalist.get("audience", [])) | set(datalist.get("resource", []))
        if not named:
            raise InvalidTargetError("Name the agency to call with audience (its client_id).")
        if len(named) > 1:
            raise InvalidTargetError("One exchange names one agency to call.")
        name = named.pop()
        audience = self.deps.clients.get(name) if is_client_id(name) else None
        if audience is None or not audience.enabled:
            raise InvalidTargetError("The audience is not a registered client.")
        if audience.client_id == requester:
            raise InvalidTargetError("A client cannot exchange a token to call itself.")
        return audience

    def _scopes(self, scope: str, client: Client, audience: str, subject: AccessToken) -> list[str]:
        requested = list(dict.fromkeys(scope.split()))
        if not requested:
            raise InvalidScopeError("Name the services to call with scope.")
        if not all(_SCOPE_TOKEN.fullmatch(s) for s in requested):
            raise InvalidScopeError("The scope parameter is malformed.")
        allowed = {p.scope for p in self.deps.permissions.for_client(client.client_id) if p.audience == audience}
        if not allowed:
            raise InvalidTargetError(f"This client may not exchange tokens to call {audience}.")
        services: dict[str, Service] = {s.scope: s for s in self.deps.services.services_for(audience)}
        not_allowed = [s for s in requested if s not in allowed or s not in services]
        if not_allowed:
            raise InvalidScopeError(f"Not allowed for this exchange: {' '.join(not_allowed)}.")
        level = self.deps.level_of_acr(str(subject.claims["acr"])) or 0
        now = self.deps.clock()
        for name in requested:
            service = services[name]
            if service.min_level > level:
                raise InvalidScopeError(f"{name} needs level {service.min_level}; the subject_token is of level "
                                        f"{level}.")
            if service.max_auth_age is not None and now - int(subject.claims["auth_time"]) > service.max_auth_age:  # type: ignore[call-overload]
                raise InvalidScopeError(f"{name} needs an authentication at most {service.max_auth_age} s old.")
            if not service.reachable_by(client):
                raise InvalidScopeError(f"{name} is only for clients held to the {service.profile} profile.")
        return requested


def _depth(act: object) -> int:
    """How many actors an `act` claim names (RFC 8693 §4.1: each nested one acted before)."""
    depth = 0
    while isinstance(act, dict):
        depth += 1
        act = act.get("act")
    return depth
