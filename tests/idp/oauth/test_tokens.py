"""The tokens we issue (`idp.oauth.tokens`), as a relying party and a resource server check them
with joserfc against the published JWKS: ID tokens (OIDC Core §2) and JWT access tokens (RFC 9068)."""

from __future__ import annotations

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import user_tokens


def _decode(idp: Idp, token: str) -> jwt.Token:
    return jwt.decode(token, KeySet.import_key_set(idp.browser.get("/jwks").json()))


def test_the_id_token_is_for_the_client_about_the_person_and_bound_to_the_access_token(idp: Idp) -> None:
    tokens = user_tokens(idp, scope="openid profile offline_access")
    id_token = _decode(idp, tokens["id_token"])
    assert id_token.header["typ"] == "JWT" and id_token.header["alg"] == "ES256"
    claims = id_token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == "portal" and claims["sub"] == idp.person_id
    assert claims["nonce"] == "n" and claims["acr"] == "urn:idp:loa:1" and claims["amr"] == ["pwd"]
    assert claims["exp"] - claims["iat"] == idp.services.settings.id_token_ttl
    assert claims["auth_time"] <= claims["iat"] and claims["sid"]
    assert claims["at_hash"] == create_half_hash(tokens["access_token"], "ES256").decode()  # type: ignore[union-attr]
    # Person claims are for userinfo: the ID token carries none.
    assert not {"name", "given_name", "birthdate", "national_code"} & claims.keys()


def test_the_access_token_follows_rfc_9068_and_names_the_same_session(idp: Idp) -> None:
    tokens = user_tokens(idp, scope="openid profile")
    access = _decode(idp, tokens["access_token"])
    assert access.header["typ"] == "at+jwt"
    claims = access.claims
    assert claims["iss"] == ISSUER and claims["aud"] == ISSUER and claims["sub"] == idp.person_id
    assert claims["client_id"] == "portal" and claims["scope"] == tokens["scope"] and claims["jti"]
    assert claims["exp"] - claims["iat"] == idp.services.settings.access_token_ttl == tokens["expires_in"]
    id_claims = _decode(idp, tokens["id_token"]).claims
    assert (claims["sid"], claims["auth_time"], claims["acr"]) == (id_claims["sid"], id_claims["auth_time"],
                                                                   id_claims["acr"])
    assert tokens["token_type"].lower() == "bearer" and "refresh_token" not in tokens
    # Each access token has its own id.
    assert _decode(idp, user_tokens(idp, scope="openid")["access_token"]).claims["jti"] != claims["jti"]


def test_a_machine_token_is_about_the_client_for_its_registered_audience(sqlite_idp: Idp) -> None:
    secret = sqlite_idp.add_client("inquiry", redirect_uris=[], grant_types=["client_credentials"],
                                   scopes=["inquiry.read"], audiences=["https://api.example"])
    r = sqlite_idp.browser.post("/token", auth=("inquiry", secret), data={"grant_type": "client_credentials"})
    assert r.status_code == 200 and "id_token" not in r.json() and "refresh_token" not in r.json()
    claims = _decode(sqlite_idp, r.json()["access_token"]).claims
    assert claims["sub"] == claims["client_id"] == "inquiry" and claims["aud"] == "https://api.example"
    assert claims["scope"] == "inquiry.read"
    assert not {"auth_time", "acr", "amr", "sid"} & claims.keys()
