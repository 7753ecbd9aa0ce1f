"""Client authentication methods beyond Authlib's built-ins."""

from __future__ import annotations

import time

from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

from clients.models import Client
from idp.store import Store

# Every method a confidential or public client may register.
ALL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class PrivateKeyJwt(JWTBearerClientAssertion):
    """OIDC Core §9 `private_key_jwt`: a JWT signed with a key from the client's registered JWKS."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, audiences: list[str], store: Store) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._audiences = audiences
        self._store = store

    def get_audiences(self) -> list[str]:
        return self._audiences

    def resolve_client_public_key(self, client: Client) -> KeySet:
        return KeySet.import_key_set(dict(client.jwks or {"keys": []}))

    def validate_jti(self, claims: dict[str, object], jti: str) -> bool:
        # An assertion may be used once: remember its jti until it expires (RFC 7523 §3 item 7).
        remaining = max(60.0, float(claims.get("exp", 0)) - time.time() + 60)  # type: ignore[arg-type]
        return self._store.add(f"assertion:{claims.get('iss')}:{jti}", b"1", min(remaining, 3600))
