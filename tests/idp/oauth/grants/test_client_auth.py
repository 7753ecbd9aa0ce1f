"""Client authentication at the token endpoint: secrets (basic/post), private_key_jwt, public clients."""

from __future__ import annotations

import secrets
import time

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey

from idp.oauth.grants.client_auth import PrivateKeyJwt
from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import user_tokens

API = "https://api.example"


def _jwt_client(idp: Idp) -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1", "alg": "ES256", "use": "sig"})
    idp.add_client("signer", redirect_uris=[], grant_types=["client_credentials"], scopes=["inquiry.read"],
                   audiences=[API], token_endpoint_auth_method="private_key_jwt",
                   jwks={"keys": [key.as_dict(private=False)]})
    return key


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's client makes assertions that live an hour; ours must expire within five minutes."""

    def sign(self, auth, token_endpoint):  # type: ignore[no-untyped-def]
        return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
                                    header=self.headers, alg=self.alg, expires_in=120)


def test_private_key_jwt_with_authlib_client(idp: Idp) -> None:
    key = _jwt_client(idp)
    oauth = idp.oauth("signer", client_secret=key, scope="inquiry.read",
                      token_endpoint_auth_method=ShortLivedPrivateKeyJWT(f"{ISSUER}/token", alg="ES256"))
    token = oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials")
    assert token["access_token"]
    # Authlib's default lifetime (an hour) is refused, saying why.
    hour = idp.oauth("signer", client_secret=key, scope="inquiry.read",
                     token_endpoint_auth_method=PrivateKeyJWT(f"{ISSUER}/token", alg="ES256"))
    with pytest.raises(OAuthError, match="at most 300 seconds"):
        hour.fetch_token(f"{ISSUER}/token", grant_type="client_credentials")


def _assertion(key: ECKey, **overrides: object) -> str:
    now = int(time.time())
    claims = {"iss": "signer", "sub": "signer", "aud": f"{ISSUER}/token", "iat": now, "exp": now + 60,
              "jti": secrets.token_urlsafe(16)}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}  # None: leave the claim out
    return jwt.encode({"alg": "ES256", "kid": "rp-key-1"}, claims, key)


def _post(idp: Idp, assertion: str, path: str = "/token", **data: str):  # type: ignore[no-untyped-def]
    form = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion, **data}
    if path == "/token":
        form.setdefault("grant_type", "client_credentials")
    return idp.browser.post(path, data=form)


def _refused(r, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["error"] == "invalid_client" and reason in body["error_description"], body


def test_private_key_jwt_assertion_cannot_be_replayed(idp: Idp) -> None:
    key = _jwt_client(idp)
    assertion = _assertion(key, jti="once")
    assert _post(idp, assertion).status_code == 200
    _refused(_post(idp, assertion), "already used")
    # Nor at the introspection endpoint, which accepts the same client authentication.
    _refused(_post(idp, assertion, "/introspect", token="x"), "already used")


def test_private_key_jwt_assertion_replay_is_refused_long_after_the_first_use(idp: Idp) -> None:
    """The id is kept until the assertion expires, however long the client made it live (within
    the cap), not for a fixed hour."""
    key = _jwt_client(idp)
    now = int(time.time())
    assertion = _assertion(key, iat=now, exp=now + 300)
    assert _post(idp, assertion).status_code == 200
    from sqlalchemy import select

    from idp.storage.tables import UsedClientAssertionRow

    with idp.services.engine.connect() as conn:
        kept_until = conn.execute(select(UsedClientAssertionRow.expires_at)).scalar_one()
    assert abs(kept_until.timestamp() - (now + 300 + PrivateKeyJwt.LEEWAY)) < 1
    _refused(_post(idp, assertion), "already used")


@pytest.mark.parametrize(("lifetime", "accepted"), [(300, True), (301, False), (3600, False),
                                                    (365 * 24 * 3600, False)])
def test_private_key_jwt_lifetime_is_capped(idp: Idp, lifetime: int, accepted: bool) -> None:
    key = _jwt_client(idp)
    now = int(time.time())
    r = _post(idp, _assertion(key, iat=now, exp=now + lifetime))
    if accepted:
        assert r.status_code == 200, r.text
    else:
        _refused(r, "at most 300 seconds")


def test_private_key_jwt_without_iat_or_made_in_the_future_is_refused(idp: Idp) -> None:
    key = _jwt_client(idp)
    now = int(time.time())
    _refused(_post(idp, _assertion(key, iat=None)), "must carry iat")
    _refused(_post(idp, _assertion(key, iat="yesterday")), "must carry iat")
    _refused(_post(idp, _assertion(key, iat=now + 3600, exp=now + 3660)), "in the future")
    # An old iat cannot hide a far exp: exp is also measured from now.
    _refused(_post(idp, _assertion(key, iat=now - 7200, exp=now + 3600)), "at most 300 seconds")


def test_private_key_jwt_lifetime_cap_is_a_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from idp.storage.migrate import upgrade
    from idp.storage.store import MemoryStore
    from tests.idp.conftest import _build, _settings

    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    idp = _build(_settings(url, tmp_path).model_copy(update={"client_assertion_max_lifetime": 60}), MemoryStore())
    try:
        key = _jwt_client(idp)
        now = int(time.time())
        assert _post(idp, _assertion(key, iat=now, exp=now + 60)).status_code == 200
        _refused(_post(idp, _assertion(key, iat=now, exp=now + 61)), "at most 60 seconds")
    finally:
        idp.services.engine.dispose()


def test_settings_read_the_assertion_lifetime_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from idp.settings import Settings

    monkeypatch.setenv("IDP_CLIENT_ASSERTION_MAX_LIFETIME", "120")
    assert Settings().client_assertion_max_lifetime == 120
    assert Settings.model_fields["client_assertion_max_lifetime"].default == 300


@pytest.mark.parametrize("aud", [f"{ISSUER}/token", ISSUER, [ISSUER], [f"{ISSUER}/token", ISSUER]])
def test_private_key_jwt_audience_is_the_issuer_or_the_token_endpoint(idp: Idp, aud: object) -> None:
    key = _jwt_client(idp)
    assert _post(idp, _assertion(key, aud=aud)).status_code == 200
    # The same audiences at introspection: RFC 7523bis and OIDC name no other endpoint.
    r = _post(idp, _assertion(key, aud=aud), "/introspect", token="not-a-token")
    assert r.status_code == 200 and r.json() == {"active": False}


@pytest.mark.parametrize("aud", [
    "https://elsewhere.example/token",
    f"{ISSUER}/introspect",
    [f"{ISSUER}/token", "https://elsewhere.example"],
    [ISSUER, f"{ISSUER}/revoke"],
    [],
    None,
])
def test_private_key_jwt_audience_naming_anything_else_is_refused(idp: Idp, aud: object) -> None:
    key = _jwt_client(idp)
    _refused(_post(idp, _assertion(key, aud=aud)), "aud must be")
    _refused(_post(idp, _assertion(key, aud=aud), "/introspect", token="x"), "aud must be")


@pytest.mark.parametrize("overrides", [
    {"exp": int(time.time()) - 600},
    {"iss": "someone-else"},
    {"jti": None},
    {"jti": "j" * 257},
])
def test_private_key_jwt_with_wrong_claims_is_invalid_client(idp: Idp, overrides: dict[str, object]) -> None:
    key = _jwt_client(idp)
    r = _post(idp, _assertion(key, **overrides))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client" and r.json()["error_description"]


def test_private_key_jwt_signed_by_another_key_is_invalid_client(idp: Idp) -> None:
    _jwt_client(idp)
    stranger = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"})
    r = _post(idp, _assertion(stranger))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_assertion_naming_a_client_without_registered_keys_is_invalid_client(idp: Idp) -> None:
    """The portal authenticates with a secret and registered no keys: an assertion in its name is
    refused as a client authentication failure, never a server error."""
    stranger = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"})
    assertion = _assertion(stranger, iss="portal", sub="portal")
    _refused(_post(idp, assertion), "no keys registered")
    _refused(_post(idp, assertion, "/introspect", token="x"), "no keys registered")
    _refused(_post(idp, assertion, "/revoke", token="x"), "no keys registered")


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
