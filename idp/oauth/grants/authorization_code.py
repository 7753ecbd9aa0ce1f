"""Authorization code grant with PKCE S256 required for every client.

https://www.rfc-editor.org/rfc/rfc6749#section-4.1, https://www.rfc-editor.org/rfc/rfc7636,
https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar

import orjson
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.errors import InvalidGrantError, InvalidRequestError
from idp.oauth.grants.client_auth import ALL_METHODS
from idp.oauth.tokens import AuthContext
from idp.oauth.verified_claims import verified_claims

if TYPE_CHECKING:
    from idp.audit import AuditLog
    from idp.oauth.refresh_tokens import SqlRefreshTokenStore
    from idp.oauth.tokens import TokenIssuer
    from idp.signin.acting import EntityAccess
    from idp.storage.store import Store
    from levels.people import SqlPersonStore
    from levels.proofing import SqlProofingStore


@dataclass(frozen=True, slots=True)
class CodeGrantDeps:
    """What the authorization code grant uses, passed in when the server is built."""

    store: Store  # codes, and the record of their redemption
    code_ttl: int
    issuer: TokenIssuer
    refresh_tokens: SqlRefreshTokenStore
    people: SqlPersonStore
    proofing_records: SqlProofingStore
    entity_access: EntityAccess
    audit: AuditLog


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    person_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    sid: str | None
    nonce: str | None
    family_id: str
    id_token_verified: tuple[str, ...] | None = None
    userinfo_verified: tuple[str, ...] | None = None
    legal_entity: dict[str, object] | None = None

    # Authlib AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def context(self) -> AuthContext:
        return AuthContext(
            person_id=self.person_id, auth_time=self.auth_time, acr=self.acr, amr=self.amr,
            sid=self.sid, nonce=self.nonce, family_id=self.family_id,
            id_token_verified=self.id_token_verified, userinfo_verified=self.userinfo_verified,
            legal_entity=self.legal_entity,
        )


def _code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


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
            legal_entity=ctx.legal_entity,
        )
        self.deps.store.set(f"code:{_code_key(code)}", orjson.dumps(asdict(record)), self.deps.code_ttl)

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:  # type: ignore[no-untyped-def]
        key = _code_key(code)
        raw = self.deps.store.take(f"code:{key}")
        if raw is None:
            self._handle_replay(key)
            return None
        data = orjson.loads(raw)
        for key in ("amr", "id_token_verified", "userinfo_verified"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        record = AuthorizationCode(**data)
        # Remember the redemption, so a second use can revoke what the first one obtained.
        self.deps.store.set(
            f"code-used:{key}", orjson.dumps({"family_id": record.family_id, "jti": None}),
            self.deps.issuer.lifetimes.refresh,
        )
        if record.client_id != client.client_id:
            return None
        return record

    def _handle_replay(self, key: str) -> None:
        used = self.deps.store.get(f"code-used:{key}")
        if used is None:
            return
        info = orjson.loads(used)
        # RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
        self.deps.issuer.revoke_access_tokens(self.deps.refresh_tokens.revoke_family(info["family_id"])
                                                + [info["jti"]])
        self.deps.audit.record("token.code_replayed", detail={"family_id": info["family_id"]})

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: the code was taken from the store atomically when it was looked up."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> AuthContext | None:
        person = self.deps.people.get(authorization_code.person_id)
        if person is None or person.status != "active":
            return None
        return authorization_code.context()

    def _verified_claims(self, ctx: AuthContext) -> dict[str, object] | None:
        if ctx.id_token_verified is None:
            return None
        person = self.deps.people.get(ctx.person_id)
        if person is None:
            return None
        stated = verified_claims(person, self.deps.proofing_records.latest(person.id), list(ctx.id_token_verified))
        return {"verified_claims": stated} if stated else None

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
        self.request.user = ctx
        scopes = code.scope.split()
        with_refresh = client.check_grant_type("refresh_token") and "offline_access" in scopes
        token, jti = self.deps.issuer.user_tokens(client, code.scope, ctx, with_refresh=with_refresh)
        if "openid" in scopes:
            token["id_token"] = self.deps.issuer.id_token(
                client, ctx, str(token["access_token"]), self._verified_claims(ctx))
        self.deps.store.set(
            f"code-used:{_code_key(self.request.form['code'])}",
            orjson.dumps({"family_id": ctx.family_id, "jti": jti}),
            self.deps.issuer.lifetimes.refresh,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER
