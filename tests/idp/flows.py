"""Shared steps of protocol tests: obtain user tokens through the real front channel."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from clients.registry import ClientRegistry
from idp.storage.store import MemoryStore
from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, pkce_pair, sign_in


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


def authorization_params(**overrides: str) -> dict[str, str]:
    """A valid authorization request of the portal (state "s", nonce "n"), with `overrides`."""
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(overrides)
    return params


def stored_sizes(idp: Idp) -> dict[str, int]:
    """Every key of the provider's ephemeral store (only this test's: its own MemoryStore or Redis
    prefix) with the size of its value."""
    store = idp.services.store
    if isinstance(store, MemoryStore):
        return {key: len(value) if isinstance(value, bytes) else 0 for key, (value, _) in store._data.items()}
    client = store._redis  # type: ignore[attr-defined]
    prefix = store._prefix  # type: ignore[attr-defined]
    return {key.decode(): client.strlen(key) for key in client.scan_iter(match=prefix + "*")}


def error_at_client(r: httpx.Response) -> dict[str, str]:
    """The authorization error response delivered to the client's redirect URI."""
    assert r.status_code == 302, r.text[:300]
    location = r.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location[:200]
    params = parse_qs(urlsplit(location).query)
    assert all(len(values) == 1 for values in params.values())
    return {key: values[0] for key, values in params.items()}
