"""Discovery metadata and the JWKS, as relying parties read them."""

from __future__ import annotations

from joserfc.jwk import KeySet

from tests.idp.conftest import ISSUER, Idp


def test_discovery_document_describes_the_provider(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get("/.well-known/openid-configuration")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    meta = r.json()
    assert meta["issuer"] == ISSUER
    for name, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks"),
                       ("end_session_endpoint", "/end_session"), ("introspection_endpoint", "/introspect"),
                       ("revocation_endpoint", "/revoke")]:
        assert meta[name] == ISSUER + path
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == [
        "authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert set(meta["response_modes_supported"]) == {"query", "form_post"}
    assert meta["acr_values_supported"] == ["urn:idp:loa:1", "urn:idp:loa:2", "urn:idp:loa:3"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "PS256"]  # RFC 9449 §5.1
    assert {"openid", "profile", "phone", "national_code", "offline_access"} <= set(meta["scopes_supported"])


def test_jwks_publishes_public_keys_with_kids_only(idp: Idp) -> None:
    r = idp.browser.get("/jwks")
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"]
    jwks = r.json()
    kids = [k["kid"] for k in jwks["keys"]]
    assert len(kids) == len(set(kids)) >= 2
    assert {k["alg"] for k in jwks["keys"]} == {"ES256", "RS256"}
    assert not any("d" in k or "p" in k for k in jwks["keys"])  # no private parts
    KeySet.import_key_set(jwks)


def test_token_signed_before_rotation_still_verifies_through_jwks_after_it(idp: Idp) -> None:
    from joserfc import jwt

    from tests.idp.flows import user_tokens

    tokens = user_tokens(idp, scope="openid")
    idp.services.keyring.rotate("ES256")
    fresh_jwks = idp.browser.get("/jwks").json()
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(fresh_jwks)).claims
    assert claims["sub"] == idp.person_id
    # and new tokens are signed with the newly active key
    new = user_tokens(idp, scope="openid")
    assert jwt.decode(new["id_token"], KeySet.import_key_set(fresh_jwks)).header["kid"] != \
        jwt.decode(tokens["id_token"], KeySet.import_key_set(fresh_jwks)).header["kid"]


def test_discovery_advertises_pushed_requests_and_request_objects(sqlite_idp: Idp) -> None:
    meta = sqlite_idp.browser.get("/.well-known/openid-configuration").json()
    assert meta["pushed_authorization_request_endpoint"] == ISSUER + "/par"
    assert meta["require_pushed_authorization_requests"] is False
    assert meta["request_parameter_supported"] is True
    assert meta["request_uri_parameter_supported"] is True
    assert meta["request_object_signing_alg_values_supported"] == ["ES256", "PS256"]
