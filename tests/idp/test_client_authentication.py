"""Client authentication at the token endpoint: secrets (basic/post), private_key_jwt, public clients."""

from __future__ import annotations

import time

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import user_tokens

API = "https://api.example"


def _jwt_client(idp: Idp) -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1", "alg": "ES256", "use": "sig"})
    idp.add_client("signer", redirect_uris=[], grant_types=["client_credentials"], scopes=["inquiry.read"],
                   audiences=[API], token_endpoint_auth_method="private_key_jwt",
                   jwks={"keys": [key.as_dict(private=False)]})
    return key


def test_private_key_jwt_with_authlib_client(idp: Idp) -> None:
    key = _jwt_client(idp)
    oauth = idp.oauth("signer", client_secret=key, scope="inquiry.read",
                      token_endpoint_auth_method=PrivateKeyJWT(f"{ISSUER}/token", alg="ES256"))
    token = oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials")
    assert token["access_token"]


def _assertion(key: ECKey, **overrides: object) -> str:
    now = int(time.time())
    claims = {"iss": "signer", "sub": "signer", "aud": f"{ISSUER}/token", "iat": now, "exp": now + 60,
              "jti": f"jti-{now}-{id(overrides)}"}
    claims.update(overrides)
    return jwt.encode({"alg": "ES256", "kid": "rp-key-1"}, claims, key)


def _post(idp: Idp, assertion: str):  # type: ignore[no-untyped-def]
    return idp.browser.post("/token", data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    })


def test_private_key_jwt_assertion_cannot_be_replayed(idp: Idp) -> None:
    key = _jwt_client(idp)
    assertion = _assertion(key, jti="once")
    assert _post(idp, assertion).status_code == 200
    replay = _post(idp, assertion)
    # RFC 6749 §5.2: 401 is reserved for credentials sent in the Authorization header.
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize("overrides", [
    {"aud": "https://elsewhere.example/token"},
    {"exp": int(time.time()) - 600},
    {"iss": "someone-else"},
])
def test_private_key_jwt_with_wrong_claims_is_invalid_client(sqlite_idp: Idp, overrides: dict[str, object]) -> None:
    key = _jwt_client(sqlite_idp)
    r = _post(sqlite_idp, _assertion(key, **overrides))
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"


def test_private_key_jwt_signed_by_another_key_is_invalid_client(sqlite_idp: Idp) -> None:
    _jwt_client(sqlite_idp)
    stranger = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"})
    r = _post(sqlite_idp, _assertion(stranger))
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"


def test_client_secret_post_when_registered_for_it(sqlite_idp: Idp) -> None:
    secret = sqlite_idp.add_client("poster", redirect_uris=[], grant_types=["client_credentials"],
                                   scopes=["inquiry.read"], audiences=[API],
                                   token_endpoint_auth_method="client_secret_post")
    r = sqlite_idp.browser.post("/token", data={"grant_type": "client_credentials", "client_id": "poster",
                                                "client_secret": secret})
    assert r.status_code == 200
    # The same secret over the other method is refused: a client uses exactly its registered method.
    r = sqlite_idp.browser.post("/token", auth=("poster", secret), data={"grant_type": "client_credentials"})
    assert r.status_code == 401


def test_public_client_uses_pkce_without_a_secret(idp: Idp) -> None:
    idp.add_client("mobile", redirect_uris=["https://mobile.example/cb"], token_endpoint_auth_method="none",
                   grant_types=["authorization_code", "refresh_token"], scopes=["openid", "offline_access"])
    tokens = user_tokens(idp, scope="openid offline_access", client_id="mobile", client_secret="",
                         redirect_uri="https://mobile.example/cb")
    assert tokens["access_token"] and tokens["refresh_token"]


def test_unknown_client_is_invalid_client(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.post("/token", auth=("nobody", "x"), data={"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    with pytest.raises(OAuthError):
        sqlite_idp.oauth("nobody", client_secret="x").fetch_token(f"{ISSUER}/token", grant_type="client_credentials")


def test_repeated_wrong_secrets_are_throttled(idp: Idp) -> None:
    for _ in range(20):
        r = idp.browser.post("/token", auth=("portal", "guess"), data={"grant_type": "client_credentials"})
        assert r.status_code == 401
    blocked = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={"grant_type": "refresh_token",
                                                                                   "refresh_token": "x"})
    assert blocked.status_code == 429 and blocked.json()["error"] == "invalid_client"
