"""Client credentials grant with RFC 9068 JWT access tokens, audience-restricted (RFC 8707)."""

from __future__ import annotations

import pytest
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import ISSUER, Idp

API = "https://inquiry.registry.example"


@pytest.fixture
def machine(idp: Idp) -> tuple[Idp, str]:
    secret = idp.add_client("backend", redirect_uris=[], grant_types=["client_credentials"],
                            scopes=["inquiry.read", "inquiry.write"], audiences=[API, "https://other.example"])
    assert secret
    return idp, secret


def test_client_credentials_token_is_an_rfc9068_jwt_for_the_api(machine: tuple[Idp, str]) -> None:
    idp, secret = machine
    oauth = idp.oauth("backend", client_secret=secret, scope="inquiry.read")
    token = oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials", resource=API)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 300 and "refresh_token" not in token
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    at = jwt.decode(token["access_token"], keys)
    assert at.header["typ"] == "at+jwt"
    claims = at.claims
    assert claims["iss"] == ISSUER and claims["aud"] == API
    assert claims["sub"] == "backend" and claims["client_id"] == "backend" and claims["scope"] == "inquiry.read"
    jwt.JWTClaimsRegistry(exp={"essential": True}, jti={"essential": True}, iat={"essential": True}).validate(claims)


def test_default_scope_and_audience_are_what_the_client_registered(machine: tuple[Idp, str]) -> None:
    idp, secret = machine
    r = idp.browser.post("/token", data={"grant_type": "client_credentials", "client_id": "backend",
                                         "client_secret": secret})
    assert r.status_code == 401  # registered for client_secret_basic, not _post
    r = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"})
    assert r.status_code == 200
    claims = jwt.decode(r.json()["access_token"], KeySet.import_key_set(idp.browser.get("/jwks").json())).claims
    assert claims["scope"] == "inquiry.read inquiry.write"
    assert sorted(claims["aud"]) == sorted([API, "https://other.example"])


def test_scope_outside_the_allow_list_is_invalid_scope(machine: tuple[Idp, str]) -> None:
    idp, secret = machine
    r = idp.browser.post("/token", auth=("backend", secret),
                         data={"grant_type": "client_credentials", "scope": "inquiry.read tax.admin"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope" and "tax.admin" in r.json()["error_description"]


def test_unregistered_resource_is_invalid_target(machine: tuple[Idp, str]) -> None:
    idp, secret = machine
    oauth = idp.oauth("backend", client_secret=secret, scope="inquiry.read")
    with pytest.raises(OAuthError) as err:
        oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials", resource="https://evil.example")
    assert err.value.error == "invalid_target"


def test_disabled_client_gets_invalid_client(machine: tuple[Idp, str]) -> None:
    idp, secret = machine
    idp.services.clients.set_enabled("backend", False)
    r = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_client_not_registered_for_the_grant_is_unauthorized(idp: Idp) -> None:
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


def test_unknown_grant_type_is_unsupported(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.post("/token", auth=("portal", sqlite_idp.portal_secret), data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_during_a_rotations_grace_period_both_secrets_work_and_then_only_the_new_one(
    machine: tuple[Idp, str],
) -> None:
    from datetime import timedelta

    idp, old = machine
    new = idp.services.clients.rotate_secret("backend", timedelta(hours=2))

    def token_with(secret: str) -> int:
        return idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"}
                                ).status_code

    assert token_with(old) == 200 and token_with(new) == 200  # instances move to the new one one by one
    newest = idp.services.clients.rotate_secret("backend")  # no grace: what came before stops at once
    assert token_with(new) == 401 and token_with(old) == 401 and token_with(newest) == 200
