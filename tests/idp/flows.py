"""Shared steps of protocol tests: obtain user tokens through the real front channel."""

from __future__ import annotations

import secrets
import time

from joserfc import jwt
from joserfc.jwk import ECKey

from clients.registry import ClientRegistry
from tests.idp.conftest import ISSUER, Idp, sign_in


def user_tokens(idp: Idp, scope: str = "openid profile offline_access", client_id: str = "portal",
                client_secret: str | None = None, redirect_uri: str | None = None) -> dict[str, str]:
    kwargs = {"scope": scope}
    if redirect_uri:
        kwargs["redirect_uri"] = redirect_uri
    oauth = idp.oauth(client_id, client_secret=client_secret, **kwargs)
    verifier = "k" * 64
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier, nonce="n")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    return dict(oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier))


def register_signer(clients: ClientRegistry, client_id: str = "signer") -> ECKey:
    """A machine client authenticating with private_key_jwt; returns its signing key."""
    key = ECKey.generate_key("P-256", parameters={"kid": f"{client_id}-1", "alg": "ES256", "use": "sig"})
    clients.create(client_id=client_id, name=client_id, redirect_uris=[], grant_types=["client_credentials"],
                   scopes=["inquiry.read"], audiences=["https://api.example"],
                   token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    return key


def assertion_grant(key: ECKey, token_endpoint: str, client_id: str = "signer") -> dict[str, str]:
    """A client_credentials request authenticated by a fresh two-minute client assertion."""
    now = int(time.time())
    assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, {
        "iss": client_id, "sub": client_id, "aud": token_endpoint, "iat": now, "exp": now + 120,
        "jti": secrets.token_urlsafe(16)}, key)
    return {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
