"""Client credentials grant: machine-to-machine tokens for agency back ends.

https://www.rfc-editor.org/rfc/rfc6749#section-4.4; audience per https://www.rfc-editor.org/rfc/rfc8707
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from authlib.oauth2.rfc6749 import grants

from idp.errors import InvalidScopeError, InvalidTargetError
from idp.oauth.dpop import token_binding
from idp.oauth.grants.client_auth import CONFIDENTIAL_METHODS

if TYPE_CHECKING:
    from idp.oauth.tokens import TokenIssuer

# Scopes that describe a person; a token with no person behind it never carries them.
USER_ONLY_SCOPES = frozenset({"openid", "offline_access", "profile", "phone", "national_code"})


@dataclass(frozen=True, slots=True)
class ClientGrantDeps:
    """What the client credentials grant uses, passed in when the server is built."""

    issuer: TokenIssuer


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS
    deps: ClassVar[ClientGrantDeps]  # set by `idp.oauth.grants.bind`

    def create_token_response(self):  # type: ignore[no-untyped-def]
        client = self.request.client
        requested = (self.request.payload.scope or "").split()
        allowed = [s for s in client.scopes if s not in USER_ONLY_SCOPES]
        not_allowed = [s for s in requested if s not in allowed]
        if not_allowed:
            raise InvalidScopeError(f"Scope not allowed for this client: {' '.join(not_allowed)}.")
        scope = " ".join(requested) if requested else " ".join(allowed)
        resources = self.request.payload.datalist.get("resource", [])
        unknown = [r for r in resources if r not in client.audiences]
        if unknown:
            raise InvalidTargetError(f"Resource not registered for this client: {unknown[0]}.")
        audience = resources or list(client.audiences)
        if not audience:
            raise InvalidTargetError("This client has no registered resource (audience) to call.")
        jkt = token_binding(self.request.dpop, client)  # RFC 9449 §5
        token = self.deps.issuer.client_token(client, scope, audience, jkt=jkt)
        return 200, token, self.TOKEN_RESPONSE_HEADER
