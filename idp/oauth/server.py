"""Authlib's `AuthorizationServer` wired to our stores, grants and endpoints."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from starlette.responses import Response

from clients.models import Client, is_client_id
from clients.registry import ClientRegistry
from idp.audit import AuditLog
from idp.errors import InvalidClientError
from idp.oauth.access_tokens import AccessToken, AccessTokenReader
from idp.oauth.codes import CodeRecords
from idp.oauth.dpop import HEADER as DPOP_HEADER
from idp.oauth.dpop import DpopVerifier
from idp.oauth.grant_revocation import Family, Grants
from idp.oauth.grants import bind
from idp.oauth.grants.authorization_code import AuthorizationCodeGrant, CodeGrantDeps, S256CodeChallenge
from idp.oauth.grants.basic_auth import authenticate_client_secret_basic, basic_credentials
from idp.oauth.grants.client_auth import CONFIDENTIAL_METHODS, PrivateKeyJwt
from idp.oauth.grants.client_credentials import ClientCredentialsGrant, ClientGrantDeps
from idp.oauth.grants.refresh_token import RefreshGrantDeps, RefreshTokenGrant
from idp.oauth.grants.token_exchange import ExchangeGrantDeps, TokenExchangeGrant
from idp.oauth.one_time_ids import UsedAssertions
from idp.oauth.refresh_tokens import RefreshToken, RefreshTokenStore
from idp.oauth.tokens import TokenIssuer, token_type
from idp.signin.acting import EntityAccess
from idp.storage.store import StoreUnavailable
from idp.web.error_map import oauth_response
from keys.keyring import KeyRing
from levels.clock import utcnow
from levels.people import PersonStore
from levels.proofing import ProofingRecordStore
from levels.throttle import LoginThrottle


class IdpAuthorizationServer(AuthorizationServer):
    """The grants and endpoints get their collaborators here, once: none reaches back through the
    server for a store (`idp.oauth.grants.bind`)."""

    def __init__(
        self, *, clients: ClientRegistry, issuer: TokenIssuer, codes: CodeRecords, people: PersonStore,
        refresh_tokens: RefreshTokenStore, grants: Grants, access_tokens: AccessTokenReader, audit: AuditLog,
        token_endpoint: str, client_throttle: LoginThrottle, proofing_records: ProofingRecordStore,
        entity_access: EntityAccess, used_assertions: UsedAssertions, assertion_max_lifetime: int,
        dpop: DpopVerifier,
        token_exchange: ExchangeGrantDeps | None = None,
        fapi2_code_ttl: int | None = None,
    ) -> None:
        super().__init__()
        self.clients = clients
        self.client_throttle = client_throttle
        self.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
        self.register_client_auth_method(
            PrivateKeyJwt.CLIENT_AUTH_METHOD,
            # RFC 9126 §2: an assertion sent to /par may also name the pushed request endpoint.
            PrivateKeyJwt([issuer.issuer, token_endpoint, issuer.issuer + "/par"], used_assertions,
                          max_lifetime=assertion_max_lifetime),
        )
        self.register_grant(
            bind(AuthorizationCodeGrant, CodeGrantDeps(
                codes=codes, grants=grants,
                issuer=issuer, people=people, proofing_records=proofing_records, entity_access=entity_access,
                fapi2_code_ttl=min(codes.ttl, fapi2_code_ttl or codes.ttl))),
            [S256CodeChallenge(required=True)],
        )
        self.register_grant(bind(RefreshTokenGrant, RefreshGrantDeps(
            issuer=issuer, refresh_tokens=refresh_tokens, grants=grants, entity_access=entity_access,
            people=people)))
        self.register_grant(bind(ClientCredentialsGrant, ClientGrantDeps(issuer=issuer)))
        if token_exchange is not None:
            self.register_grant(bind(TokenExchangeGrant, token_exchange))
        tokens = TokenLookup(access_tokens, refresh_tokens, entity_access)
        self.register_endpoint(IntrospectionEndpoint(tokens, issuer, clients, dpop))
        self.register_endpoint(RevocationEndpoint(tokens, issuer, grants))
        self.register_endpoint(EndSessionEndpoint(access_tokens.keyring))

    def query_client(self, client_id: str) -> Client | None:
        if not is_client_id(client_id):
            return None  # not even the shape of one: no cache entry, no database query
        client = self.clients.get(client_id)
        return client if client is not None and client.enabled else None

    def authenticate_client(self, request, methods, endpoint="token"):  # type: ignore[no-untyped-def]
        """Authlib's client authentication, with failures counted per claimed client at the caller's
        address and per address: wrong secrets from elsewhere never stop a client's own calls. The
        endpoints (`idp.oauth.token`) refuse a throttled caller before this runs."""
        try:
            # A malformed Basic header is refused whichever method comes first (RFC 6749 §2.3: one
            # method per request), so no other method is tried with it.
            basic_credentials(request)
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            with suppress(StoreUnavailable):
                self.client_throttle.failed(claimed_client_id(request), getattr(request, "client_ip", "unknown"))
            raise

    def save_token(self, token: dict[str, object], request: object) -> None:
        """Grants persist what they issue themselves (refresh tokens); nothing else is stored."""

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        return None

    def create_oauth2_request(self, request):  # type: ignore[no-untyped-def]
        return request  # endpoints build the HttpRequest before calling in

    def handle_response(self, status: int, body: object, headers: list[tuple[str, str]]) -> Response:
        return oauth_response(status, body, headers)


class TokenLookup:
    """An access or refresh token by its value, for introspection and revocation."""

    def __init__(
        self, access_tokens: AccessTokenReader, refresh_tokens: RefreshTokenStore, entity_access: EntityAccess,
    ) -> None:
        self._access_tokens = access_tokens
        self._refresh_tokens = refresh_tokens
        self._entity_access = entity_access

    def find(self, token: str, hint: str | None) -> AccessToken | RefreshToken | None:
        if hint != "refresh_token":
            at = self._access_tokens.read(token)
            if at is not None:
                return at
        refresh = self._refresh_tokens.find(token) if len(token) <= 128 else None
        if refresh is not None and refresh.auth.get("legal_entity") is not None and refresh.revoked_at is None \
                and not self._entity_access.token_claim_holds(refresh.auth["legal_entity"]):
            # Issued for a legal entity whose mandate has ended: as good as revoked.
            refresh = replace(refresh, revoked_at=utcnow())
        return refresh


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662: https://www.rfc-editor.org/rfc/rfc7662#section-2

    A DPoP-bound access token is reported with its binding, `cnf.jkt` and `token_type: DPoP`
    (RFC 9449 §6.2): the resource server checks the proof it was sent against that key, with the
    method and URL of its own request, which only it knows. A resource server may also forward the
    proof in a `DPoP` header; it is then checked here too (signature, key, `iat`, `ath`, and that
    its key is the token's), and a proof that fails is `invalid_dpop_proof`.
    """

    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def __init__(self, tokens: TokenLookup, issuer: TokenIssuer, clients: ClientRegistry, dpop: DpopVerifier) -> None:
        super().__init__()
        self._tokens = tokens
        self._issuer = issuer
        self._clients = clients
        self._dpop = dpop

    def query_token(self, token_string: str, token_type_hint: str | None):  # type: ignore[no-untyped-def]
        return self._tokens.find(token_string, token_type_hint)

    def authenticate_token(self, request, client):  # type: ignore[no-untyped-def]
        token = super().authenticate_token(request, client)
        proofs = request.headers.getlist(DPOP_HEADER)
        if proofs and isinstance(token, AccessToken) and token.jkt is not None:
            self._dpop.check_forwarded(proofs, access_token=request.form["token"], jkt=token.jkt)
        return token

    def check_permission(self, token, client: Client, request) -> bool:  # type: ignore[no-untyped-def]
        # The client the token was issued to, or a resource server the token is addressed to.
        if isinstance(token, AccessToken):
            return token.client_id == client.client_id or client.client_id in token.audiences
        return token.client_id == client.client_id

    def introspect_token(self, token):  # type: ignore[no-untyped-def]
        if isinstance(token, AccessToken):
            payload = {k: v for k, v in token.public_claims.items() if k != "jti"}
            payload.update(active=True, token_type=token_type(token.jkt), jti=token.jti)
            return payload
        auth = token.auth
        # Only the client a refresh token was issued to may introspect it: its own `sub` (OIDC Core §8).
        client = self._clients.get(token.client_id)
        payload = {
            "active": True, "token_type": "refresh_token", "client_id": token.client_id,
            "sub": self._issuer.sub(client, token.person_id) if client is not None else token.person_id,
            "scope": token.scope, "iss": self._issuer.issuer,
            "exp": int(token.expires_at.timestamp()), "iat": int(token.issued_at.timestamp()),
        }
        payload.update({k: auth[k] for k in ("acr", "amr", "auth_time", "legal_entity") if auth.get(k) is not None})
        return payload


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009: https://www.rfc-editor.org/rfc/rfc7009#section-2"""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def __init__(
        self, tokens: TokenLookup, issuer: TokenIssuer, grants: Grants,
    ) -> None:
        super().__init__()
        self._tokens = tokens
        self._issuer = issuer
        self._grants = grants

    def query_token(self, token_string: str, token_type_hint: str | None):  # type: ignore[no-untyped-def]
        return self._tokens.find(token_string, token_type_hint)

    def revoke_token(self, token, request) -> None:  # type: ignore[no-untyped-def]
        if isinstance(token, AccessToken):
            self._issuer.revoke_access_tokens([token.jti])
            return
        # Revoking a refresh token ends the whole grant, access tokens included (RFC 7009 §2.1).
        self._grants.revoke_grant(
            Family(token.family_id), "token.revoked", person_id=token.person_id, client_id=token.client_id)


class EndSessionEndpoint(_EndSessionEndpoint):
    """OIDC RP-Initiated Logout 1.0: https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout

    Only validation is used from Authlib; `idp.sessions.end_session` ends the session itself.
    """

    def __init__(self, keyring: KeyRing) -> None:
        super().__init__()
        self._keyring = keyring

    def get_server_jwks(self) -> dict[str, object]:
        return self._keyring.jwks()

    def _is_valid_post_logout_redirect_uri(self, client: Client, post_logout_redirect_uri: str) -> bool:
        return post_logout_redirect_uri in client.post_logout_redirect_uris

    def end_session(self, end_session_request: object) -> None:
        """Not used: the endpoint module ends the SSO session after validation."""


def claimed_client_id(request) -> str:  # type: ignore[no-untyped-def]
    """Who the request says it is, before any check: for counting failures, never for trust."""
    try:
        credentials = basic_credentials(request)
    except InvalidClientError:
        return "?"
    if credentials is not None:
        return credentials[0][:128]
    return str(request.form.get("client_id") or ("assertion" if request.form.get("client_assertion") else "?"))[:128]
