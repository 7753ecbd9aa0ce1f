"""Claims asked for by name (OIDC Core §5.5): in the ID token or at userinfo, within the granted
scopes, with the value asked for; a malformed request is refused at the client's redirect URI.

Authlib's OAuth client is the relying party; joserfc verifies the ID tokens against our JWKS.
"""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import ISSUER, Idp, sign_in
from tests.idp.flows import authorization_params, error_at_client

VERIFIER = "c" * 64
PROFILE = {"name", "given_name", "family_name", "birthdate"}


def _sign_in(idp: Idp, claims: dict[str, object] | None, scope: str = "openid profile",
             client_id: str = "portal", secret: str | None = None,
             redirect_uri: str | None = None) -> tuple[dict[str, object], object]:
    kwargs: dict[str, object] = {"scope": scope}
    if redirect_uri:
        kwargs["redirect_uri"] = redirect_uri
    oauth = idp.oauth(client_id, client_secret=secret, **kwargs)
    extra = {"claims": json.dumps(claims)} if claims is not None else {}
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=VERIFIER, nonce="n", **extra)
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    token = dict(oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER))
    return token, oauth


def _id_token(idp: Idp, token: dict[str, object]) -> dict[str, object]:
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    return dict(jwt.decode(str(token["id_token"]), keys).claims)


def _userinfo(idp: Idp, token: dict[str, object]) -> dict[str, object]:
    r = idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_claims_asked_for_the_id_token_are_in_it(idp: Idp) -> None:
    token, _ = _sign_in(idp, {"id_token": {"name": None, "birthdate": {"essential": True}}})
    claims = _id_token(idp, token)
    assert claims["name"] == "Sara Ahmadi" and claims["birthdate"] == "1990-03-21"
    assert "given_name" not in claims and "family_name" not in claims  # only what was asked for
    # Userinfo releases what the scopes release, as without a claims request.
    assert set(_userinfo(idp, token)) >= PROFILE


def test_without_a_claims_request_the_id_token_carries_no_person_claim(idp: Idp) -> None:
    token, _ = _sign_in(idp, None, scope="openid profile phone")
    assert not (PROFILE | {"phone_number", "phone_number_verified"}) & set(_id_token(idp, token))
    # Asked for at userinfo only: still nothing in the ID token.
    token, _ = _sign_in(idp, {"userinfo": {"name": None}})
    assert "name" not in _id_token(idp, token) and _userinfo(idp, token)["name"] == "Sara Ahmadi"


def test_a_claim_the_scopes_do_not_allow_is_never_returned(idp: Idp) -> None:
    everything = {"name": None, "phone_number": {"essential": True}, "national_code": {"essential": True}}
    # The portal is not registered for national_code; this request's scope grants no profile.
    token, _ = _sign_in(idp, {"id_token": everything, "userinfo": everything}, scope="openid")
    assert not {"name", "phone_number", "national_code"} & set(_id_token(idp, token))
    assert not {"name", "phone_number", "national_code"} & set(_userinfo(idp, token))

    secret = idp.add_client("registry-office", scopes=["openid", "profile", "national_code"])
    redirect = "https://registry-office.example/callback"
    # Registered for national_code but not asking for the scope: still not released.
    token, _ = _sign_in(idp, {"id_token": {"national_code": None}}, scope="openid profile",
                        client_id="registry-office", secret=secret, redirect_uri=redirect)
    assert "national_code" not in _id_token(idp, token) and "national_code" not in _userinfo(idp, token)
    token, _ = _sign_in(idp, {"id_token": {"national_code": None}}, scope="openid national_code",
                        client_id="registry-office", secret=secret, redirect_uri=redirect)
    assert _id_token(idp, token)["national_code"] == idp.national_code


def test_a_claim_asked_for_with_another_value_is_not_returned(idp: Idp) -> None:
    token, _ = _sign_in(idp, {
        "id_token": {"phone_number_verified": {"value": False}, "given_name": {"values": ["Sarah", "Sara"]},
                     "family_name": {"value": "Karimi"}, "phone_number": {"value": "+989121234567"}},
        "userinfo": {"phone_number": {"value": "+989000000000"}, "name": {"values": ["Sara Ahmadi"]}},
    }, scope="openid profile phone")
    claims = _id_token(idp, token)
    assert claims["given_name"] == "Sara" and claims["phone_number"] == "+989121234567"
    assert "family_name" not in claims and "phone_number_verified" not in claims
    info = _userinfo(idp, token)
    assert "phone_number" not in info
    assert info["phone_number_verified"] is True and info["name"] == "Sara Ahmadi"


def test_a_refreshed_id_token_answers_the_same_request(idp: Idp) -> None:
    ask = {"id_token": {"family_name": None}, "userinfo": {"phone_number": {"value": "+989000000000"}}}
    token, oauth = _sign_in(idp, ask, scope="openid profile phone offline_access")
    refreshed = dict(oauth.refresh_token(f"{ISSUER}/token", refresh_token=token["refresh_token"]))
    claims = _id_token(idp, refreshed)
    assert claims["family_name"] == "Ahmadi" and "given_name" not in claims
    assert "phone_number" not in _userinfo(idp, refreshed)
    # A refresh narrowed to fewer scopes releases only what those allow.
    narrowed = dict(oauth.refresh_token(f"{ISSUER}/token", refresh_token=refreshed["refresh_token"],
                                        scope="openid"))
    assert "family_name" not in _id_token(idp, narrowed)


def test_an_essential_acr_still_sets_the_level(idp: Idp) -> None:
    token, _ = _sign_in(idp, {"id_token": {"acr": {"values": ["urn:idp:loa:1"]}, "name": None}})
    assert _id_token(idp, token)["acr"] == "urn:idp:loa:1"
    # Signed in at level 1: an essential level-2 acr beside a named claim cannot be met silently.
    r = idp.browser.get("/authorize", params=authorization_params(claims=json.dumps(
        {"id_token": {"acr": {"essential": True, "value": "urn:idp:loa:2"}, "name": None}}), prompt="none"))
    assert error_at_client(r)["error"] == "login_required"
    r = idp.browser.get("/authorize", params=authorization_params(claims=json.dumps(
        {"id_token": {"acr": {"essential": True, "value": "urn:idp:loa:1"}, "name": None}}), prompt="none"))
    assert "code" in error_at_client(r)


@pytest.mark.parametrize(("claims", "description"), [
    ({"id_token": {"name": "yes"}}, "id_token.name must be null or a JSON object"),
    ({"userinfo": {"birthdate": [1]}}, "userinfo.birthdate must be null or a JSON object"),
    ({"id_token": {"name": {"essential": "true"}}}, "id_token.name.essential must be true or false"),
    ({"id_token": {"phone_number_verified": {"value": {"x": 1}}}}, "phone_number_verified.value must be a string"),
    ({"id_token": {"phone_number_verified": {"value": None}}}, "phone_number_verified.value must be a string"),
    ({"userinfo": {"name": {"values": "Sara"}}}, "userinfo.name.values must be an array"),
    ({"userinfo": {"name": {"values": [["Sara"]]}}}, "userinfo.name.values must be an array"),
    ({"id_token": {"acr": {"essential": 1}}}, "id_token.acr.essential must be true or false"),
])
def test_a_malformed_claim_request_is_refused_at_the_redirect_uri(
    sqlite_idp: Idp, claims: dict[str, object], description: str,
) -> None:
    r = sqlite_idp.browser.get("/authorize", params=authorization_params(claims=json.dumps(claims)))
    error = error_at_client(r)
    assert error["error"] == "invalid_request" and description in error["error_description"]
    assert error["state"] == "s" and error["iss"] == ISSUER


def test_unknown_claims_are_ignored_whatever_their_shape(sqlite_idp: Idp) -> None:
    ask = {"id_token": {"shoe_size": {"essential": "very"}, "email": 7, "name": None},
           "userinfo": {"favourite_colour": [1, 2]}}
    token, _ = _sign_in(sqlite_idp, ask)
    claims = _id_token(sqlite_idp, token)
    assert claims["name"] == "Sara Ahmadi"
    assert not {"shoe_size", "email", "favourite_colour"} & set(claims)


def test_discovery_lists_the_claims_that_can_be_returned(sqlite_idp: Idp) -> None:
    meta = sqlite_idp.browser.get("/.well-known/openid-configuration").json()
    supported = set(meta["claims_supported"])
    assert PROFILE | {"phone_number", "phone_number_verified", "national_code", "sub", "acr", "legal_entity",
                      "verified_claims"} <= supported
    assert "email" not in supported and "address" not in supported  # nothing we never return
    assert meta["claims_parameter_supported"] is True


def test_junk_in_the_claims_parameter_is_never_a_server_error(sqlite_idp: Idp) -> None:
    values: list[object] = [None, True, 0, -1.5, 1e308, "", "x" * 300, [], [None], {}, {"essential": None},
                            {"value": []}, {"values": [{}]}, {"values": None}, {"essential": True, "value": "ä"}]
    names = ["name", "birthdate", "acr", "sub", "national_code", "phone_number_verified", "verified_claims",
             "nope", ""]
    for target in ("id_token", "userinfo"):
        for name in names:
            for value in values:
                claims = json.dumps({target: {name: value}})
                r = sqlite_idp.browser.get("/authorize", params=authorization_params(claims=claims))
                assert r.status_code == 302, (claims, r.status_code)
                location = r.headers["location"]
                assert location.startswith("/login?") or "error=invalid_request" in location, (claims, location)
