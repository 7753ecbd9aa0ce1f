"""Authorization code grant with PKCE S256 required for every client.

https://www.rfc-editor.org/rfc/rfc6749#section-4.1, https://www.rfc-editor.org/rfc/rfc7636,
https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.errors import InvalidGrantError, InvalidRequestError
from idp.oauth.claims import requested_id_token_claims
from idp.oauth.codes import AuthorizationCode, Redemption
from idp.oauth.dpop import requires_dpop, token_binding
from idp.oauth.grant_revocation import Family
from idp.oauth.grants.client_auth import ALL_METHODS
from idp.oauth.tokens import AuthContext
from idp.oauth.verified_claims import verified_claims

if TYPE_CHECKING:
    from idp.oauth.codes import CodeRecords
    from idp.oauth.grant_revocation import Grants
    from idp.oauth.tokens import TokenIssuer
    from idp.signin.acting import EntityAccess
    from levels.people import PersonStore
    from levels.proofing import ProofingRecordStore


@dataclass(frozen=True, slots=True)
class CodeGrantDeps:
    """What the authorization code grant uses, passed in when the server is built."""

    codes: CodeRecords  # codes, and the record of their redemption
    grants: Grants  # revoking what a replayed code obtained
    issuer: TokenIssuer
    people: PersonStore
    proofing_records: ProofingRecordStore
    entity_access: EntityAccess
    # FAPI 2.0 Security Profile §5.3.2.2: codes of fapi2 clients live at most 60 seconds; ours this long.
    fapi2_code_ttl: float | None = None


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only, required even from confidential clients (OAuth 2.0 Security BCP §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: grants.BaseGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256; 'plain' is not accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: grants.BaseGrant, result: object) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge_method


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    deps: ClassVar[CodeGrantDeps]  # set by `idp.oauth.grants.bind`

    @staticmethod
    def validate_authorization_redirect_uri(request, client):  # type: ignore[no-untyped-def]
        # OIDC requires redirect_uri on every request; we never fall back to a registered default.
        uri = request.payload.redirect_uri
        if not uri:
            raise InvalidRequestError("Missing 'redirect_uri'.")
        if not client.check_redirect_uri(uri):
            raise InvalidRequestError("The redirect_uri is not registered for this client.")
        return uri

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code: str, request) -> None:  # type: ignore[no-untyped-def]
        ctx: AuthContext = request.user
        data = request.payload.data
        record = AuthorizationCode(
            client_id=request.client.client_id, redirect_uri=request.payload.redirect_uri,
            scope=request.scope, code_challenge=data["code_challenge"],
            code_challenge_method=data.get("code_challenge_method", "S256"),
            person_id=ctx.person_id, auth_time=ctx.auth_time, acr=ctx.acr, amr=ctx.amr, sid=ctx.sid,
            nonce=data.get("nonce"), family_id=ctx.family_id,
            id_token_verified=ctx.id_token_verified, userinfo_verified=ctx.userinfo_verified,
            legal_entity=ctx.legal_entity, id_token_claims=ctx.id_token_claims,
            userinfo_claims=ctx.userinfo_claims, dpop_jkt=data.get("dpop_jkt") or None,
        )
        self.deps.codes.save(code, record, ttl=self.deps.fapi2_code_ttl if request.client.is_fapi2 else None)

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:  # type: ignore[no-untyped-def]
        if self.request.dpop is None and requires_dpop(client):
            token_binding(None, client)  # refused before the code is used up, so a retry with a proof works
        record = self.deps.codes.take(code)
        if record is None:
            self._handle_replay(code)
            return None
        # Remember the redemption, so a second use can revoke what the first one obtained.
        self.deps.codes.redeemed(code, Redemption(record.family_id, None))
        if record.client_id != client.client_id:
            return None
        return record

    def _handle_replay(self, code: str) -> None:
        used = self.deps.codes.redemption(code)
        if used is None:
            return
        # RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
        self.deps.grants.revoke_grant(Family(used.family_id), "token.code_replayed", also=[used.jti])

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: the code was taken from the store atomically when it was looked up."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> AuthContext | None:
        person = self.deps.people.get(authorization_code.person_id)
        if person is None or person.status != "active":
            return None
        return authorization_code.context()

    def _id_token_extra(self, ctx: AuthContext, scope: str) -> dict[str, object] | None:
        """What the claims request adds to the ID token: person claims asked for by name and
        allowed by the granted scopes, and `verified_claims`."""
        if ctx.id_token_verified is None and ctx.id_token_claims is None:
            return None
        person = self.deps.people.get(ctx.person_id)
        if person is None:
            return None
        extra = requested_id_token_claims(person, scope, ctx.id_token_claims)
        if ctx.id_token_verified is not None:
            stated = verified_claims(person, self.deps.proofing_records.latest(person.id),
                                     list(ctx.id_token_verified))
            if stated:
                extra["verified_claims"] = stated
        return extra

    def create_token_response(self):  # type: ignore[no-untyped-def]
        code: AuthorizationCode = self.request.authorization_code
        client = self.request.client
        ctx = self.authenticate_user(code)
        if ctx is None:
            raise InvalidGrantError("The account behind this code is no longer active.")
        if ctx.sid and self.deps.issuer.session_revoked(ctx.sid):
            # The session ended after this code was issued: its tokens would outlive the logout.
            raise InvalidGrantError("The sign-in session this code belongs to has ended.")
        if ctx.legal_entity is not None and not self.deps.entity_access.token_claim_holds(ctx.legal_entity):
            raise InvalidGrantError("The mandate to act for this legal entity has ended.")
        jkt = token_binding(self.request.dpop, client, code.dpop_jkt)
        self.request.user = ctx
        scopes = code.scope.split()
        with_refresh = client.check_grant_type("refresh_token") and "offline_access" in scopes
        # RFC 9449 §5: a public client's refresh token is bound to the key too; a confidential
        # client's is held to its client authentication instead.
        token, jti = self.deps.issuer.user_tokens(
            client, code.scope, ctx, with_refresh=with_refresh, jkt=jkt, refresh_jkt=jkt if client.is_public else None)
        if "openid" in scopes:
            token["id_token"] = self.deps.issuer.id_token(
                client, ctx, str(token["access_token"]), self._id_token_extra(ctx, code.scope))
        self.deps.codes.redeemed(self.request.form["code"], Redemption(ctx.family_id, jti))
        return 200, token, self.TOKEN_RESPONSE_HEADER
