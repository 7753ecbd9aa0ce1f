"""Code flow end to end with Authlib's client; tokens checked with joserfc against the served JWKS."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, sign_in

# The `idp`/`store` fixtures also run on a 3-primary Redis Cluster (tests/redis_cluster.py): these
# flows are the ephemeral store's busiest users.
pytestmark = pytest.mark.cluster


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
    body = info.json()
    assert body.pop("auth_time") == claims["auth_time"]
    assert body == {"sub": idp.person_id, "given_name": "Sara", "family_name": "Ahmadi", "name": "Sara Ahmadi",
                    "birthdate": "1990-03-21", "acr": "urn:idp:loa:1", "amr": ["pwd"]}


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


def _code_for(idp: Idp, challenge: str | None, method: str | None = "S256") -> str:
    params = {
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI,
        "scope": "openid", "state": "s1",
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    from urllib.parse import urlencode

    return sign_in(idp.browser, f"{ISSUER}/authorize?{urlencode(params)}", idp.national_code).headers["location"]


def _error(location: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(location).query)


def test_code_of_a_session_that_ended_meanwhile_gives_no_tokens(idp: Idp) -> None:
    """Signed out (here: by an operator) between the redirect and the portal's token request: the
    code must not mint tokens, least of all a refresh token, in the ended session."""
    oauth, url, verifier = _authorize(idp, scope="openid offline_access")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    assert [s.person_id for s in idp.services.logout.end_all(idp.person_id, reason="operator")] == [idp.person_id]
    with pytest.raises(OAuthError, match="invalid_grant"):
        oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier)


def test_authorization_without_pkce_is_refused_back_to_the_client(idp: Idp) -> None:
    query = _error(_code_for(idp, challenge=None, method=None))
    assert query["error"] == ["invalid_request"] and "PKCE" in query["error_description"][0]
    assert query["state"] == ["s1"] and query["iss"] == [ISSUER]


def test_plain_pkce_is_refused(idp: Idp) -> None:
    query = _error(_code_for(idp, challenge="a" * 43, method="plain"))
    assert query["error"] == ["invalid_request"] and "S256" in query["error_description"][0]


def test_pkce_method_must_be_stated(sqlite_idp: Idp) -> None:
    # RFC 7636 defaults a missing method to "plain", which we do not accept.
    query = _error(_code_for(sqlite_idp, challenge="a" * 43, method=None))
    assert query["error"] == ["invalid_request"]


@pytest.mark.parametrize("verifier", [None, "wrong-" + "x" * 50])
def test_token_request_with_missing_or_wrong_verifier_fails(idp: Idp, verifier: str | None) -> None:
    from tests.idp.conftest import pkce_pair

    _, challenge = pkce_pair()
    location = _code_for(idp, challenge)
    code = parse_qs(urlparse(location).query)["code"][0]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier:
        data["code_verifier"] = verifier
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data=data)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == ("invalid_grant" if verifier else "invalid_request")
    assert body["error_description"]
    assert r.headers["cache-control"] == "no-store"


def test_token_request_with_other_redirect_uri_fails(idp: Idp) -> None:
    from tests.idp.conftest import pkce_pair

    verifier, challenge = pkce_pair()
    code = parse_qs(urlparse(_code_for(idp, challenge)).query)["code"][0]
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI + "/other",
        "code_verifier": verifier,
    })
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_bad_client_secret_is_invalid_client(idp: Idp) -> None:
    from tests.idp.conftest import pkce_pair

    verifier, challenge = pkce_pair()
    code = parse_qs(urlparse(_code_for(idp, challenge)).query)["code"][0]
    r = idp.browser.post("/token", auth=("portal", "not-the-secret"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
    })
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")


def test_form_post_response_mode_posts_code_state_and_iss(sqlite_idp: Idp) -> None:
    from tests.idp.conftest import pkce_pair

    _, challenge = pkce_pair()
    oauth = sqlite_idp.oauth(scope="openid")
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_challenge=challenge,
                                            code_challenge_method="S256", response_mode="form_post", state="st")
    r = sign_in(sqlite_idp.browser, url, sqlite_idp.national_code)
    assert r.status_code == 200
    assert f'action="{REDIRECT_URI}"' in r.text
    assert 'name="code"' in r.text and 'name="state" value="st"' in r.text
    assert f'name="iss" value="{ISSUER}"' in r.text
    assert "nonce-" in r.headers["content-security-policy"]


def test_scope_is_limited_to_what_the_client_registered(sqlite_idp: Idp) -> None:
    oauth, url, verifier = _authorize(sqlite_idp, scope="openid profile national_code")
    location = sign_in(sqlite_idp.browser, url, sqlite_idp.national_code).headers["location"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier)
    assert token["scope"].split() == ["openid", "profile"]
    info = sqlite_idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert "national_code" not in info.json()


def test_national_code_claim_only_for_clients_registered_for_it(sqlite_idp: Idp) -> None:
    sqlite_idp.add_client("registry", scopes=["openid", "national_code", "phone"])
    secret = sqlite_idp.services.clients.rotate_secret("registry")
    oauth = sqlite_idp.oauth("registry", client_secret=secret, scope="openid national_code phone",
                             redirect_uri="https://registry.example/callback")
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier="r" * 50)
    location = sign_in(sqlite_idp.browser, url, sqlite_idp.national_code).headers["location"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier="r" * 50)
    info = sqlite_idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info["national_code"] == sqlite_idp.national_code
    assert info["phone_number"] == "+989121234567" and info["phone_number_verified"] is True
