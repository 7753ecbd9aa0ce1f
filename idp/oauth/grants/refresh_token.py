"""Refresh token grant with rotation and reuse detection.

https://www.rfc-editor.org/rfc/rfc6749#section-6,
https://datatracker.ietf.org/doc/html/draft-ietf-oauth-security-topics#section-4.14
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from authlib.oauth2.rfc6749 import grants

from idp.errors import InvalidGrantError
from idp.oauth.claims import requested_id_token_claims
from idp.oauth.dpop import token_binding
from idp.oauth.grant_revocation import Family
from idp.oauth.grants.client_auth import ALL_METHODS
from idp.oauth.refresh_tokens import AlreadyUsed, RefreshToken
from idp.oauth.tokens import AuthContext

if TYPE_CHECKING:
    from idp.oauth.grant_revocation import Grants
    from idp.oauth.refresh_tokens import RefreshTokenStore
    from idp.oauth.tokens import TokenIssuer
    from idp.signin.acting import EntityAccess
    from levels.people import PersonStore


@dataclass(frozen=True, slots=True)
class RefreshGrantDeps:
    """What the refresh token grant uses, passed in when the server is built."""

    issuer: TokenIssuer
    refresh_tokens: RefreshTokenStore
    grants: Grants  # revoking a family on reuse or an ended mandate
    entity_access: EntityAccess
    people: PersonStore  # person claims the original request asked for in the ID token


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    deps: ClassVar[RefreshGrantDeps]  # set by `idp.oauth.grants.bind`

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        token = self.deps.refresh_tokens.find(refresh_token)
        if token is None or token.revoked_at is not None or token.is_expired():
            return None
        if token.used_at is not None:
            self._revoke_family(token, "token.refresh_reused")
            return None
        return token

    def _revoke_family(self, token: RefreshToken, event: str) -> None:
        self.deps.grants.revoke_grant(
            Family(token.family_id), event, person_id=token.person_id, client_id=token.client_id)

    def authenticate_user(self, refresh_token: RefreshToken) -> AuthContext | None:
        if not refresh_token.person_active:
            return None
        return AuthContext.from_refresh(refresh_token.person_id, refresh_token.family_id, refresh_token.auth)

    def _still_acting(self, old: RefreshToken, ctx: AuthContext) -> AuthContext:
        """Tokens issued for a legal entity last only as long as the mandate: once it is revoked,
        expired, or the entity is suspended or dissolved, the whole grant ends."""
        claim = ctx.legal_entity or {}
        mandate = self.deps.entity_access.still_holds(claim.get("mandate_id"))
        if mandate is None:
            self._revoke_family(old, "token.mandate_ended")
            raise InvalidGrantError("The mandate to act for this legal entity has ended.")
        # The entity may have been renamed since; the role and powers of a mandate never change.
        return replace(ctx, legal_entity={**claim, "name": mandate.entity.name})

    def create_token_response(self):  # type: ignore[no-untyped-def]
        old: RefreshToken = self.request.refresh_token
        client = self.request.client
        ctx = self.authenticate_user(old)
        if ctx is None:
            raise InvalidGrantError("The account behind this token is no longer active.")
        if ctx.legal_entity is not None:
            ctx = self._still_acting(old, ctx)
        # RFC 9449 §5: a public client's refresh token bound to a DPoP key is used only with a proof
        # by that key, and its successor stays bound to it; the new access token is bound to the
        # key of this request's proof (for a confidential client, possibly a new one).
        bound = old.auth.get("dpop_jkt")
        bound = bound if isinstance(bound, str) else None
        jkt = token_binding(self.request.dpop, client, bound)
        refresh_jkt = bound or (jkt if client.is_public else None)
        self.request.user = ctx
        scope = self.request.payload.scope or old.scope
        try:
            token, _ = self.deps.issuer.user_tokens(
                client, scope, ctx, with_refresh=True, refresh_scope=old.scope, replaces=old.token_hash,
                jkt=jkt, refresh_jkt=refresh_jkt,
            )
        except AlreadyUsed:
            # Lost a race with another use of the same token: that is reuse too.
            self._revoke_family(old, "token.refresh_reused")
            raise InvalidGrantError("The refresh token was already used.") from None
        if "openid" in scope.split():
            # The refreshed ID token answers the same claims request as the first (OIDC Core §12.2).
            person = self.deps.people.get(ctx.person_id) if ctx.id_token_claims else None
            extra = requested_id_token_claims(person, scope, ctx.id_token_claims) if person is not None else None
            token["id_token"] = self.deps.issuer.id_token(client, ctx, str(token["access_token"]), extra)
        return 200, token, self.TOKEN_RESPONSE_HEADER
