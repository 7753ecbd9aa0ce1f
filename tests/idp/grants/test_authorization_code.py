"""Code flow end to end with Authlib's client; tokens checked with joserfc against the served JWKS."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, sign_in


def _keyset(idp: Idp) -> KeySet:
    return KeySet.import_key_set(idp.browser.get("/jwks").json())


def _authorize(idp: Idp, **params: str) -> tuple[object, str, str]:
    oauth = idp.oauth(scope=params.pop("scope", "openid profile"))
    verifier = "v" * 20 + "x" * 30
    url, state = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier, nonce="n-123", **params)
    return oauth, url, verifier


def test_code_flow_issues_verifiable_id_and_access_tokens(idp: Idp) -> None:
    oauth, url, verifier = _authorize(idp)
    r = sign_in(idp.browser, url, idp.national_code)
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = parse_qs(urlparse(location).query)
    assert query["iss"] == [ISSUER]  # RFC 9207

    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier)
    keys = _keyset(idp)
    id_token = jwt.decode(token["id_token"], keys)
    claims = id_token.claims
    assert id_token.header["kid"] and id_token.header["alg"] == "ES256"
    assert claims["iss"] == ISSUER and claims["aud"] == "portal" and claims["sub"] == idp.person_id
    assert claims["nonce"] == "n-123"
    assert claims["acr"] == "urn:idp:loa:1" and claims["amr"] == ["pwd"]
    assert abs(claims["auth_time"] - time.time()) < 60 and claims["sid"]
    jwt.JWTClaimsRegistry(exp={"essential": True}).validate(claims)

    access = jwt.decode(token["access_token"], keys)
    assert access.header["typ"] == "at+jwt"  # RFC 9068
    assert access.claims["client_id"] == "portal" and access.claims["sub"] == idp.person_id
    assert "refresh_token" not in token  # no offline_access asked

    info = idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert info.status_code == 200
    assert info.json() == {"sub": idp.person_id, "given_name": "Sara", "family_name": "Ahmadi",
                           "name": "Sara Ahmadi", "birthdate": "1990-03-21"}


def test_second_client_in_same_browser_is_not_asked_to_sign_in_again(idp: Idp) -> None:
    _, url, _ = _authorize(idp)
    sign_in(idp.browser, url, idp.national_code)
    idp.add_client("welfare", redirect_uris=["https://welfare.example/cb"])
    other = idp.oauth("welfare", client_secret="unused", redirect_uri="https://welfare.example/cb")
    url2, _ = other.create_authorization_url(f"{ISSUER}/authorize", code_verifier="w" * 50)
    r = idp.browser.get(url2)
    assert r.status_code == 302 and r.headers["location"].startswith("https://welfare.example/cb?code=")


def test_code_can_be_used_once_and_replay_revokes_what_it_gave(idp: Idp) -> None:
    oauth, url, verifier = _authorize(idp, scope="openid offline_access")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier)
    assert token["refresh_token"]

    with pytest.raises(OAuthError) as replay:
        oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier)
    assert replay.value.error == "invalid_grant"

    intro = idp.browser.post("/introspect", auth=("portal", idp.portal_secret),
                             data={"token": token["access_token"]})
    assert intro.json() == {"active": False}
    with pytest.raises(OAuthError) as refresh:
        oauth.refresh_token(f"{ISSUER}/token", refresh_token=token["refresh_token"])
    assert refresh.value.error == "invalid_grant"
